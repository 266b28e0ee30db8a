/* ctl.h: control sockets (DESIGN §4): SOCK_SEQPACKET, one JSON object per message. */
#ifndef HS_CTL_H
#define HS_CTL_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#define CTL_MAX_MSG 65536
/* Per server socket: connections held at once, and how long one may stay silent. */
#define CTL_MAX_CONNS 32
#define CTL_IDLE_TIMEOUT_NS (INT64_C(10) * 1000000000)

struct loop;
struct ctl_server;
struct ctl_conn;

/*
 * Called for every valid request (a JSON object with a string "cmd").
 * The handler answers with ctl_reply/ctl_error (now or later, while conn lives).
 * Malformed messages never reach it: the server answers them with an error itself.
 */
typedef void (*ctl_request_cb)(void *arg, struct ctl_conn *conn, json_t *req, const char *cmd);
/* Called when a client sends an unsolicited "event" message (e.g. heartbeatd -> watchd). */
typedef void (*ctl_event_cb)(void *arg, struct ctl_conn *conn, json_t *msg, const char *event);
typedef void (*ctl_close_cb)(void *arg, struct ctl_conn *conn);

struct ctl_handlers {
    ctl_request_cb request;
    ctl_event_cb event;   /* may be NULL */
    ctl_close_cb close;   /* may be NULL */
    void *arg;
};

/* Creates the socket at path (mode 0600), accepting peers with uid 0 or allowed_uid. */
struct ctl_server *ctl_server_open(struct loop *l, const char *path, uid_t allowed_uid,
                                   const struct ctl_handlers *h);
void ctl_server_close(struct ctl_server *s);
/* Overrides CTL_MAX_CONNS and CTL_IDLE_TIMEOUT_NS (tests). */
void ctl_server_limits(struct ctl_server *s, int max_conns, int64_t idle_timeout_ns);

/* Reply to req (copies its "id"). ok=true plus the fields of body (may be NULL; stolen). */
void ctl_reply(struct ctl_conn *c, json_t *req, json_t *body);
void ctl_error(struct ctl_conn *c, json_t *req, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Send any message (e.g. an event or a command) to one connection. */
int ctl_conn_send(struct ctl_conn *c, json_t *msg);
/* A reply that comes later (after a query) holds the connection; if the peer goes
 * meanwhile, sends fail quietly and the memory lives until the release. */
void ctl_conn_hold(struct ctl_conn *c);
void ctl_conn_release(struct ctl_conn *c);
/* A daemon's long-lived connection (heartbeatd's hello): exempt from the idle timeout. */
void ctl_conn_keep(struct ctl_conn *c);
/* The peer's uid from SO_PEERCRED. */
uid_t ctl_conn_uid(const struct ctl_conn *c);

/*
 * Message validation, shared by server and client and driven by the fuzzer:
 * parses buf into a JSON object; returns NULL and fills err if it is not one.
 */
json_t *ctl_parse(const char *buf, size_t len, char *err, size_t errlen);

/*
 * Client side (blocking, with timeouts; for vipctl and for daemons talking to daemons).
 * ctl_connect_until retries a peer whose backlog is full until deadline_ns (CLOCK_BOOTTIME;
 * ETIMEDOUT then); ctl_connect tries once and never waits (for event loops). Both return a
 * blocking fd or -1 (errno set).
 */
int ctl_connect_until(const char *path, int64_t deadline_ns);
int ctl_connect(const char *path);
int ctl_send(int fd, json_t *msg);                    /* 0 or -1 */
json_t *ctl_recv(int fd, int timeout_ms);             /* next message, or NULL */
/* For an event loop: the next datagram now, never waiting. Returns 1 with *msg (NULL for a
 * malformed one, err says why), 0 when none is waiting, -1 when the peer is gone (errno;
 * 0 for an orderly close). */
int ctl_recv_nowait(int fd, json_t **msg, char *err, size_t errlen);
/* Sends req (adds an "id"), returns the reply with that id (events in between are dropped). */
json_t *ctl_call(const char *path, json_t *req, int timeout_ms, char *err, size_t errlen);

/*
 * The same on an event loop: cb gets the reply (borrowed) or NULL and a reason.
 * Returns -1 (errno set) if the socket cannot be reached; cb is then not called.
 */
typedef void (*ctl_reply_cb)(void *arg, json_t *reply, const char *err);
/* Number of ctl_call_async calls not yet answered or timed out (in this process). */
int ctl_async_pending(void);
int ctl_call_async(struct loop *l, const char *path, json_t *req, int64_t timeout_ns,
                   ctl_reply_cb cb, void *arg);

#endif
