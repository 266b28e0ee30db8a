/*
 * apply.c: carrying out the sender's operations on the standby's disk, beneath the
 * sync root and nowhere else. Paths from the wire are checked twice: syntactically
 * (apply_check_path) and by the kernel (openat2 RESOLVE_BENEATH refuses "..", absolute
 * symlinks and any symlink that leads out of the root).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "apply.h"
#include "conf.h"
#include "log.h"
#include "manifest.h"

#define WRITEBACK_STEP (8u << 20)
#define PUT_MAX_SIZE (UINT64_C(1) << 50)   /* 1 PiB: anything larger is a hostile length */

static int beneath(int rootfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

static int why(char *err, size_t errlen, int code, const char *path, const char *what)
{
    snprintf(err, errlen, "%s: %s", path, what);
    return code;
}

static int why_errno(char *err, size_t errlen, const char *path, const char *op)
{
    int e = errno;
    if (e == EXDEV || e == ELOOP)
        return why(err, errlen, PE_REFUSED, path, "resolves outside the sync root (symlink escape)");
    snprintf(err, errlen, "%s: %s: %s", path, op, strerror(e));
    return PE_FAILED;
}

int apply_open(struct apply *a, const struct conf *c, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    a->put_fd = a->put_dirfd = -1;
    a->conf = c;
    a->owners = geteuid() == 0;
    struct rlimit rl;
    a->max_pend = APPLY_MAX_PENDING;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < 16384 && rl.rlim_max > rl.rlim_cur) {
            rl.rlim_cur = rl.rlim_max < 16384 ? rl.rlim_max : 16384;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur < (rlim_t)APPLY_MAX_PENDING + 256)
            a->max_pend = rl.rlim_cur > 512 ? (int)rl.rlim_cur - 256 : 128;
    }
    a->pid = getpid();
    a->rootfd = open(c->sync_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (a->rootfd < 0) {
        snprintf(err, errlen, "%s: %s", c->sync_root, strerror(errno));
        return -1;
    }
    return 0;
}

