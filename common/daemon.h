/* daemon.h: what every hotstandby binary does the same way at start (DESIGN §10). */
#ifndef HS_DAEMON_H
#define HS_DAEMON_H

#include <stdint.h>

#include "conf.h"

struct daemon_opts {
    const char *conf_path;
    int test_only;   /* -t */
    int debug;       /* -d */
};

/*
 * Parses -c FILE, -t, -d, -V, -h (and nothing else). Returns -1 to go on, or the exit
 * status to exit with (0 after -V/-h, 2 on a usage error).
 */
int daemon_args(int argc, char **argv, const char *prog, const char *usage,
                struct daemon_opts *o);
/* No core dumps, not dumpable (no ptrace by other users): called before any secret is
 * read, by every binary that reads one (daemon_conf does it for the daemons). */
void daemon_protect_secrets(void);
/* Loads the config; on error prints "prog: file:line: key: why" and returns 2. With -t,
 * returns 0 on success so the caller exits. Otherwise returns -1 to go on. */
int daemon_conf(const char *prog, const struct daemon_opts *o, struct conf *c);
/* -V: "prog VERSION", a blank line, the licence. */
void print_version(const char *prog);
/* Creates run_dir (0755) if missing. */
int daemon_run_dir(const struct conf *c);

/* sd_notify when NOTIFY_SOCKET is set; no-ops otherwise. */
void daemon_ready(void);
void daemon_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Watchdog ping period in ns (half of WATCHDOG_USEC), or 0 when not under a watchdog. */
int64_t daemon_watchdog_period_ns(void);
void daemon_watchdog_ping(void);
struct loop;
/* For a daemon whose loop has no watchdog timer of its own: pings from l's loop at the
 * period above (nothing when not under a watchdog). */
void daemon_watchdog_arm(struct loop *l);

/* This build's version as the cluster sees it (hs_node.version). HOTSTANDBY_TEST_VERSION
 * replaces it: test-only (the version-mismatch alert is provoked with it), logged. */
const char *daemon_version(void);

#endif
