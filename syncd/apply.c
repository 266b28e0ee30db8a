/*
 * apply.c: carrying out the sender's operations on the standby's disk, inside the
 * [sync] paths and nowhere else (DESIGN §6: the receiver trusts nothing in the stream).
 * Paths from the wire are checked twice: syntactically (apply_check_path) and by the
 * kernel, resolving from the sync path's directory fd with openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS (tree.c). Metadata is applied to fds opened with O_NOFOLLOW that
 * are checked to be what we created, never by name, so a symlink or file a local user
 * swaps in between two system calls is refused, not followed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply.h"
#include "conf.h"
#include "log.h"
#include "manifest.h"
#include "tree.h"

#define WRITEBACK_STEP (8u << 20)
#define PUT_MAX_SIZE (UINT64_C(1) << 50)   /* 1 PiB: anything larger is a hostile length */

static int why(char *err, size_t errlen, int code, const char *path, const char *what)
{
    snprintf(err, errlen, "%s: %s", path, what);
    return code;
}

static int why_errno(char *err, size_t errlen, const char *path, const char *op)
{
    int e = errno;
    if (e == EXDEV || e == ELOOP)
        return why(err, errlen, PE_REFUSED, path,
                   "a symlink is in the way (never followed: it could lead outside the sync path)");
    snprintf(err, errlen, "%s: %s: %s", path, op, strerror(e));
    return PE_FAILED;
}

int apply_open(struct apply *a, const struct conf *c, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    a->put_fd = a->put_dir = a->last_dir = -1;
    a->conf = c;
    a->fill = calloc(1, sizeof(*a->fill));   /* pages are touched as files arrive */
    a->landing = calloc(1, sizeof(*a->landing));
    a->owners = geteuid() == 0;
    a->euid = geteuid();
    a->egid = getegid();
    mode_t um = umask(077);
    umask(um);
    a->umask = um;
    a->pid = getpid();
    a->mode_mask = c->sync_keep_setid ? 07777 : 01777;
    if (!a->fill || !a->landing) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (c->n_sync_paths == 0) {
        snprintf(err, errlen, "%s: [sync] paths is empty: this receiver accepts nothing "
                 "(name the directories it may write)", c->path);
        goto fail;
    }
    if (sync_tree_open(&a->tree, c, 1, err, errlen) < 0)
        goto fail;
    struct stat top, st;
    for (int i = 0; i < a->tree.n; i++)
        if (stat("/", &top) == 0 && fstat(a->tree.d[i].fd, &st) == 0 &&
            st.st_dev == top.st_dev && st.st_ino == top.st_ino) {
            snprintf(err, errlen, "%s: [sync] paths: '/%s' under root '%s' is the whole "
                     "filesystem: refused", c->path, a->tree.d[i].rel, c->sync_root);
            sync_tree_close(&a->tree);
            goto fail;
        }
    return 0;
fail:
    free(a->fill);
    free(a->landing);
    a->fill = a->landing = NULL;
    return -1;
}

void apply_close(struct apply *a)
{
    apply_put_abort(a);
    apply_sync(a);   /* completed files are kept: they were whole */
    sync_tree_close(&a->tree);
    idmap_free(&a->ids);
    free(a->fill);
    free(a->landing);
    a->fill = a->landing = NULL;
}

int apply_check_path(const struct apply *a, const char *path, char *err, size_t errlen)
{
    if (!proto_path_ok(path))
        return why(err, errlen, PE_REFUSED, path[0] ? path : "(empty)",
                   "not a clean relative path (absolute, '..', '.' or empty component)");
    for (const char *c = path; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL)
        if (!strncmp(c, SYNC_TMP_PREFIX, strlen(SYNC_TMP_PREFIX)) ||
            (!strncmp(c, SYNC_CONFLICTS, strlen(SYNC_CONFLICTS)) &&
             (c[strlen(SYNC_CONFLICTS)] == '/' || !c[strlen(SYNC_CONFLICTS)])))
            return why(err, errlen, PE_REFUSED, path, "names a syncd-internal file");
    const char *rest;
    if (sync_tree_find(&a->tree, path, &rest))
        return 0;
    return why(err, errlen, PE_REFUSED, path, "not under any [sync] path of this node");
}

static int is_sync_path(const struct apply *a, const char *path)
{
    const char *rest;
    return sync_tree_find(&a->tree, path, &rest) && !*rest;
}

/* ---- directories ---- */

