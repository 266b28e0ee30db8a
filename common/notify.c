/* notify.c: e-mail alerts (DESIGN §7). notify_alert() only copies the alert into a bounded
 * queue under a mutex; one worker thread (the only one: libcurl's SMTP transfer blocks) turns
 * each into a mail and sends it with retries and backoff. A failover never waits for SMTP.
 *
 * De-duplication: an alert with the same kind and subject as one queued less than the
 * window (60 s) ago is counted, not queued; when the window ends the worker queues one
 * mail saying how often it repeated. One mail's text and transfer are in mail.c. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "mail.h"
#include "notify.h"

#define QUEUE_MAX          32
#define DEDUP_MAX          32
#define MAX_ATTEMPTS       5
#define FIRST_BACKOFF_NS   (1 * NS_PER_SEC)       /* then 2, 4, 8 s */
#define CONNECT_TIMEOUT_MS 5000L
#define SEND_TIMEOUT_MS    15000L
#define FLUSH_BUDGET_NS    (2 * NS_PER_SEC)
#define DEDUP_WINDOW_NS    (60 * NS_PER_SEC)

/* One alert seen recently: the key of the de-duplication window. */
struct recent {
    char kind[MAIL_KIND_LEN];
    char subject[MAIL_SUBJECT_LEN];
    int64_t queued_at_ns;           /* 0: free slot */
    unsigned suppressed;            /* repeats since, not mailed yet */
    char body[MAIL_BODY_LEN];       /* the latest repeat's body */
};

struct notifier {
    int enabled;                    /* 0: [notify] email empty, alerts are only logged */
    struct mail_setup setup;        /* addresses, server, credentials (read-only once started) */
    int64_t dedup_window_ns;

    pthread_t worker;
    pthread_mutex_t mu;
    pthread_cond_t cv;              /* broadcast on every change below */
    struct mail queue[QUEUE_MAX];   /* ring */
    int head, len;
    int sending;                    /* the worker is sending `current` */
    struct mail current;            /* owned by the worker while sending */
    unsigned dropped;               /* alerts refused because the queue was full */
    unsigned seq;                   /* mails queued so far: the Message-ID's counter */
    struct recent recent[DEDUP_MAX];
    int stopping;                   /* notify_free or notify_retire was called */
    int retired;                    /* notify_retire: the worker frees n when it is done */
    _Atomic int64_t give_up_at_ns;  /* INT64_MAX until then; read by libcurl's callback too */
};

/* --- time ------------------------------------------------------------------------------- */

/* Waits on n->cv until deadline (CLOCK_BOOTTIME ns) or a broadcast. Condition variables
 * cannot use CLOCK_BOOTTIME, so the remaining time is carried over to CLOCK_MONOTONIC. */
