/*
 * remote.c: the peer, over SSH — one command per session through common/ssh.c, so the
 * host key is checked against known_hosts exactly as syncd checks it. Files travel as a
 * command's stdin/stdout and land through a temp file and rename.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clone.h"
#include "ssh.h"

const char *shq(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    if (len < 3)
        return "''";
    buf[o++] = '\'';
    for (; *s && o + 5 < len; s++) {
        if (*s == '\'') {
            memcpy(buf + o, "'\\''", 4);
            o += 4;
        } else {
            buf[o++] = *s;
        }
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

int remote_run(struct clone *cl, const char *cmd, const void *in, size_t inlen, char **out,
               char *err, size_t errlen)
{
    struct hs_ssh_opts o = {.host = cl->peer,
                            .port = cl->ssh_port,
                            .user = cl->ssh_user,
                            .key = cl->ssh_key,
                            .known_hosts = cl->known_hosts,
                            .command = cmd};
    if (out)
        *out = NULL;
    return hs_ssh_run(&o, in, inlen, out, NULL, SSH_TIMEOUT_MS, err, errlen);
}

int remote_put(struct clone *cl, const char *path, const void *data, size_t len, int mode,
               char *err, size_t errlen)
{
    char q[1024], cmd[4096];
    shq(path, q, sizeof(q));
    snprintf(cmd, sizeof(cmd),
             "umask 077; mkdir -p \"$(dirname %s)\" && cat > %s.hs-new && chmod %o %s.hs-new "
             "&& mv -f %s.hs-new %s",
             q, q, mode, q, q, q);
    int rc = remote_run(cl, cmd, data, len, NULL, err, errlen);
    if (rc != 0 && rc != -1) {
        char why[512];
        snprintf(why, sizeof(why), "%s", err);
        snprintf(err, errlen, "%s:%s: %s", cl->peer, path, why[0] ? why : "cannot write");
    }
    return rc == 0 ? 0 : -1;
}

char *remote_get(struct clone *cl, const char *path, size_t *len, char *err, size_t errlen)
{
    char q[1024], cmd[1100], *out = NULL;
    snprintf(cmd, sizeof(cmd), "cat %s", shq(path, q, sizeof(q)));
    int rc = remote_run(cl, cmd, NULL, 0, &out, err, errlen);
    if (rc != 0) {
        if (rc > 0) {
            char why[512];
            snprintf(why, sizeof(why), "%s", err);
            snprintf(err, errlen, "%s:%s: %s", cl->peer, path, why[0] ? why : "cannot read");
        }
        free(out);
        return NULL;
    }
    if (len)
        *len = strlen(out);
    return out;
}

char *read_local(const char *path, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size > (256 << 20)) {
        snprintf(err, errlen, "%s: %s", path, fd < 0 ? strerror(errno) : "too large");
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!buf || got != (size_t)st.st_size) {
        snprintf(err, errlen, "%s: short read", path);
        free(buf);
        return NULL;
    }
    buf[got] = '\0';
    *len = got;
    return buf;
}

int write_local(const char *path, const void *data, size_t len, int mode, char *err,
                size_t errlen)
{
    char tmp[1100];
    snprintf(tmp, sizeof(tmp), "%s.hs-new", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    size_t done = 0;
    while (fd >= 0 && done < len) {
        ssize_t n = write(fd, (const char *)data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    int ok = fd >= 0 && done == len && fchmod(fd, mode) == 0 && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    if (!ok || rename(tmp, path) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* The same shell command on this node (setup.c runs each step on either side). */
int local_run(const char *cmd, const void *in, size_t inlen, char **out, char *err,
              size_t errlen)
{
    char inpath[] = "/tmp/hs-clone-in.XXXXXX";
    int infd = mkstemp(inpath);
    int pfd[2];
    if (infd < 0 || pipe2(pfd, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        return -1;
    }
    unlink(inpath);
    if (inlen && write(infd, in, inlen) != (ssize_t)inlen) {
        snprintf(err, errlen, "temp file: %s", strerror(errno));
        close(infd);
        return -1;
    }
    lseek(infd, 0, SEEK_SET);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(infd, 0);
        dup2(pfd[1], 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(infd);
    close(pfd[1]);
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    ssize_t n;
    while (buf && (n = read(pfd[0], buf + len, cap - len - 1)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        len += (size_t)n;
        if (cap - len < 2048) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                break;
            buf = nb;
        }
    }
    close(pfd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (buf)
        buf[len] = '\0';
    if (out)
        *out = buf;
    else
        free(buf);
    snprintf(err, errlen, "%s", "");
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
