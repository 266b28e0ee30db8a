/* log.c: one line per message on stderr, "<N>prog: text", N the syslog priority. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static const char *log_prog = "hotstandby";
static int log_debug_on;

void log_init(const char *prog, int debug)
{
    log_prog = prog;
    log_debug_on = debug;
}


static void vlog(int prio, const char *errstr, const char *fmt, va_list ap)
{
    char msg[2048];
    int saved = errno;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* One write per line so lines from several processes on one stderr don't interleave. */
    char line[2300];
    int n;
    if (errstr)
        n = snprintf(line, sizeof(line), "<%d>%s: %s: %s\n", prio, log_prog, msg, errstr);
    else
        n = snprintf(line, sizeof(line), "<%d>%s: %s\n", prio, log_prog, msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line))
        n = sizeof(line) - 1, line[n - 1] = '\n';
    ssize_t off = 0;
    while (off < n) {
        ssize_t w = write(STDERR_FILENO, line + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += w;
    }
    errno = saved;
}

#define LOG_FN(name, prio)                                                                   \
    void name(const char *fmt, ...)                                                          \
    {                                                                                        \
        va_list ap;                                                                          \
        va_start(ap, fmt);                                                                   \
        vlog(prio, NULL, fmt, ap);                                                           \
        va_end(ap);                                                                          \
    }

LOG_FN(log_info, LOG_INFO)
LOG_FN(log_notice, LOG_NOTICE)
LOG_FN(log_warnx, LOG_WARNING)
LOG_FN(log_errx, LOG_ERR)

void log_debug(const char *fmt, ...)
{
    if (!log_debug_on)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_DEBUG, NULL, fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    const char *e = strerror(errno);
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_WARNING, e, fmt, ap);
    va_end(ap);
}

void fatal(const char *fmt, ...)
{
    const char *e = strerror(errno);
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_CRIT, e, fmt, ap);
    va_end(ap);
    abort();
}

void fatalx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_CRIT, NULL, fmt, ap);
    va_end(ap);
    abort();
}
