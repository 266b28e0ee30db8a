/*
 * loop.c: the event loop (after redis ae.c): one epoll set; file events, one-shot
 * CLOCK_BOOTTIME timers (each a timerfd, so a resume from suspend fires overdue
 * timers at once), and signals through a signalfd. One dispatch point.
 *
 * An fd's epoll data is a token (fd, generation), not a pointer: epoll keys a registration
 * on the open file, and a file that outlives its fd number here (libpq closing a socket
 * for the next host of a multi-host conninfo while a forked child still holds a copy)
 * keeps its registration after loop_del_fd. Its late events carry an old generation and
 * are dropped; a pointer would be to freed memory.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "loop.h"

enum reg_kind { REG_FD, REG_TIMER, REG_SIGNAL };

struct reg {
    enum reg_kind kind;
    int fd;
    int dead;              /* removed during a dispatch round; freed after it */
    uint32_t gen;          /* fd registrations: which one of this fd number */
    loop_fd_cb fd_cb;
    loop_timer_cb timer_cb;
    loop_signal_cb signal_cb;
    void *arg;
    struct reg *next_dead;
};

struct loop_timer {
    struct reg reg;        /* first member: a timer is a registration */
    struct loop *loop;
    int armed;
};

struct loop {
    int epfd;
    int stop;
    struct reg **by_fd;    /* fd registrations, indexed by fd */
    size_t by_fd_len;
    struct reg *dead;
    uint32_t gen;          /* the last generation handed out */
};

/* An fd registration's epoll data: bit 0 set (a pointer's never is), the fd, the generation. */
static uint64_t fd_token(const struct reg *r)
{
    return (uint64_t)r->gen << 32 | (uint64_t)(uint32_t)r->fd << 1 | 1;
}

struct loop *loop_new(void)
{
    struct loop *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l);
        return NULL;
    }
    return l;
}

static void reap_dead(struct loop *l)
{
    while (l->dead) {
        struct reg *r = l->dead;
        l->dead = r->next_dead;
        free(r);
    }
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    reap_dead(l);
    for (size_t i = 0; i < l->by_fd_len; i++)
        free(l->by_fd[i]);
    free(l->by_fd);
    close(l->epfd);
    free(l);
}

static void retire(struct loop *l, struct reg *r)
{
    r->dead = 1;
    r->next_dead = l->dead;
    l->dead = r;
}

static int track_fd(struct loop *l, struct reg *r)
{
    size_t fd = (size_t)r->fd;
    if (fd >= l->by_fd_len) {
        size_t n = fd + 64;
        struct reg **t = realloc(l->by_fd, n * sizeof(*t));
        if (!t)
            return -1;
        memset(t + l->by_fd_len, 0, (n - l->by_fd_len) * sizeof(*t));
        l->by_fd = t;
        l->by_fd_len = n;
    }
    l->by_fd[fd] = r;
    return 0;
}

static struct reg *find_fd(struct loop *l, int fd)
{
    if (fd < 0 || (size_t)fd >= l->by_fd_len)
        return NULL;
    return l->by_fd[fd];
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *arg)
{
    if (find_fd(l, fd)) {
        errno = EEXIST;
        return -1;
    }
    struct reg *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->kind = REG_FD;
    r->fd = fd;
    r->gen = ++l->gen;
    r->fd_cb = cb;
    r->arg = arg;
    struct epoll_event ev = {.events = events, .data.u64 = fd_token(r)};
    if (track_fd(l, r) < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        if ((size_t)fd < l->by_fd_len)
            l->by_fd[fd] = NULL;
        free(r);
        return -1;
    }
    return 0;
}

int loop_mod_fd(struct loop *l, int fd, uint32_t events)
{
    struct reg *r = find_fd(l, fd);
    if (!r) {
        errno = ENOENT;
        return -1;
    }
    struct epoll_event ev = {.events = events, .data.u64 = fd_token(r)};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
        return 0;
    /* The fd was closed and its number reused behind our back (libpq does this when it
     * moves to the next host): epoll forgot it, so register the new file afresh. */
    if (errno == ENOENT)
        return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
    return -1;
}

void loop_del_fd(struct loop *l, int fd)
{
    struct reg *r = find_fd(l, fd);
    if (!r)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    l->by_fd[fd] = NULL;
    retire(l, r);
}