/* One syncfs per filesystem among fds (a sync root may span mounts). */
static int sync_filesystems(const int *fds, int n, size_t stride)
{
    dev_t done[16];
    int ndone = 0, rc = 0;
    for (int i = 0; i < n; i++) {
        int fd = *(const int *)((const char *)fds + (size_t)i * stride);
        struct stat st;
        if (fstat(fd, &st) < 0)
            continue;
        int seen = 0;
        for (int j = 0; j < ndone; j++)
            seen |= done[j] == st.st_dev;
        if (seen)
            continue;
        if (syncfs(fd) < 0)
            rc = -1;
        if (ndone < 16)
            done[ndone++] = st.st_dev;
    }
    return rc;
}


static void add_dirty(struct apply *a, int dfd)
{
    struct stat st;
    if (fstat(dfd, &st) < 0)
        return;
    for (int i = 0; i < a->ndirty; i++)
        if (a->dirty_ino[i] == st.st_ino && a->dirty_dev[i] == st.st_dev)
            return;
    if (a->ndirty == APPLY_MAX_DIRTY) {
        sync_filesystems(a->dirty, a->ndirty, sizeof(int));
        for (int i = 0; i < a->ndirty; i++)
            close(a->dirty[i]);
        a->ndirty = 0;
    }
    int d = dup(dfd);
    if (d >= 0) {
        a->dirty_dev[a->ndirty] = st.st_dev;
        a->dirty_ino[a->ndirty] = st.st_ino;
        a->dirty[a->ndirty++] = d;
    }
}

/*
 * Few items: fsync them one by one, which touches only our data. Many: one syncfs per
 * filesystem, far cheaper per file but it also flushes whatever else is dirty there.
 */
#define APPLY_FSYNC_EACH 16

int apply_sync(struct apply *a)
{
    apply_commit(a);
    int rc = 0;
    if (a->ndirty <= APPLY_FSYNC_EACH) {
        for (int i = 0; i < a->ndirty; i++)
            if (fsync(a->dirty[i]) < 0)
                rc = -1;
    } else {
        rc = sync_filesystems(a->dirty, a->ndirty, sizeof(int));
    }
    for (int i = 0; i < a->ndirty; i++)
        close(a->dirty[i]);
    a->ndirty = 0;
    return rc;
}

/*
 * Creates every missing directory of dir (relative to dfd, a directory we resolved) with
 * mode 0755, one component at a time, never through a symlink. Returns an fd of dir.
 */
static int mkdir_chain(struct apply *a, int dfd, const char *dir)
{
    int cur = sync_openat(dfd, "", O_RDONLY | O_DIRECTORY);
    const char *c = dir;
    while (cur >= 0 && *c) {
        const char *slash = strchr(c, '/');
        char comp[PROTO_NAME_MAX];
        snprintf(comp, sizeof(comp), "%.*s", slash ? (int)(slash - c) : (int)strlen(c), c);
        int next = sync_openat(cur, comp, O_RDONLY | O_DIRECTORY);
        if (next < 0 && errno == ENOENT) {
            if (mkdirat(cur, comp, 0755) == 0)
                add_dirty(a, cur);
            else if (errno != EEXIST)
                goto fail;
            next = sync_openat(cur, comp, O_RDONLY | O_DIRECTORY);
        }
        if (next < 0)
            goto fail;
        close(cur);
        cur = next;
        c = slash ? slash + 1 : c + strlen(c);
    }
    return cur;
fail:;
    int e = errno;
    close(cur);
    errno = e;
    return -1;
}

/* Opens the directory holding path (below a sync path); *name points at its last
 * component inside path. create: missing directories on the way are made. */
static int open_parent(struct apply *a, const char *path, int create, const char **name)
{
    int fd = sync_tree_parent(&a->tree, path, name);
    if (fd >= 0 || errno != ENOENT || !create)
        return fd;
    const char *rest;
    const struct sync_dir *d = sync_tree_find(&a->tree, path, &rest);
    char dir[PROTO_PATH_MAX];
    snprintf(dir, sizeof(dir), "%.*s", (int)(*name - 1 - rest), rest);
    return mkdir_chain(a, d->fd, dir);
}

static int remove_tree(int dfd, const char *name, int depth)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
    if (depth > 512) {
        errno = ELOOP;
        return -1;
    }
    int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0)
        return -1;
    DIR *d = fdopendir(sub);
    if (!d) {
        close(sub);
        return -1;
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
            remove_tree(dirfd(d), de->d_name, depth + 1) < 0)
            rc = -1;
    closedir(d);
    if (rc == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        rc = -1;
    return rc;
}

