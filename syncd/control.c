/*
 * control.c: syncd's control socket verbs (DESIGN §4): role (from watchd), flush (before a
 * planned switchover), status (for vipctl status), reconcile. See syncd.8 for the replies.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"
#include "log.h"
#include "loop.h"
#include "syncd.h"

struct flush_wait {
    struct flush_wait *next;
    struct syncd *sd;
    struct ctl_conn *conn;
    json_t *req;
    struct loop_timer *timer;
    int64_t deadline_ns;
    uint64_t barrier;              /* inotify marker to wait for, 0 = wait for quiet */
    int barrier_tried;
};

/* ---- flush ---- */

#define FLUSH_POLL_NS (20 * NS_PER_MS)

/*
 * Flushed: the flush's marker file came through the inotify queue (or, without one, the
 * reader has been quiet for FLUSH_POLL_NS), so every earlier change is queued, and every peer that is connected or connecting has nothing pending
 * and nothing unacknowledged. Unreachable peers (backing off) are not waited for; the
 * reply names them.
 */
static int all_idle(struct syncd *sd)
{
    for (int i = 0; i < sd->npeers; i++) {
        struct peer *p = sd->peers[i];
        if (p->state == PS_CONNECTING || p->state == PS_HELLO ||
            (p->state == PS_READY && !sync_peer_idle(p)))
            return 0;
    }
    return 1;
}

static uint64_t send_barrier(struct syncd *sd);

/* Pure as to the list of waits: the caller drains the watch first (draining can end or
 * free waits: the events it hands on reach the peers, whose progress ends flushes). */
static int flushed(struct syncd *sd, struct flush_wait *f)
{
    if (!sd->watch_ready)
        return 0;
    if (!f->barrier_tried) {   /* only once the watches exist can the marker be seen */
        f->barrier_tried = 1;
        f->barrier = send_barrier(sd);
        if (f->barrier)
            return 0;
    }
    if (f->barrier ? sd->barrier_seen < f->barrier
                   : now_ns() - sd->last_event_ns < FLUSH_POLL_NS)
        return 0;
    return all_idle(sd);
}

/*
 * A marker file created in the first sync path: when the reader thread sees its event,
 * every change made before the flush request has come out of the kernel's queue.
 * Returns the marker's sequence number, or 0 (then flush waits for FLUSH_POLL_NS of quiet).
 */
static uint64_t send_barrier(struct syncd *sd)
{
    if (!sd->watch || sd->tree.n == 0)
        return 0;
    char name[96];
    uint64_t seq = ++sd->barrier_sent;
    snprintf(name, sizeof(name), "%s%lu-%llu", SYNC_FLUSH_PREFIX, (unsigned long)getpid(),
             (unsigned long long)seq);
    int dfd = sd->tree.d[0].fd;
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return 0;
    close(fd);
    unlinkat(dfd, name, 0);
    return seq;
}

static json_t *unreachable_peers(struct syncd *sd)
{
    json_t *a = json_array();
    for (int i = 0; i < sd->npeers; i++)
        if (sd->peers[i]->state == PS_BACKOFF || sd->peers[i]->state == PS_IDLE)
            json_array_append_new(a, json_string(sd->peers[i]->cp.node));
    return a;
}

