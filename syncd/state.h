/*
 * state.h: the node's sync state file, <state_dir>/syncd.state, shared by the syncd daemon
 * (which writes its role and epoch) and the `syncd --serve` receivers it never talks to
 * directly (which read the role and record the newest epoch they have seen).
 *
 * It lives on persistent storage ([cluster] state_dir, default /var/lib/hotstandby/<name>)
 * because was_active is what protects an old active's unsynced files when it comes back
 * after a crash or a reboot (DESIGN §6). The role itself only counts for the boot it was
 * written in. Updates are read-modify-write under flock(2) on syncd.state.lock and land
 * atomically: a temp file, fsync, rename, fsync of the directory.
 */
#ifndef SYNCD_STATE_H
#define SYNCD_STATE_H

#include <stddef.h>
#include <stdint.h>

struct sync_state {
    int active;             /* this node's syncd was told it is active (this boot) */
    uint64_t epoch;         /* the epoch of that role */
    uint64_t seen_epoch;    /* newest checked epoch any sender presented (receivers refuse older) */
    uint64_t was_active;    /* epoch at which this node was last active, 0 once reconciled */
};

void sync_state_path(const char *state_dir, char *buf, size_t len);
/* Creates state_dir (mode 0700) if needed. Returns 0 or -1 (errno). */
int sync_state_dir(const char *state_dir);
/* Missing file = all zero. Returns 0 or -1 (errno). */
int sync_state_read(const char *path, struct sync_state *st);
typedef void (*sync_state_fn)(struct sync_state *st, void *arg);
/* Locks, reads, calls fn, writes back; *out (may be NULL) gets the new state. */
int sync_state_update(const char *path, sync_state_fn fn, void *arg, struct sync_state *out);

#endif
