/* mail.c: one alert mail: the [notify] settings checked once, the message text (RFC 5322)
 * and its transfer with libcurl SMTP (smtp:// with STARTTLS required unless told otherwise,
 * or smtps://). Called from notify.c's worker thread only. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "mail.h"

#ifndef HS_VERSION
#define HS_VERSION "dev"
#endif

#define LINE_MAX_OCTETS 990     /* RFC 5321 4.5.3.1.6: 1000 with CRLF; keep a margin */

/* --- settings --------------------------------------------------------------------------- */

static void trim(char *s)
{
    size_t len = strlen(s), start = strspn(s, " \t");
    while (len > start && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    memmove(s, s + start, len - start);
    s[len - start] = '\0';
}

static int setup_recipients(struct mail_setup *s, const char *email, char *err, size_t errlen)
{
    char list[CONF_LONGSTR];
    snprintf(list, sizeof(list), "%s", email);
    size_t used = 0;
    char *save = NULL;
    for (char *a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
        trim(a);
        if (!*a)
            continue;
        if (!conf_is_mail_address(a)) {
            snprintf(err, errlen, "[notify] email: '%s' is not an e-mail address", a);
            return -1;
        }
        char angle[CONF_STR + 2];
        snprintf(angle, sizeof(angle), "<%s>", a);
        struct curl_slist *l = curl_slist_append(s->rcpt, angle);
        if (!l) {
            snprintf(err, errlen, "[notify] email: out of memory");
            return -1;
        }
        s->rcpt = l;
        used += (size_t)snprintf(s->rcpt_list + used, sizeof(s->rcpt_list) - used, "%s%s",
                                 used ? ", " : "", a);
        if (used >= sizeof(s->rcpt_list)) {
            snprintf(err, errlen, "[notify] email: too many recipients");
            return -1;
        }
    }
    if (!s->rcpt) {
        snprintf(err, errlen, "[notify] email: no address in '%s'", email);
        return -1;
    }
    return 0;
}

/* The From header as configured ("Name <a@b>" or "a@b"), the envelope sender inside it. */
static int setup_from(struct mail_setup *s, const char *from, char *err, size_t errlen)
{
    if (*from)
        snprintf(s->from, sizeof(s->from), "%s", from);
    else
        snprintf(s->from, sizeof(s->from), "hotstandby@%s", s->domain);
    const char *lt = strrchr(s->from, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (lt && gt)
        snprintf(s->from_addr, sizeof(s->from_addr), "%.*s", (int)(gt - lt - 1), lt + 1);
    else
        snprintf(s->from_addr, sizeof(s->from_addr), "%s", s->from);
    trim(s->from_addr);
    if (!conf_is_mail_address(s->from_addr) || strpbrk(s->from, "\r\n")) {
        snprintf(err, errlen, "[notify] from: '%s' is not an e-mail address", s->from);
        return -1;
    }
    return 0;
}

/* The URL: smtp:// or smtps:// only, no password in it (secrets come from files). */
static int setup_url(struct mail_setup *s, const struct conf *c, char *err, size_t errlen)
{
    snprintf(s->url, sizeof(s->url), "%s", c->smtp_url);
    int smtps = !strncasecmp(s->url, "smtps://", 8);
    if (!smtps && strncasecmp(s->url, "smtp://", 7)) {
        snprintf(err, errlen, "[notify] smtp_url: '%s' is not smtp://HOST[:PORT] or smtps://",
                 s->url);
        return -1;
    }
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *pass = NULL;
    int rc = -1;
    if (!u || curl_url_set(u, CURLUPART_URL, s->url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        snprintf(err, errlen, "[notify] smtp_url: '%s' is not a valid URL", s->url);
    } else if (curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
        snprintf(err, errlen, "[notify] smtp_url: must not contain a password "
                 "(use user and password_file)");
    } else {
        snprintf(s->server, sizeof(s->server), "%s://%s:%s", smtps ? "smtps" : "smtp", host,
                 port);
        rc = 0;
    }
    curl_free(host);
    curl_free(port);
    curl_free(pass);
    curl_url_cleanup(u);
    if (smtps) {
        s->use_ssl = CURLUSESSL_ALL;
        s->tls_note = " (TLS)";
    } else if (c->starttls) {
        /* Refuse a server that does not offer STARTTLS rather than send in clear text. */
        s->use_ssl = CURLUSESSL_ALL;
        s->tls_note = " (STARTTLS required)";
    } else {
        s->use_ssl = CURLUSESSL_NONE;
        s->tls_note = " (clear text: starttls = no)";
    }
    return rc;
}

int mail_setup_init(struct mail_setup *s, const struct conf *c, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->cluster, sizeof(s->cluster), "%s", c->cluster);
    snprintf(s->node, sizeof(s->node), "%s", c->node);
    if (gethostname(s->domain, sizeof(s->domain) - 1) < 0 || !*s->domain)
        snprintf(s->domain, sizeof(s->domain), "localhost");
    if (setup_url(s, c, err, errlen) < 0 || setup_from(s, c->mail_from, err, errlen) < 0 ||
        setup_recipients(s, c->email, err, errlen) < 0)
        goto fail;
    snprintf(s->user, sizeof(s->user), "%s", c->smtp_user);
    if (*c->password_file) {
        char why[512];
        if (!*s->user) {
            snprintf(err, errlen, "[notify] password_file: set, but user is empty");
            goto fail;
        }
        if (conf_read_secret(c->password_file, s->password, sizeof(s->password), why,
                             sizeof(why)) < 0) {
            snprintf(err, errlen, "[notify] password_file: %s", why);
            goto fail;
        }
    }
    return 0;
fail:
    mail_setup_clear(s);
    return -1;
}

void mail_setup_clear(struct mail_setup *s)
{
    curl_slist_free_all(s->rcpt);
    s->rcpt = NULL;
    explicit_bzero(s->password, sizeof(s->password));
}

void mail_fill(struct mail *m, const char *kind, const char *subject, const char *body,
               unsigned repeats, int64_t repeats_over_ns)
{
    snprintf(m->kind, sizeof(m->kind), "%s", kind ? kind : "alert");
    snprintf(m->subject, sizeof(m->subject), "%s", subject ? subject : "");
    snprintf(m->body, sizeof(m->body), "%s", body ? body : "");
    m->repeats = repeats;
    m->repeats_over_ns = repeats_over_ns;
    m->raised_wall_ns = wall_ns();
}

/* --- the message ------------------------------------------------------------------------ */

/* A header value on one line: control characters (CR/LF would inject headers) become spaces. */
static void put_header_text(FILE *f, const char *s)
{
    for (; *s; s++)
        fputc((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s, f);
}

static int is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

static void put_base64(FILE *f, const unsigned char *p, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < len ? p[i + 2] : 0);
        fputc(tab[v >> 18 & 63], f);
        fputc(tab[v >> 12 & 63], f);
        fputc(i + 1 < len ? tab[v >> 6 & 63] : '=', f);
        fputc(i + 2 < len ? tab[v & 63] : '=', f);
    }
}

/* Non-ASCII subjects as RFC 2047 encoded words (each under 75 octets, folded), never
 * splitting a UTF-8 sequence. */
static void put_subject(FILE *f, const char *text)
{
    char clean[2 * MAIL_SUBJECT_LEN];
    size_t n = 0;
    for (const char *s = text; *s && n + 1 < sizeof(clean); s++)
        clean[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s;
    clean[n] = '\0';
    fputs("Subject: ", f);
    if (is_ascii(clean)) {
        fputs(clean, f);
        fputs("\r\n", f);
        return;
    }
    for (size_t i = 0; i < n;) {
        size_t take = n - i < 45 ? n - i : 45;
        while (i + take < n && ((unsigned char)clean[i + take] & 0xc0) == 0x80)
            take--;
        fprintf(f, "%s=?UTF-8?B?", i ? "\r\n " : "");
        put_base64(f, (const unsigned char *)clean + i, take);
        fputs("?=", f);
        i += take;
    }
    fputs("\r\n", f);
}

/* RFC 5322 3.3 date in local time, with English names whatever the locale. */
static void put_date(FILE *f, int64_t wall)
{
    static const char days[][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(wall / NS_PER_SEC);
    struct tm tm;
    localtime_r(&t, &tm);
    long off = tm.tm_gmtoff / 60;
    fprintf(f, "Date: %s, %d %s %d %02d:%02d:%02d %c%02ld%02ld\r\n", days[tm.tm_wday],
            tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
            off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
}

/* The body with CRLF line ends and no line over the SMTP limit (libcurl dot-stuffs). */
static void put_body(FILE *f, const char *b)
{
    size_t col = 0;
    for (; *b; b++) {
        if (*b == '\r')
            continue;
        if (*b == '\n' || col >= LINE_MAX_OCTETS) {
            fputs("\r\n", f);
            col = 0;
            if (*b == '\n')
                continue;
        }
        fputc(*b, f);
        col++;
    }
    if (col)
        fputs("\r\n", f);
}

char *mail_format(const struct mail_setup *s, const struct mail *m, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (!f)
        return NULL;
    char subject[2 * MAIL_SUBJECT_LEN];
    snprintf(subject, sizeof(subject), "[hotstandby] %s: %s", s->cluster, m->subject);
    if (m->repeats)
        snprintf(subject + strlen(subject), sizeof(subject) - strlen(subject),
                 " (repeated %ux)", m->repeats);

    put_date(f, m->raised_wall_ns);
    fputs("From: ", f);
    put_header_text(f, s->from);
    fprintf(f, "\r\nTo: %s\r\n", s->rcpt_list);
    put_subject(f, subject);
    fprintf(f, "Message-ID: <%lld.%d.%u.hotstandby@", (long long)m->raised_wall_ns,
            (int)getpid(), m->seq);
    put_header_text(f, s->domain);
    fputs(">\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
          "Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n", f);
    fputs("X-Hotstandby-Cluster: ", f);
    put_header_text(f, s->cluster);
    fputs("\r\nX-Hotstandby-Node: ", f);
    put_header_text(f, s->node);
    fputs("\r\nX-Hotstandby-Kind: ", f);
    put_header_text(f, m->kind);
    fputs("\r\n\r\n", f);
    if (m->repeats)
        fprintf(f, "This alert was raised %u more time(s) in the last %lld s; repeats are "
                "mailed once per window. The latest:\r\n\r\n", m->repeats,
                (long long)((m->repeats_over_ns + NS_PER_SEC / 2) / NS_PER_SEC));
    put_body(f, m->body);
    fprintf(f, "\r\n-- \r\nhotstandby %s, node %s, cluster %s\r\n", HS_VERSION, s->node,
            s->cluster);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* --- the transfer ----------------------------------------------------------------------- */

/* One transfer's state, shared with libcurl's callbacks. */
struct transfer {
    const char *p;                  /* the message still to upload */
    size_t left;
    const _Atomic int64_t *give_up_at_ns;
    char last_rcpt[CONF_STR];       /* the RCPT TO awaiting its reply */
    char refused[CONF_LONGSTR];     /* recipients the server refused, "a, b" */
    char last_reply[512];           /* the server's last reply line (after DATA: the verdict) */
    char errbuf[CURL_ERROR_SIZE];
};

static size_t upload_read(char *buf, size_t size, size_t nmemb, void *arg)
{
    struct transfer *t = arg;
    size_t n = size * nmemb < t->left ? size * nmemb : t->left;
    memcpy(buf, t->p, n);
    t->p += n;
    t->left -= n;
    return n;
}

/* Called by libcurl about once a second and on progress: a non-zero return aborts. */
static int give_up_check(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct transfer *t = arg;
    return now_ns() >= atomic_load(t->give_up_at_ns);
}

/* Sees the SMTP dialogue to note which recipients were refused: libcurl sends one RCPT TO
 * at a time and, allowed to go on past a refusal, does not report it. Only RCPT lines and
 * their replies are looked at; nothing here is logged (the dialogue includes AUTH). */
static int watch_dialogue(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
    struct transfer *t = arg;
    if (type == CURLINFO_HEADER_IN) {
        size_t n = size;
        while (n > 0 && (data[n - 1] == '\r' || data[n - 1] == '\n'))
            n--;
        snprintf(t->last_reply, sizeof(t->last_reply), "%.*s", (int)n, data);
    }
    if (type == CURLINFO_HEADER_OUT && size > 9 && !strncasecmp(data, "RCPT TO:<", 9)) {
        const char *end = memchr(data + 9, '>', size - 9);
        size_t n = end ? (size_t)(end - data - 9) : 0;
        snprintf(t->last_rcpt, sizeof(t->last_rcpt), "%.*s", (int)n, data + 9);
    } else if (type == CURLINFO_HEADER_IN && *t->last_rcpt) {
        if (size > 0 && (data[0] == '4' || data[0] == '5')) {
            size_t used = strlen(t->refused);
            snprintf(t->refused + used, sizeof(t->refused) - used, "%s%s", used ? ", " : "",
                     t->last_rcpt);
        }
        t->last_rcpt[0] = '\0';
    }
    return 0;
}

static int is_permanent(CURLcode rc, long smtp_code)
{
    switch (rc) {
    case CURLE_USE_SSL_FAILED:
    case CURLE_LOGIN_DENIED:
    case CURLE_AUTH_ERROR:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        return 1;
    default:
        return smtp_code >= 500 && smtp_code < 600;
    }
}

static void describe(const struct mail_setup *s, CURLcode rc, long smtp_code,
                     const char *errbuf, char *why, size_t whylen)
{
    const char *what = *errbuf ? errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_USE_SSL_FAILED)
        snprintf(why, whylen, "%s does not offer STARTTLS, refusing to send in clear text "
                 "(use smtps://, or set [notify] starttls = no to allow it)", s->server);
    else if (rc == CURLE_LOGIN_DENIED)
        snprintf(why, whylen, "%s refused the login of user '%s' (password from "
                 "password_file)", s->server, s->user);
    else if (rc == CURLE_ABORTED_BY_CALLBACK)
        snprintf(why, whylen, "%s: shutting down", s->server);
    else if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
        snprintf(why, whylen, "%s: TLS certificate not accepted: %s", s->server, what);
    else if (smtp_code >= 400)
        snprintf(why, whylen, "%s: %s (server replied %ld)", s->server, what, smtp_code);
    else
        snprintf(why, whylen, "%s: %s", s->server, what);
}

static void set_options(CURL *h, const struct mail_setup *s, struct transfer *t, size_t len,
                        long connect_timeout_ms, long timeout_ms)
{
    curl_easy_setopt(h, CURLOPT_URL, s->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
#endif
    curl_easy_setopt(h, CURLOPT_USE_SSL, s->use_ssl);
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, s->from_addr);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, s->rcpt);
    /* One mistyped address must not keep the alert from the others. */
#if LIBCURL_VERSION_NUM >= 0x080200
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT_ALLOWFAILS, 1L);
#elif LIBCURL_VERSION_NUM >= 0x074500
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L);    /* spelled so before 8.2 */
#endif
    if (*s->user) {
        curl_easy_setopt(h, CURLOPT_USERNAME, s->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, s->password);
    }
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, upload_read);
    curl_easy_setopt(h, CURLOPT_READDATA, t);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    /* For SMTP the connect phase runs up to the end of EHLO/STARTTLS/AUTH. */
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     connect_timeout_ms < timeout_ms ? connect_timeout_ms : timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  /* a worker thread must not get SIGALRM */
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, give_up_check);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, t);
    curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);   /* feeds watch_dialogue; prints nothing */
    curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, watch_dialogue);
    curl_easy_setopt(h, CURLOPT_DEBUGDATA, t);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t->errbuf);
}

