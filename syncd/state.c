/* state.c: run_dir/syncd.state, "key value" lines, updated under flock. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "state.h"

void sync_state_path(const char *run_dir, char *buf, size_t len)
{
    snprintf(buf, len, "%s/syncd.state", run_dir);
}

static void parse(const char *text, struct sync_state *st)
{
    memset(st, 0, sizeof(*st));
    const char *p = text;
    while (*p) {
        char key[32];
        unsigned long long v;
        if (sscanf(p, "%31s %llu", key, &v) == 2) {
            if (!strcmp(key, "active"))
                st->active = v != 0;
            else if (!strcmp(key, "epoch"))
                st->epoch = v;
            else if (!strcmp(key, "seen_epoch"))
                st->seen_epoch = v;
            else if (!strcmp(key, "was_active"))
                st->was_active = v;
        }
        const char *nl = strchr(p, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
}

static int read_locked(int fd, struct sync_state *st)
{
    char buf[512];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    parse(buf, st);
    return 0;
}

int sync_state_read(const char *path, struct sync_state *st)
{
    memset(st, 0, sizeof(*st));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    int rc = -1;
    if (flock(fd, LOCK_SH) == 0)
        rc = read_locked(fd, st);
    close(fd);
    return rc;
}

int sync_state_update(const char *path, sync_state_fn fn, void *arg, struct sync_state *out)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    struct sync_state st;
    int rc = -1;
    if (flock(fd, LOCK_EX) < 0 || read_locked(fd, &st) < 0)
        goto out;
    fn(&st, arg);
    char buf[256];
    int n = snprintf(buf, sizeof(buf),
                     "active %d\nepoch %" PRIu64 "\nseen_epoch %" PRIu64 "\nwas_active %" PRIu64 "\n",
                     st.active, st.epoch, st.seen_epoch, st.was_active);
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n || fsync(fd) < 0)
        goto out;
    if (out)
        *out = st;
    rc = 0;
out:
    close(fd);
    return rc;
}
