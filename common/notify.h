/* notify.h: e-mail alerts (DESIGN §7). The caller queues, one worker thread sends over libcurl
 * SMTP with retries and backoff; nothing here ever makes the caller wait for a mail server. */
#ifndef HS_NOTIFY_H
#define HS_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

struct notifier;

/* Reads [notify] from c (the password from password_file, refused if group/world-readable)
 * and starts the worker. With [notify] email empty, returns a notifier that only logs.
 * Returns NULL with a message in err on a bad password file or a failure to start. */
struct notifier *notify_new(const struct conf *c, char *err, size_t errlen);

/* Logs the alert and queues a mail "[hotstandby] <cluster>: subject". Never blocks on SMTP.
 * The same kind + subject again within the de-duplication window (60 s) is not mailed
 * again: it is counted, and the count goes out in one mail when the window ends.
 * n may be NULL (then the alert is only logged). */
void notify_alert(struct notifier *n, const char *kind, const char *subject, const char *body);

/* What notify_new would refuse (addresses, URL, password file), without starting anything:
 * for -t. Returns 0, or -1 with "[notify] key: why" in err. */
int notify_check(const struct conf *c, char *err, size_t errlen);

/* At exit: stops the worker; mails still queued get ~2 s, then are dropped (and logged).
 * Blocks for that long (under 3 s even with a transfer stuck on a silent server). */
void notify_free(struct notifier *n);
/* On reload: the same flush, done by the worker, which then frees n; returns at once, so an
 * event loop is never held up. The caller must not use n again. */
void notify_retire(struct notifier *n);

/* For tests: a shorter de-duplication window than the default 60 s. */
void notify_set_dedup_window(struct notifier *n, int64_t window_ns);
/* For tests: waits until nothing is queued or being sent. 0 if so, -1 on timeout. */
int notify_wait_idle(struct notifier *n, int64_t timeout_ns);

#endif