/* ---- the conflict store (rejoin of an old active) ---- */

/*
 * Moves the existing pfd/name (the receiver's version of path, below a sync path) to
 * <sync path>/.hotstandby-conflicts/<epoch>/<rest of path>, resolved like any other path.
 */
static int preserve(struct apply *a, int pfd, const char *name, const char *path)
{
    const char *rest;
    const struct sync_dir *d = sync_tree_find(&a->tree, path, &rest);
    char cdir[PROTO_PATH_MAX + 64];
    int n = snprintf(cdir, sizeof(cdir), "%s/%llu/%s", SYNC_CONFLICTS,
                     (unsigned long long)a->epoch, rest);
    if (!d || n >= (int)sizeof(cdir)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    char *slash = strrchr(cdir, '/');
    *slash = '\0';
    int cfd = mkdir_chain(a, d->fd, cdir);
    if (cfd < 0)
        return -1;
    char cname[PROTO_NAME_MAX + 16];
    snprintf(cname, sizeof(cname), "%s", slash + 1);
    int rc;
    for (int k = 1; (rc = renameat2(pfd, name, cfd, cname, RENAME_NOREPLACE)) < 0 &&
                    errno == EEXIST && k < 1000; k++)
        snprintf(cname, sizeof(cname), "%s.%d", slash + 1, k);
    if (rc == 0) {
        add_dirty(a, cfd);
        a->conflicts++;
        log_notice("rejoin: kept this node's version of %s as %s%s%s/%s", path, d->rel,
                   d->len ? "/" : "", cdir, cname);
    }
    close(cfd);
    return rc;
}

static int same_content(int fa, int fb)
{
    char ba[65536], bb[65536];
    off_t off = 0;
    for (;;) {
        ssize_t na = pread(fa, ba, sizeof(ba), off), nb = pread(fb, bb, sizeof(bb), off);
        if (na < 0 || nb < 0 || na != nb)
            return 0;
        if (na == 0)
            return 1;
        if (memcmp(ba, bb, (size_t)na))
            return 0;
        off += na;
    }
}

/*
 * Clears the way for a new pfd/name of the given kind: a directory in the way of a file
 * is removed; in a rejoin, whatever differs is kept in the conflict store instead.
 * newfd: the new file's content (for the comparison), or -1.
 */
static int make_way(struct apply *a, int pfd, const char *name, const char *path, int newfd,
                    const char *new_target)
{
    struct stat st;
    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -1;
    if (a->rejoin) {
        int same = 0;
        if (S_ISREG(st.st_mode) && newfd >= 0) {   /* -2: a file, not compared */
            int ofd = manifest_open_file(pfd, name, NULL);
            struct stat nst;
            if (ofd >= 0 && fstat(newfd, &nst) == 0 && nst.st_size == st.st_size)
                same = same_content(ofd, newfd);
            if (ofd >= 0)
                close(ofd);
        } else if (S_ISLNK(st.st_mode) && new_target) {
            char t[PROTO_PATH_MAX];
            ssize_t n = readlinkat(pfd, name, t, sizeof(t) - 1);
            same = n >= 0 && (size_t)n == strlen(new_target) && !memcmp(t, new_target, (size_t)n);
        }
        if (!same && !S_ISDIR(st.st_mode))
            return preserve(a, pfd, name, path);
        if (S_ISDIR(st.st_mode) && (newfd != -1 || new_target))
            return preserve(a, pfd, name, path);
        return 0;
    }
    if (S_ISDIR(st.st_mode) && (newfd != -1 || new_target))
        return remove_tree(pfd, name, 0);
    return 0;
}

static struct timespec ns_to_ts(int64_t ns)
{
    struct timespec ts = {ns / 1000000000, ns % 1000000000};
    if (ts.tv_nsec < 0) {
        ts.tv_nsec += 1000000000;
        ts.tv_sec--;
    }
    return ts;
}

/* ---- operations ---- */

int apply_put_active(const struct apply *a)
{
    return a->put_fd >= 0;
}

void apply_put_abort(struct apply *a)
{
    if (a->put_fd >= 0) {
        close(a->put_fd);
        unlinkat(a->fill->dirs[a->put_dir].fd, a->put_tmp, 0);
    }
    a->put_fd = a->put_dir = -1;
}

static void land_behind(struct apply *a);

/*
 * The directory of path for a file of this batch (apply_dir): the previous PUT's if it is
 * the same, else resolved and held until the commit point. Returns its index, or -1.
 */
static int batch_dir(struct apply *a, const char *path, const char **name)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : 0;
    *name = slash ? slash + 1 : path;
    struct apply_batch *b = a->fill;
    if (a->last_dir >= 0 && strlen(a->last_path) == len && !strncmp(a->last_path, path, len))
        return a->last_dir;
    if (b->ndirs == APPLY_MAX_DIRS) {
        land_behind(a);
        b = a->fill;
    }
    struct stat st;
    int fd = open_parent(a, path, 1, name);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    struct apply_dir *d = &b->dirs[b->ndirs];
    d->fd = fd;
    d->create_gid = st.st_mode & S_ISGID ? st.st_gid : a->egid;
    d->renamed = 0;
    snprintf(a->last_path, sizeof(a->last_path), "%.*s", (int)len, path);
    return a->last_dir = b->ndirs++;
}

