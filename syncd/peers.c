/*
 * peers.c: whom the active pushes to. [sync] peers when it names any; when it is empty
 * (DESIGN §9) every other node registered in hs_node, at its address, port 22. That list
 * is read again when hs_node announces a change of the cluster's nodes (the schema's
 * hs_node_notify), after every (re)connect to the database and every PEERS_REFRESH_NS (in
 * case a notification was lost), so a node that registers (hotstandby-clone) becomes a peer
 * at once and one removed by `vipctl forget` stops being one. While the database is away
 * the last list stays.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "log.h"
#include "loop.h"
#include "syncd.h"

#define PEERS_REFRESH_NS (5 * NS_PER_SEC)
#define PEERS_QUERY_TIMEOUT_NS (5 * NS_PER_SEC)
#define SSH_PORT 22

static const char peers_sql[] =
    "SELECT node, address FROM hs_node WHERE cluster = $1 AND node <> $2 ORDER BY node";

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

/* Rows (node, address) to peers; a row without an address cannot be reached. */
static int from_rows(const PGresult *res, struct conf_peer *want)
{
    int n = 0;
    for (int r = 0; r < PQntuples(res) && n < CONF_MAX_LIST; r++) {
        const char *node = PQgetvalue(res, r, 0), *addr = PQgetvalue(res, r, 1);
        if (!addr[0] || strlen(node) >= sizeof(want[n].node) ||
            strlen(addr) >= sizeof(want[n].host)) {
            log_warnx("hs_node: node '%s' has no usable address; not a peer", node);
            continue;
        }
        snprintf(want[n].node, sizeof(want[n].node), "%s", node);
        snprintf(want[n].host, sizeof(want[n].host), "%s", addr);
        want[n].port = SSH_PORT;
        n++;
    }
    return n;
}

static void peers_read(void *arg, PGresult *res, const char *err)
{
    struct syncd *sd = arg;
    if (!res) {
        log_warnx("hs_node: reading the peers failed: %s; keeping %d", err ? err : "?",
                  sd->npeers);
        return;
    }
    static struct conf_peer want[CONF_MAX_LIST];
    apply(sd, want, from_rows(res, want));
}

static void refresh(struct syncd *sd)
{
    const char *params[] = {sd->conf.cluster, sd->conf.node};
    db_query(sd->db, peers_sql, 2, params, peers_read, sd);   /* not connected: next time */
}

static void on_refresh_timer(void *arg)
{
    struct syncd *sd = arg;
    refresh(sd);
    loop_timer_after(sd->peers_timer, PEERS_REFRESH_NS);
}

static void on_notify(void *arg, const char *channel, const char *payload)
{
    struct syncd *sd = arg;
    if (strcmp(channel, "hs_node") || !payload || strcmp(payload, sd->conf.cluster))
        return;
    log_debug("hs_node: the nodes changed; reading the peers again");
    refresh(sd);
}

static void on_db_state(void *arg, int connected, const char *why)
{
    struct syncd *sd = arg;
    if (connected)
        refresh(sd);
}

int sync_peers_from_db(const struct conf *c)
{
    return c->n_sync_peers == 0;
}

void sync_peers_watch(struct syncd *sd)
{
    if (!sync_peers_from_db(&sd->conf))
        return;
    sd->db = db_new(sd->loop, sd->conf.database, PEERS_QUERY_TIMEOUT_NS);
    if (!sd->db) {
        log_warnx("cannot read the peers from hs_node (no database handle)");
        return;
    }
    db_set_callbacks(sd->db, on_db_state, on_notify, sd);
    db_listen(sd->db, "hs_node");
    sd->peers_timer = loop_timer_new(sd->loop, on_refresh_timer, sd);
    loop_timer_after(sd->peers_timer, PEERS_REFRESH_NS);
}

void sync_peers_unwatch(struct syncd *sd)
{
    if (sd->peers_timer)
        loop_timer_free(sd->peers_timer);
    sd->peers_timer = NULL;
    db_free(sd->db);
    sd->db = NULL;
}

int sync_peers_load(struct syncd *sd, char *err, size_t errlen)
{
    if (!sync_peers_from_db(&sd->conf))
        return 0;
    PGconn *conn = db_connect_wait(sd->conf.database, 5000, err, errlen);
    if (!conn)
        return -1;
    const char *params[] = {sd->conf.cluster, sd->conf.node};
    PGresult *r = db_exec_wait(conn, peers_sql, 2, params, 5000, err, errlen);
    PQfinish(conn);
    if (!r)
        return -1;
    static struct conf_peer want[CONF_MAX_LIST];
    apply(sd, want, from_rows(r, want));
    PQclear(r);
    return 0;
}
