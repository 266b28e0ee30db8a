/*
 * cluster.c: the operator verbs on the cluster as a whole. They work from any node:
 * the local watchd is asked first (it answers at once and knows its own role), the
 * database directly when watchd is not running.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"
#include "db.h"
#include "log.h"
#include "sql.h"
#include "vipctl.h"

#define DB_TIMEOUT_MS 3000

static json_t *ask(const struct conf *c, const char *daemon, json_t *req, int timeout_ms,
                   char *err, size_t errlen)
{
    char path[512];
    conf_sock_path(c, daemon, path, sizeof(path));
    json_t *reply = ctl_call(path, req, timeout_ms, err, errlen);
    json_decref(req);
    return reply;
}

/* How long to wait for watchd's answer to a verb that changes the row: its query waits
 * for the server's answer (db_query_patient), at most a session's silence for the query
 * ahead of it and one for its own. A watchd that does not answer by then is not running
 * or hung: the verb then goes to the database directly. */
static int verb_wait_ms(const struct conf *c)
{
    return (int)(2 * db_silence_ns(conf_watchd_deadline_ns(c)) / NS_PER_MS) + 2000;
}

static PGconn *db_open(const struct conf *c, char *err, size_t errlen)
{
    return db_connect_wait(c->database, DB_TIMEOUT_MS, err, errlen);
}

static PGresult *q(PGconn *conn, const char *sql, int n, const char *const *params, char *err,
                   size_t errlen)
{
    return db_exec_wait(conn, sql, n, params, DB_TIMEOUT_MS, err, errlen);
}

/* ---- status ---- */

static void add_db_view(const struct conf *c, PGconn *conn, json_t *out)
{
    char err[512];
    const char *params[] = {c->cluster};
    PGresult *r = q(conn,
                    "SELECT coalesce(holder, ''), epoch, heartbeat, paused, "
                    " coalesce(handoff_to, ''), coalesce(active_version, ''), resume_requested "
                    "FROM hs_cluster WHERE cluster = $1",
                    1, params, err, sizeof(err));
    if (r && PQntuples(r) == 1) {
        json_object_set_new(out, "holder", json_string(PQgetvalue(r, 0, 0)));
        json_object_set_new(out, "epoch", json_integer(strtoll(PQgetvalue(r, 0, 1), NULL, 10)));
        json_object_set_new(out, "heartbeat",
                            json_integer(strtoll(PQgetvalue(r, 0, 2), NULL, 10)));
        json_object_set_new(out, "paused", json_boolean(PQgetvalue(r, 0, 3)[0] == 't'));
        json_object_set_new(out, "handoff_to", json_string(PQgetvalue(r, 0, 4)));
        json_object_set_new(out, "active_version", json_string(PQgetvalue(r, 0, 5)));
        json_object_set_new(out, "resume_pending", json_boolean(PQgetvalue(r, 0, 6)[0] == 't'));
    }
    if (r)
        PQclear(r);
    r = q(conn,
          "SELECT node, role, state, priority, version, address, "
          " round(extract(epoch FROM clock_timestamp() - seen_at)::numeric, 1)::float8 "
          "FROM hs_node WHERE cluster = $1 ORDER BY node",
          1, params, err, sizeof(err));
    json_t *nodes = json_array();
    for (int i = 0; r && i < PQntuples(r); i++)
        json_array_append_new(
            nodes, json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:f}", "name", PQgetvalue(r, i, 0), "role",
                             PQgetvalue(r, i, 1), "state", PQgetvalue(r, i, 2), "priority",
                             atoi(PQgetvalue(r, i, 3)), "version", PQgetvalue(r, i, 4), "address",
                             PQgetvalue(r, i, 5), "seen", atof(PQgetvalue(r, i, 6))));
    json_object_set_new(out, "nodes", nodes);
    if (r)
        PQclear(r);
}

static const char *holder_address(json_t *out)
{
    const char *holder = json_string_value(json_object_get(out, "holder"));
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(out, "nodes"), i, n)
        if (holder && strcmp(json_string_value(json_object_get(n, "name")), holder) == 0)
            return json_string_value(json_object_get(n, "address"));
    return NULL;
}