/* FNV-1a of the first len bytes of path. */
static uint32_t path_hash(const char *path, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)path[i]) * 16777619u;
    return h;
}

/* Is a file of batch b waiting to land at the first len bytes of path? (A hash chain:
 * a scan of the whole batch per file made a first copy quadratic.) */
static int pending_at(const struct apply_batch *b, const char *path, size_t len)
{
    uint32_t h = path_hash(path, len);
    for (int i = b->head[h & (APPLY_HASH_SIZE - 1)]; i; i = b->pend[i - 1].next) {
        const struct apply_pending *pp = &b->pend[i - 1];
        if (pp->hash == h && strlen(pp->path) == len && !strncmp(pp->path, path, len))
            return 1;
    }
    return 0;
}

/* Is a received file (of either batch) waiting to land at path or at an ancestor? (The
 * landing thread writes no pend[].path: reading them here is safe.) */
static int pending_in_way(const struct apply *a, const char *path)
{
    for (const char *c = path;; c = strchr(c + 1, '/')) {
        size_t len = c ? (size_t)(c - path) : strlen(path);
        if ((c != path && pending_at(a->fill, path, len)) ||
            (a->landing_busy && c != path && pending_at(a->landing, path, len)))
            return 1;
        if (!c)
            return 0;
    }
}

int apply_put_begin(struct apply *a, const struct proto_msg *m, char *err, size_t errlen)
{
    int rc = apply_check_path(a, m->path, err, errlen);
    if (rc)
        return rc;
    if (is_sync_path(a, m->path))
        return why(err, errlen, PE_REFUSED, m->path, "is a [sync] path itself: it stays a directory");
    if (m->size > PUT_MAX_SIZE)
        return why(err, errlen, PE_REFUSED, m->path, "declared size is absurdly large");
    if (pending_at(a->fill, m->path, strlen(m->path)))
        apply_commit(a);   /* the same file again: the older copy lands first */
    a->put_hash = path_hash(m->path, strlen(m->path));
    const char *name;
    int dir = batch_dir(a, m->path, &name);
    if (dir < 0)
        return why_errno(err, errlen, m->path, "open parent");
    a->put_uid = idmap_to_local(&a->ids, ID_USER, m->uid);
    a->put_gid = idmap_to_local(&a->ids, ID_GROUP, m->gid);
    a->put_mode = m->mode;
    /* A file that needs no chown is created with its final permissions (less group and
     * other write, setid and sticky bits, which only fchmod gives), so that fchmod is
     * usually not needed; one that changes owner starts private, as before. */
    uint32_t create = 0600;
    if (!a->owners || (a->put_uid == a->euid && a->put_gid == a->fill->dirs[dir].create_gid))
        create = m->mode & 0755;
    snprintf(a->put_tmp, sizeof(a->put_tmp), "%s%d.%u", SYNC_TMP_PREFIX, (int)a->pid,
             a->tmp_counter++);
    a->put_fd = openat(a->fill->dirs[dir].fd, a->put_tmp,
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, create);
    if (a->put_fd < 0)
        return why_errno(err, errlen, m->path, "create temp file");
    a->put_dir = dir;
    a->put_created_mode = create & ~a->umask;
    snprintf(a->put_name, sizeof(a->put_name), "%s", name);
    snprintf(a->put_path, sizeof(a->put_path), "%s", m->path);
    a->put_mtime_ns = m->mtime_ns;
    a->put_size = m->size;
    a->put_written = 0;
    return 0;
}

