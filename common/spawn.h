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
/*
 * Hooks that may bring the service or the address up ([service] start and check,
 * vipctl up and check) run tracked: while they run, track_dir/PID (PID = their process
 * group) holds the leader's start time, written by the child itself before it execs.
 * spawn_kill_tracked() — called before every stop, by watchd, by heartbeatd's backstop
 * and by a restarted watchd's cleanup — SIGKILLs every recorded group and waits (at
 * most timeout_ns) until none of its processes is left. A record whose pid now names
 * another process (recycled) is dropped unkilled. Returns the number of groups killed,
 * or -1 if some survived (logged: the service may still come up).
 */
int spawn_tracked(struct loop *l, const char *track_dir, const char *name, char *const argv[],
                  char *const env_extra[], int64_t timeout_ns, spawn_done_cb cb, void *arg);
int spawn_shell_tracked(struct loop *l, const char *track_dir, const char *name,
                        const char *cmd, char *const env_extra[], int64_t timeout_ns,
                        spawn_done_cb cb, void *arg);
int spawn_kill_tracked(const char *track_dir, int64_t timeout_ns);
/* The one place tracked hooks of a node are recorded: RUN_DIR/hooks. */
void hook_track_dir(const char *run_dir, char *buf, size_t len);

/* Blocking run for commands: returns status as above. */
int spawn_wait(const char *name, char *const argv[], char *const env_extra[], int64_t timeout_ns);
/* Number of children still running (watchd waits for them on shutdown). */
int spawn_running(void);

/* The environment of a hook (DESIGN §10): HOTSTANDBY_CLUSTER, _NODE, _ROLE, _EPOCH.
 * h->env is the NULL-terminated list to pass as env_extra. */
struct hook_env {
    char buf[5][128];
    char *env[6];
};
void hook_env_fill(struct hook_env *h, const char *cluster, const char *node, const char *role,
                   int64_t epoch);
/* Adds HOTSTANDBY_DEADLINE_NS: the lease deadline (CLOCK_BOOTTIME ns) the hook acts under;
 * a spawned vipctl refuses to add an address once it has passed (DESIGN §3). */
void hook_env_deadline(struct hook_env *h, int64_t deadline_ns);

/* Directory of the running executable, to find sibling binaries (vipctl next to watchd). */
int self_dir(char *buf, size_t len);

#endif
