/*
 * peers.c: whom the active pushes to. [sync] peers when it names any; when it is empty
 * (DESIGN §9) every other node registered in hs_node, at its address, port 22.
 *
 * The daemon learns that list from this node's watchd, which holds the database session
 * (watchd/peers.c): it connects to watchd's control socket, says hello as "syncd" and
 * gets {"event":"peers","peers":[{"node":..,"address":..},...]} at once and after every
 * change of hs_node. So the resident process keeps no database session and does not map
 * libpq at all (common/pq_lazy.h). When watchd is away (stopped, restarting, frozen) the
 * last list stays and syncd connects again every WATCHD_RETRY_NS; it says so in the log.
 * Whatever arrives is checked as input: a malformed message or entry changes nothing.
 * `syncd --once` (cron) reads hs_node itself, so it works without watchd.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"
#include "db.h"
#include "log.h"
#include "loop.h"
#include "syncd.h"

#define WATCHD_RETRY_NS (1 * NS_PER_SEC)
#define WATCHD_REFUSED_RETRY_NS (10 * NS_PER_SEC)   /* an older watchd without the hello */
#define PEERS_WAIT_NS (10 * NS_PER_SEC)   /* connected, no list yet: say so after this */
#define ONCE_TIMEOUT_MS 5000

static const char peers_sql[] =
    "SELECT node, coalesce(address, '') FROM hs_node WHERE cluster = $1 AND node <> $2 "
    "ORDER BY node";

static int same_peer(const struct conf_peer *a, const struct conf_peer *b)
{
    return !strcmp(a->node, b->node) && !strcmp(a->host, b->host) && a->port == b->port;
}

static int wanted(const struct conf_peer *cp, const struct conf_peer *want, int n)
{
    for (int i = 0; i < n; i++)
        if (same_peer(cp, &want[i]))
            return 1;
    return 0;
}

static void drop_peer(struct syncd *sd, int i, const char *why)
{
    struct peer *p = sd->peers[i];
    log_info("peer %s (%s): %s; no longer a peer", p->cp.node, p->cp.host, why);
    sync_peer_free(p);
    memmove(&sd->peers[i], &sd->peers[i + 1], (size_t)(sd->npeers - i - 1) * sizeof(sd->peers[0]));
    sd->npeers--;
}

/* Makes sd->peers the list want: gone or moved peers go, new ones start if active. */
static void apply(struct syncd *sd, const struct conf_peer *want, int n)
{
    for (int i = sd->npeers - 1; i >= 0; i--)
        if (!wanted(&sd->peers[i]->cp, want, n))
            drop_peer(sd, i, "not in hs_node any more, or at another address");
    for (int j = 0; j < n; j++) {
        int have = 0;
        for (int i = 0; i < sd->npeers && !have; i++)
            have = same_peer(&sd->peers[i]->cp, &want[j]);
        if (have || sd->npeers >= CONF_MAX_LIST)
            continue;
        struct peer *p = sync_peer_new(sd, &want[j]);
        if (!p)
            continue;
        sd->peers[sd->npeers++] = p;
        log_info("peer %s: registered in hs_node at %s; pushing to it on port %d", p->cp.node,
                 p->cp.host, p->cp.port);
        if (sd->active)
            sync_peer_start(p);   /* its HELLO_OK queues a full reconcile */
    }
}

/* A list entry to a peer; one that cannot be a peer is logged and left out. */
static int add_want(struct syncd *sd, struct conf_peer *want, int n, const char *node,
                    const char *addr, const char *from)
{
    char why[160];
    if (n == CONF_MAX_LIST) {
        log_warnx("%s: more than %d peers; %s is left out", from, CONF_MAX_LIST, node);
        return n;
    }
    if (conf_peer_make(&want[n], node, addr, why, sizeof(why)) < 0) {
        log_warnx("%s: not a peer: %s", from, why);
        return n;
    }
    return strcmp(want[n].node, sd->conf.node) ? n + 1 : n;   /* never ourselves */
}

/* ---- the daemon: the list from watchd ---- */

static void watchd_retry(struct syncd *sd, int64_t after_ns)
{
    loop_timer_after(sd->peers_timer, after_ns);
}

static void watchd_close(struct syncd *sd, const char *why, int64_t retry_ns)
{
    loop_del_fd(sd->loop, sd->watchd_fd);
    close(sd->watchd_fd);
    sd->watchd_fd = -1;
    log_warnx("watchd: %s; keeping the %d peers known, connecting again every %d s", why,
              sd->npeers, (int)(retry_ns / NS_PER_SEC));
    sd->watchd_down_logged = 1;
    watchd_retry(sd, retry_ns);
}

/* {"event":"peers","peers":[{"node":"b","address":"192.0.2.2"},...]} */
static void peers_event(struct syncd *sd, json_t *msg)
{
    json_t *list = json_object_get(msg, "peers"), *e;
    if (!json_is_array(list)) {
        log_warnx("watchd: a peer list without \"peers\": [...]; ignored, keeping %d peers",
                  sd->npeers);
        return;
    }
    static struct conf_peer want[CONF_MAX_LIST];
    int n = 0;
    size_t i;
    json_array_foreach(list, i, e) {
        const char *node = json_string_value(json_object_get(e, "node"));
        const char *addr = json_string_value(json_object_get(e, "address"));
        if (!node || !addr) {
            log_warnx("watchd: peer list entry %zu is not {\"node\":..,\"address\":..}; "
                      "left out", i + 1);
            continue;
        }
        n = add_want(sd, want, n, node, addr, "watchd's peer list");
    }
    if (!sd->peers_known)
        log_info("watchd: peer list received: %d peer%s", n, n == 1 ? "" : "s");
    sd->peers_known = 1;
    loop_timer_stop(sd->peers_timer);
    apply(sd, want, n);
}

