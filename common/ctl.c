/*
 * ctl.c: control sockets (DESIGN §4). SOCK_SEQPACKET keeps message boundaries, so one
 * recv is one JSON object. The server checks SO_PEERCRED on accept, answers malformed
 * input itself and never blocks on a slow peer (a full socket buffer drops the peer).
 * It holds at most CTL_MAX_CONNS connections, closes those idle for CTL_IDLE_TIMEOUT_NS
 * (unless the owner keeps them) and, when the process runs out of descriptors, stops
 * listening for a moment instead of spinning on a listener that stays ready. Clients
 * never block past their deadline, not even on a peer that is stopped with a full backlog.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"
#include "log.h"
#include "loop.h"

struct ctl_conn {
    struct ctl_server *server;
    int fd;
    pid_t pid;
    uid_t uid;
    int refs;       /* holders waiting to reply (ctl_conn_hold) */
    int closed;     /* peer gone: fd closed, freed when the last holder lets go */
    int kept;       /* a daemon's connection: never closed for being idle */
    int64_t last_active_ns;
    struct ctl_conn *next;
};

struct ctl_server {
    struct loop *loop;
    int fd;
    char path[108];
    uid_t allowed_uid;
    struct ctl_handlers h;
    struct ctl_conn *conns;
    int n_conns;
    int max_conns;
    int64_t idle_timeout_ns;
    struct loop_timer *idle_sweep;
    struct loop_timer *resume_accept;   /* listener paused after EMFILE/ENFILE */
};

#define ACCEPT_PAUSE_NS (250 * NS_PER_MS)
#define ACCEPTS_PER_WAKEUP 16

json_t *ctl_parse(const char *buf, size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *msg;

    if (len == 0) {
        snprintf(err, errlen, "empty message");
        return NULL;
    }
    if (len > CTL_MAX_MSG) {
        snprintf(err, errlen, "message of %zu bytes exceeds %d", len, CTL_MAX_MSG);
        return NULL;
    }
    msg = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (msg == NULL) {
        snprintf(err, errlen, "malformed JSON at byte %d: %s", jerr.position, jerr.text);
        return NULL;
    }
    if (!json_is_object(msg)) {
        json_decref(msg);
        snprintf(err, errlen, "message is not a JSON object");
        return NULL;
    }
    json_t *cmd = json_object_get(msg, "cmd");
    json_t *event = json_object_get(msg, "event");
    if (cmd == NULL && event == NULL && json_object_get(msg, "ok") == NULL) {
        json_decref(msg);
        snprintf(err, errlen, "message has neither \"cmd\" nor \"event\"");
        return NULL;
    }
    if ((cmd != NULL && !json_is_string(cmd)) || (event != NULL && !json_is_string(event))) {
        json_decref(msg);
        snprintf(err, errlen, "\"cmd\" and \"event\" must be strings");
        return NULL;
    }
    json_t *id = json_object_get(msg, "id");
    if (id != NULL && !json_is_integer(id)) {
        json_decref(msg);
        snprintf(err, errlen, "\"id\" must be an integer");
        return NULL;
    }
    return msg;
}

static int send_msg(int fd, json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    if (s == NULL)
        return -1;
    size_t len = strlen(s);
    ssize_t n;
    do
        n = send(fd, s, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    free(s);
    return n == (ssize_t)len ? 0 : -1;
}

static void conn_close(struct ctl_conn *c)
{
    struct ctl_server *s = c->server;
    struct ctl_conn **pp;

    if (s->h.close)
        s->h.close(s->h.arg, c);
    for (pp = &s->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            s->n_conns--;
            break;
        }
    }
    loop_del_fd(s->loop, c->fd);
    close(c->fd);
    c->fd = -1;
    c->closed = 1;
    if (c->refs == 0)
        free(c);
}

void ctl_conn_hold(struct ctl_conn *c) { c->refs++; }

void ctl_conn_keep(struct ctl_conn *c) { c->kept = 1; }

uid_t ctl_conn_uid(const struct ctl_conn *c) { return c->uid; }

void ctl_conn_release(struct ctl_conn *c)
{
    if (--c->refs == 0 && c->closed)
        free(c);
}

int ctl_conn_send(struct ctl_conn *c, json_t *msg)
{
    if (c->closed)
        return -1;
    int rc = send_msg(c->fd, msg);
    if (rc < 0)
        log_debug("control: send to pid %d failed: %s", (int)c->pid, strerror(errno));
    return rc;
}

static void reply_with_id(struct ctl_conn *c, json_t *req, json_t *msg)
{
    json_t *id = req ? json_object_get(req, "id") : NULL;
    if (id != NULL)
        json_object_set(msg, "id", id);
    ctl_conn_send(c, msg);
    json_decref(msg);
}

