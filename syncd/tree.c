/* tree.c: the synced directories, held open, and path resolution beneath them (tree.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proto.h"
#include "tree.h"

int sync_openat(int dirfd, const char *rel, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, dirfd, *rel ? rel : ".", &how, sizeof(how));
}

/* mkdir -p of an operator-configured absolute path. */
static int make_dirs(const char *abs)
{
    char p[CONF_LONGSTR];
    snprintf(p, sizeof(p), "%s", abs);
    for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
        if (s)
            *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return -1;
        if (!s)
            return 0;
        *s = '/';
    }
}

static int open_one(struct sync_dir *d, const char *root, const char *path, int create,
                    char *err, size_t errlen)
{
    char abs[CONF_LONGSTR];
    snprintf(d->rel, sizeof(d->rel), "%s", path + 1);
    d->len = strlen(d->rel);
    snprintf(abs, sizeof(abs), "%s%s%s", root, root[strlen(root) - 1] == '/' ? "" : "/",
             d->rel);
    d->fd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->fd < 0 && errno == ENOENT && create && make_dirs(abs) == 0)
        d->fd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->fd < 0) {
        snprintf(err, errlen, "[sync] paths: %s: %s", abs, strerror(errno));
        return -1;
    }
    return 0;
}

int sync_tree_open(struct sync_tree *t, const struct conf *c, int create, char *err,
                   size_t errlen)
{
    t->n = 0;
    for (int i = 0; i < c->n_sync_paths; i++) {
        if (open_one(&t->d[t->n], c->sync_root, c->sync_paths[i], create, err, errlen) < 0) {
            sync_tree_close(t);
            return -1;
        }
        t->n++;
    }
    if (t->n) {
        int probe = sync_openat(t->d[0].fd, "", O_PATH | O_DIRECTORY);
        if (probe < 0) {
            snprintf(err, errlen, "openat2 (RESOLVE_BENEATH): %s: this kernel cannot confine "
                     "path resolution (Linux 5.6 or later is needed)", strerror(errno));
            sync_tree_close(t);
            return -1;
        }
        close(probe);
    }
    return 0;
}

void sync_tree_close(struct sync_tree *t)
{
    for (int i = 0; i < t->n; i++)
        if (t->d[i].fd >= 0)
            close(t->d[i].fd);
    t->n = 0;
}

const struct sync_dir *sync_tree_find(const struct sync_tree *t, const char *path,
                                      const char **rest)
{
    const struct sync_dir *best = NULL;
    for (int i = 0; i < t->n; i++)
        if (proto_path_under(path, t->d[i].rel) && (!best || t->d[i].len > best->len))
            best = &t->d[i];
    if (best)
        *rest = path + best->len + (best->len && path[best->len] == '/');
    return best;
}

int sync_tree_parent(const struct sync_tree *t, const char *path, const char **name)
{
    const char *rest;
    const struct sync_dir *d = sync_tree_find(t, path, &rest);
    if (!d || !*rest) {
        errno = d ? EISDIR : EPERM;
        return -1;
    }
    const char *slash = strrchr(rest, '/');
    if (!slash) {
        *name = rest;
        return sync_openat(d->fd, "", O_RDONLY | O_DIRECTORY);
    }
    char dir[PROTO_PATH_MAX];
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - rest), rest);
    *name = slash + 1;
    return sync_openat(d->fd, dir, O_RDONLY | O_DIRECTORY);
}
