/* state.c: <state_dir>/syncd.state, "key value" lines, replaced atomically under flock. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "state.h"

void sync_state_path(const char *state_dir, char *buf, size_t len)
{
    snprintf(buf, len, "%s/syncd.state", state_dir);
}

int sync_state_dir(const char *state_dir)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s", state_dir);
    for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
        if (s)
            *s = '\0';
        if (mkdir(p, s ? 0755 : 0700) < 0 && errno != EEXIST)
            return -1;
        if (!s)
            return 0;
        *s = '/';
    }
}

/* This boot's id: a role written before a reboot is not this node's role any more. */
static void boot_id(char *buf, size_t len)
{
    buf[0] = '\0';
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (f) {
        if (fgets(buf, (int)len, f))
            buf[strcspn(buf, "\n")] = '\0';
        fclose(f);
    }
}

static void parse(const char *text, struct sync_state *st)
{
    memset(st, 0, sizeof(*st));
    char boot[64] = "", now[64];
    const char *p = text;
    while (*p) {
        char key[32], val[64];
        if (sscanf(p, "%31s %63s", key, val) == 2) {
            unsigned long long v = strtoull(val, NULL, 10);
            if (!strcmp(key, "active"))
                st->active = v != 0;
            else if (!strcmp(key, "epoch"))
                st->epoch = v;
            else if (!strcmp(key, "seen_epoch"))
                st->seen_epoch = v;
            else if (!strcmp(key, "was_active"))
                st->was_active = v;
            else if (!strcmp(key, "boot"))
                snprintf(boot, sizeof(boot), "%s", val);
        }
        const char *nl = strchr(p, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
    boot_id(now, sizeof(now));
    if (strcmp(boot, now))
        st->active = 0;
}

/* The file's bytes into buf (NUL-terminated; "" if there is none). */
static int read_raw(const char *path, char *buf, size_t size)
{
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    ssize_t n;
    do
        n = pread(fd, buf, size - 1, 0);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

static int read_file(const char *path, struct sync_state *st)
{
    char buf[512];
    memset(st, 0, sizeof(*st));
    if (read_raw(path, buf, sizeof(buf)) < 0)
        return -1;
    if (buf[0])
        parse(buf, st);
    return 0;
}

int sync_state_read(const char *path, struct sync_state *st)
{
    return read_file(path, st);   /* replaced by rename: never seen half-written */
}

static int render(const struct sync_state *st, char *buf, size_t size)
{
    char boot[64];
    boot_id(boot, sizeof(boot));
    return snprintf(buf, size,
                    "active %d\nboot %s\nepoch %" PRIu64 "\nseen_epoch %" PRIu64
                    "\nwas_active %" PRIu64 "\n",
                    st->active, boot[0] ? boot : "-", st->epoch, st->seen_epoch, st->was_active);
}

/* tmp + fsync + rename + fsync of the directory: the old or the new state, never a mix. */
static int write_file(const char *path, const char *buf, int n)
{
    char tmp[4200], dir[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else
        slash[slash == dir] = '\0';
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (io_write_all(fd, buf, (size_t)n) < 0 || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return -1;
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    int rc = fsync(dfd);
    close(dfd);
    return rc;
}

int sync_state_update(const char *path, sync_state_fn fn, void *arg, struct sync_state *out)
{
    char lock[4200];
    snprintf(lock, sizeof(lock), "%s.lock", path);
    int lfd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (lfd < 0)
        return -1;
    struct sync_state st;
    char old[512], buf[384];
    int rc = -1;
    if (flock(lfd, LOCK_EX) < 0 || read_raw(path, old, sizeof(old)) < 0)
        goto out;
    memset(&st, 0, sizeof(st));
    if (old[0])
        parse(old, &st);
    fn(&st, arg);
    int n = render(&st, buf, sizeof(buf));
    /* The same bytes are there already (written by write_file, durable): a receiver's
     * HELLO at the epoch it has seen costs no fsync. */
    if (strcmp(old, buf) != 0 && write_file(path, buf, n) < 0)
        goto out;
    if (out)
        *out = st;
    rc = 0;
out:;
    int e = errno;
    close(lfd);
    errno = e;
    return rc;
}
