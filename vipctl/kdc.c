/*
 * kdc.c: carries Kerberos messages to the KDC ourselves (RFC 4120 7.2.2: TCP, each message
 * behind its 4-byte length), so that a KDC that does not answer costs a known time: the
 * library's own transport tries for up to 18 s here before it gives up. TCP only: a
 * domain controller's answers carry a PAC and rarely fit in a UDP datagram anyway.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "kdc.h"

/* Waits of the attempts: a lost SYN costs one second, a dead KDC 4.5 s in all. */
static const int ATTEMPT_MS[] = {1000, 1500, 2000};
#define N_ATTEMPTS (int)(sizeof(ATTEMPT_MS) / sizeof(ATTEMPT_MS[0]))
#define MAX_REPLY (1u << 20)

int kdc_resolve(struct kdc *k, const char *hostport, char *err, size_t errlen)
{
    char host[256], port[16] = "88";
    const char *colon = strrchr(hostport, ':');
    if (hostport[0] == '[') {
        const char *close = strchr(hostport, ']');
        snprintf(host, sizeof(host), "%.*s", close ? (int)(close - hostport - 1) : 0,
                 hostport + 1);
        if (close && close[1] == ':')
            snprintf(port, sizeof(port), "%s", close + 2);
    } else if (colon && strchr(hostport, ':') == colon) {
        snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport), hostport);
        snprintf(port, sizeof(port), "%s", colon + 1);
    } else {
        snprintf(host, sizeof(host), "%s", hostport);
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "KDC %s: %s", hostport, gai_strerror(rc));
        return -1;
    }
    memcpy(&k->ss, res->ai_addr, res->ai_addrlen);
    k->sslen = res->ai_addrlen;
    snprintf(k->name, sizeof(k->name), "%s", hostport);
    freeaddrinfo(res);
    return 0;
}

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

static int one_exchange(const struct kdc *k, const void *req, size_t reqlen, void **rep,
                        size_t *replen, int64_t deadline)
{
    int fd = socket(k->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    uint8_t len4[4] = {(uint8_t)(reqlen >> 24), (uint8_t)(reqlen >> 16), (uint8_t)(reqlen >> 8),
                       (uint8_t)reqlen};
    uint8_t *body = NULL;
    if ((connect(fd, (const struct sockaddr *)&k->ss, k->sslen) < 0 && errno != EINPROGRESS) ||
        wait_fd(fd, POLLOUT, deadline) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || (soerr && (errno = soerr)) ||
        io_all(fd, len4, 4, 1, deadline) < 0 || io_all(fd, (void *)req, reqlen, 1, deadline) < 0 ||
        io_all(fd, len4, 4, 0, deadline) < 0)
        goto fail;
    size_t n = ((size_t)len4[0] << 24) | ((size_t)len4[1] << 16) | ((size_t)len4[2] << 8) | len4[3];
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

int kdc_exchange(const struct kdc *k, const void *req, size_t reqlen, void **rep, size_t *replen,
                 char *err, size_t errlen)
{
    int64_t t0 = now_ns();
    int e = 0;
    for (int i = 0; i < N_ATTEMPTS; i++) {
        int64_t deadline = now_ns() + ATTEMPT_MS[i] * NS_PER_MS;
        if (one_exchange(k, req, reqlen, rep, replen, deadline) == 0)
            return 0;
        e = errno;
        /* A refused connection comes back at once: retry at the same pace as silence. */
        for (int64_t d; (d = deadline - now_ns()) > 0;) {
            struct timespec ts = {d / NS_PER_SEC, d % NS_PER_SEC};
            nanosleep(&ts, NULL);
        }
    }
    snprintf(err, errlen, "cannot reach the KDC at %s (port 88 by default): %s after %d attempts "
             "(%.1f s)", k->name, e == ETIMEDOUT ? "no answer" : strerror(e), N_ATTEMPTS,
             (double)(now_ns() - t0) / NS_PER_SEC);
    return -1;
}
