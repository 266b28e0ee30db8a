/*
 * peers.c: the peer list of this node's syncd. With [sync] peers empty, syncd pushes to
 * every other node registered in hs_node, at its address, port 22 (DESIGN §9). syncd
 * keeps no database session for that (its resident process does not even map libpq,
 * common/pq_lazy.h): it says hello as "syncd" on our control socket, and we send it
 *   {"event":"peers","peers":[{"node":"b","address":"192.0.2.2"},...]}
 * at once when we know the list, and again whenever it changes. The list is read over
 * selfmon's connection (off the decision path) while a syncd listens: when hs_node
 * announces a change of the cluster's nodes (the schema's hs_node_notify), after each
 * (re)connect and every PEERS_REFRESH_NS in case a notification was lost. While the
 * database is away the last list stays. A send the socket does not take (a stopped
 * syncd) is tried again at the next read, so a syncd always ends with the latest list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ctl.h"
#include "db.h"
#include "log.h"
#include "loop.h"
#include "watchd.h"

#define PEERS_REFRESH_NS (5 * NS_PER_SEC)
#define PEERS_SUBSCRIBERS 4   /* a restarted syncd's old connection may linger a moment */
/* LIMIT: room for CONF_MAX_LIST usable rows among a few bad ones, and a bound on what a
 * hostile table can make us hold. The message stays far below CTL_MAX_MSG: at most
 * CONF_MAX_LIST entries of printable, unescaped text within conf_peer's sizes. */
static const char peers_sql[] = "SELECT node, coalesce(address, '') FROM hs_node "
                                "WHERE cluster = $1 AND node <> $2 ORDER BY node LIMIT 64";

struct subscriber {
    struct ctl_conn *conn;
    int unsent;                    /* the latest list did not go out: try again */
};

struct peerlist {
    struct watchd *wd;
    struct db *db;                 /* selfmon's connection */
    struct loop_timer *timer;
    struct subscriber subs[PEERS_SUBSCRIBERS];
    int n_subs;
    int known;                     /* list holds a read of hs_node */
    int inflight;
    int freed;                     /* peerlist_free came while a read was in flight */
    struct conf_peer list[CONF_MAX_LIST];
    int n;
    char skipped[512];             /* rows left out at the last read, as logged */
};

static json_t *message(const struct peerlist *pl)
{
    json_t *a = json_array();
    for (int i = 0; i < pl->n; i++)
        json_array_append_new(a, json_pack("{s:s,s:s}", "node", pl->list[i].node, "address",
                                           pl->list[i].host));
    return json_pack("{s:s,s:o}", "event", "peers", "peers", a);
}

static void send_to(struct peerlist *pl, struct subscriber *s, json_t *msg)
{
    s->unsent = ctl_conn_send(s->conn, msg) < 0;
    if (s->unsent)
        log_debug("peers: syncd did not take the peer list; trying again in %d s",
                  (int)(PEERS_REFRESH_NS / NS_PER_SEC));
}

/* Sends the list to every subscriber (all = 0: only those that missed the latest). */
static void publish(struct peerlist *pl, int all)
{
    if (!pl->known)
        return;
    json_t *msg = message(pl);
    for (int i = 0; i < pl->n_subs; i++)
        if (all || pl->subs[i].unsent)
            send_to(pl, &pl->subs[i], msg);
    json_decref(msg);
}

/* Rows (node, address) to peers; a row that cannot be a peer is named in skipped. */
static int from_rows(const PGresult *res, struct conf_peer *want, char *skipped, size_t len)
{
    int n = 0;
    *skipped = '\0';
    for (int r = 0; r < PQntuples(res); r++) {
        const char *node = PQgetvalue(res, r, 0), *addr = PQgetvalue(res, r, 1);
        char why[160];
        size_t l = strlen(skipped);
        if (n == CONF_MAX_LIST)
            snprintf(why, sizeof(why), "more than %d peers", CONF_MAX_LIST);
        else if (conf_peer_make(&want[n], node, addr, why, sizeof(why)) == 0) {
            n++;
            continue;
        }
        snprintf(skipped + l, len - l, "%srow %d (%.64s): %s", l ? "; " : "", r + 1, node, why);
    }
    return n;
}

static int same_list(const struct peerlist *pl, const struct conf_peer *want, int n)
{
    if (n != pl->n)
        return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(want[i].node, pl->list[i].node) || strcmp(want[i].host, pl->list[i].host))
            return 0;
    return 1;
}