void ctl_reply(struct ctl_conn *c, json_t *req, json_t *body)
{
    json_t *msg = body ? body : json_object();
    json_object_set_new(msg, "ok", json_true());
    reply_with_id(c, req, msg);
}

void ctl_error(struct ctl_conn *c, json_t *req, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_t *msg = json_pack("{s:b,s:s}", "ok", 0, "error", buf);
    reply_with_id(c, req, msg);
}


static void conn_readable(void *arg, int fd, uint32_t events)
{
    struct ctl_conn *c = arg;
    struct ctl_server *s = c->server;
    static char buf[CTL_MAX_MSG + 1];
    char err[256];
    ssize_t n;

    do
        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    c->last_active_ns = now_ns();
    if ((size_t)n > CTL_MAX_MSG) {
        log_warnx("control: pid %d sent %zd bytes, more than %d; refused", (int)c->pid, n,
                  CTL_MAX_MSG);
        ctl_error(c, NULL, "message of %zd bytes exceeds %d", n, CTL_MAX_MSG);
        return;
    }
    json_t *msg = ctl_parse(buf, (size_t)n, err, sizeof(err));
    if (msg == NULL) {
        log_warnx("control: pid %d: %s", (int)c->pid, err);
        ctl_error(c, NULL, "%s", err);
        return;
    }
    const char *cmd = json_string_value(json_object_get(msg, "cmd"));
    const char *event = json_string_value(json_object_get(msg, "event"));
    if (cmd != NULL)
        s->h.request(s->h.arg, c, msg, cmd);
    else if (event != NULL && s->h.event != NULL)
        s->h.event(s->h.arg, c, msg, event);
    /* replies ("ok" without cmd/event) sent to a server are ignored */
    json_decref(msg);
}

/* Closes connections that said nothing for idle_timeout_ns: a client that connects and
 * waits must not hold one of the max_conns places for ever. */
static void idle_sweep(void *arg)
{
    struct ctl_server *s = arg;
    int64_t now = now_ns();
    struct ctl_conn *c = s->conns, *next;
    for (; c; c = next) {
        next = c->next;
        if (!c->kept && c->refs == 0 && now - c->last_active_ns >= s->idle_timeout_ns) {
            log_warnx("control: %s: pid %d idle for %lld ms; closed", s->path, (int)c->pid,
                      (long long)(s->idle_timeout_ns / NS_PER_MS));
            conn_close(c);
        }
    }
    if (s->conns)
        loop_timer_after(s->idle_sweep, s->idle_timeout_ns / 4);
}

static void resume_accept(void *arg)
{
    struct ctl_server *s = arg;
    loop_mod_fd(s->loop, s->fd, EPOLLIN);
}

/* Returns 1 to go on accepting, 0 to stop for this wakeup. */
static int accept_one(struct ctl_server *s)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    int cfd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* the listener stays ready while we cannot take the connection: stop
             * watching it for a moment instead of spinning on it */
            log_warn("control: accept on %s; not accepting for %lld ms", s->path,
                     (long long)(ACCEPT_PAUSE_NS / NS_PER_MS));
            loop_mod_fd(s->loop, s->fd, 0);
            loop_timer_after(s->resume_accept, ACCEPT_PAUSE_NS);
        } else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
            log_warn("control: accept on %s", s->path);
        }
        return 0;
    }
    if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        log_warn("control: SO_PEERCRED");
        close(cfd);
        return 1;
    }
    if (cred.uid != 0 && cred.uid != s->allowed_uid) {
        log_warnx("control: refused pid %d uid %d on %s: not root or the configured user",
                  (int)cred.pid, (int)cred.uid, s->path);
        close(cfd);
        return 1;
    }
    if (s->n_conns >= s->max_conns) {
        log_warnx("control: refused pid %d on %s: %d connections already open", (int)cred.pid,
                  s->path, s->n_conns);
        close(cfd);
        return 1;
    }
    struct ctl_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(cfd);
        return 0;
    }
    c->server = s;
    c->fd = cfd;
    c->pid = cred.pid;
    c->uid = cred.uid;
    c->last_active_ns = now_ns();
    if (loop_add_fd(s->loop, cfd, EPOLLIN, conn_readable, c) < 0) {
        close(cfd);
        free(c);
        return 0;
    }
    c->next = s->conns;
    s->conns = c;
    s->n_conns++;
    if (!loop_timer_armed(s->idle_sweep))
        loop_timer_after(s->idle_sweep, s->idle_timeout_ns / 4);
    return 1;
}

