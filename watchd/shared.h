/*
 * shared.h: the check of [shared] folder (DESIGN §6: mounted, writable, the same filesystem
 * on every node). A stat() on a hung NFS mount never returns, so the check runs in a thread
 * of its own and the event loop only reads its verdicts from a pipe; a check that does not
 * come back is itself the verdict "not responding".
 */
#ifndef HS_SHARED_H
#define HS_SHARED_H

#include <stddef.h>

#define SHARED_FSID_LEN 256
#define SHARED_WHY_LEN 256

struct shared_result {
    int ok;
    char fsid[SHARED_FSID_LEN];     /* "fstype source root" of the mount, when ok */
    char why[SHARED_WHY_LEN];       /* when not ok: missing, not a mount point, read-only */
};

/* One check, blocking (the thread's body; also usable by a command). */
void shared_check(const char *folder, const char *node, struct shared_result *r);

struct shared_prober;
/* Starts the thread; results are read with shared_prober_read() when fd() is readable. */
struct shared_prober *shared_prober_new(const char *folder, const char *node);
int shared_prober_fd(const struct shared_prober *p);
/* Asks for one check; returns -1 if one is still running. */
int shared_prober_ask(struct shared_prober *p);
int shared_prober_read(struct shared_prober *p, struct shared_result *r);
/* A thread stuck in the kernel cannot be joined: it is left behind, detached. */
void shared_prober_free(struct shared_prober *p);

#endif
