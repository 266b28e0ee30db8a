/*
 * tree.h: the directories this node syncs ([sync] paths beneath [sync] root), held open,
 * and the one way syncd resolves a path inside them -- on both sides, sender and receiver.
 *
 * A configured sync path is the operator's and is opened as configured (it may itself be
 * reached through symlinks the operator made). Everything below it is resolved from its
 * directory fd with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): a symlink inside a
 * synced tree is an entry that syncd creates, replaces or lists, never a directory it
 * walks through, so no path from the wire or from a local user's rename can lead outside.
 */
#ifndef SYNCD_TREE_H
#define SYNCD_TREE_H

#include <stddef.h>

#include "conf.h"

struct sync_dir {
    char rel[CONF_STR];          /* relative to [sync] root, no leading '/'; "" = the root */
    size_t len;
    int fd;                      /* O_RDONLY | O_DIRECTORY */
};

struct sync_tree {
    struct sync_dir d[CONF_MAX_LIST];
    int n;
};

/*
 * Opens every [sync] path of c. create: make missing sync paths (mode 0755), as the
 * receiver does on a fresh standby. Fails (err set) if openat2 is not available: syncd
 * never falls back to resolving paths by name.
 */
int sync_tree_open(struct sync_tree *t, const struct conf *c, int create, char *err,
                   size_t errlen);
void sync_tree_close(struct sync_tree *t);

/* The sync path holding path (the most specific one), or NULL; *rest is what follows it
 * ("" when path is the sync path itself). */
const struct sync_dir *sync_tree_find(const struct sync_tree *t, const char *path,
                                      const char **rest);

/* openat2(dirfd, rel) beneath dirfd with no symlink anywhere, O_CLOEXEC added; rel ""
 * reopens dirfd itself (a new open file: its own directory offset, unlike dup). Returns an
 * fd or -1 (errno; ELOOP/EXDEV: a symlink in the way). */
int sync_openat(int dirfd, const char *rel, int flags);

/*
 * The directory holding path (O_RDONLY | O_DIRECTORY) and, in *name, the last component
 * (pointing into path). -1 with errno: ENOENT/ENOTDIR/ELOOP if the parent is not a real
 * directory beneath the sync path, EPERM if path is outside every sync path, EISDIR if
 * path is a sync path itself (callers that allow that use sync_tree_find).
 */
int sync_tree_parent(const struct sync_tree *t, const char *path, const char **name);

#endif
