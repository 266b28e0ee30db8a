/* release.c: the files of an upgrade and their checksums (release.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "release.h"
#include "sha256.h"

const char *const release_files[RELEASE_NFILES] = {"watchd", "heartbeatd", "vipctl",
                                                   "vipctl-full", "syncd", "hotstandby-clone"};

int release_index(const char *name)
{
    for (int i = 0; i < RELEASE_NFILES; i++)
        if (strcmp(name, release_files[i]) == 0)
            return i;
    return -1;
}

int release_open(int dirfd, const char *name, struct stat *st)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int e = fstat(fd, st) < 0 ? errno : S_ISREG(st->st_mode) ? 0 : EINVAL;
    if (e) {
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void to_hex(const uint8_t sum[32], char hex[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", sum[i]);
}

int release_hash_fd(int fd, char hex[65], uint64_t *size)
{
    struct sha256 h;
    uint8_t buf[65536], sum[32];
    uint64_t total = 0;
    sha256_init(&h);
    for (;;) {
        ssize_t n = pread(fd, buf, sizeof(buf), (off_t)total);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        sha256_update(&h, buf, (size_t)n);
        total += (uint64_t)n;
    }
    sha256_final(&h, sum);
    to_hex(sum, hex);
    *size = total;
    return 0;
}

void release_hash_mem(const void *data, size_t len, char hex[65])
{
    struct sha256 h;
    uint8_t sum[32];
    sha256_init(&h);
    sha256_update(&h, data, len);
    sha256_final(&h, sum);
    to_hex(sum, hex);
}