static void read_done(void *arg, PGresult *res, const char *err)
{
    struct peerlist *pl = arg;
    pl->inflight = 0;
    if (pl->freed) {   /* the connection's db_free failed this read: the last to hold pl */
        free(pl);
        return;
    }
    if (!res) {
        log_debug("peers: reading hs_node failed: %s; syncd keeps the last list", err);
        return;
    }
    struct conf_peer want[CONF_MAX_LIST];
    char skipped[sizeof(pl->skipped)];
    int n = from_rows(res, want, skipped, sizeof(skipped));
    if (strcmp(skipped, pl->skipped)) {
        if (*skipped)
            log_warnx("hs_node: not a peer for syncd: %s", skipped);
        snprintf(pl->skipped, sizeof(pl->skipped), "%s", skipped);
    }
    if (pl->known && same_list(pl, want, n)) {
        publish(pl, 0);
        return;
    }
    memcpy(pl->list, want, sizeof(want[0]) * (size_t)n);
    pl->n = n;
    pl->known = 1;
    log_info("peers: %d other node%s in hs_node; telling syncd", n, n == 1 ? "" : "s");
    publish(pl, 1);
}

static void refresh(struct peerlist *pl)
{
    if (pl->n_subs == 0 || pl->inflight)
        return;
    const char *params[] = {pl->wd->conf.cluster, pl->wd->conf.node};
    if (db_query(pl->db, peers_sql, 2, params, read_done, pl) == 0)   /* else: next time */
        pl->inflight = 1;
}

static void on_timer(void *arg)
{
    struct peerlist *pl = arg;
    loop_timer_after(pl->timer, PEERS_REFRESH_NS);
    refresh(pl);
}

static void on_notify(void *arg, const char *channel, const char *payload)
{
    struct peerlist *pl = arg;
    if (strcmp(channel, "hs_node") || !payload || strcmp(payload, pl->wd->conf.cluster))
        return;
    log_debug("hs_node: the nodes changed; reading syncd's peers again");
    refresh(pl);
}

static void on_db_state(void *arg, int connected, const char *why)
{
    if (connected)
        refresh(arg);
}

struct peerlist *peerlist_new(struct watchd *wd, struct db *db)
{
    struct peerlist *pl = calloc(1, sizeof(*pl));
    if (!pl)
        fatal("calloc");
    pl->wd = wd;
    pl->db = db;
    db_set_callbacks(db, on_db_state, on_notify, pl);
    db_listen(db, "hs_node");
    pl->timer = loop_timer_new(wd->loop, on_timer, pl);
    loop_timer_after(pl->timer, PEERS_REFRESH_NS);
    return pl;
}

void peerlist_free(struct peerlist *pl)
{
    if (!pl)
        return;
    db_set_callbacks(pl->db, NULL, NULL, NULL);
    loop_timer_free(pl->timer);
    pl->n_subs = 0;
    if (pl->inflight)
        pl->freed = 1;   /* read_done frees it when the query ends (db_free fails it) */
    else
        free(pl);
}

/* hello from syncd: it gets the list now if we have one, and a fresh read follows. */
int peerlist_subscribe(struct peerlist *pl, struct ctl_conn *c, char *err, size_t errlen)
{
    for (int i = 0; i < pl->n_subs; i++)
        if (pl->subs[i].conn == c) {   /* a second hello: the list again, no second entry */
            pl->subs[i].unsent = 1;
            return 0;
        }
    if (pl->n_subs == PEERS_SUBSCRIBERS) {
        snprintf(err, errlen, "%d syncd connections already wait for the peer list",
                 PEERS_SUBSCRIBERS);
        return -1;
    }
    struct subscriber *s = &pl->subs[pl->n_subs++];
    *s = (struct subscriber){.conn = c, .unsent = 1};
    ctl_conn_keep(c);
    return 0;
}

/* After the hello's reply: the list (if known), then a read for the latest. */
void peerlist_welcome(struct peerlist *pl)
{
    publish(pl, 0);
    refresh(pl);
}

void peerlist_closed(struct peerlist *pl, struct ctl_conn *c)
{
    if (!pl)
        return;
    for (int i = 0; i < pl->n_subs; i++)
        if (pl->subs[i].conn == c) {
            pl->subs[i] = pl->subs[--pl->n_subs];
            log_info("peers: syncd disconnected");
            return;
        }
}