void apply_close(struct apply *a)
{
    apply_put_abort(a);
    apply_sync(a);   /* completed files are kept: they were whole */
    if (a->rootfd >= 0)
        close(a->rootfd);
    a->rootfd = -1;
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
    if (a->conf->n_sync_paths == 0)
        return 0;
    for (int i = 0; i < a->conf->n_sync_paths; i++)
        if (proto_path_under(path, a->conf->sync_paths[i] + 1))
            return 0;
    return why(err, errlen, PE_REFUSED, path, "not under any [sync] path of this node");
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

/* Creates every missing directory of dir (relative) beneath the root, mode 0755. */
static int mkdir_chain(struct apply *a, char *dir)
{
    for (size_t i = 0;; i++) {
        char c = dir[i];
        if (c != '/' && c != '\0')
            continue;
        dir[i] = '\0';
        int fd = beneath(a->rootfd, dir, O_PATH | O_DIRECTORY);
        if (fd >= 0) {
            close(fd);
        } else if (errno == ENOENT) {
            char *slash = strrchr(dir, '/');
            int pfd;
            if (slash) {
                *slash = '\0';
                pfd = beneath(a->rootfd, dir, O_RDONLY | O_DIRECTORY);
                *slash = '/';
            } else {
                pfd = beneath(a->rootfd, ".", O_RDONLY | O_DIRECTORY);
            }
            if (pfd < 0) {
                dir[i] = c;
                return -1;
            }
            int r = mkdirat(pfd, slash ? slash + 1 : dir, 0755);
            int e = errno;
            if (r == 0)
                add_dirty(a, pfd);
            close(pfd);
            if (r < 0 && e != EEXIST) {
                dir[i] = c;
                errno = e;
                return -1;
            }
        } else {
            dir[i] = c;
            return -1;
        }
        dir[i] = c;
        if (!c)
            return 0;
    }
}

/* Opens the directory holding path; *name points at its last component inside path. */
static int open_parent(struct apply *a, const char *path, int create, const char **name)
{
    char dir[PROTO_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) {
        *name = path;
        return beneath(a->rootfd, ".", O_RDONLY | O_DIRECTORY);
    }
    *slash = '\0';
    *name = path + (slash - dir) + 1;
    int fd = beneath(a->rootfd, dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT && create) {
        if (mkdir_chain(a, dir) < 0)
            return -1;
        fd = beneath(a->rootfd, dir, O_RDONLY | O_DIRECTORY);
    }
    return fd;
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

/* <sync path>/.hotstandby-conflicts/<epoch>/<rest of path> */
static void conflict_path(const struct apply *a, const char *path, char *out, size_t len)
{
    const char *base = "", *rest = path;
    for (int i = 0; i < a->conf->n_sync_paths; i++) {
        const char *sp = a->conf->sync_paths[i] + 1;
        if (*sp && proto_path_under(path, sp) && path[strlen(sp)] == '/') {
            base = sp;
            rest = path + strlen(sp) + 1;
            break;
        }
    }
    snprintf(out, len, "%s%s%s/%llu/%s", base, *base ? "/" : "", SYNC_CONFLICTS,
             (unsigned long long)a->epoch, rest);
}

/* Moves the existing pfd/name (the receiver's version of path) into the conflict store. */
static int preserve(struct apply *a, int pfd, const char *name, const char *path)
{
    char cpath[PROTO_PATH_MAX + 64];
    conflict_path(a, path, cpath, sizeof(cpath));
    char *slash = strrchr(cpath, '/');
    *slash = '\0';
    if (mkdir_chain(a, cpath) < 0)
        return -1;
    int cfd = beneath(a->rootfd, cpath, O_RDONLY | O_DIRECTORY);
    if (cfd < 0)
        return -1;
    char cname[PROTO_NAME_MAX + 16];
    snprintf(cname, sizeof(cname), "%s", slash + 1);
    int rc;
    for (int n = 1; (rc = renameat2(pfd, name, cfd, cname, RENAME_NOREPLACE)) < 0 &&
                    errno == EEXIST && n < 1000; n++)
        snprintf(cname, sizeof(cname), "%s.%d", slash + 1, n);
    if (rc == 0) {
        add_dirty(a, cfd);
        a->conflicts++;
        log_notice("rejoin: kept this node's version of %s as %s/%s", path, cpath, cname);
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
            int ofd = openat(pfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
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
        unlinkat(a->put_dirfd, a->put_tmp, 0);
        close(a->put_dirfd);
    }
    a->put_fd = a->put_dirfd = -1;
}

int apply_put_begin(struct apply *a, const struct proto_msg *m, char *err, size_t errlen)
{
    int rc = apply_check_path(a, m->path, err, errlen);
    if (rc)
        return rc;
    if (m->size > PUT_MAX_SIZE)
        return why(err, errlen, PE_REFUSED, m->path, "declared size is absurdly large");
    uint32_t h = 2166136261u;
    for (const char *c = m->path; *c; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    h &= 65535;
    if (a->pend_seen[h / 64] & (UINT64_C(1) << (h % 64))) {
        for (int i = 0; i < a->npend; i++)
            if (!strcmp(a->pend[i].path, m->path)) {
                apply_commit(a);   /* the same file again: the older copy lands first */
                break;
            }
    }
    a->pend_seen[h / 64] |= UINT64_C(1) << (h % 64);
    const char *name;
    int pfd = open_parent(a, m->path, 1, &name);
    if (pfd < 0)
        return why_errno(err, errlen, m->path, "open parent");
    snprintf(a->put_tmp, sizeof(a->put_tmp), "%s%d.%u", SYNC_TMP_PREFIX, (int)a->pid,
             a->tmp_counter++);
    a->put_fd = openat(pfd, a->put_tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (a->put_fd < 0) {
        rc = why_errno(err, errlen, m->path, "create temp file");
        close(pfd);
        return rc;
    }
    a->put_dirfd = pfd;
    snprintf(a->put_name, sizeof(a->put_name), "%s", name);
    snprintf(a->put_path, sizeof(a->put_path), "%s", m->path);
    a->put_mode = m->mode;
    a->put_uid = m->uid;
    a->put_gid = m->gid;
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
    if (a->owners && fchown(fd, a->put_uid, a->put_gid) < 0)
        step = "chown";
    else if (fchmod(fd, a->put_mode & 07777) < 0)   /* after chown, which clears setuid */
        step = "chmod";
    else if (futimens(fd, ts) < 0)
        step = "set mtime";
    if (step) {
        int rc = why_errno(err, errlen, a->put_path, step);
        apply_put_abort(a);
        return rc;
    }
    struct apply_pending *pp = &a->pend[a->npend];
    pp->path = strdup(a->put_path);
    if (!pp->path) {
        apply_put_abort(a);
        return why(err, errlen, PE_FAILED, a->put_path, "out of memory");
    }
    close(fd);   /* attributes are set; syncfs at the commit point makes it durable */
    pp->dirfd = a->put_dirfd;
    snprintf(pp->tmp, sizeof(pp->tmp), "%s", a->put_tmp);
    snprintf(pp->name, sizeof(pp->name), "%s", a->put_name);
    a->npend++;
    a->pend_bytes += a->put_size;
    a->put_fd = a->put_dirfd = -1;
    if (a->npend >= a->max_pend || a->pend_bytes >= APPLY_PENDING_BYTES)
        apply_commit(a);
    return 0;
}

void apply_commit(struct apply *a)
{
    if (!a->npend)
        return;
    int synced = a->npend <= APPLY_FSYNC_EACH
                     ? -1 : sync_filesystems(&a->pend[0].dirfd, a->npend, sizeof(a->pend[0]));
    for (int i = 0; i < a->npend; i++) {
        struct apply_pending *pp = &a->pend[i];
        const char *step = NULL;
        /* the content is only read back to compare it in a rejoin, or to fsync it
         * one by one if syncfs failed */
        int fd = a->rejoin || synced < 0
                     ? openat(pp->dirfd, pp->tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -2;
        if (synced < 0 && (fd < 0 || fsync(fd) < 0))
            step = "fsync";
        else if (make_way(a, pp->dirfd, pp->name, pp->path, fd, NULL) < 0)
            step = "replace existing";
        else if (renameat(pp->dirfd, pp->tmp, pp->dirfd, pp->name) < 0)
            step = "rename";
        if (step) {
            char err[PROTO_PATH_MAX + 128];
            int code = why_errno(err, sizeof(err), pp->path, step);
            unlinkat(pp->dirfd, pp->tmp, 0);
            if (a->report)
                a->report(a->report_arg, code, pp->path, err);
        } else {
            add_dirty(a, pp->dirfd);
        }
        if (fd >= 0)
            close(fd);
        close(pp->dirfd);
        free(pp->path);
    }
    a->npend = 0;
    a->pend_bytes = 0;
    memset(a->pend_seen, 0, sizeof(a->pend_seen));
}

static int set_attrs_at(struct apply *a, int pfd, const char *name, uint32_t mode, uint32_t uid,
                        uint32_t gid, int64_t mtime_ns, int is_link)
{
    int fl = AT_SYMLINK_NOFOLLOW;
    struct timespec ts[2] = {{0, UTIME_OMIT}, ns_to_ts(mtime_ns)};
    if (a->owners && fchownat(pfd, name, uid, gid, fl) < 0)
        return -1;
    if (!is_link && fchmodat(pfd, name, mode & 07777, 0) < 0)
        return -1;
    return utimensat(pfd, name, ts, fl);
}

int apply_mkdir(struct apply *a, const struct proto_msg *m, char *err, size_t errlen)
{
    int rc = apply_check_path(a, m->path, err, errlen);
    if (rc)
        return rc;
    const char *name;
    int pfd = open_parent(a, m->path, 1, &name);
    if (pfd < 0)
        return why_errno(err, errlen, m->path, "open parent");
    struct stat st;
    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
        if ((a->rejoin ? preserve(a, pfd, name, m->path) : unlinkat(pfd, name, 0)) < 0) {
            rc = why_errno(err, errlen, m->path, "replace existing");
            close(pfd);
            return rc;
        }
    }
    if ((mkdirat(pfd, name, 0700) < 0 && errno != EEXIST) ||
        set_attrs_at(a, pfd, name, m->mode, m->uid, m->gid, m->mtime_ns, 0) < 0)
        rc = why_errno(err, errlen, m->path, "mkdir");
    else
        add_dirty(a, pfd);
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
    const char *name;
    int pfd = open_parent(a, m->path, 1, &name);
    if (pfd < 0)
        return why_errno(err, errlen, m->path, "open parent");
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%s%d.%u", SYNC_TMP_PREFIX, (int)a->pid, a->tmp_counter++);
    /* The link is only created, never followed: its target may point anywhere. */
    if (symlinkat(m->path2, pfd, tmp) < 0) {
        rc = why_errno(err, errlen, m->path, "symlink");
    } else if (set_attrs_at(a, pfd, tmp, 0, m->uid, m->gid, m->mtime_ns, 1) < 0 ||
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

int apply_delete(struct apply *a, const char *path, char *err, size_t errlen)
{
    int rc = apply_check_path(a, path, err, errlen);
    if (rc)
        return rc;
    const char *name;
    int pfd = open_parent(a, path, 0, &name);
    if (pfd < 0)
        return errno == ENOENT ? 0 : why_errno(err, errlen, path, "open parent");
    struct stat st;
    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if ((a->rejoin ? preserve(a, pfd, name, path) : remove_tree(pfd, name, 0)) < 0)
            rc = why_errno(err, errlen, path, "delete");
        else
            add_dirty(a, pfd);
    }
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