static void print_table(json_t *out)
{
    const char *s;
    printf("cluster    %s\n", json_string_value(json_object_get(out, "cluster")));
    printf("node       %s (%s)\n", json_string_value(json_object_get(out, "node")),
           (s = json_string_value(json_object_get(out, "role"))) ? s : "watchd not running");
    s = json_string_value(json_object_get(out, "holder"));
    printf("holder     %s, epoch %" JSON_INTEGER_FORMAT ", heartbeat %" JSON_INTEGER_FORMAT "\n",
           s && s[0] ? s : "(none)", json_integer_value(json_object_get(out, "epoch")),
           json_integer_value(json_object_get(out, "heartbeat")));
    if (json_is_true(json_object_get(out, "paused")))
        printf("PAUSED     no takeover and no fencing until `vipctl resume`\n");
    if ((s = json_string_value(json_object_get(json_object_get(out, "watchd"), "arbiter_risk"))))
        printf("ARBITER    RISK: %s\n", s);
    json_t *w = json_object_get(out, "watchd");
    const char *tm = w ? json_string_value(json_object_get(w, "timing_mismatch")) : NULL;
    if (tm)
        printf("TIMING     this node takes no part: %s (see `vipctl set-timing`)\n", tm);
    if (json_is_true(json_object_get(out, "resume_pending")))
        printf("PAUSED     resume requested: waiting for the active's renewal to commit it "
               "(if the active is down for good: `vipctl resume --force`)\n");
    if (json_object_get(out, "database_error"))
        printf("database   UNREACHABLE: %s\n",
               json_string_value(json_object_get(out, "database_error")));
    json_t *a = json_object_get(out, "address");
    if (a) {
        const char *type = json_string_value(json_object_get(a, "type"));
        const char *err = json_string_value(json_object_get(a, "error"));
        json_t *ok = json_object_get(a, "ok");
        printf("address    %s %s%s%s\n", type ? type : "",
               (s = json_string_value(json_object_get(a, "address"))) ? s
               : (s = json_string_value(json_object_get(a, "name"))) ? s : "",
               err ? ": error: " : ok ? (json_is_true(ok) ? ": as expected" : ": WRONG") : "",
               err ? err : "");
    }
    printf("\n%-12s %-10s %-10s %8s %-8s %s\n", "NODE", "ROLE", "STATE", "PRIORITY", "VERSION",
           "SEEN");
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(out, "nodes"), i, n)
        printf("%-12s %-10s %-10s %8d %-8s %.1fs ago\n",
               json_string_value(json_object_get(n, "name")),
               json_string_value(json_object_get(n, "role")),
               json_string_value(json_object_get(n, "state")),
               (int)json_integer_value(json_object_get(n, "priority")),
               json_string_value(json_object_get(n, "version")),
               json_real_value(json_object_get(n, "seen")));
    json_t *problems = json_object_get(out, "problems");
    if (json_array_size(problems) == 0)
        printf("\nproblems   none\n");
    else
        printf("\nPROBLEMS   %zu\n", json_array_size(problems));
    json_array_foreach(problems, i, n)
        printf("  %-22s on %s since %s (%" JSON_INTEGER_FORMAT " s): %s\n",
               json_string_value(json_object_get(n, "kind")),
               json_string_value(json_object_get(n, "node")),
               json_string_value(json_object_get(n, "since")),
               json_integer_value(json_object_get(n, "for_s")),
               json_string_value(json_object_get(n, "detail")));
    json_t *sync = json_object_get(out, "sync");
    json_array_foreach(json_object_get(sync, "peers"), i, n)
        printf("sync       -> %s: %s, queue %" JSON_INTEGER_FORMAT ", lag %" JSON_INTEGER_FORMAT
               " ms\n",
               json_string_value(json_object_get(n, "node")),
               json_is_true(json_object_get(n, "connected")) ? "connected" : "NOT CONNECTED",
               json_integer_value(json_object_get(n, "queue")),
               json_integer_value(json_object_get(n, "lag_ms")));
}

/* watchd's self-monitoring holds this node's problems (syncd's included); without watchd,
 * syncd's own list and the fact that watchd is not running. */
