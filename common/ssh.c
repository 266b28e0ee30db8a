/*
 * ssh.c: a libssh2 session in nonblocking mode, advanced by hs_ssh_step() whenever its
 * socket is ready. Host key pinning: the key the server presents must match an entry
 * for host (or [host]:port) in known_hosts; NOTFOUND and MISMATCH are refusals.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "ssh.h"

enum ssh_stage { ST_CONNECT, ST_HANDSHAKE, ST_AUTH, ST_OPEN, ST_EXEC, ST_DONE };

/*
 * Every block libssh2 allocates for a session is on that session's list, and what is still
 * there after libssh2_session_free is freed with it. libssh2 1.10 keeps the key exchange's
 * curve25519 key pair (2 x 32 bytes) until the exchange ends: a session freed in the middle
 * of it (a peer that stalls its handshake, syncd stopping or giving up then) leaked them on
 * every attempt, and a session_free that still answers EAGAIN leaked everything.
 */
struct ssh_block {
    struct ssh_block *prev, *next;
    size_t size;
    size_t pad;   /* keeps what follows 16-byte aligned, as malloc's own blocks are */
};

struct hs_ssh {
    struct hs_ssh_opts o;
    char host[256], user[64], key[1024], known_hosts[1024], command[1024];
    enum ssh_stage stage;
    int fd;
    struct ssh_block heap;   /* the list's head */
    LIBSSH2_SESSION *session;
    LIBSSH2_CHANNEL *channel;
};

static void block_link(struct ssh_block *head, struct ssh_block *b)
{
    b->prev = head;
    b->next = head->next;
    head->next->prev = b;
    head->next = b;
}

static void block_unlink(struct ssh_block *b)
{
    b->prev->next = b->next;
    b->next->prev = b->prev;
}

static LIBSSH2_ALLOC_FUNC(heap_alloc)
{
    struct ssh_block *b = malloc(sizeof(*b) + count);
    if (!b)
        return NULL;
    b->size = count;
    block_link(*abstract, b);
    return b + 1;
}

static LIBSSH2_FREE_FUNC(heap_free)
{
    if (!ptr)
        return;
    struct ssh_block *b = (struct ssh_block *)ptr - 1;
    block_unlink(b);
    free(b);
}

static LIBSSH2_REALLOC_FUNC(heap_realloc)
{
    if (!ptr)
        return heap_alloc(count, abstract);
    struct ssh_block *b = (struct ssh_block *)ptr - 1;
    block_unlink(b);
    struct ssh_block *nb = realloc(b, sizeof(*b) + count);
    if (!nb) {
        block_link(*abstract, b);
        return NULL;
    }
    nb->size = count;
    block_link(*abstract, nb);
    return nb + 1;
}

/* After libssh2_session_free: what libssh2 did not give back. */
static void heap_release(struct hs_ssh *s)
{
    size_t n = 0, bytes = 0;
    while (s->heap.next != &s->heap) {
        struct ssh_block *b = s->heap.next;
        block_unlink(b);
        n++;
        bytes += b->size;
        free(b);
    }
    if (n)
        log_debug("ssh %s: libssh2 left %zu blocks (%zu bytes) after the session; freed", s->host,
                  n, bytes);
}

static int set_sockopts(int fd)
{
    int one = 1, user_timeout_ms = 30000, buf = 4 * 1024 * 1024;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    /* A peer that vanishes without a FIN/RST is noticed within 30 s, not hours. */
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    return 0;
}

struct hs_ssh *hs_ssh_new(const struct hs_ssh_opts *o, char *err, size_t errlen)
{
    if (!o->known_hosts || !*o->known_hosts) {
        snprintf(err, errlen, "%s: no known_hosts file configured (host keys are always checked)",
                 o->host);
        return NULL;
    }
    static int initialised;
    if (!initialised) {
        if (libssh2_init(0) != 0) {
            snprintf(err, errlen, "libssh2_init failed");
            return NULL;
        }
        initialised = 1;
    }
    struct hs_ssh *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(s->host, sizeof(s->host), "%s", o->host);
    snprintf(s->user, sizeof(s->user), "%s", o->user ? o->user : "root");
    snprintf(s->key, sizeof(s->key), "%s", o->key ? o->key : "");
    snprintf(s->known_hosts, sizeof(s->known_hosts), "%s", o->known_hosts);
    snprintf(s->command, sizeof(s->command), "%s", o->command ? o->command : "");
    s->o = *o;
    s->o.host = s->host;
    s->o.user = s->user;
    s->o.key = s->key;
    s->o.known_hosts = s->known_hosts;
    s->o.command = o->command ? s->command : NULL;
    s->fd = -1;
    s->heap.prev = s->heap.next = &s->heap;

