/*
 * manifest.h: what a tree holds (path, kind, mode, owner, mtime, size, link target),
 * scanned from disk on either side, and the pure comparison that turns the sender's
 * and the receiver's manifests into the operations that make them equal.
 */
#ifndef SYNCD_MANIFEST_H
#define SYNCD_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct stat;

/* Names that are never synced, watched or listed: our temp files and conflict store. */
#define SYNC_TMP_PREFIX ".hs-tmp."
#define SYNC_CONFLICTS ".hotstandby-conflicts"

struct manifest_entry {
    char *path;           /* relative to the sync root */
    char *target;         /* symlinks; NULL otherwise */
    uint8_t kind;         /* PK_* */
    uint32_t mode, uid, gid;
    int64_t mtime_ns;
    uint64_t size;
    uint8_t has_hash;
    uint8_t hash[32];     /* SHA-256 of the content, when scanned with hash */
};

struct manifest {
    struct manifest_entry *e;
    size_t n, cap;
};

void manifest_free(struct manifest *m);
int manifest_add(struct manifest *m, const struct proto_entry *pe);
/* Tree order ('/' before every other byte); a manifest already in it is left as it is. */
void manifest_sort(struct manifest *m);

/* Exclusion globs ([sync] exclude): matched against the base name and the relative path. */
struct manifest_filter {
    char (*globs)[256];
    int n;
};
int manifest_excluded(const struct manifest_filter *f, const char *relpath);

/*
 * Lists relpath (a file, or a directory and everything below it; relpath is relative to
 * the sync root and lies in one of t's sync paths) into m. Resolution follows tree.h: a
 * symlink is listed, never walked through, so a relpath reached through one lists nothing.
 * Skips excluded names, our temp files and the conflict store. If stale_tmp is set,
 * temp files left by dead receivers are removed on the way. hash: also read every
 * regular file and record its SHA-256 (content comparison on demand). Returns 0 or -1 (errno)
 * if relpath itself cannot be read (ENOENT: m stays empty and 0 is returned).
 * The entries come in tree order (manifest_sort's): each directory's names are sorted.
 */
struct sync_tree;
int manifest_scan(const struct sync_tree *t, const char *relpath,
                  const struct manifest_filter *f, int stale_tmp, int hash, struct manifest *m);
/* The same, handing each entry to cb as it is found instead of keeping it (a receiver
 * streams its manifest). cb returns 0, or -1 (errno set) to stop the scan: then -1. */
typedef int (*manifest_entry_cb)(void *arg, const struct proto_entry *pe);
int manifest_scan_each(const struct sync_tree *t, const char *relpath,
                       const struct manifest_filter *f, int stale_tmp, int hash,
                       manifest_entry_cb cb, void *arg);
/* Opens name in dfd for reading if it is a regular file (never a FIFO, device or
 * symlink: O_NOFOLLOW | O_NONBLOCK, checked with fstat, whose result goes to st if not
 * NULL); -1 otherwise. */
int manifest_open_file(int dfd, const char *name, struct stat *st);

enum manifest_action { MA_SEND = 1, MA_DELETE = 2 };
typedef void (*manifest_action_cb)(void *arg, enum manifest_action a,
                                   const struct manifest_entry *e);
/*
 * The pure comparison: both manifests sorted; calls cb in path order with what the
 * receiver needs (DELETE before SEND of the same path, parents before children, one
 * DELETE for a whole removed directory). owners: compare uid/gid too. Returns the
 * number of actions.
 */
size_t manifest_diff(const struct manifest *local, const struct manifest *remote, int owners,
                     manifest_action_cb cb, void *arg);
/* Do two entries describe the same thing (as far as sync cares)? With both hashes
 * present, equal content is required too. */
int manifest_same(const struct manifest_entry *a, const struct manifest_entry *b, int owners);

#endif