static void add_problems(json_t *out)
{
    json_t *w = json_object_get(out, "watchd");
    json_t *list = json_object_get(w, "problems");
    if (json_is_array(list)) {
        json_object_set(out, "problems", list);
        return;
    }
    list = json_array();
    const char *node = json_string_value(json_object_get(out, "node"));
    if (w == NULL)
        json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:I,s:s}", "kind",
                                              "watchd-not-running", "node", node, "since", "",
                                              "for_s", (json_int_t)0, "detail",
                                              "watchd does not answer on its control socket"));
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(json_object_get(out, "sync"), "problems"), i, p)
        json_array_append_new(list, json_pack("{s:O,s:s,s:s,s:I,s:O}", "kind",
                                              json_object_get(p, "kind"), "node", node, "since",
                                              "", "for_s", (json_int_t)0, "detail",
                                              json_object_get(p, "detail")));
    json_object_set_new(out, "problems", list);
}

int verb_status(const struct conf *c, int as_json)
{
    char err[512];
    json_t *out = json_pack("{s:s,s:s,s:s}", "cluster", c->cluster, "node", c->node,
                            "connection", connection_name(c->connection));
    int known = 0;

    json_t *w = ask(c, "watchd", json_pack("{s:s}", "cmd", "status"), 1000, err, sizeof(err));
    if (w) {
        json_object_set(out, "role", json_object_get(w, "role"));
        json_object_set(out, "watchd", w);
        json_decref(w);
        known = 1;
    }
    PGconn *conn = db_open(c, err, sizeof(err));
    if (conn) {
        add_db_view(c, conn, out);
        PQfinish(conn);
        known = 1;
    } else {
        json_object_set_new(out, "database_error", json_string(err));
        json_t *ws = json_object_get(out, "watchd");
        const char *keys[] = {"holder", "epoch", "heartbeat", "paused"};
        for (int i = 0; ws && i < 4; i++)
            json_object_set(out, keys[i], json_object_get(ws, keys[i]));
        json_object_set_new(out, "nodes", json_array());
    }
    if (!json_object_get(out, "role"))
        json_object_set_new(out, "role", json_string("stopped"));
    json_t *s = ask(c, "syncd", json_pack("{s:s}", "cmd", "status"), 500, err, sizeof(err));
    if (s) {
        json_object_set_new(out, "sync", s);
    }
    if (c->connection != CONN_NONE)
        address_status(c, json_string_value(json_object_get(out, "holder")), holder_address(out),
                       out);
    add_problems(out);
    if (as_json) {
        char *txt = json_dumps(out, JSON_COMPACT);
        puts(txt);
        free(txt);
    } else {
        print_table(out);
    }
    json_decref(out);
    if (!known)
        log_errx("status: neither watchd nor the database answers");
    return known ? EXIT_DONE : EXIT_FAILED;
}

/* ---- switchover ---- */

struct row {
    char holder[64];
    int64_t epoch;
    int paused;
};

static int read_row(const struct conf *c, PGconn *conn, struct row *row, char *err, size_t len)
{
    const char *params[] = {c->cluster};
    PGresult *r = q(conn, "SELECT coalesce(holder, ''), epoch, paused FROM hs_cluster "
                          "WHERE cluster = $1", 1, params, err, len);
    if (r == NULL)
        return -1;
    if (PQntuples(r) != 1) {
        snprintf(err, len, "cluster %s is not in the database (is watchd running?)", c->cluster);
        PQclear(r);
        return -1;
    }
    snprintf(row->holder, sizeof(row->holder), "%s", PQgetvalue(r, 0, 0));
    row->epoch = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    row->paused = PQgetvalue(r, 0, 2)[0] == 't';
    PQclear(r);
    return 0;
}

/* A target must be registered, recently seen and not the holder. */
static int check_target(const struct conf *c, PGconn *conn, const char *to, const struct row *row,
                        char *why, size_t len)
{
    char err[512], window[32];
    snprintf(window, sizeof(window), "%.3f", (double)c->takeover_timeout_ns / NS_PER_SEC);
    const char *params[] = {c->cluster, to, window};
    PGresult *r = q(conn,
                    "SELECT seen_at > clock_timestamp() - make_interval(secs => $3::float8) "
                    "FROM hs_node WHERE cluster = $1 AND node = $2",
                    3, params, err, sizeof(err));
    int ok = 0;
    if (r == NULL)
        snprintf(why, len, "%s", err);
    else if (PQntuples(r) == 0)
        snprintf(why, len, "%s is not a node of cluster %s", to, c->cluster);
    else if (PQgetvalue(r, 0, 0)[0] != 't')
        snprintf(why, len, "%s has not been seen within the takeover timeout", to);
    else if (strcmp(to, row->holder) == 0)
        snprintf(why, len, "%s already holds the cluster", to);
    else
        ok = 1;
    if (r)
        PQclear(r);
    return ok;
}