    char port[16];
    snprintf(port, sizeof(port), "%d", o->port ? o->port : 22);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG}, *ai;
    int g = getaddrinfo(o->host, port, &hints, &ai);
    if (g != 0) {
        snprintf(err, errlen, "%s: %s", o->host, gai_strerror(g));
        free(s);
        return NULL;
    }
    s->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0 ||
        (set_sockopts(s->fd),
         connect(s->fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)) {
        snprintf(err, errlen, "%s port %s: connect: %s", o->host, port, strerror(errno));
        freeaddrinfo(ai);
        hs_ssh_free(s);
        return NULL;
    }
    freeaddrinfo(ai);
    s->stage = ST_CONNECT;
    return s;
}

static const char *ssh_errmsg(LIBSSH2_SESSION *sess)
{
    char *msg = NULL;
    libssh2_session_last_error(sess, &msg, NULL, 0);
    return msg ? msg : "unknown error";
}

static int knownhost_type(int hostkey_type)
{
    switch (hostkey_type) {
    case LIBSSH2_HOSTKEY_TYPE_RSA: return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
    case LIBSSH2_HOSTKEY_TYPE_DSS: return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
#ifdef LIBSSH2_HOSTKEY_TYPE_ECDSA_256
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
#endif
#ifdef LIBSSH2_HOSTKEY_TYPE_ED25519
    case LIBSSH2_HOSTKEY_TYPE_ED25519: return LIBSSH2_KNOWNHOST_KEY_ED25519;
#endif
    }
    return LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
}

