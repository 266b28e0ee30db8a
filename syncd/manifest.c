/*
 * manifest.c: scanning a tree into a manifest and comparing two manifests.
 * The comparison (manifest_diff) is pure: it is what the unit tests drive.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"
#include "sha256.h"
#include "tree.h"

void manifest_free(struct manifest *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].path);
        free(m->e[i].target);
    }
    free(m->e);
    memset(m, 0, sizeof(*m));
}

int manifest_add(struct manifest *m, const struct proto_entry *pe)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        struct manifest_entry *e = realloc(m->e, cap * sizeof(*e));
        if (!e)
            return -1;
        m->e = e;
        m->cap = cap;
    }
    struct manifest_entry *e = &m->e[m->n];
    e->path = strdup(pe->path);
    e->target = pe->kind == PK_SYMLINK ? strdup(pe->target) : NULL;
    if (!e->path || (pe->kind == PK_SYMLINK && !e->target)) {
        free(e->path);
        free(e->target);
        return -1;
    }
    e->kind = pe->kind;
    e->mode = pe->mode;
    e->uid = pe->uid;
    e->gid = pe->gid;
    e->mtime_ns = pe->mtime_ns;
    e->size = pe->size;
    e->has_hash = pe->has_hash;
    memcpy(e->hash, pe->hash, sizeof(e->hash));
    m->n++;
    return 0;
}

/* Tree order: '/' sorts before every other byte, so a directory's subtree follows it. */
static int path_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca == cb) {
            if (!ca)
                return 0;
            continue;
        }
        if (!ca || !cb)
            return ca ? 1 : -1;
        if (ca == '/')
            return -1;
        if (cb == '/')
            return 1;
        return ca < cb ? -1 : 1;
    }
}

static int entry_cmp(const void *a, const void *b)
{
    return path_cmp(((const struct manifest_entry *)a)->path,
                    ((const struct manifest_entry *)b)->path);
}

/* A scan lists in tree order already: sort only what is not (e.g. another receiver's). */
void manifest_sort(struct manifest *m)
{
    for (size_t i = 1; i < m->n; i++)
        if (path_cmp(m->e[i - 1].path, m->e[i].path) > 0) {
            qsort(m->e, m->n, sizeof(*m->e), entry_cmp);
            return;
        }
}

int manifest_excluded(const struct manifest_filter *f, const char *relpath)
{
    const char *base = strrchr(relpath, '/');
    base = base ? base + 1 : relpath;
    if (!strncmp(base, SYNC_TMP_PREFIX, strlen(SYNC_TMP_PREFIX)) || !strcmp(base, SYNC_CONFLICTS))
        return 1;
    for (int i = 0; f && i < f->n; i++)
        if (fnmatch(f->globs[i], base, 0) == 0 || fnmatch(f->globs[i], relpath, FNM_PATHNAME) == 0)
            return 1;
    return 0;
}