int apply_put_data(struct apply *a, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    if (a->put_written + n > a->put_size) {
        apply_put_abort(a);
        return why(err, errlen, PE_REFUSED, a->put_path, "more data than the declared size");
    }
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(a->put_fd, p + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int rc = why_errno(err, errlen, a->put_path, "write");
            apply_put_abort(a);
            return rc;
        }
        done += (size_t)w;
    }
    /* Start writeback of a large file while it arrives, so that the commit point
     * finds most of it on disk already (overlaps disk and network). */
    uint64_t mark = a->put_written & ~(uint64_t)(WRITEBACK_STEP - 1);
    a->put_written += n;
    if (a->put_written - mark >= WRITEBACK_STEP)
        sync_file_range(a->put_fd, (off64_t)mark, (off64_t)WRITEBACK_STEP, SYNC_FILE_RANGE_WRITE);
    return 0;
}

int apply_put_end(struct apply *a, int ok, char *err, size_t errlen)
{
    if (!ok) {
        apply_put_abort(a);
        return 0;
    }
    if (a->put_written != a->put_size) {
        apply_put_abort(a);
        return why(err, errlen, PE_FAILED, a->put_path, "file ended short of its declared size");
    }
    int fd = a->put_fd;
    struct timespec ts[2] = {{0, UTIME_OMIT}, ns_to_ts(a->put_mtime_ns)};
    const char *step = NULL;
    uint32_t mode = a->put_mode & a->mode_mask;
    int chown_it = a->owners && (a->put_uid != a->euid ||
                                 a->put_gid != a->fill->dirs[a->put_dir].create_gid);
    if (chown_it && fchown(fd, a->put_uid, a->put_gid) < 0)
        step = "chown";
    else if ((chown_it || mode != a->put_created_mode) &&
             fchmod(fd, mode) < 0)   /* after chown, which clears setuid */
        step = "chmod";
    else if (futimens(fd, ts) < 0)
        step = "set mtime";
    if (step) {
        int rc = why_errno(err, errlen, a->put_path, step);
        apply_put_abort(a);
        return rc;
    }
    struct apply_batch *b = a->fill;
    struct apply_pending *pp = &b->pend[b->npend];
    pp->path = strdup(a->put_path);
    if (!pp->path) {
        apply_put_abort(a);
        return why(err, errlen, PE_FAILED, a->put_path, "out of memory");
    }
    /* The tail of a large file that apply_put_data did not hand to writeback yet starts
     * now, so the commit point's syncfs finds less left to write (advisory: durability
     * comes from the commit). Not for a small file: one writeback per file of a few KiB
     * is a block allocation and an I/O of its own, done in this loop, where the commit
     * point's syncfs writes them all together. */
    uint64_t mark = a->put_written & ~(uint64_t)(WRITEBACK_STEP - 1);
    if (mark > 0 && a->put_written > mark)
        sync_file_range(fd, (off64_t)mark, 0, SYNC_FILE_RANGE_WRITE);
    close(fd);   /* attributes are set; syncfs at the commit point makes it durable */
    pp->dir = a->put_dir;
    pp->failed_step = NULL;
    pp->hash = a->put_hash;
    pp->next = b->head[pp->hash & (APPLY_HASH_SIZE - 1)];
    b->head[pp->hash & (APPLY_HASH_SIZE - 1)] = b->npend + 1;
    snprintf(pp->tmp, sizeof(pp->tmp), "%s", a->put_tmp);
    snprintf(pp->name, sizeof(pp->name), "%s", a->put_name);
    b->npend++;
    b->bytes += a->put_size;
    a->put_fd = a->put_dir = -1;
    if (b->npend >= APPLY_MAX_PENDING || b->bytes >= APPLY_PENDING_BYTES)
        land_behind(a);
    return 0;
}

/* Renames a durable pending file into place: what is in the way goes first (a directory;
 * in a rejoin, a differing file, to the conflict store). NULL, or the step that failed. */
