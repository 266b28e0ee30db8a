/*
 * state.h: the node's sync state file, run_dir/syncd.state, shared by the syncd daemon
 * (which writes its role and epoch) and the `syncd --serve` receivers it never talks to
 * directly (which read the role and record the newest epoch they have seen).
 * Updates are read-modify-write under flock(2).
 */
#ifndef SYNCD_STATE_H
#define SYNCD_STATE_H

#include <stddef.h>
#include <stdint.h>

struct sync_state {
    int active;             /* this node's syncd was told it is active */
    uint64_t epoch;         /* the epoch of that role */
    uint64_t seen_epoch;    /* newest epoch any sender presented (receivers refuse older) */
    uint64_t was_active;    /* epoch at which this node was last active, 0 once reconciled */
};

void sync_state_path(const char *run_dir, char *buf, size_t len);
/* Missing file = all zero. Returns 0 or -1 (errno). */
int sync_state_read(const char *path, struct sync_state *st);
typedef void (*sync_state_fn)(struct sync_state *st, void *arg);
/* Locks, reads, calls fn, writes back; *out (may be NULL) gets the new state. */
int sync_state_update(const char *path, sync_state_fn fn, void *arg, struct sync_state *out);

#endif