/* Waits for the event that says a node became active at a newer epoch. */
static int wait_active(const struct conf *c, PGconn *conn, int64_t old_epoch, int64_t start,
                       int64_t limit_ns)
{
    char err[512], e[32];
    snprintf(e, sizeof(e), "%" PRId64, old_epoch);
    const char *params[] = {c->cluster, e};
    while (now_ns() - start < limit_ns) {
        PGresult *r = q(conn,
                        "SELECT node, epoch FROM hs_event WHERE cluster = $1 AND epoch > $2 "
                        "AND kind = 'active' ORDER BY id LIMIT 1",
                        2, params, err, sizeof(err));
        if (r && PQntuples(r) == 1) {
            printf("switchover: %s is active at epoch %s after %" PRId64 " ms\n",
                   PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), (now_ns() - start) / NS_PER_MS);
            PQclear(r);
            return EXIT_DONE;
        }
        if (r)
            PQclear(r);
        usleep(10000);
    }
    log_errx("switchover: no node became active within %" PRId64 " ms; see `vipctl events`",
             limit_ns / NS_PER_MS);
    return EXIT_FAILED;
}

int verb_switchover(const struct conf *c, const char *to)
{
    char err[512];
    struct row row;
    int64_t start = now_ns();
    PGconn *conn = db_open(c, err, sizeof(err));
    if (conn == NULL) {
        log_errx("switchover: database: %s", err);
        return EXIT_FAILED;
    }
    int rc = EXIT_REFUSED;
    if (read_row(c, conn, &row, err, sizeof(err)) < 0) {
        log_errx("switchover: %s", err);
        goto out;
    }
    if (row.paused) {
        log_errx("switchover refused: the cluster is paused (vipctl resume first)");
        goto out;
    }
    if (row.holder[0] == '\0') {
        log_errx("switchover refused: no node holds the cluster");
        goto out;
    }
    if (to && !check_target(c, conn, to, &row, err, sizeof(err))) {
        log_errx("switchover refused: %s", err);
        goto out;
    }
    json_t *req = json_pack("{s:s}", "cmd", "switchover");
    if (to)
        json_object_set_new(req, "to", json_string(to));
    json_t *reply = ask(c, "watchd", req, verb_wait_ms(c), err, sizeof(err));
    if (reply) {
        int ok = json_is_true(json_object_get(reply, "ok"));
        if (!ok)
            log_errx("%s", json_string_value(json_object_get(reply, "error")));
        json_decref(reply);
        if (!ok)
            goto out;
    } else {
        /* no local watchd: ask the holder through the row */
        const char *params[] = {c->cluster, to ? to : "*"};
        PGresult *r = q(conn, SQL_REQUEST_SWITCHOVER, 2, params, err, sizeof(err));
        int ok = r && PQntuples(r) == 1;
        if (r)
            PQclear(r);
        if (!ok) {
            log_errx("switchover refused: %s", r ? "no holder, or paused" : err);
            goto out;
        }
    }
    printf("switchover: requested from %s%s%s\n", row.holder, to ? " to " : "", to ? to : "");
    rc = wait_active(c, conn, row.epoch, start,
                     2 * c->hook_timeout_ns + c->takeover_timeout_ns + 5 * NS_PER_SEC);
out:
    PQfinish(conn);
    return rc;
}

/* ---- pause / resume ---- */

/*
 * A resume is a request that the active's own renewal commits (DESIGN §3); --force
 * ends the pause at once, for an active the operator knows to be down for good.
 */