static const char *land(struct apply *a, struct apply_batch *b, struct apply_pending *pp,
                        int synced)
{
    int dfd = b->dirs[pp->dir].fd;
    if (!a->rejoin && synced == 0) {
        /* renaming over a file or symlink replaces it; only a directory needs make_way */
        if (renameat(dfd, pp->tmp, dfd, pp->name) == 0)
            return NULL;
        if (errno != EISDIR)
            return "rename";
    }
    /* the content is only read back to compare it in a rejoin, or to fsync it one by one
     * if syncfs failed */
    int fd = a->rejoin || synced < 0 ? openat(dfd, pp->tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                                     : -2;
    const char *step = NULL;
    if (synced < 0 && (fd < 0 || fsync(fd) < 0))
        step = "fsync";
    else if (make_way(a, dfd, pp->name, pp->path, fd, NULL) < 0)
        step = "replace existing";
    else if (renameat(dfd, pp->tmp, dfd, pp->name) < 0)
        step = "rename";
    if (fd >= 0) {
        int e = errno;
        close(fd);
        errno = e;
    }
    return step;
}

/* Makes batch b durable and renames its files into place; failures are noted in b.
 * Touches only b and the filesystem (and reads a->rejoin, which holds still meanwhile):
 * it runs in the lander thread outside a rejoin. */
static void land_batch(struct apply *a, struct apply_batch *b)
{
    int synced = b->npend <= APPLY_FSYNC_EACH
                     ? -1 : sync_filesystems(&b->dirs[0].fd, b->ndirs, sizeof(b->dirs[0]));
    for (int i = 0; i < b->npend; i++) {
        struct apply_pending *pp = &b->pend[i];
        pp->failed_step = land(a, b, pp, synced);
        if (pp->failed_step)
            pp->failed_errno = errno;
        else
            b->dirs[pp->dir].renamed = 1;
    }
}

/* After land_batch, in the loop: reports failures, notes the directories to make durable
 * at the next SYNC, and empties b. */
static void finish_batch(struct apply *a, struct apply_batch *b)
{
    for (int i = 0; i < b->npend; i++) {
        struct apply_pending *pp = &b->pend[i];
        if (pp->failed_step) {
            char err[PROTO_PATH_MAX + 128];
            errno = pp->failed_errno;
            int code = why_errno(err, sizeof(err), pp->path, pp->failed_step);
            unlinkat(b->dirs[pp->dir].fd, pp->tmp, 0);
            if (a->report)
                a->report(a->report_arg, code, pp->path, err);
        }
        free(pp->path);
    }
    for (int i = 0; i < b->ndirs; i++) {
        if (b->dirs[i].renamed)
            add_dirty(a, b->dirs[i].fd);
        close(b->dirs[i].fd);
    }
    b->ndirs = 0;
    b->npend = 0;
    b->bytes = 0;
    memset(b->head, 0, sizeof(b->head));
}

static void *lander_main(void *arg)
{
    struct apply *a = arg;
    land_batch(a, a->landing);
    return NULL;
}

/* Waits for the batch landing behind the stream, if any, and finishes it. */
static void wait_landing(struct apply *a)
{
    if (!a->landing_busy)
        return;
    pthread_join(a->lander, NULL);
    a->landing_busy = 0;
    finish_batch(a, a->landing);
}

/* A new, empty fill batch (the previous one is landing or landed). */
static void swap_batches(struct apply *a)
{
    struct apply_batch *b = a->fill;
    a->fill = a->landing;
    a->landing = b;
    a->last_dir = -1;
}

/*
 * The fill batch is full: it lands in a thread while the next one is received, so that
 * its syncfs overlaps the stream (one batch in flight; the previous one is waited for
 * first). In a rejoin, landing moves files to the conflict store and logs: done here.
 * The thread takes no signal: the loop's read() must see SIGTERM.
 */
static void land_behind(struct apply *a)
{
    wait_landing(a);
    if (a->rejoin) {
        apply_commit(a);
        return;
    }
    swap_batches(a);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    a->landing_busy = pthread_create(&a->lander, NULL, lander_main, a) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!a->landing_busy) {   /* no thread: land it here */
        land_batch(a, a->landing);
        finish_batch(a, a->landing);
    }
}

void apply_commit(struct apply *a)
{
    wait_landing(a);
    land_batch(a, a->fill);
    finish_batch(a, a->fill);
    swap_batches(a);
}

/* Owner, mode and mtime of a directory we opened ourselves (O_NOFOLLOW, checked). */
static int set_dir_attrs(struct apply *a, int fd, const struct proto_msg *m)
{
    struct timespec ts[2] = {{0, UTIME_OMIT}, ns_to_ts(m->mtime_ns)};
    if (a->owners && fchown(fd, idmap_to_local(&a->ids, ID_USER, m->uid),
                            idmap_to_local(&a->ids, ID_GROUP, m->gid)) < 0)
        return -1;
    if (fchmod(fd, m->mode & a->mode_mask) < 0)
        return -1;
    return futimens(fd, ts);
}