static void flush_done(struct flush_wait *f, const char *error)
{
    struct syncd *sd = f->sd;
    for (struct flush_wait **pp = &sd->flushes; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    if (error)
        ctl_error(f->conn, f->req, "%s", error);
    else
        ctl_reply(f->conn, f->req, json_pack("{s:o}", "unreachable", unreachable_peers(sd)));
    ctl_conn_release(f->conn);
    json_decref(f->req);
    loop_timer_free(f->timer);
    free(f);
}

static int still_waiting(const struct syncd *sd, const struct flush_wait *f)
{
    for (const struct flush_wait *w = sd->flushes; w; w = w->next)
        if (w == f)
            return 1;
    return 0;
}

static void flush_check(void *arg)
{
    struct flush_wait *f = arg;
    struct syncd *sd = f->sd;
    sync_watch_drain(sd->watch);
    if (!still_waiting(sd, f))   /* the drain's progress answered it (and freed it) */
        return;
    if (flushed(sd, f)) {
        flush_done(f, NULL);
        return;
    }
    if (now_ns() < f->deadline_ns) {
        loop_timer_after(f->timer, FLUSH_POLL_NS);
        return;
    }
    char msg[512] = "flush timed out:";
    for (int i = 0; i < sd->npeers; i++) {
        struct peer *p = sd->peers[i];
        size_t l = strlen(msg);
        if (p->state == PS_READY && !sync_peer_idle(p))
            snprintf(msg + l, sizeof(msg) - l, " %s has %zu queued%s;", p->cp.node,
                     sync_peer_queue_len(p), p->batch_open ? " and a batch unacknowledged" : "");
        else if (p->state == PS_CONNECTING || p->state == PS_HELLO)
            snprintf(msg + l, sizeof(msg) - l, " %s is still connecting;", p->cp.node);
    }
    flush_done(f, msg);
}

void syncd_peer_progress(struct syncd *sd, struct peer *p)
{
    for (struct flush_wait *f = sd->flushes, *next; f; f = next) {
        next = f->next;
        if (flushed(sd, f))
            flush_done(f, NULL);
    }
    if (sd->once) {
        for (int i = 0; i < sd->npeers; i++)
            if (!sd->peers[i]->once_done)
                return;
        loop_stop(sd->loop);
    }
}

static void cmd_flush(struct syncd *sd, struct ctl_conn *conn, json_t *req)
{
    if (!sd->active) {
        ctl_reply(conn, req, json_pack("{s:s}", "role", "standby"));
        return;
    }
    json_int_t timeout_ms = json_integer_value(json_object_get(req, "timeout_ms"));
    if (timeout_ms <= 0)
        timeout_ms = 5000;
    sync_watch_drain(sd->watch);
    for (int i = 0; i < sd->npeers; i++) {
        struct peer *p = sd->peers[i];
        if (p->state == PS_READY && p->pending.n) {
            p->batch_start_ns = -sd->conf.sync_delay_ns;   /* no coalescing delay */
            sync_peer_kick(p);
        }
    }
    struct flush_wait *f = calloc(1, sizeof(*f));
    if (!f) {
        ctl_error(conn, req, "out of memory");
        return;
    }
    f->sd = sd;
    f->conn = conn;
    f->req = json_incref(req);
    f->deadline_ns = now_ns() + (int64_t)timeout_ms * NS_PER_MS;
    ctl_conn_hold(conn);
    f->timer = loop_timer_new(sd->loop, flush_check, f);
    f->next = sd->flushes;
    sd->flushes = f;
    flush_check(f);
}

/* ---- control verbs ---- */

static const char *state_name(enum peer_state s)
{
    static const char *n[] = {"idle", "connecting", "hello", "ready", "backoff"};
    return n[s];
}

static void cmd_status(struct syncd *sd, struct ctl_conn *conn, json_t *req)
{
    json_t *peers = json_array();
    int64_t now = now_ns();
    for (int i = 0; i < sd->npeers; i++) {
        struct peer *p = sd->peers[i];
        json_t *o = json_pack("{s:s,s:b,s:s,s:I,s:I,s:I,s:I}", "node", p->cp.node,
                              "connected", p->state == PS_READY, "state", state_name(p->state),
                              "queue", (json_int_t)sync_peer_queue_len(p),
                              "sent", (json_int_t)p->st.sent, "deleted",
                              (json_int_t)p->st.deleted, "errors", (json_int_t)p->st.errors);
        if (p->last_ack_ns)
            json_object_set_new(o, "last_ack_ms_ago",
                                json_integer((now - p->last_ack_ns) / NS_PER_MS));
        json_object_set_new(o, "lag_ms",
                            json_integer(p->batch_open ? (now - p->batch_oldest_ns) / NS_PER_MS
                                                       : p->lag_ns / NS_PER_MS));
        if (p->last_error[0])
            json_object_set_new(o, "error", json_string(p->last_error));
        json_array_append_new(peers, o);
    }
    ctl_reply(conn, req, json_pack("{s:s,s:s,s:I,s:o,s:o}", "node", sd->conf.node, "role",
                                   sd->active ? "active" : "standby", "epoch",
                                   (json_int_t)sd->epoch, "peers", peers, "problems",
                                   sync_alert_problems(sd, now)));
}

void syncd_control_request(void *arg, struct ctl_conn *conn, json_t *req, const char *cmd)
{
    struct syncd *sd = arg;
    char err[512];
    if (!strcmp(cmd, "status")) {
        cmd_status(sd, conn, req);
    } else if (!strcmp(cmd, "role")) {
        const char *role = json_string_value(json_object_get(req, "role"));
        json_t *ep = json_object_get(req, "epoch");
        if (!role || (strcmp(role, "active") && strcmp(role, "standby")) ||
            !json_is_integer(ep) || json_integer_value(ep) < 0) {
            ctl_error(conn, req, "role needs \"role\":\"active\"|\"standby\" and \"epoch\" >= 0");
            return;
        }
        if (syncd_set_role(sd, !strcmp(role, "active"), (uint64_t)json_integer_value(ep), err,
                     sizeof(err)) < 0)
            ctl_error(conn, req, "%s", err);
        else
            ctl_reply(conn, req, NULL);
    } else if (!strcmp(cmd, "flush")) {
        cmd_flush(sd, conn, req);
    } else if (!strcmp(cmd, "reconcile")) {
        int content = json_is_true(json_object_get(req, "checksum"));
        for (int i = 0; sd->active && i < sd->npeers; i++)
            for (int j = 0; j < sd->conf.n_sync_paths; j++)
                if (sd->conf.sync_paths[j][1])
                    sync_peer_queue(sd->peers[i], OP_RECONCILE, sd->conf.sync_paths[j] + 1,
                                    content ? "checksum" : NULL);
        ctl_reply(conn, req, NULL);
    } else {
        ctl_error(conn, req, "unknown command '%s' (role, flush, status, reconcile)", cmd);
    }
}

void syncd_control_close(void *arg, struct ctl_conn *conn)
{
    struct syncd *sd = arg;
    for (struct flush_wait *f = sd->flushes, *next; f; f = next) {
        next = f->next;
        if (f->conn == conn)
            flush_done(f, "client went away");
    }
}

void syncd_flush_abort_all(struct syncd *sd, const char *why)
{
    while (sd->flushes)
        flush_done(sd->flushes, why);
}
