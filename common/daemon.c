/* daemon.c: the command-line conventions shared by every binary (DESIGN §10). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "db.h"
#include "loop.h"
#include "log.h"

int daemon_args(int argc, char **argv, const char *prog, const char *usage,
                struct daemon_opts *o)
{
    int ch;
    o->conf_path = HS_DEFAULT_CONF;
    optind = 1;
    while ((ch = getopt(argc, argv, "c:tdVh")) != -1) {
        switch (ch) {
        case 'c': o->conf_path = optarg; break;
        case 't': o->test_only = 1; break;
        case 'd': o->debug = 1; break;
        case 'V': print_version(prog); return 0;
        case 'h': printf("usage: %s %s\n", prog, usage); return 0;
        default: fprintf(stderr, "usage: %s %s\n", prog, usage); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\nusage: %s %s\n", prog, argv[optind], prog,
                usage);
        return 2;
    }
    return -1;
}

int daemon_conf(const char *prog, const struct daemon_opts *o, struct conf *c)
{
    char err[1024];
    daemon_protect_secrets();
    if (conf_load(o->conf_path, c, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 2;
    }
    db_set_pool_mode(c->database_pool_mode == POOL_TRANSACTION);
    if (o->test_only) {
        printf("%s: %s: configuration ok\n", prog, o->conf_path);
        return 0;
    }
    return -1;
}

int daemon_run_dir(const struct conf *c)
{
    if (mkdir(c->run_dir, 0755) < 0 && errno != EEXIST) {
        log_warn("%s", c->run_dir);
        return -1;
    }
    return 0;
}

/*
 * The service manager's notification protocol (sd_notify(3)), without libsystemd: one
 * datagram to the AF_UNIX socket named by NOTIFY_SOCKET (a path, or "@name" for the
 * abstract namespace); nothing when it is unset. libsystemd pulled six more libraries
 * (libgcrypt, liblzma, libzstd, liblz4, libcap, libgpg-error) into every daemon, ~180 KiB
 * of PSS each (tests/bench/bench-memory.sh).
 */
static void notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) < 2)
        return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (n > sizeof(sa.sun_path))
        return;
    memcpy(sa.sun_path, path, n);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
        log_debug("NOTIFY_SOCKET %s: %s", path, strerror(errno));
    close(fd);
}

void daemon_ready(void) { notify("READY=1"); }

void daemon_status(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(buf, sizeof(buf), "STATUS=");
    vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    va_end(ap);
    notify(buf);
}

/* sd_watchdog_enabled(3): WATCHDOG_USEC, for this process if WATCHDOG_PID names one. */
int64_t daemon_watchdog_period_ns(void)
{
    const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    char *end;
    if (!us || !*us)
        return 0;
    errno = 0;
    unsigned long long usec = strtoull(us, &end, 10);
    if (errno || *end || usec == 0 || usec > (unsigned long long)INT64_MAX / 1000)
        return 0;
    if (pid && *pid) {
        unsigned long long p = strtoull(pid, &end, 10);
        if (*end || p != (unsigned long long)getpid())
            return 0;
    }
    return (int64_t)usec * 1000 / 2;
}

void daemon_watchdog_ping(void) { notify("WATCHDOG=1"); }

/* One per process: the loop keeps the timer, this keeps its period. */
static struct {
    struct loop_timer *timer;
    int64_t period_ns;
} watchdog;

static void watchdog_tick(void *arg)
{
    (void)arg;
    daemon_watchdog_ping();
    loop_timer_after(watchdog.timer, watchdog.period_ns);
}

void daemon_watchdog_arm(struct loop *l)
{
    watchdog.period_ns = daemon_watchdog_period_ns();
    if (watchdog.period_ns <= 0 || watchdog.timer)
        return;
    watchdog.timer = loop_timer_new(l, watchdog_tick, NULL);
    loop_timer_after(watchdog.timer, watchdog.period_ns);
}

const char *daemon_version(void)
{
    static int warned;
    const char *v = getenv("HOTSTANDBY_TEST_VERSION");
    if (v == NULL || *v == '\0' || strlen(v) > 64)
        return HS_VERSION;
    if (!warned++)
        log_warnx("HOTSTANDBY_TEST_VERSION: reporting version '%s' instead of %s (test only)",
                  v, HS_VERSION);
    return v;
}
