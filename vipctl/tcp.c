/*
 * tcp.c: one request, one answer, over a fresh TCP connection, bounded by a deadline:
 * nonblocking connect, every read and write polled, short counts and EINTR handled.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "tcp.h"

#define MAX_REPLY (1u << 20)

/* Polls fd for events until deadline; 0 when ready, -1 with errno (ETIMEDOUT) otherwise. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int left = (int)((deadline - now_ns()) / NS_PER_MS);
        if (left <= 0)
            return errno = ETIMEDOUT, -1;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, left);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

static int io_all(int fd, void *buf, size_t len, int writing, int64_t deadline)
{
    size_t done = 0;
    while (done < len) {
        if (wait_fd(fd, writing ? POLLOUT : POLLIN, deadline) < 0)
            return -1;
        ssize_t n = writing ? send(fd, (char *)buf + done, len - done, MSG_NOSIGNAL)
                            : recv(fd, (char *)buf + done, len - done, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return errno = n == 0 ? ECONNRESET : errno, -1;
        done += (size_t)n;
    }
    return 0;
}

int tcp_exchange(const struct sockaddr_storage *ss, socklen_t sslen, int len_bytes,
                 const void *req, size_t reqlen, void **rep, size_t *replen, int64_t deadline)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    uint8_t len4[4] = {(uint8_t)(reqlen >> 24), (uint8_t)(reqlen >> 16), (uint8_t)(reqlen >> 8),
                       (uint8_t)reqlen};
    uint8_t *lenp = len4 + 4 - len_bytes;
    uint8_t *body = NULL;
    if ((len_bytes == 2 && reqlen > 0xffff && (errno = EMSGSIZE)) ||
        (connect(fd, (const struct sockaddr *)ss, sslen) < 0 && errno != EINPROGRESS) ||
        wait_fd(fd, POLLOUT, deadline) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || (soerr && (errno = soerr)) ||
        io_all(fd, lenp, (size_t)len_bytes, 1, deadline) < 0 ||
        io_all(fd, (void *)req, reqlen, 1, deadline) < 0 ||
        io_all(fd, lenp, (size_t)len_bytes, 0, deadline) < 0)
        goto fail;
    size_t n = 0;
    for (int i = 0; i < len_bytes; i++)
        n = (n << 8) | lenp[i];
    if (n == 0 || n > MAX_REPLY || !(body = malloc(n))) {
        errno = EPROTO;
        goto fail;
    }
    if (io_all(fd, body, n, 0, deadline) < 0)
        goto fail;
    close(fd);
    *rep = body;
    *replen = n;
    return 0;
fail:;
    int e = errno;
    free(body);
    close(fd);
    errno = e;
    return -1;
}

