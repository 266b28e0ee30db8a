/*
 * kdc.c: carries Kerberos messages to the KDC ourselves (RFC 4120 7.2.2: TCP, each message
 * behind its 4-byte length), so that a KDC that does not answer costs a known time: the
 * library's own transport tries for up to 18 s here before it gives up. TCP only: a
 * domain controller's answers carry a PAC and rarely fit in a UDP datagram anyway.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "kdc.h"
#include "tcp.h"

/* Waits of the attempts: a lost SYN costs one second, a dead KDC 4.5 s in all. */
static const int ATTEMPT_MS[] = {1000, 1500, 2000};
#define N_ATTEMPTS (int)(sizeof(ATTEMPT_MS) / sizeof(ATTEMPT_MS[0]))

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

int kdc_exchange(const struct kdc *k, const void *req, size_t reqlen, void **rep, size_t *replen,
                 char *err, size_t errlen)
{
    int64_t t0 = now_ns();
    int e = 0;
    for (int i = 0; i < N_ATTEMPTS; i++) {
        int64_t deadline = now_ns() + ATTEMPT_MS[i] * NS_PER_MS;
        if (tcp_exchange(&k->ss, k->sslen, 4, req, reqlen, rep, replen, deadline) == 0)
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