/* Owner and mtime of the symlink pfd/name, through an O_PATH fd of the link itself: if
 * anything but a symlink was swapped in under that name, nothing is changed. */
static int set_link_attrs(struct apply *a, int pfd, const char *name, const struct proto_msg *m)
{
    int fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return -1;
    int rc = -1;
    struct timespec ts[2] = {{0, UTIME_OMIT}, ns_to_ts(m->mtime_ns)};
    if (fstat(fd, &st) < 0)
        goto out;
    if (!S_ISLNK(st.st_mode)) {
        errno = ELOOP;
        goto out;
    }
    if (a->owners && fchownat(fd, "", idmap_to_local(&a->ids, ID_USER, m->uid),
                              idmap_to_local(&a->ids, ID_GROUP, m->gid),
                              AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
        goto out;
    /* Kernels without AT_EMPTY_PATH for utimensat keep the link's own mtime. */
    if (utimensat(fd, "", ts, AT_EMPTY_PATH) < 0 && errno != EINVAL)
        goto out;
    rc = 0;
out:;
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* Resolution failures of a path's parent as the sender sees them. */
static int parent_error(char *err, size_t errlen, const char *path)
{
    return why_errno(err, errlen, path, "open parent");
}

int apply_mkdir(struct apply *a, const struct proto_msg *m, char *err, size_t errlen)
{
    int rc = apply_check_path(a, m->path, err, errlen);
    if (rc)
        return rc;
    /*
     * Files of the batch land before this operation (ordering) when one of them would be
     * at path or above it, or when the directory exists: its new owner or setgid bit
     * would make the group that batch_dir noted for it stale. A new directory of a first
     * copy (the common case: one per directory) leaves the batch growing, so that its
     * files are made durable together (one syncfs) rather than directory by directory.
     */
    if (pending_in_way(a, m->path))
        apply_commit(a);
    if (is_sync_path(a, m->path)) {   /* the sync path's own mode, owner and mtime */
        const char *rest;
        apply_commit(a);
        if (set_dir_attrs(a, sync_tree_find(&a->tree, m->path, &rest)->fd, m) < 0)
            return why_errno(err, errlen, m->path, "set attributes");
        return 0;
    }
    const char *name;
    int pfd = open_parent(a, m->path, 1, &name);
    if (pfd < 0)
        return parent_error(err, errlen, m->path);
    struct stat st;
    int exists = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (exists && (a->fill->npend || a->landing_busy))
        apply_commit(a);
    if (exists && !S_ISDIR(st.st_mode)) {
        if ((a->rejoin ? preserve(a, pfd, name, m->path) : unlinkat(pfd, name, 0)) < 0) {
            rc = why_errno(err, errlen, m->path, "replace existing");
            close(pfd);
            return rc;
        }
    }
    int dfd = -1;
    if (mkdirat(pfd, name, 0700) < 0 && errno != EEXIST)
        rc = why_errno(err, errlen, m->path, "mkdir");
    else if ((dfd = sync_openat(pfd, name, O_RDONLY | O_DIRECTORY)) < 0)
        rc = why_errno(err, errlen, m->path, "open the new directory");
    else if (set_dir_attrs(a, dfd, m) < 0)
        rc = why_errno(err, errlen, m->path, "set attributes");
    else
        add_dirty(a, pfd);
    if (dfd >= 0)
        close(dfd);
    close(pfd);
    return rc;
}

int apply_symlink(struct apply *a, const struct proto_msg *m, char *err, size_t errlen)
{
    int rc = apply_check_path(a, m->path, err, errlen);
    if (rc)
        return rc;
    if (!m->path2[0])
        return why(err, errlen, PE_REFUSED, m->path, "empty symlink target");
    if (is_sync_path(a, m->path))
        return why(err, errlen, PE_REFUSED, m->path, "is a [sync] path itself: it stays a directory");
    const char *name;
    int pfd = open_parent(a, m->path, 1, &name);
    if (pfd < 0)
        return parent_error(err, errlen, m->path);
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%s%d.%u", SYNC_TMP_PREFIX, (int)a->pid, a->tmp_counter++);
    /* The link is only created, never followed: its target may point anywhere. */
    if (symlinkat(m->path2, pfd, tmp) < 0) {
        rc = why_errno(err, errlen, m->path, "symlink");
    } else if (set_link_attrs(a, pfd, tmp, m) < 0 ||
               make_way(a, pfd, name, m->path, -1, m->path2) < 0 ||
               renameat(pfd, tmp, pfd, name) < 0) {
        rc = why_errno(err, errlen, m->path, "symlink");
        unlinkat(pfd, tmp, 0);
    } else {
        add_dirty(a, pfd);
    }
    close(pfd);
    return rc;
}

/* Removes (or, in a rejoin, keeps in the conflict store) pfd/name, the receiver's path. */
static int delete_entry(struct apply *a, int pfd, const char *name, const char *path)
{
    struct stat st;
    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -1;
    if ((a->rejoin ? preserve(a, pfd, name, path) : remove_tree(pfd, name, 0)) < 0)
        return -1;
    add_dirty(a, pfd);
    return 0;
}

/* DELETE of a sync path itself: it is emptied and stays (with its conflict store). */
static int empty_sync_path(struct apply *a, const char *path, char *err, size_t errlen)
{
    const char *rest;
    int dfd = sync_openat(sync_tree_find(&a->tree, path, &rest)->fd, "", O_RDONLY | O_DIRECTORY);
    DIR *dir = dfd < 0 ? NULL : fdopendir(dfd);
    if (!dir) {
        if (dfd >= 0)
            close(dfd);
        return why_errno(err, errlen, path, "open");
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, SYNC_CONFLICTS) ||
            !strncmp(n, SYNC_TMP_PREFIX, strlen(SYNC_TMP_PREFIX)))
            continue;
        char sub[PROTO_PATH_MAX];
        snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "/" : "", n);
        if (delete_entry(a, dirfd(dir), n, sub) < 0 && !rc)
            rc = why_errno(err, errlen, sub, "delete");
    }
    closedir(dir);
    return rc;
}

