/*
 * log.c: one line per message on stderr, "<N>prog: text", N the syslog priority.
 * Control characters are escaped, so text from a peer (a node name, a path, an error
 * string) can never start a second line with a priority of its own. Repeated lines are
 * rate-limited, so a fault that repeats in a tight loop cannot fill the disk.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define RATE_SLOTS 64
#define RATE_WINDOW_NS (10 * NS_PER_SEC)
#define RATE_BURST 10   /* lines of one kind per window before the rest are counted */

static const char *log_prog = "hotstandby";
static int log_debug_on;

/* One slot per kind of line: the message with its digits left out (pids, counters). */
struct rate_slot {
    uint64_t key;
    int64_t window_start;
    unsigned printed;
    unsigned suppressed;
};
static struct rate_slot rate[RATE_SLOTS];

void log_init(const char *prog, int debug)
{
    log_prog = prog;
    log_debug_on = debug;
}

size_t log_escape(char *out, size_t outlen, const char *in)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (outlen == 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        char esc[5];
        size_t n = 0;
        if (*p == '\n')
            esc[n++] = '\\', esc[n++] = 'n';
        else if (*p == '\t')
            esc[n++] = '\\', esc[n++] = 't';
        else if (*p == '\r')
            esc[n++] = '\\', esc[n++] = 'r';
        else if (*p < 0x20 || *p == 0x7f)
            esc[n++] = '\\', esc[n++] = 'x', esc[n++] = hex[*p >> 4], esc[n++] = hex[*p & 15];
        else
            esc[n++] = (char)*p;
        if (o + n >= outlen)
            break;
        memcpy(out + o, esc, n);
        o += n;
    }
    out[o] = '\0';
    return o;
}

static uint64_t line_kind(int prio, const char *msg)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)prio;   /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (*p >= '0' && *p <= '9')
            continue;
        h = (h ^ *p) * 1099511628211ULL;
    }
    return h | 1;   /* 0 marks a free slot */
}

/*
 * Returns 1 if the line may be written. *suppressed is set to the number of lines of the
 * same kind held back in the window that just ended, to be reported before this one.
 */
static int rate_allow(uint64_t key, int64_t now, unsigned *suppressed)
{
    struct rate_slot *s = &rate[key % RATE_SLOTS];
    *suppressed = 0;
    if (s->key != key || now - s->window_start >= RATE_WINDOW_NS) {
        if (s->key == key)
            *suppressed = s->suppressed;
        *s = (struct rate_slot){.key = key, .window_start = now};
    }
    if (s->printed < RATE_BURST) {
        s->printed++;
        return 1;
    }
    s->suppressed++;
    return 0;
}

static void write_line(const char *line, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(STDERR_FILENO, line + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
}

static void vlog(int prio, const char *errstr, const char *fmt, va_list ap)
{
    char msg[2048], text[2048];
    int saved = errno;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (errstr) {
        size_t l = strlen(msg);
        snprintf(msg + l, sizeof(msg) - l, ": %s", errstr);
    }
    log_escape(text, sizeof(text), msg);
    /* -d asks for every line; a fatal one is the last anyway */
    int limited = prio > LOG_CRIT && prio < LOG_DEBUG;
    unsigned suppressed = 0;
    if (limited && !rate_allow(line_kind(prio, text), now_ns(), &suppressed)) {
        errno = saved;
        return;
    }
    /* One write per line so lines from several processes on one stderr don't interleave. */
    char line[2400];
    int n;
    if (suppressed) {
        n = snprintf(line, sizeof(line), "<%d>%s: (%u more lines like the next one suppressed)\n",
                     prio, log_prog, suppressed);
        if (n > 0)
            write_line(line, (size_t)n);
    }
    n = snprintf(line, sizeof(line), "<%d>%s: %s\n", prio, log_prog, text);
    if (n < 0) {
        errno = saved;
        return;
    }
    if ((size_t)n >= sizeof(line))
        n = sizeof(line) - 1, line[n - 1] = '\n';
    write_line(line, (size_t)n);
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