static void server_accept(void *arg, int fd, uint32_t events)
{
    struct ctl_server *s = arg;
    /* bounded, so a flood of connections cannot starve the rest of the loop */
    for (int i = 0; i < ACCEPTS_PER_WAKEUP && accept_one(s); i++)
        ;
}

void ctl_server_limits(struct ctl_server *s, int max_conns, int64_t idle_timeout_ns)
{
    s->max_conns = max_conns;
    s->idle_timeout_ns = idle_timeout_ns;
}

struct ctl_server *ctl_server_open(struct loop *l, const char *path, uid_t allowed_uid,
                                   const struct ctl_handlers *h)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    if (strlen(path) >= sizeof(sa.sun_path)) {
        log_warnx("control: socket path %s is too long", path);
        return NULL;
    }
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_warn("control: socket");
        return NULL;
    }
    /* A socket left by a crashed daemon is stale unless something answers on it. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        log_warnx("control: %s is in use by a running daemon", path);
        close(fd);
        return NULL;
    }
    unlink(path);
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
        log_warn("control: bind %s", path);
        close(fd);
        return NULL;
    }
    /* the configured user reaches the 0600 socket as its owner; root reaches it anyway */
    if (allowed_uid != 0 && chown(path, allowed_uid, (gid_t)-1) < 0) {
        log_warn("control: chown %s to uid %d", path, (int)allowed_uid);
        close(fd);
        unlink(path);
        return NULL;
    }
    struct ctl_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        fatal("calloc");
    s->loop = l;
    s->fd = fd;
    s->allowed_uid = allowed_uid;
    s->h = *h;
    s->max_conns = CTL_MAX_CONNS;
    s->idle_timeout_ns = CTL_IDLE_TIMEOUT_NS;
    s->idle_sweep = loop_timer_new(l, idle_sweep, s);
    s->resume_accept = loop_timer_new(l, resume_accept, s);
    snprintf(s->path, sizeof(s->path), "%s", path);
    if (loop_add_fd(l, fd, EPOLLIN, server_accept, s) < 0) {
        close(fd);
        loop_timer_free(s->idle_sweep);
        loop_timer_free(s->resume_accept);
        free(s);
        return NULL;
    }
    return s;
}

void ctl_server_close(struct ctl_server *s)
{
    if (s == NULL)
        return;
    while (s->conns)
        conn_close(s->conns);
    loop_del_fd(s->loop, s->fd);
    close(s->fd);
    unlink(s->path);
    loop_timer_free(s->idle_sweep);
    loop_timer_free(s->resume_accept);
    free(s);
}

/* ---- client side ---- */

#define CONNECT_RETRY_NS (10 * NS_PER_MS)

static void sleep_ns(int64_t ns)
{
    struct timespec ts = {ns / NS_PER_SEC, ns % NS_PER_SEC};
    nanosleep(&ts, NULL);
}

/*
 * A Unix socket connect never waits in the kernel when nonblocking: a peer whose backlog
 * is full (stopped, or hung) answers EAGAIN at once, so we retry until the deadline and a
 * stopped daemon costs its caller the deadline, never more.
 */
int ctl_connect_until(const char *path, int64_t deadline_ns)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    for (;;) {
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            break;
        int e = errno;
        int64_t left = deadline_ns - now_ns();
        if (e == EINTR)
            continue;
        if (e != EAGAIN || left <= 0) {
            close(fd);
            errno = e == EAGAIN ? ETIMEDOUT : e;
            return -1;
        }
        sleep_ns(left < CONNECT_RETRY_NS ? left : CONNECT_RETRY_NS);
    }
    /* callers that send with ctl_send expect a blocking socket, as before */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

int ctl_connect(const char *path) { return ctl_connect_until(path, 0); }

int ctl_send(int fd, json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    if (s == NULL)
        return -1;
    size_t len = strlen(s);
    ssize_t n;
    do
        n = send(fd, s, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    free(s);
    return n == (ssize_t)len ? 0 : -1;
}

/* A send that gives up at the deadline (a stopped peer whose buffer is full). */
static int send_until(int fd, json_t *msg, int64_t deadline_ns)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    if (s == NULL)
        return -1;
    size_t len = strlen(s);
    ssize_t n;
    for (;;) {
        n = send(fd, s, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0 || (errno != EINTR && errno != EAGAIN))
            break;
        int64_t left = (deadline_ns - now_ns()) / NS_PER_MS;
        if (left <= 0) {
            errno = ETIMEDOUT;
            break;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        poll(&p, 1, (int)left);
    }
    free(s);
    return n == (ssize_t)len ? 0 : -1;
}

int ctl_recv_nowait(int fd, json_t **msg, char *err, size_t errlen)
{
    static char buf[CTL_MAX_MSG + 1];
    ssize_t n;
    do
        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n <= 0) {
        if (n == 0)
            errno = 0;
        return -1;
    }
    *msg = ctl_parse(buf, (size_t)n, err, errlen);   /* refuses what was cut (n > the buffer) */
    return 1;
}