struct loop_timer *loop_timer_new(struct loop *l, loop_timer_cb cb, void *arg)
{
    struct loop_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->reg.kind = REG_TIMER;
    t->reg.timer_cb = cb;
    t->reg.arg = arg;
    t->loop = l;
    t->reg.fd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &t->reg};
    if (t->reg.fd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, t->reg.fd, &ev) < 0) {
        if (t->reg.fd >= 0)
            close(t->reg.fd);
        free(t);
        return NULL;
    }
    return t;
}

void loop_timer_at(struct loop_timer *t, int64_t at_ns)
{
    if (at_ns <= 0)
        at_ns = 1; /* an all-zero it_value would disarm */
    struct itimerspec its = {
        .it_value = {.tv_sec = at_ns / NS_PER_SEC, .tv_nsec = at_ns % NS_PER_SEC},
    };
    if (timerfd_settime(t->reg.fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        fatal("timerfd_settime");
    t->armed = 1;
}

void loop_timer_after(struct loop_timer *t, int64_t delay_ns)
{
    loop_timer_at(t, now_ns() + (delay_ns > 0 ? delay_ns : 0));
}

void loop_timer_stop(struct loop_timer *t)
{
    struct itimerspec its = {0};
    if (!t)
        return;
    timerfd_settime(t->reg.fd, 0, &its, NULL);
    t->armed = 0;
    uint64_t n;
    while (read(t->reg.fd, &n, sizeof(n)) > 0)
        ; /* drop an expiry not yet dispatched */
}

int loop_timer_armed(const struct loop_timer *t) { return t && t->armed; }

void loop_timer_free(struct loop_timer *t)
{
    if (!t)
        return;
    epoll_ctl(t->loop->epfd, EPOLL_CTL_DEL, t->reg.fd, NULL);
    close(t->reg.fd);
    retire(t->loop, &t->reg);
}

int loop_add_signals(struct loop *l, const int *signals, int n, loop_signal_cb cb, void *arg)
{
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < n; i++)
        sigaddset(&set, signals[i]);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    struct reg *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->kind = REG_SIGNAL;
    r->signal_cb = cb;
    r->arg = arg;
    r->fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = r};
    if (r->fd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, r->fd, &ev) < 0 || track_fd(l, r) < 0) {
        if (r->fd >= 0)
            close(r->fd);
        free(r);
        return -1;
    }
    return 0;   /* freed with the loop */
}

static void dispatch(struct reg *r, uint32_t events)
{
    switch (r->kind) {
    case REG_FD:
        r->fd_cb(r->arg, r->fd, events);
        break;
    case REG_TIMER: {
        struct loop_timer *t = (struct loop_timer *)r;
        uint64_t n;
        if (read(r->fd, &n, sizeof(n)) != sizeof(n))
            return; /* stopped or re-armed since the wakeup */
        t->armed = 0;
        r->timer_cb(r->arg);
        break;
    }
    case REG_SIGNAL: {
        struct signalfd_siginfo si;
        while (read(r->fd, &si, sizeof(si)) == sizeof(si))
            r->signal_cb(r->arg, (int)si.ssi_signo);
        break;
    }
    }
}

/* What an event's data names: a timer or signal registration (a pointer), or the current
 * registration of an fd if the token's generation is still its (else NULL: a stale one). */
static struct reg *registration(struct loop *l, uint64_t data)
{
    if (!(data & 1))
        return (struct reg *)(uintptr_t)data;
    struct reg *r = find_fd(l, (int)(uint32_t)(data >> 1 & 0x7fffffff));
    return r && r->kind == REG_FD && r->gen == (uint32_t)(data >> 32) ? r : NULL;
}

int loop_once(struct loop *l, int timeout_ms)
{
    struct epoll_event evs[32];
    int n = epoll_wait(l->epfd, evs, 32, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        struct reg *r = registration(l, evs[i].data.u64);
        if (r && !r->dead)
            dispatch(r, evs[i].events);
    }
    reap_dead(l);
    return n;
}

int loop_run(struct loop *l)
{
    l->stop = 0;
    while (!l->stop)
        if (loop_once(l, -1) < 0) {
            log_warn("epoll_wait");
            return -1;
        }
    return 0;
}

void loop_stop(struct loop *l) { l->stop = 1; }
