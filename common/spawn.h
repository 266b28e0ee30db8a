/* spawn.h: running hooks and helper commands, bounded in time, output to the log. */
#ifndef HS_SPAWN_H
#define HS_SPAWN_H

#include <stddef.h>
#include <stdint.h>

struct loop;

/* status: exit code (0..255), 128+signal if killed by a signal, -1 on timeout or spawn failure. */
typedef void (*spawn_done_cb)(void *arg, int status);

/*
 * Starts argv (argv[0] a path) with env_extra ("KEY=VALUE", NULL-terminated) and PATH,
 * LANG, LC_ALL, TZ from ours as its whole environment, in its own process group. Its
 * stdout/stderr lines go to the log as
 * "name: line". After timeout_ns the group gets SIGTERM, then SIGKILL a second later.
 * Returns a handle id > 0, or -1.
 */
int spawn_start(struct loop *l, const char *name, char *const argv[], char *const env_extra[],
                int64_t timeout_ns, spawn_done_cb cb, void *arg);
/* The same through /bin/sh -c cmd (service hooks). */
int spawn_shell(struct loop *l, const char *name, const char *cmd, char *const env_extra[],
                int64_t timeout_ns, spawn_done_cb cb, void *arg);
/* Blocking run for commands: returns status as above. */
int spawn_wait(const char *name, char *const argv[], char *const env_extra[], int64_t timeout_ns);
/* Number of children still running (watchd waits for them on shutdown). */
int spawn_running(void);

/* The environment of a hook (DESIGN §10): HOTSTANDBY_CLUSTER, _NODE, _ROLE, _EPOCH.
 * h->env is the NULL-terminated list to pass as env_extra. */
struct hook_env {
    char buf[4][128];
    char *env[5];
};
void hook_env_fill(struct hook_env *h, const char *cluster, const char *node, const char *role,
                   int64_t epoch);

/* Directory of the running executable, to find sibling binaries (vipctl next to watchd). */
int self_dir(char *buf, size_t len);

#endif