json_t *ctl_recv(int fd, int timeout_ms)
{
    static char buf[CTL_MAX_MSG + 1];
    char err[256];
    int64_t deadline = now_ns() + (int64_t)timeout_ms * NS_PER_MS;

    for (;;) {
        int left = (int)((deadline - now_ns()) / NS_PER_MS);
        if (left < 0)
            left = 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = poll(&p, 1, left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0) {
            errno = rc == 0 ? ETIMEDOUT : errno;
            return NULL;
        }
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_TRUNC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            errno = n == 0 ? ECONNRESET : errno;
            return NULL;
        }
        if ((size_t)n > CTL_MAX_MSG) {
            errno = EMSGSIZE;
            return NULL;
        }
        json_t *msg = ctl_parse(buf, (size_t)n, err, sizeof(err));
        if (msg == NULL) {
            errno = EBADMSG;
            return NULL;
        }
        return msg;
    }
}

json_t *ctl_call(const char *path, json_t *req, int timeout_ms, char *err, size_t errlen)
{
    static json_int_t next_id = 1;
    int64_t deadline = now_ns() + (int64_t)timeout_ms * NS_PER_MS;
    json_int_t id = next_id++;

    int fd = ctl_connect_until(path, deadline);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, errno == ETIMEDOUT
                 ? "connect timed out (the daemon is not accepting: stopped or hung?)"
                 : strerror(errno));
        return NULL;
    }
    json_object_set_new(req, "id", json_integer(id));
    if (send_until(fd, req, deadline) < 0) {
        snprintf(err, errlen, "%s: send: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    for (;;) {
        int left = (int)((deadline - now_ns()) / NS_PER_MS);
        json_t *msg = ctl_recv(fd, left > 0 ? left : 0);
        if (msg == NULL) {
            snprintf(err, errlen, "%s: no answer: %s", path, strerror(errno));
            close(fd);
            return NULL;
        }
        json_t *rid = json_object_get(msg, "id");
        if (json_is_integer(rid) && json_integer_value(rid) == id) {
            close(fd);
            return msg;
        }
        json_decref(msg);
    }
}

/* ---- asynchronous client call (one request, one reply, on the loop) ---- */

struct ctl_async {
    struct loop *loop;
    int fd;
    json_int_t id;
    struct loop_timer *timer;
    ctl_reply_cb cb;
    void *arg;
};

/* Calls in flight, so that a daemon on its way out can let them end (ctl_async_pending). */
static int async_pending;

int ctl_async_pending(void)
{
    return async_pending;
}

static void async_finish(struct ctl_async *a, json_t *reply, const char *err)
{
    async_pending--;
    loop_del_fd(a->loop, a->fd);
    close(a->fd);
    loop_timer_free(a->timer);
    ctl_reply_cb cb = a->cb;
    void *arg = a->arg;
    free(a);
    if (cb)
        cb(arg, reply, err);
}

static void async_readable(void *arg, int fd, uint32_t events)
{
    struct ctl_async *a = arg;
    json_t *msg = ctl_recv(fd, 0);
    if (msg == NULL) {
        if (errno == ETIMEDOUT)
            return;
        async_finish(a, NULL, strerror(errno));
        return;
    }
    json_t *rid = json_object_get(msg, "id");
    if (json_is_integer(rid) && json_integer_value(rid) == a->id)
        async_finish(a, msg, NULL);
    json_decref(msg);
}

static void async_timeout(void *arg)
{
    async_finish(arg, NULL, "timed out");
}

int ctl_call_async(struct loop *l, const char *path, json_t *req, int64_t timeout_ns,
                   ctl_reply_cb cb, void *arg)
{
    static json_int_t next_id = 1000000;
    int fd = ctl_connect(path);
    if (fd < 0)
        return -1;
    struct ctl_async *a = calloc(1, sizeof(*a));
    if (a == NULL)
        fatal("calloc");
    a->loop = l;
    a->fd = fd;
    a->id = next_id++;
    a->cb = cb;
    a->arg = arg;
    json_object_set_new(req, "id", json_integer(a->id));
    /* on a loop nothing may wait: a peer that cannot take the request now has failed */
    if (send_until(fd, req, 0) < 0 || loop_add_fd(l, fd, EPOLLIN, async_readable, a) < 0) {
        close(fd);
        free(a);
        return -1;
    }
    a->timer = loop_timer_new(l, async_timeout, a);
    loop_timer_after(a->timer, timeout_ns);
    async_pending++;
    return 0;
}