static int check_host_key(struct hs_ssh *s, char *err, size_t errlen)
{
    LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(s->session);
    if (!kh) {
        snprintf(err, errlen, "%s: cannot check host key: %s", s->host, ssh_errmsg(s->session));
        return -1;
    }
    int rc = -1;
    if (libssh2_knownhost_readfile(kh, s->known_hosts, LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
        snprintf(err, errlen, "%s: cannot read known_hosts %s: %s", s->host, s->known_hosts,
                 ssh_errmsg(s->session));
        goto out;
    }
    size_t len;
    int type;
    const char *key = libssh2_session_hostkey(s->session, &len, &type);
    if (!key) {
        snprintf(err, errlen, "%s: server sent no host key", s->host);
        goto out;
    }
    struct libssh2_knownhost *found;
    int check = libssh2_knownhost_checkp(kh, s->host, s->o.port ? s->o.port : 22, key, len,
                                         LIBSSH2_KNOWNHOST_TYPE_PLAIN |
                                             LIBSSH2_KNOWNHOST_KEYENC_RAW | knownhost_type(type),
                                         &found);
    switch (check) {
    case LIBSSH2_KNOWNHOST_CHECK_MATCH:
        rc = 0;
        break;
    case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
        snprintf(err, errlen,
                 "%s port %d: HOST KEY CHANGED (does not match %s): refusing to connect",
                 s->host, s->o.port, s->known_hosts);
        break;
    case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
        snprintf(err, errlen, "%s port %d: unknown host key (not in %s): refusing to connect",
                 s->host, s->o.port, s->known_hosts);
        break;
    default:
        snprintf(err, errlen, "%s: host key check failed", s->host);
    }
out:
    libssh2_knownhost_free(kh);
    return rc;
}

/*
 * Ask for the key types known_hosts usually pins, strongest first. Only names this
 * libssh2 supports are passed: its method_pref drops unknown ones with an overlapping
 * memcpy (undefined behaviour seen under ASan in 1.10).
 */
static void prefer_host_keys(LIBSSH2_SESSION *sess)
{
    static const char *const want[] = {"ssh-ed25519", "ecdsa-sha2-nistp256",
                                       "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                                       "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"};
    const char **algs = NULL;
    int n = libssh2_session_supported_algs(sess, LIBSSH2_METHOD_HOSTKEY, &algs);
    if (n <= 0)
        return;
    char pref[256] = "";
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        for (int j = 0; j < n; j++)
            if (!strcmp(want[i], algs[j])) {
                size_t l = strlen(pref);
                snprintf(pref + l, sizeof(pref) - l, "%s%s", l ? "," : "", want[i]);
                break;
            }
    libssh2_free(sess, algs);
    if (pref[0])
        libssh2_session_method_pref(sess, LIBSSH2_METHOD_HOSTKEY, pref);
}

#define AGAIN_OR_FAIL(rc, what)                                                              \
    do {                                                                                     \
        if ((rc) == LIBSSH2_ERROR_EAGAIN)                                                    \
            return HS_SSH_AGAIN;                                                             \
        if ((rc) < 0) {                                                                      \
            snprintf(err, errlen, "%s port %d: %s: %s", s->host, s->o.port, what,            \
                     ssh_errmsg(s->session));                                                \
            return HS_SSH_ERROR;                                                             \
        }                                                                                    \
    } while (0)

int hs_ssh_step(struct hs_ssh *s, char *err, size_t errlen)
{
    int rc;
    switch (s->stage) {
    case ST_CONNECT: {
        struct pollfd p = {.fd = s->fd, .events = POLLOUT};
        if (poll(&p, 1, 0) == 0)
            return HS_SSH_AGAIN;
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr) {
            snprintf(err, errlen, "%s port %d: connect: %s", s->host, s->o.port, strerror(soerr));
            return HS_SSH_ERROR;
        }
        s->session = libssh2_session_init_ex(heap_alloc, heap_free, heap_realloc, &s->heap);
        if (!s->session) {
            snprintf(err, errlen, "libssh2_session_init failed");
            return HS_SSH_ERROR;
        }
        libssh2_session_set_blocking(s->session, 0);
        prefer_host_keys(s->session);
        libssh2_keepalive_config(s->session, 0, 15);
        s->stage = ST_HANDSHAKE;
    }
    /* fall through */
    case ST_HANDSHAKE:
        rc = libssh2_session_handshake(s->session, s->fd);
        AGAIN_OR_FAIL(rc, "SSH handshake");
        if (check_host_key(s, err, errlen) < 0)
            return HS_SSH_ERROR;
        s->stage = ST_AUTH;
    /* fall through */
    case ST_AUTH:
        rc = libssh2_userauth_publickey_fromfile_ex(s->session, s->user,
                                                    (unsigned)strlen(s->user), NULL, s->key,
                                                    NULL);
        AGAIN_OR_FAIL(rc, "public key authentication");
        log_debug("%s port %d: ssh %s, %s, %s", s->host, s->o.port,
                  libssh2_session_methods(s->session, LIBSSH2_METHOD_KEX),
                  libssh2_session_methods(s->session, LIBSSH2_METHOD_CRYPT_CS),
                  libssh2_session_methods(s->session, LIBSSH2_METHOD_MAC_CS));
        if (!s->o.command) {
            s->stage = ST_DONE;
            return HS_SSH_DONE;
        }
        s->stage = ST_OPEN;
    /* fall through */
    case ST_OPEN:
        s->channel = libssh2_channel_open_ex(s->session, "session", 7, 4 * 1024 * 1024,
                                             LIBSSH2_CHANNEL_PACKET_DEFAULT, NULL, 0);
        if (!s->channel) {
            rc = libssh2_session_last_errno(s->session);
            AGAIN_OR_FAIL(rc, "open channel");
        }
        s->stage = ST_EXEC;
    /* fall through */
    case ST_EXEC:
        rc = libssh2_channel_exec(s->channel, s->command);
        AGAIN_OR_FAIL(rc, "exec");
        s->stage = ST_DONE;
    /* fall through */
    case ST_DONE:
        return HS_SSH_DONE;
    }
    return HS_SSH_ERROR;
}

int hs_ssh_fd(const struct hs_ssh *s)
{
    return s->fd;
}

uint32_t hs_ssh_events(const struct hs_ssh *s)
{
    if (s->stage == ST_CONNECT)
        return EPOLLOUT;
    int dir = s->session ? libssh2_session_block_directions(s->session) : 0;
    uint32_t ev = EPOLLIN;
    if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
        ev |= EPOLLOUT;
    return ev;
}

LIBSSH2_SESSION *hs_ssh_session(const struct hs_ssh *s)
{
    return s->session;
}

LIBSSH2_CHANNEL *hs_ssh_channel(const struct hs_ssh *s)
{
    return s->channel;
}

void hs_ssh_free(struct hs_ssh *s)
{
    if (!s)
        return;
    /*
     * Nonblocking libssh2 would answer EAGAIN and keep its memory while it waits for a
     * peer that may be dead: say goodbye once (best effort), shut the socket down so every
     * further send/recv fails at once, then free.
     */
    if (s->session)
        libssh2_session_disconnect(s->session, "bye");
    if (s->fd >= 0)
        shutdown(s->fd, SHUT_RDWR);
    if (s->channel)
        for (int i = 0; i < 3 && libssh2_channel_free(s->channel) == LIBSSH2_ERROR_EAGAIN; i++)
            ;
    if (s->session)
        for (int i = 0; i < 3 && libssh2_session_free(s->session) == LIBSSH2_ERROR_EAGAIN; i++)
            ;
    heap_release(s);
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

struct hs_ssh *hs_ssh_connect_wait(const struct hs_ssh_opts *o, int timeout_ms, char *err,
                                   size_t errlen)
{
    struct hs_ssh *s = hs_ssh_new(o, err, errlen);
    if (!s)
        return NULL;
    int64_t deadline = now_ns() + (int64_t)timeout_ms * NS_PER_MS;
    for (;;) {
        int rc = hs_ssh_step(s, err, errlen);
        if (rc == HS_SSH_DONE)
            return s;
        if (rc == HS_SSH_ERROR)
            break;
        int64_t left = (deadline - now_ns()) / NS_PER_MS;
        if (left <= 0) {
            snprintf(err, errlen, "%s port %d: timed out", s->host, s->o.port);
            break;
        }
        uint32_t ev = hs_ssh_events(s);
        struct pollfd p = {.fd = s->fd,
                           .events = (short)((ev & EPOLLIN ? POLLIN : 0) |
                                             (ev & EPOLLOUT ? POLLOUT : 0))};
        poll(&p, 1, (int)left);
    }
    hs_ssh_free(s);
    return NULL;
}
