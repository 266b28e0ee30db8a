/*
 * lease.h: the lease deadline watchd publishes for what it spawned (DESIGN §3).
 * A hook or a spawned vipctl starts with HOTSTANDBY_EPOCH and HOTSTANDBY_DEADLINE_NS;
 * while watchd lives it rewrites RUN_DIR/lease with every change of its lease (each
 * confirmed renewal moves the deadline on, a fence sets it to 0), so a long step keeps
 * the authority of the live lease. A frozen or dead watchd writes nothing more: the
 * last deadline holds, and it is never later than the cluster can be taken over.
 */
#ifndef HS_LEASE_H
#define HS_LEASE_H

#include <stdint.h>

/* Replaces RUN_DIR/lease with "EPOCH DEADLINE_NS" (atomic rename). 0, or -1 with errno. */
int lease_file_write(const char *run_dir, int64_t epoch, int64_t deadline_ns);
/* Reads it: 0 with both filled, -1 if it is missing or not well formed. */
int lease_file_read(const char *run_dir, int64_t *epoch, int64_t *deadline_ns);

#endif