static void wait_until(struct notifier *n, int64_t deadline_ns)
{
    if (deadline_ns == INT64_MAX) {
        pthread_cond_wait(&n->cv, &n->mu);
        return;
    }
    int64_t left = deadline_ns - now_ns();
    if (left <= 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t abs_ns = (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec + left;
    ts.tv_sec = abs_ns / NS_PER_SEC;
    ts.tv_nsec = abs_ns % NS_PER_SEC;
    pthread_cond_timedwait(&n->cv, &n->mu, &ts);
}

/* How long the worker may still spend: unlimited until notify_free, then its budget. */
static int64_t time_left_ns(struct notifier *n)
{
    int64_t give_up_at = atomic_load(&n->give_up_at_ns);
    return give_up_at == INT64_MAX ? INT64_MAX : give_up_at - now_ns();
}

/* --- queue and de-duplication (caller holds n->mu) ---------------------------------------- */

static int queue_push(struct notifier *n, const char *kind, const char *subject,
                      const char *body, unsigned repeats, int64_t window_ns)
{
    if (n->len == QUEUE_MAX) {
        n->dropped++;
        return -1;
    }
    struct mail *m = &n->queue[(n->head + n->len) % QUEUE_MAX];
    mail_fill(m, kind, subject, body, repeats, window_ns);
    m->seq = ++n->seq;
    n->len++;
    pthread_cond_broadcast(&n->cv);
    return 0;
}

static struct recent *recent_find(struct notifier *n, const char *kind, const char *subject)
{
    for (int i = 0; i < DEDUP_MAX; i++) {
        struct recent *r = &n->recent[i];
        if (r->queued_at_ns && !strncmp(r->kind, kind, sizeof(r->kind) - 1) &&
            !strncmp(r->subject, subject, sizeof(r->subject) - 1))
            return r;
    }
    return NULL;
}

/* Queues the summary of r's repeats, if any, and restarts its window. */
static void recent_flush(struct notifier *n, struct recent *r, int64_t now)
{
    if (!r->suppressed)
        return;
    queue_push(n, r->kind, r->subject, r->body, r->suppressed, now - r->queued_at_ns);
    r->suppressed = 0;
    r->queued_at_ns = now;
}

/* A slot for a new key: a free one, else the oldest (its pending repeats are mailed first). */
static struct recent *recent_slot(struct notifier *n, int64_t now)
{
    struct recent *oldest = &n->recent[0];
    for (int i = 0; i < DEDUP_MAX; i++) {
        if (!n->recent[i].queued_at_ns)
            return &n->recent[i];
        if (n->recent[i].queued_at_ns < oldest->queued_at_ns)
            oldest = &n->recent[i];
    }
    recent_flush(n, oldest, now);
    return oldest;
}

/* Queues summaries of windows that have ended; returns when the next one ends. */
static int64_t recent_expire(struct notifier *n, int64_t now)
{
    int64_t next = INT64_MAX;
    for (int i = 0; i < DEDUP_MAX; i++) {
        struct recent *r = &n->recent[i];
        if (!r->queued_at_ns || !r->suppressed)
            continue;
        int64_t ends = r->queued_at_ns + n->dedup_window_ns;
        if (ends <= now)
            recent_flush(n, r, now);
        else if (ends < next)
            next = ends;
    }
    return next;
}

/* --- the caller's side ------------------------------------------------------------------ */

void notify_alert(struct notifier *n, const char *kind, const char *subject, const char *body)
{
    kind = kind ? kind : "alert";
    subject = subject ? subject : "";
    if (!n || !n->enabled) {
        log_notice("alert %s: %s", kind, subject);
        return;
    }
    int64_t now = now_ns(), window_ns;
    int queued = 1, first_drop = 0;

    pthread_mutex_lock(&n->mu);
    window_ns = n->dedup_window_ns;
    struct recent *r = recent_find(n, kind, subject);
    if (r && now - r->queued_at_ns < window_ns) {
        /* The first repeat gives the worker a window end to wait for. */
        if (r->suppressed++ == 0)
            pthread_cond_broadcast(&n->cv);
        snprintf(r->body, sizeof(r->body), "%s", body ? body : "");
        queued = 0;
    } else {
        unsigned repeats = r ? r->suppressed : 0;
        int64_t since = r ? now - r->queued_at_ns : 0;
        if (!r)
            r = recent_slot(n, now);
        snprintf(r->kind, sizeof(r->kind), "%s", kind);
        snprintf(r->subject, sizeof(r->subject), "%s", subject);
        r->queued_at_ns = now;
        r->suppressed = 0;
        if (queue_push(n, kind, subject, body, repeats, since) < 0)
            first_drop = n->dropped == 1;
    }
    pthread_mutex_unlock(&n->mu);

    if (queued)
        log_notice("alert %s: %s", kind, subject);
    else
        log_debug("alert %s: %s: repeated within %lld s, mailed later with a count", kind,
                  subject, (long long)(window_ns / NS_PER_SEC));
    if (first_drop)
        log_warnx("alert mail queue full (%d waiting): dropping new alerts until it drains",
                  QUEUE_MAX);
}

/* --- the worker ------------------------------------------------------------------------- */

/* Frees what notify_new made, once the worker (if any) has stopped using it. */
static void notifier_destroy(struct notifier *n)
{
    if (n->enabled) {
        mail_setup_clear(&n->setup);
        curl_global_cleanup();
    }
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    free(n);
}

/* Backoff between attempts, cut short by notify_free's deadline. Returns -1 if no time is
 * left for another attempt. Caller holds n->mu. */
static int backoff(struct notifier *n, int attempt)
{
    int64_t until = now_ns() + (FIRST_BACKOFF_NS << (attempt - 1));
    for (;;) {
        int64_t left = time_left_ns(n);
        if (left <= 0)
            return -1;
        int64_t now = now_ns();
        if (now >= until)
            return 0;
        if (left != INT64_MAX && now + left < until)
            return -1;      /* the next attempt would start after the deadline */
        wait_until(n, until);
    }
}

/* Sends m, retrying transient failures; logs the outcome once. Called without n->mu. */
static void send_with_retries(struct notifier *n, const struct mail *m)
{
    char why[CURL_ERROR_SIZE + 256] = "";
    int attempt;
    for (attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        int64_t left = time_left_ns(n);
        if (left <= 0) {
            snprintf(why, sizeof(why), "shutting down");
            break;
        }
        long timeout_ms = SEND_TIMEOUT_MS;
        if (left != INT64_MAX && left / NS_PER_MS < timeout_ms)
            timeout_ms = left / NS_PER_MS > 0 ? (long)(left / NS_PER_MS) : 1;
        int permanent = 0;
        if (mail_send(&n->setup, m, CONNECT_TIMEOUT_MS, timeout_ms, &n->give_up_at_ns, why,
                      sizeof(why), &permanent) == 0) {
            if (*why)
                log_warnx("alert mail sent to %s via %s, but %s: %s", n->setup.rcpt_list,
                          n->setup.server, why, m->subject);
            else
                log_info("alert mail sent to %s via %s%s: %s", n->setup.rcpt_list,
                         n->setup.server, attempt > 1 ? " (after retries)" : "", m->subject);
            return;
        }
        log_debug("alert mail attempt %d/%d: %s", attempt, MAX_ATTEMPTS, why);
        if (permanent || attempt == MAX_ATTEMPTS)
            break;
        pthread_mutex_lock(&n->mu);
        int go_on = backoff(n, attempt) == 0;
        pthread_mutex_unlock(&n->mu);
        if (!go_on) {
            if (!strstr(why, "shutting down"))
                snprintf(why + strlen(why), sizeof(why) - strlen(why), "; then shutting down");
            break;
        }
    }
    log_warnx("alert mail to %s not sent (%d attempt%s): %s: %s", n->setup.rcpt_list,
              attempt > MAX_ATTEMPTS ? MAX_ATTEMPTS : attempt, attempt == 1 ? "" : "s",
              m->subject, why);
}

/* At the end: what the budget did not cover is logged, never silently lost. */
static void report_unsent(struct notifier *n)
{
    if (n->dropped)
        log_warnx("%u alert mail(s) dropped while the queue was full", n->dropped);
    for (; n->len > 0; n->len--, n->head = (n->head + 1) % QUEUE_MAX)
        log_warnx("alert mail not sent (shutting down): %s", n->queue[n->head].subject);
    for (int i = 0; i < DEDUP_MAX; i++)
        if (n->recent[i].queued_at_ns && n->recent[i].suppressed)
            log_warnx("alert %s: %s: repeated %u more time(s), not mailed (shutting down)",
                      n->recent[i].kind, n->recent[i].subject, n->recent[i].suppressed);
}

static void *worker_main(void *arg)
{
    struct notifier *n = arg;
    struct mail *m = &n->current;

    pthread_mutex_lock(&n->mu);
    for (;;) {
        int64_t next = recent_expire(n, now_ns());
        if (n->len > 0 && time_left_ns(n) > 0) {
            *m = n->queue[n->head];
            n->head = (n->head + 1) % QUEUE_MAX;
            n->len--;
            n->sending = 1;
            unsigned dropped = n->len == 0 ? n->dropped : 0;
            if (dropped)
                n->dropped = 0;
            pthread_mutex_unlock(&n->mu);
            if (dropped)
                log_warnx("%u alert mail(s) dropped while the queue was full", dropped);
            send_with_retries(n, m);
            pthread_mutex_lock(&n->mu);
            n->sending = 0;
            pthread_cond_broadcast(&n->cv);
            continue;
        }
        if (n->stopping)
            break;
        wait_until(n, next);
    }
    report_unsent(n);
    int retired = n->retired;
    pthread_mutex_unlock(&n->mu);
    if (retired)
        notifier_destroy(n);
    return NULL;
}

/* --- life cycle ------------------------------------------------------------------------- */

struct notifier *notify_new(const struct conf *c, char *err, size_t errlen)
{
    struct notifier *n = calloc(1, sizeof(*n));
    if (!n) {
        snprintf(err, errlen, "notify: out of memory");
        return NULL;
    }
    n->dedup_window_ns = DEDUP_WINDOW_NS;
    atomic_init(&n->give_up_at_ns, INT64_MAX);
    pthread_mutex_init(&n->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);     /* what wait_until() counts in */
    pthread_cond_init(&n->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (!*c->email) {
        log_info("no [notify] email: alerts are only logged");
        return n;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "notify: libcurl initialisation failed");
        goto fail;
    }
    if (mail_setup_init(&n->setup, c, err, errlen) < 0) {
        curl_global_cleanup();
        goto fail;
    }
    /* The worker takes no signals: the daemon's signalfd needs them blocked in every thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&n->worker, NULL, worker_main, n);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "notify: cannot start the mail worker: %s", strerror(rc));
        mail_setup_clear(&n->setup);
        curl_global_cleanup();
        goto fail;
    }
    n->enabled = 1;
    log_info("alerts mailed to %s via %s%s", n->setup.rcpt_list, n->setup.server,
             n->setup.tls_note);
    return n;
fail:
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    free(n);
    return NULL;
}

void notify_set_dedup_window(struct notifier *n, int64_t window_ns)
{
    if (!n)
        return;
    pthread_mutex_lock(&n->mu);
    n->dedup_window_ns = window_ns;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

int notify_wait_idle(struct notifier *n, int64_t timeout_ns)
{
    if (!n || !n->enabled)
        return 0;
    int64_t deadline = now_ns() + timeout_ns;
    pthread_mutex_lock(&n->mu);
    while ((n->len > 0 || n->sending) && now_ns() < deadline)
        wait_until(n, deadline);
    int idle = n->len == 0 && !n->sending;
    pthread_mutex_unlock(&n->mu);
    return idle ? 0 : -1;
}

/* Tells the worker to flush for at most FLUSH_BUDGET_NS, then to stop. */
static void stop_worker(struct notifier *n, int retire)
{
    pthread_mutex_lock(&n->mu);
    atomic_store(&n->give_up_at_ns, now_ns() + FLUSH_BUDGET_NS);
    n->stopping = 1;
    n->retired = retire;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

void notify_free(struct notifier *n)
{
    if (!n)
        return;
    if (n->enabled) {
        stop_worker(n, 0);
        pthread_join(n->worker, NULL);
    }
    notifier_destroy(n);
}

void notify_retire(struct notifier *n)
{
    if (!n)
        return;
    if (!n->enabled) {
        notifier_destroy(n);
        return;
    }
    pthread_t worker = n->worker;   /* n may be gone as soon as the worker sees "retired" */
    stop_worker(n, 1);
    pthread_detach(worker);
}

int notify_check(const struct conf *c, char *err, size_t errlen)
{
    if (!*c->email)
        return 0;
    struct mail_setup *s = malloc(sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "notify: out of memory");
        return -1;
    }
    int rc = mail_setup_init(s, c, err, errlen);
    if (rc == 0)
        mail_setup_clear(s);
    free(s);
    return rc;
}
