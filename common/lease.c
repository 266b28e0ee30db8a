/* lease.c: RUN_DIR/lease, watchd's live lease deadline for its hooks (lease.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "lease.h"

static void lease_path(const char *run_dir, const char *suffix, char *buf, size_t len)
{
    snprintf(buf, len, "%s/lease%s", run_dir, suffix);
}

int lease_file_write(const char *run_dir, int64_t epoch, int64_t deadline_ns)
{
    char path[600], tmp[600], text[64];
    lease_path(run_dir, "", path, sizeof(path));
    lease_path(run_dir, ".tmp", tmp, sizeof(tmp));
    int len = snprintf(text, sizeof(text), "%" PRId64 " %" PRId64 "\n", epoch, deadline_ns);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int rc = io_write_all(fd, text, (size_t)len);
    int e = errno;
    if (close(fd) < 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    /* a reader sees the old file or the new one, never a torn one */
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = -1;
        e = errno;
    }
    if (rc < 0) {
        unlink(tmp);
        errno = e;
    }
    return rc;
}

int lease_file_read(const char *run_dir, int64_t *epoch, int64_t *deadline_ns)
{
    char path[600], text[64];
    lease_path(run_dir, "", path, sizeof(path));
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n;
    while ((n = read(fd, text, sizeof(text) - 1)) < 0 && errno == EINTR)
        ;
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    char nl;
    if (sscanf(text, "%" SCNd64 " %" SCNd64 "%c", epoch, deadline_ns, &nl) != 3 || nl != '\n')
        return -1;
    return 0;
}