int verb_pause(const struct conf *c, int pause, int force)
{
    char err[512];
    const char *verb = pause ? "pause" : "resume";
    json_t *reply = ask(c, "watchd", json_pack("{s:s,s:b}", "cmd", verb, "force", force),
                        verb_wait_ms(c), err, sizeof(err));
    if (reply) {
        int ok = json_is_true(json_object_get(reply, "ok"));
        if (!ok)
            log_errx("%s: %s", verb, json_string_value(json_object_get(reply, "error")));
        json_decref(reply);
        if (!ok)
            return EXIT_FAILED;
    } else {
        PGconn *conn = db_open(c, err, sizeof(err));
        if (conn == NULL) {
            log_errx("%s: neither watchd nor the database answers: %s", verb, err);
            return EXIT_FAILED;
        }
        const char *params[] = {c->cluster, pause ? "true" : "false"};
        PGresult *r = q(conn, pause || force ? SQL_SET_PAUSED : SQL_REQUEST_RESUME, 2, params,
                        err, sizeof(err));
        int ok = r && PQntuples(r) == 1;
        if (r)
            PQclear(r);
        PQfinish(conn);
        if (!ok) {
            log_errx("%s: %s", verb, r ? "cluster not in the database" : err);
            return EXIT_FAILED;
        }
    }
    printf("%s: cluster %s %s\n", verb, c->cluster,
           pause ? "paused: no takeover, no fencing"
                 : force ? "resumed (forced)"
                         : "resume requested: the active's next renewal commits it");
    return EXIT_DONE;
}

/* ---- the cluster's timing ---- */

/*
 * Writes this node's timing ([heartbeat] interval, takeover_timeout, fence_after,
 * [service] stop_timeout, as validated by -t) into the cluster row, for every node.
 * Only while paused: nobody takes over or fences meanwhile, and a node whose file
 * disagrees with the new values takes no part until its file and the row agree.
 */
int verb_set_timing(const struct conf *c)
{
    char err[512], v[4][24], ms[32], detail[256];
    struct conf_timing t;
    conf_timing(c, &t);
    snprintf(v[0], sizeof(v[0]), "%" PRId64, t.interval_ms);
    snprintf(v[1], sizeof(v[1]), "%" PRId64, t.takeover_timeout_ms);
    snprintf(v[2], sizeof(v[2]), "%" PRId64, t.fence_after_ms);
    snprintf(v[3], sizeof(v[3]), "%" PRId64, t.stop_timeout_ms);
    PGconn *conn = db_open(c, err, sizeof(err));
    if (conn == NULL) {
        log_errx("set-timing: database: %s", err);
        return EXIT_FAILED;
    }
    const char *params[] = {c->cluster, v[0], v[1], v[2], v[3]};
    PGresult *r = q(conn, SQL_SET_TIMING, 5, params, err, sizeof(err));
    int rc = EXIT_DONE;
    if (r == NULL) {
        log_errx("set-timing: %s", err);
        rc = EXIT_FAILED;
    } else if (PQntuples(r) == 0) {
        log_errx("set-timing refused: the cluster is not paused (`vipctl pause` first)");
        rc = EXIT_REFUSED;
    } else {
        snprintf(detail, sizeof(detail),
                 "interval %s ms, takeover_timeout %s ms, fence_after %s ms, stop_timeout %s ms",
                 v[0], v[1], v[2], v[3]);
        snprintf(ms, sizeof(ms), "%lld", (long long)(wall_ns() / NS_PER_MS));
        const char *ev[] = {c->cluster, c->node, PQgetvalue(r, 0, 0), "timing-set", detail, ms};
        PGresult *e = q(conn, SQL_EVENT, 6, ev, err, sizeof(err));
        if (e)
            PQclear(e);
        printf("set-timing: cluster %s now runs with %s\n", c->cluster, detail);
    }
    if (r)
        PQclear(r);
    PQfinish(conn);
    return rc;
}

/* ---- events ---- */