static void watchd_message(struct syncd *sd, json_t *msg)
{
    const char *event = json_string_value(json_object_get(msg, "event"));
    json_t *ok = json_object_get(msg, "ok");
    if (event && !strcmp(event, "peers")) {
        peers_event(sd, msg);
    } else if (ok && !json_is_true(ok)) {
        const char *err = json_string_value(json_object_get(msg, "error"));
        char why[320];
        snprintf(why, sizeof(why), "refused the hello: %.256s", err ? err : "no reason given");
        watchd_close(sd, why, WATCHD_REFUSED_RETRY_NS);
    } else if (!ok) {
        log_debug("watchd: message ignored (not a peer list)");
    }
}

static void on_watchd(void *arg, int fd, uint32_t events)
{
    struct syncd *sd = arg;
    for (int i = 0; i < 16 && sd->watchd_fd == fd; i++) {   /* bounded: the loop goes on */
        char err[256];
        json_t *msg = NULL;
        int rc = ctl_recv_nowait(fd, &msg, err, sizeof(err));
        if (rc == 0)
            return;
        if (rc < 0) {
            watchd_close(sd, errno == 0 ? "went away" : strerror(errno), WATCHD_RETRY_NS);
            return;
        }
        if (!msg) {
            log_warnx("watchd: bad message ignored: %s", err);
            continue;
        }
        watchd_message(sd, msg);
        json_decref(msg);
    }
}

static void connect_watchd(struct syncd *sd)
{
    char path[CONF_STR + 32];
    conf_sock_path(&sd->conf, "watchd", path, sizeof(path));
    int fd = ctl_connect(path);
    if (fd < 0) {
        if (!sd->watchd_down_logged)
            log_warnx("watchd: %s: %s; %s, connecting again every %d s", path, strerror(errno),
                      sd->peers_known ? "keeping the peers known" : "no peers until it answers",
                      (int)(WATCHD_RETRY_NS / NS_PER_SEC));
        sd->watchd_down_logged = 1;
        watchd_retry(sd, WATCHD_RETRY_NS);
        return;
    }
    /* never wait on a stopped watchd: a hello its buffer cannot take is sent again */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    json_t *hello = json_pack("{s:s,s:s,s:I}", "cmd", "hello", "daemon", "syncd", "pid",
                              (json_int_t)getpid());
    int rc = ctl_send(fd, hello);
    json_decref(hello);
    if (rc < 0 || loop_add_fd(sd->loop, fd, EPOLLIN, on_watchd, sd) < 0) {
        close(fd);
        watchd_retry(sd, WATCHD_RETRY_NS);
        return;
    }
    sd->watchd_fd = fd;
    sd->watchd_down_logged = 0;
    log_info("watchd: connected to %s; waiting for the peer list (hs_node)", path);
    watchd_retry(sd, PEERS_WAIT_NS);
}

/* Not connected: connect. Connected and no list yet for PEERS_WAIT_NS: say so, wait on. */
static void on_peers_timer(void *arg)
{
    struct syncd *sd = arg;
    if (sd->watchd_fd < 0) {
        connect_watchd(sd);
        return;
    }
    log_warnx("watchd: no peer list after %d s (watchd busy or stopped, or the database "
              "away); keeping %d peers, waiting", (int)(PEERS_WAIT_NS / NS_PER_SEC), sd->npeers);
    watchd_retry(sd, PEERS_WAIT_NS);
}

int sync_peers_from_db(const struct conf *c)
{
    return c->n_sync_peers == 0;
}

void sync_peers_watch(struct syncd *sd)
{
    sd->watchd_fd = -1;
    if (!sync_peers_from_db(&sd->conf))
        return;
    sd->peers_timer = loop_timer_new(sd->loop, on_peers_timer, sd);
    connect_watchd(sd);
}

void sync_peers_unwatch(struct syncd *sd)
{
    if (sd->watchd_fd >= 0) {
        loop_del_fd(sd->loop, sd->watchd_fd);
        close(sd->watchd_fd);
    }
    sd->watchd_fd = -1;
    if (sd->peers_timer)
        loop_timer_free(sd->peers_timer);
    sd->peers_timer = NULL;
}

/* ---- --once: hs_node itself (blocking) ---- */

int sync_peers_load(struct syncd *sd, char *err, size_t errlen)
{
    if (!sync_peers_from_db(&sd->conf))
        return 0;
    PGconn *conn = db_connect_wait(sd->conf.database, ONCE_TIMEOUT_MS, err, errlen);
    if (!conn)
        return -1;
    const char *params[] = {sd->conf.cluster, sd->conf.node};
    PGresult *r = db_exec_wait(conn, peers_sql, 2, params, ONCE_TIMEOUT_MS, err, errlen);
    PQfinish(conn);
    if (!r)
        return -1;
    static struct conf_peer want[CONF_MAX_LIST];
    int n = 0;
    for (int i = 0; i < PQntuples(r); i++)
        n = add_want(sd, want, n, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), "hs_node");
    apply(sd, want, n);
    PQclear(r);
    return 0;
}