/* A temp file named .hs-tmp.<pid>.<n> whose receiver process is gone. */
static int stale_tmp_name(const char *name)
{
    size_t pl = strlen(SYNC_TMP_PREFIX);
    if (strncmp(name, SYNC_TMP_PREFIX, pl))
        return 0;
    char *end;
    long pid = strtol(name + pl, &end, 10);
    if (end == name + pl || *end != '.' || pid <= 0)
        return 1;
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

static void fill_entry(struct proto_entry *pe, const struct stat *st)
{
    pe->kind = S_ISDIR(st->st_mode) ? PK_DIR : S_ISLNK(st->st_mode) ? PK_SYMLINK : PK_FILE;
    pe->mode = st->st_mode & 07777;
    pe->uid = st->st_uid;
    pe->gid = st->st_gid;
    pe->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    pe->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
    pe->target[0] = '\0';
    pe->has_hash = 0;
}

/* Regular files only: O_NONBLOCK so that a FIFO swapped in after the lstat cannot block. */
int manifest_open_file(int dfd, const char *name, struct stat *stp)
{
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat own, *st = stp ? stp : &own;
    if (fd >= 0 && (fstat(fd, st) < 0 || !S_ISREG(st->st_mode))) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

struct scan {
    const struct manifest_filter *f;
    int stale_tmp, hash;
    manifest_entry_cb cb;
    void *arg;
    int stopped;                   /* cb said stop */
    struct proto_entry *pe;
    uint8_t *buf;                  /* hash: read buffer (one per scan: scans may run at once) */
};

#define HASH_BUF (1 << 16)

static void hash_file(int dfd, const char *name, struct proto_entry *pe, uint8_t *buf)
{
    int fd = manifest_open_file(dfd, name, NULL);
    if (fd < 0)
        return;
    struct sha256 s;
    sha256_init(&s);
    ssize_t n;
    while ((n = read(fd, buf, HASH_BUF)) > 0)
        sha256_update(&s, buf, (size_t)n);
    close(fd);
    if (n == 0) {
        sha256_final(&s, pe->hash);
        pe->has_hash = 1;
    }
}

static int scan_dir(int dfd, char *path, size_t plen, struct scan *sc, int depth);

/* Adds path (whose parent is dfd, base name name) and, for a directory, its subtree. */
static int scan_one(int dfd, const char *name, char *path, size_t plen, struct scan *sc,
                    int depth)
{
    struct proto_entry *pe = sc->pe;
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode))
        return 0;    /* devices, fifos, sockets are not synced */
    memcpy(pe->path, path, plen + 1);
    fill_entry(pe, &st);
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlinkat(dfd, name, pe->target, sizeof(pe->target) - 1);
        if (n < 0)
            return errno == ENOENT ? 0 : -1;
        pe->target[n] = '\0';
    }
    if (sc->hash && S_ISREG(st.st_mode))
        hash_file(dfd, name, pe, sc->buf);
    if (sc->cb(sc->arg, pe) < 0) {
        sc->stopped = 1;
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return 0;
    if (depth > 256)
        return 0;
    int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0)
        return errno == ENOENT ? 0 : -1;
    return scan_dir(sub, path, plen, sc, depth + 1);
}

/* A directory's names, sorted: listing them in this order (each followed by its subtree)
 * is tree order, so no scan needs a sort of the whole manifest. */
struct names {
    char *buf;                     /* the names, NUL-terminated, one after another */
    size_t len, cap;
    size_t *off;                   /* where each starts in buf */
    size_t n, ncap;
};

static int names_add(struct names *nm, const char *name, size_t nl)
{
    if (nm->len + nl + 1 > nm->cap) {
        size_t cap = nm->cap ? nm->cap * 2 : 4096;
        while (cap < nm->len + nl + 1)
            cap *= 2;
        char *b = realloc(nm->buf, cap);
        if (!b)
            return -1;
        nm->buf = b;
        nm->cap = cap;
    }
    if (nm->n == nm->ncap) {
        size_t cap = nm->ncap ? nm->ncap * 2 : 64;
        size_t *o = realloc(nm->off, cap * sizeof(*o));
        if (!o)
            return -1;
        nm->off = o;
        nm->ncap = cap;
    }
    nm->off[nm->n++] = nm->len;
    memcpy(nm->buf + nm->len, name, nl + 1);
    nm->len += nl + 1;
    return 0;
}

static int name_cmp(const void *a, const void *b, void *buf)
{
    return strcmp((const char *)buf + *(const size_t *)a, (const char *)buf + *(const size_t *)b);
}

/* Reads dir's names (less ".", "..", and stale temp files, which are removed); -1 ENOMEM. */
static int read_names(DIR *d, size_t plen, const struct scan *sc, struct names *nm)
{
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (!strcmp(name, ".") || !strcmp(name, ".."))
            continue;
        size_t nl = strlen(name);
        if (plen + 1 + nl >= PROTO_PATH_MAX)
            continue;
        if (sc->stale_tmp && stale_tmp_name(name)) {
            unlinkat(dirfd(d), name, 0);
            continue;
        }
        if (names_add(nm, name, nl) < 0) {
            errno = ENOMEM;
            return -1;
        }
    }
    if (nm->n > 1)
        qsort_r(nm->off, nm->n, sizeof(*nm->off), name_cmp, nm->buf);
    return 0;
}

static int scan_dir(int dfd, char *path, size_t plen, struct scan *sc, int depth)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -1;
    }
    struct names nm = {0};
    int rc = read_names(d, plen, sc, &nm);
    for (size_t i = 0; rc == 0 && i < nm.n; i++) {
        const char *name = nm.buf + nm.off[i];
        size_t nl = strlen(name);
        size_t sub = plen;
        if (plen)
            path[sub++] = '/';
        memcpy(path + sub, name, nl + 1);
        if (!manifest_excluded(sc->f, path) &&
            scan_one(dirfd(d), name, path, sub + nl, sc, depth) < 0 &&
            (errno == ENOMEM || sc->stopped))
            rc = -1;
        path[plen] = '\0';
    }
    free(nm.buf);
    free(nm.off);
    closedir(d);
    return rc;
}