int verb_events(const struct conf *c, int n, int as_json)
{
    char err[512], lim[16];
    PGconn *conn = db_open(c, err, sizeof(err));
    if (conn == NULL) {
        log_errx("events: database: %s", err);
        return EXIT_FAILED;
    }
    snprintf(lim, sizeof(lim), "%d", n);
    const char *params[] = {c->cluster, lim};
    PGresult *r = q(conn,
                    "SELECT * FROM (SELECT id, to_char(at, 'YYYY-MM-DD HH24:MI:SS.MS'), "
                    " (extract(epoch FROM at) * 1000)::bigint, node, epoch, kind, detail "
                    " FROM hs_event WHERE cluster = $1 ORDER BY id DESC LIMIT $2::int) e "
                    "ORDER BY id",
                    2, params, err, sizeof(err));
    PQfinish(conn);
    if (r == NULL) {
        log_errx("events: %s", err);
        return EXIT_FAILED;
    }
    json_t *list = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        if (as_json)
            json_array_append_new(
                list, json_pack("{s:s,s:I,s:s,s:I,s:s,s:s}", "at", PQgetvalue(r, i, 1), "at_ms",
                                (json_int_t)strtoll(PQgetvalue(r, i, 2), NULL, 10), "node",
                                PQgetvalue(r, i, 3), "epoch",
                                (json_int_t)strtoll(PQgetvalue(r, i, 4), NULL, 10), "kind",
                                PQgetvalue(r, i, 5), "detail", PQgetvalue(r, i, 6)));
        else
            printf("%s  %-10s epoch %-4s %-18s %s\n", PQgetvalue(r, i, 1), PQgetvalue(r, i, 3),
                   PQgetvalue(r, i, 4), PQgetvalue(r, i, 5), PQgetvalue(r, i, 6));
    }
    if (as_json) {
        char *txt = json_dumps(list, JSON_COMPACT);
        puts(txt);
        free(txt);
    }
    json_decref(list);
    PQclear(r);
    return EXIT_DONE;
}

/* ---- forget ---- */

/*
 * Removes a node that is gone for good from hs_node (so that it no longer counts as a
 * standby nor as a sync peer). Refused for the holder, a handoff target and a node seen
 * within the takeover timeout: one statement decides, so a node that comes back between
 * a check and the delete is not removed.
 */
int verb_forget(const struct conf *c, const char *node)
{
    char err[512], window[32];
    PGconn *conn = db_open(c, err, sizeof(err));
    if (conn == NULL) {
        log_errx("forget: database: %s", err);
        return EXIT_FAILED;
    }
    snprintf(window, sizeof(window), "%.3f", (double)c->takeover_timeout_ns / NS_PER_SEC);
    const char *params[] = {c->cluster, node, window};
    PGresult *r = q(conn,
                    "WITH gone AS (DELETE FROM hs_node n WHERE n.cluster = $1 AND n.node = $2 "
                    " AND n.seen_at <= clock_timestamp() - make_interval(secs => $3::float8) "
                    " AND NOT EXISTS (SELECT 1 FROM hs_cluster k WHERE k.cluster = $1 "
                    "   AND (k.holder = $2 OR k.handoff_to = $2)) RETURNING node) "
                    "SELECT (SELECT count(*) FROM gone), "
                    " (SELECT count(*) FROM hs_node WHERE cluster = $1 AND node = $2), "
                    " (SELECT count(*) FROM hs_cluster WHERE cluster = $1 "
                    "   AND (holder = $2 OR handoff_to = $2))",
                    3, params, err, sizeof(err));
    int rc = EXIT_FAILED;
    if (r == NULL || PQntuples(r) != 1) {
        log_errx("forget: %s", r ? "unexpected answer" : err);
    } else if (strcmp(PQgetvalue(r, 0, 0), "0")) {
        printf("forget: %s removed from cluster %s\n", node, c->cluster);
        const char *ev[] = {c->cluster, c->node, node};
        PQclear(q(conn, "INSERT INTO hs_event (cluster, node, kind, detail) "
                        "VALUES ($1, $2, 'forget', 'removed node ' || $3)", 3, ev, err, sizeof(err)));
        rc = EXIT_DONE;
    } else if (!strcmp(PQgetvalue(r, 0, 1), "0")) {
        log_errx("forget: %s is not a node of cluster %s", node, c->cluster);
    } else if (strcmp(PQgetvalue(r, 0, 2), "0")) {
        log_errx("forget refused: %s holds the cluster (switch over first)", node);
        rc = EXIT_REFUSED;
    } else {
        log_errx("forget refused: %s was seen within the takeover timeout: stop it first", node);
        rc = EXIT_REFUSED;
    }
    if (r)
        PQclear(r);
    PQfinish(conn);
    return rc;
}
