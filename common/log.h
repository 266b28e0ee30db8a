/* log.h: logging to stderr with sd-daemon "<N>" priority prefixes (systemd style). */
#ifndef HS_LOG_H
#define HS_LOG_H

#include <stdarg.h>
#include <stddef.h>

/* prog names the tool in every line; debug enables log_debug. */
void log_init(const char *prog, int debug);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warnx: a warning; log_warn: the same with ": strerror(errno)" appended. */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fatal/fatalx: programming errors and impossible states only, never bad input. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Every line is written through log_escape (control characters become \n, \t, \r or
 * \xNN, so a peer's text never starts a line of its own) and, debug and fatal lines
 * aside, is rate-limited: of lines that differ only in their digits at most 10 per 10 s,
 * then a count of those held back.
 * Returns the length written to out (always NUL-terminated, truncated to fit).
 */
size_t log_escape(char *out, size_t outlen, const char *in);

#endif