int mail_send(const struct mail_setup *s, const struct mail *m, long connect_timeout_ms,
              long timeout_ms, const _Atomic int64_t *give_up_at_ns, char *why, size_t whylen,
              int *permanent)
{
    return mail_send_answer(s, m, connect_timeout_ms, timeout_ms, give_up_at_ns, NULL, 0, why,
                            whylen, permanent);
}

int mail_send_answer(const struct mail_setup *s, const struct mail *m, long connect_timeout_ms,
                     long timeout_ms, const _Atomic int64_t *give_up_at_ns, char *answer,
                     size_t answerlen, char *why, size_t whylen, int *permanent)
{
    *permanent = 0;
    *why = '\0';
    size_t len = 0;
    char *text = mail_format(s, m, &len);
    struct transfer *t = text ? calloc(1, sizeof(*t)) : NULL;
    CURL *h = t ? curl_easy_init() : NULL;
    if (!h) {
        snprintf(why, whylen, "out of memory");
        free(t);
        free(text);
        return -1;
    }
    t->p = text;
    t->left = len;
    t->give_up_at_ns = give_up_at_ns;
    set_options(h, s, t, len, connect_timeout_ms, timeout_ms);

    CURLcode rc = curl_easy_perform(h);
    long smtp_code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &smtp_code);
    curl_easy_cleanup(h);
    free(text);
    if (answer)
        snprintf(answer, answerlen, "%s", t->last_reply);
    if (rc == CURLE_OK) {
        if (*t->refused)
            snprintf(why, whylen, "refused by the server: %s", t->refused);
    } else {
        *permanent = is_permanent(rc, smtp_code);
        describe(s, rc, smtp_code, t->errbuf, why, whylen);
    }
    free(t);
    return rc == CURLE_OK ? 0 : -1;
}
