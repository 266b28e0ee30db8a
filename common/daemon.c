/* daemon.c: the command-line conventions shared by every binary (DESIGN §10). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "clock.h"
#include "daemon.h"
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

void daemon_ready(void) { sd_notify(0, "READY=1"); }

void daemon_status(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    sd_notifyf(0, "STATUS=%s", buf);
}

int64_t daemon_watchdog_period_ns(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0)
        return 0;
    return (int64_t)usec * 1000 / 2;
}

void daemon_watchdog_ping(void) { sd_notify(0, "WATCHDOG=1"); }

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