int apply_delete(struct apply *a, const char *path, char *err, size_t errlen)
{
    int rc = apply_check_path(a, path, err, errlen);
    if (rc)
        return rc;
    if (is_sync_path(a, path))
        return empty_sync_path(a, path, err, errlen);
    const char *name;
    int pfd = open_parent(a, path, 0, &name);
    if (pfd < 0) {
        /* No real directory holds it (missing, a file, a symlink): path is not there. */
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV)
            return 0;
        return parent_error(err, errlen, path);
    }
    if (delete_entry(a, pfd, name, path) < 0)
        rc = why_errno(err, errlen, path, "delete");
    close(pfd);
    return rc;
}

int apply_rename(struct apply *a, const struct proto_msg *m, char *err, size_t errlen)
{
    int rc = apply_check_path(a, m->path, err, errlen);
    if (!rc)
        rc = apply_check_path(a, m->path2, err, errlen);
    if (rc)
        return rc;
    if (is_sync_path(a, m->path) || is_sync_path(a, m->path2))
        return why(err, errlen, PE_REFUSED, is_sync_path(a, m->path) ? m->path : m->path2,
                   "is a [sync] path itself: never renamed");
    const char *fname, *tname;
    int ffd = open_parent(a, m->path, 0, &fname);
    if (ffd < 0)
        return why_errno(err, errlen, m->path, "open source parent");
    int tfd = open_parent(a, m->path2, 1, &tname);
    if (tfd < 0) {
        rc = why_errno(err, errlen, m->path2, "open target parent");
        close(ffd);
        return rc;
    }
    struct stat st;
    if (fstatat(ffd, fname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        rc = why(err, errlen, PE_FAILED, m->path, "rename source missing");
    } else if (S_ISREG(st.st_mode) && m->size != UINT64_MAX &&
               ((uint64_t)st.st_size != m->size ||
                (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != m->mtime_ns)) {
        rc = why(err, errlen, PE_FAILED, m->path, "rename source differs from the sender's");
    } else if (a->rejoin && make_way(a, tfd, tname, m->path2, -1, NULL) < 0) {
        rc = why_errno(err, errlen, m->path2, "keep conflict");
    } else if (renameat(ffd, fname, tfd, tname) < 0) {
        rc = why_errno(err, errlen, m->path2, "rename");
    } else {
        add_dirty(a, ffd);
        add_dirty(a, tfd);
    }
    close(ffd);
    close(tfd);
    return rc;
}
