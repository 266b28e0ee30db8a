/*
 * install.c: putting a checked release in place beside the running binaries (the last
 * steps of `hotstandby-clone upgrade`, upgrade.c). Every file goes to a temp file in the
 * same directory (fsync); only when all are there, and the caller's last check passed,
 * are they renamed over the old ones, which stay as NAME.hs-old; a failed rename puts
 * back the ones already swapped. A reader of the directory sees the old file or the new
 * one, never a torn one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clone.h"
#include "release.h"

static void tmp_name(int i, char *buf, size_t len)
{
    snprintf(buf, len, ".%s.hs-upgrade", release_files[i]);
}

static void remove_temps(int dirfd)
{
    char tmp[64];
    for (int i = 0; i < RELEASE_NFILES; i++) {
        tmp_name(i, tmp, sizeof(tmp));
        unlinkat(dirfd, tmp, 0);
    }
}

static int write_temp(int dirfd, int i, const struct release_file *f)
{
    char tmp[64];
    tmp_name(i, tmp, sizeof(tmp));
    unlinkat(dirfd, tmp, 0);
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700);
    size_t done = 0;
    while (fd >= 0 && done < f->len) {
        ssize_t n = write(fd, f->data + done, f->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    int ok = fd >= 0 && done == f->len && fchmod(fd, 0755) == 0 && fsync(fd) == 0;
    int e = errno;
    if (fd >= 0)
        close(fd);
    errno = e;
    return ok ? 0 : -1;
}

/* The old file stays as NAME.hs-old; on a failure the ones already swapped go back. */
static int swap_in(int dirfd, char *err, size_t errlen)
{
    char tmp[64], old[64];
    int i;
    for (i = 0; i < RELEASE_NFILES; i++) {
        tmp_name(i, tmp, sizeof(tmp));
        snprintf(old, sizeof(old), "%s.hs-old", release_files[i]);
        unlinkat(dirfd, old, 0);
        if ((linkat(dirfd, release_files[i], dirfd, old, 0) < 0 && errno != ENOENT) ||
            renameat(dirfd, tmp, dirfd, release_files[i]) < 0) {
            snprintf(err, errlen, "%s: %s", release_files[i], strerror(errno));
            break;
        }
    }
    if (i == RELEASE_NFILES)
        return fsync(dirfd) == 0 ? 0 : (snprintf(err, errlen, "fsync: %s", strerror(errno)), -1);
    while (i-- > 0) {
        snprintf(old, sizeof(old), "%s.hs-old", release_files[i]);
        if (renameat(dirfd, old, dirfd, release_files[i]) < 0)
            fprintf(stderr, "hotstandby-clone: %s: could not put the old file back: %s\n",
                    release_files[i], strerror(errno));
    }
    return -1;
}

/* make install's list of checksums names our binaries: keep it true (clone primary checks
 * against it). Only when this directory is the installed one. */
void release_list_update(const char *dir, const struct release_file f[])
{
    char err[512], path[1200];
    size_t len;
    if (strcmp(dir, HS_SBINDIR) != 0)
        return;
    char *list = read_local(INSTALLED_FILES, &len, err, sizeof(err));
    if (!list)
        return;
    /* lines are "SHA256  PATH" (scripts/install.sh) */
    for (char *line = list; *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        for (int i = 0; i < RELEASE_NFILES; i++) {
            int plen = snprintf(path, sizeof(path), "  %s/%s", dir, release_files[i]);
            if (n == 64 + (size_t)plen && memcmp(line + 64, path, (size_t)plen) == 0)
                memcpy(line, f[i].sha256, 64);
        }
        line += n + (nl != NULL);
    }
    if (write_local(INSTALLED_FILES, list, len, 0644, err, sizeof(err)) < 0)
        fprintf(stderr, "hotstandby-clone: %s\n", err);
    free(list);
}

int release_install(const char *dir, const struct release_file f[],
                    int (*last_check)(void *arg, char *err, size_t errlen), void *arg,
                    char *err, size_t errlen)
{
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);   /* fsync needs O_RDONLY */
    if (dirfd < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; rc == 0 && i < RELEASE_NFILES; i++)
        if (write_temp(dirfd, i, &f[i]) < 0) {
            snprintf(err, errlen, "%s/.%s.hs-upgrade: %s", dir, release_files[i],
                     strerror(errno));
            rc = -1;
        }
    if (rc == 0 && (rc = last_check(arg, err, errlen)) == 0)
        rc = swap_in(dirfd, err, errlen);
    remove_temps(dirfd);
    close(dirfd);
    return rc;
}

/* Are the published files what this directory holds already? (installed, not restarted) */
int release_installed(const char *dir, const struct release_file f[])
{
    int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC), same = dirfd >= 0;
    for (int i = 0; same && i < RELEASE_NFILES; i++) {
        struct stat st;
        char hex[65];
        uint64_t size;
        int fd = release_open(dirfd, release_files[i], &st);
        same = fd >= 0 && release_hash_fd(fd, hex, &size) == 0 && size == f[i].size &&
               strcmp(hex, f[i].sha256) == 0;
        if (fd >= 0)
            close(fd);
    }
    if (dirfd >= 0)
        close(dirfd);
    return same;
}