static int add_entry(void *arg, const struct proto_entry *pe)
{
    return manifest_add(arg, pe);
}

int manifest_scan(const struct sync_tree *t, const char *relpath,
                  const struct manifest_filter *f, int stale_tmp, int hash, struct manifest *m)
{
    return manifest_scan_each(t, relpath, f, stale_tmp, hash, add_entry, m);
}

int manifest_scan_each(const struct sync_tree *t, const char *relpath,
                       const struct manifest_filter *f, int stale_tmp, int hash,
                       manifest_entry_cb cb, void *arg)
{
    struct proto_entry *pe = malloc(sizeof(*pe));
    char *path = malloc(PROTO_PATH_MAX);
    uint8_t *buf = hash ? malloc(HASH_BUF) : NULL;
    int rc = -1;
    if (!pe || !path || (hash && !buf)) {
        errno = ENOMEM;
        goto out;
    }
    struct scan sc = {.f = f, .stale_tmp = stale_tmp, .hash = hash, .cb = cb, .arg = arg,
                      .pe = pe, .buf = buf};
    snprintf(path, PROTO_PATH_MAX, "%s", relpath);
    size_t plen = strlen(path);
    const char *rest;
    const struct sync_dir *d = sync_tree_find(t, path, &rest);
    if (!d) {
        errno = EPERM;
        goto out;
    }
    if (!*rest) {   /* a sync path itself: the directory, then what it holds */
        struct stat st;
        int dfd = sync_openat(d->fd, "", O_RDONLY | O_DIRECTORY);
        if (dfd < 0 || fstat(dfd, &st) < 0) {
            if (dfd >= 0)
                close(dfd);
            goto out;
        }
        if (plen) {
            memcpy(pe->path, path, plen + 1);
            fill_entry(pe, &st);
            if (cb(arg, pe) < 0) {
                close(dfd);
                goto out;
            }
        }
        rc = scan_dir(dfd, path, plen, &sc, 0);
        goto out;
    }
    const char *name;
    int pfd = sync_tree_parent(t, path, &name);
    if (pfd < 0) {   /* no real directory there (missing, a file, a symlink): nothing */
        rc = errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV ? 0 : -1;
        goto out;
    }
    rc = scan_one(pfd, name, path, plen, &sc, 0);
    close(pfd);
out:;
    int e = errno;
    free(pe);
    free(path);
    free(buf);
    errno = e;
    return rc;
}

int manifest_same(const struct manifest_entry *a, const struct manifest_entry *b, int owners)
{
    if (a->kind != b->kind)
        return 0;
    if (owners && (a->uid != b->uid || a->gid != b->gid))
        return 0;
    switch (a->kind) {
    case PK_FILE:
        if (a->has_hash && b->has_hash && memcmp(a->hash, b->hash, sizeof(a->hash)))
            return 0;
        return a->size == b->size && a->mtime_ns == b->mtime_ns && a->mode == b->mode;
    case PK_DIR:
        return a->mode == b->mode;   /* directory mtimes change with their contents */
    case PK_SYMLINK:
        return a->target && b->target && !strcmp(a->target, b->target);
    }
    return 0;
}

size_t manifest_diff(const struct manifest *local, const struct manifest *remote, int owners,
                     manifest_action_cb cb, void *arg)
{
    size_t i = 0, j = 0, n = 0;
    const char *deleted = NULL;   /* a remote directory already deleted as a whole */
    while (i < local->n || j < remote->n) {
        int c = i < local->n && j < remote->n ? path_cmp(local->e[i].path, remote->e[j].path)
                : i < local->n ? -1 : 1;
        if (c > 0) {
            const struct manifest_entry *r = &remote->e[j++];
            if (deleted && proto_path_under(r->path, deleted))
                continue;
            cb(arg, MA_DELETE, r);
            n++;
            if (r->kind == PK_DIR)
                deleted = r->path;
            continue;
        }
        const struct manifest_entry *l = &local->e[i++];
        if (c == 0) {
            const struct manifest_entry *r = &remote->e[j++];
            if (manifest_same(l, r, owners))
                continue;
            if (l->kind != r->kind) {
                cb(arg, MA_DELETE, r);
                n++;
                if (r->kind == PK_DIR)
                    deleted = r->path;
            }
        }
        cb(arg, MA_SEND, l);
        n++;
    }
    return n;
}
