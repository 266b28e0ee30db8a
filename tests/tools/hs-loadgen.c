/*
 * hs-loadgen: many two-node clusters on one PostgreSQL, in one process, through the
 * daemons' own code: every simulated heartbeatd and watchd has its own struct db
 * (common/db.c, so its own connection, queue and deadlines) and sends the statements
 * of common/sql.h; every watchd runs watchd/role.c's state machine. What is not here
 * is what does not touch the database: VIP, hooks, control sockets (a promotion
 * completes at once, a demotion too).
 *
 *   hs-loadgen -d CONNINFO -n CLUSTERS [-i INTERVAL_MS] [-t TAKEOVER_MS] [-r RAMP_S]
 *              [-s SECONDS] [-k CRASHES] [-q READS_PER_INTERVAL] [-L] [-F] [-E] [-A] [-P] [-p PREFIX]
 *              [-o OUT.json]
 *
 * Nodes start spread over RAMP_S seconds; then SECONDS of measurement, during which
 * CRASHES actives (chosen at random, at random moments) lose power: their two daemons
 * stop and their connections close. It writes one JSON object: renewal latency, the
 * standby's lag in learning of a renewal, detection after a crash, queries per second
 * by kind, takeovers (caused = after a crash of that cluster's active) and fences.
 * The standby listens to the renewals' NOTIFY and reads once per interval, as watchd does;
 * the renewals notify and the watchd sessions listen only while the database holds at most
 * 16 clusters, as heartbeatd and watchd do (struct db_crowd); -L -q 4 gives the earlier
 * way (listening on hs_cluster only, four reads per interval) for comparison; -F sends the
 * active's node row in its renewal's statement (an experiment: SQL_RENEW_WITH_NODE); -E writes
 * every node row every interval, as heartbeatd did before common/db.c's node_row; -A has the
 * active read the row every interval, as watchd did before its renewals carried the row
 * (role_read_due: it reads on their news and every ROLE_ACTIVE_READ_EVERY intervals); -P goes
 * as database_pool_mode = transaction does (through a pooler: nothing prepared, nobody listens).
 * Exit status: 0 when it ran (whatever it measured), 1 when it could not run, 2 usage.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "db.h"
#include "log.h"
#include "loop.h"
#include "../../watchd/role.h"
#include "sql.h"

enum qkind { Q_RENEW, Q_NODE, Q_READ, Q_CLAIM, Q_EVENT, Q_ENSURE, Q__COUNT };
static const char *const qkind_name[] = {"renewal", "node_row", "cluster_read", "claim",
                                         "event", "cluster_ensure"};

struct samples {
    double *v;
    size_t n, cap;
};

struct lg;

/* the server's counters at the start and the end of the window */
struct server_snap {
    int ok;
    int64_t at_ns;
    int64_t xact, wal_bytes, cpu_ticks;
    int64_t run_ns, wait_ns;               /* /proc/PID/schedstat, summed over the server */
    int64_t machine_busy, machine_total;   /* /proc/stat: what everything on the machine used */
};


struct cluster {
    char name[48];
    struct node *nodes[2];
    int crashed;                 /* its active lost power at crash_ns */
    int64_t crash_ns;
    int64_t last_renewal_sent_ns; /* of the last renewal the active confirmed */
    int64_t acked_heartbeat;     /* the counter value of that renewal */
    int64_t pending_sent_ns;     /* a renewal in flight (0 if none) */
    int64_t seen_heartbeat;      /* highest value a standby has seen (lag counted once) */
    int takeovers;
};

struct node {
    struct lg *lg;
    struct cluster *c;
    char name[8];
    int dead;
    /* heartbeatd */
    struct db *hb_db;
    struct loop_timer *beat_timer;
    int leading;
    int64_t lead_epoch;
    int renewal_inflight;
    int64_t renewal_sent_ns;
    struct db_crowd beat;
    struct node_row row;         /* when heartbeatd writes its hs_node row */
    struct db_crowd crowd;       /* watchd's: its session LISTENs only while few clusters */
    /* watchd */
    struct db *wd_db;
    struct role role;
    struct loop_timer *poll_timer;
    struct loop_timer *deadline_timer;
    int row_inflight, row_again;
    int64_t read_ns, renewal_row_ns;   /* as watchd's row_read_ns, renewal_row_ns */
    int64_t claim_sent_ns;
    int started, hb_up_once, wd_up_once;
};

struct lg {
    struct loop *loop;
    const char *conninfo;
    int n_clusters;
    int64_t interval_ns, takeover_ns, fence_after_ns;
    int polls_per_interval;
    int node_row_in_renewal;   /* -F */
    int node_row_every;        /* -E */
    int active_reads_every;    /* -A: the active reads every interval, as watchd did */
    int listen_beats;            /* the standby listens to the renewals' NOTIFY (watchd's way) */
    int connecting;              /* nodes started whose two sessions are not both up yet */
    int beat_notify_seen;
    struct cluster *clusters;
    int measuring;
    int64_t measure_start_ns, measure_end_ns;
    uint64_t queries[Q__COUNT];
    uint64_t query_errors[Q__COUNT];
    struct samples renewal_ms, lag_ms, detect_ms, detect_beyond_ms, loop_late_ms;
    struct loop_timer *probe_timer;
    int64_t probe_due_ns, loop_late_max_ns, loop_late_max_at_ns;
    uint64_t takeovers_caused, takeovers_uncaused, fences, lost_renewals, failed_renewals;
    uint64_t bootstrap_claims;
    struct loop_timer *phase_timer, *crash_timer;
    int phase;                   /* 0 ramp, 1 measuring, 2 tail (claims after late crashes) */
    int64_t started_ns, settle_limit_ns, settle_ns, measure_ns;
    int settled;
    double cpu_at_start_s, cpu_s;
    struct server_snap server0, server1;
    struct db *stats_db;
    int crashes, crashes_left;
    int64_t crash_every_ns;
};

static void add_sample(struct samples *s, double v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = realloc(s->v, s->cap * sizeof(double));
        if (s->v == NULL)
            fatal("realloc");
    }
    s->v[s->n++] = v;
}

static int query(struct node *n, struct db *d, enum qkind k, const char *sql, int np,
                 const char *const *p, db_result_cb cb, void *arg)
{
    int rc = db_query(d, sql, np, p, cb, arg);
    if (rc == 0 && n->lg->measuring)
        n->lg->queries[k]++;
    return rc;
}

static void count_error(struct lg *lg, enum qkind k)
{
    if (lg->measuring)
        lg->query_errors[k]++;
}

/* ---- heartbeatd, as heartbeatd/main.c does it ---- */

static void node_input(struct node *n, struct role_input *in);

static void read_row(struct node *n);

static void renewal_done(void *arg, PGresult *res, const char *err)
{
    struct node *n = arg;
    struct lg *lg = n->lg;
    int64_t sent = n->renewal_sent_ns, now = now_ns();
    n->renewal_inflight = 0;
    n->c->pending_sent_ns = 0;
    if (n->dead)
        return;
    if (res == NULL) {
        count_error(lg, Q_RENEW);
        if (lg->measuring)
            lg->failed_renewals++;
        return;
    }
    if (PQntuples(res) == 0) {
        if (lg->measuring)
            lg->lost_renewals++;
        n->leading = 0;
        struct role_input in = {.event = EV_LOST, .epoch = n->lead_epoch};
        node_input(n, &in);
        return;
    }
    if (lg->measuring)
        add_sample(&lg->renewal_ms, (double)(now - sent) / NS_PER_MS);
    n->c->acked_heartbeat = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    n->c->last_renewal_sent_ns = sent;
    struct role_input in = {.event = EV_RENEWED, .epoch = n->lead_epoch, .sent_ns = sent};
    node_input(n, &in);
    /* heartbeatd passes on what the answer says of the row; watchd reads on news */
    if (PQnfields(res) >= 5 && !lg->active_reads_every && !n->dead) {
        n->renewal_row_ns = now;
        if (role_renewal_news(&n->role, PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3)[0] == 't',
                              PQgetvalue(res, 0, 4)[0] == 't'))
            read_row(n);
    }
}

/* SQL_NODE_SEEN's parameters, as heartbeatd's node_params */
static void node_params(const struct node *n, const char *params[8])
{
    /* a digest of the same size as conf.c's (sha256 hex) */
    static const char digest[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const char *p[8] = {n->c->name, n->name, "127.0.0.1", "100", HS_VERSION,
                        role_public_name(&n->role), n->leading ? "leading" : "following",
                        digest};
    memcpy(params, p, sizeof(p));
}

/*
 * -F: the active's node row in its renewal's statement (one statement and one commit per
 * interval instead of two), an experiment heartbeatd does not follow: in two same-run
 * comparisons at 500 clusters it saved 2-17 % of the server's CPU but the renewal's p99
 * rose from 9-18 ms to 30-32 ms (the renewal then also waits on hs_node's pages).
 */
#define SQL_RENEW_WITH_NODE \
    "WITH seen AS (" SQL_NODE_SEEN ") " \
    "UPDATE hs_cluster SET heartbeat = heartbeat + 1 WHERE cluster = $1 AND holder = $2 " \
    " AND epoch = $9 RETURNING heartbeat, CASE WHEN $10::boolean THEN " \
    " pg_notify(left('" SQL_BEAT_CHANNEL_PREFIX "' || cluster, 63), cluster) END"

/* heartbeatd's renewal: 1 when it went out carrying the node row (-F) */
static int renew(struct node *n)
{
    if (!n->leading || n->renewal_inflight || !db_connected(n->hb_db))
        return 0;
    char epoch[32];
    snprintf(epoch, sizeof(epoch), "%" PRId64, n->lead_epoch);
    int64_t now = now_ns(), fold = n->lg->node_row_in_renewal;
    const char *params[10];
    if (fold) {
        node_params(n, params);
        params[8] = epoch;
        params[9] = db_crowd_notify_param(&n->beat);
    } else {
        const char *p[5] = {n->c->name, n->name, epoch, "false", db_crowd_notify_param(&n->beat)};
        memcpy(params, p, sizeof(p));
    }
    if (query(n, n->hb_db, Q_RENEW, fold ? SQL_RENEW_WITH_NODE : SQL_POOLED(SQL_RENEW),
              fold ? 10 : 5, params, renewal_done, n) != 0)
        return 0;
    n->renewal_inflight = 1;
    n->renewal_sent_ns = now;
    n->c->pending_sent_ns = now;
    return fold;
}

/* heartbeatd's node row (common/db.c node_row_tick); -E: every interval, the earlier way */
static void node_seen(struct node *n, int force)
{
    const char *params[8];
    node_params(n, params);
    if (node_row_tick(&n->row, n->hb_db, params, n->lg->interval_ns, n->lg->takeover_ns,
                      force || n->lg->node_row_every) &&
        n->lg->measuring)
        n->lg->queries[Q_NODE]++;
}

static void on_beat(void *arg)
{
    struct node *n = arg;
    loop_timer_after(n->beat_timer, n->lg->interval_ns);
    db_crowd_tick(&n->beat, n->hb_db);
    if (!renew(n))
        node_seen(n, 0);
}

static void node_up_once(struct node *n, int *flag)
{
    if (*flag)
        return;
    *flag = 1;
    if (n->hb_up_once && n->wd_up_once)
        n->lg->connecting--;
}

static void on_hb_db_state(void *arg, int connected, const char *why)
{
    struct node *n = arg;
    if (connected)
        node_up_once(n, &n->hb_up_once);
    if (connected && !n->dead) {
        db_crowd_tick(&n->beat, n->hb_db);
        if (!renew(n))
            node_seen(n, 1);
    }
}

/* ---- watchd, as watchd/main.c does it ---- */


static void claim_done(void *arg, PGresult *res, const char *err)
{
    struct node *n = arg;
    struct lg *lg = n->lg;
    if (n->dead)
        return;
    struct role_input in = {.event = EV_CAS_RESULT, .sent_ns = n->claim_sent_ns};
    if (res && PQntuples(res) == 1) {
        in.won = 1;
        in.epoch = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        struct cluster *c = n->c;
        if (in.epoch == 1) {
            lg->bootstrap_claims++;
        } else if (c->crashed) {
            lg->takeovers_caused++;
            if (c->crash_ns >= lg->measure_start_ns) {
                add_sample(&lg->detect_ms, (double)(now_ns() - c->crash_ns) / NS_PER_MS);
                add_sample(&lg->detect_beyond_ms,
                           (double)(n->claim_sent_ns - c->last_renewal_sent_ns - lg->takeover_ns) /
                               NS_PER_MS);
            }
        } else if (lg->phase >= 1) {   /* in the window (or its tail) */
            lg->takeovers_uncaused++;
            log_warnx("%s: %s took over without a crash (epoch %" PRId64 ")", c->name, n->name,
                      in.epoch);
        }
        c->takeovers++;
    } else if (err) {
        count_error(lg, Q_CLAIM);
    }
    node_input(n, &in);
    read_row(n);
}

static void claim(struct node *n, int64_t epoch, int64_t heartbeat)
{
    char e[32], h[32];
    snprintf(e, sizeof(e), "%" PRId64, epoch);
    snprintf(h, sizeof(h), "%" PRId64, heartbeat);
    const char *params[] = {n->c->name, n->name, e, h, HS_VERSION};
    n->claim_sent_ns = now_ns();
    if (query(n, n->wd_db, Q_CLAIM, SQL_CLAIM, 5, params, claim_done, n) < 0)
        claim_done(n, NULL, "database not connected");
}

static void write_event(struct node *n, const struct role_action *a)
{
    char e[32], ms[32];
    snprintf(e, sizeof(e), "%" PRId64, a->epoch);
    snprintf(ms, sizeof(ms), "%" PRId64, wall_ns() / NS_PER_MS);
    const char *params[] = {n->c->name, n->name, e, a->kind_name, a->detail, ms};
    query(n, n->wd_db, Q_EVENT, SQL_EVENT, 6, params, NULL, NULL);
    if (strcmp(a->kind_name, "fenced") == 0 && n->lg->phase >= 1) {
        n->lg->fences++;
        log_warnx("%s: %s fenced: %s (%.1f s into the window)", n->c->name, n->name, a->detail,
                  (double)(now_ns() - n->lg->measure_start_ns) / 1e9);
    }
}

/* What watchd does for each action, without hooks: promote and demote finish at once. */
static void carry_out(struct node *n, const struct role_actions *acts)
{
    for (int i = 0; i < acts->n; i++) {
        const struct role_action *a = &acts->a[i];
        struct role_input done = {0};
        switch (a->kind) {
        case ACT_CAS: claim(n, a->epoch, a->heartbeat); break;
        case ACT_LEAD: {
            struct role_grant g;
            role_grant(&n->role, now_ns(), &g);
            if (g.renew_until_ns <= now_ns()) {
                n->leading = 0;   /* a fence: renew no more */
            } else if (!n->leading || n->lead_epoch != a->epoch) {
                n->leading = 1;
                n->lead_epoch = a->epoch;
                renew(n);   /* heartbeatd renews at once on a fresh grant */
            }
            break;
        }
        case ACT_FOLLOW: n->leading = 0; break;
        case ACT_PROMOTE: done.event = EV_PROMOTED; break;
        case ACT_DEMOTE: done.event = EV_DEMOTED; break;
        case ACT_HANDOFF: done.event = EV_DEMOTED; break;
        case ACT_HAND_ROW: done.event = EV_HANDED_OFF; break;
        case ACT_COMMIT_RESUME: break;
        case ACT_EVENT: write_event(n, a); break;
        case ACT_EXIT: break;
        }
        if (done.event)
            node_input(n, &done);
    }
}

static void arm_deadline(struct node *n)
{
    int64_t at = role_next_deadline(&n->role);
    if (at == INT64_MAX)
        loop_timer_stop(n->deadline_timer);
    else
        loop_timer_at(n->deadline_timer, at);
}

static void node_input(struct node *n, struct role_input *in)
{
    struct role_actions acts;
    if (n->dead)
        return;
    if (in->event != EV_TICK && now_ns() >= role_next_deadline(&n->role)) {
        struct role_input tick = {.event = EV_TICK};
        node_input(n, &tick);
    }
    role_step(&n->role, in, now_ns(), &acts);
    carry_out(n, &acts);
    arm_deadline(n);
}

static void on_deadline(void *arg)
{
    struct role_input in = {.event = EV_TICK};
    node_input(arg, &in);
}

/* The standby's lag: from the send of a renewal to its first read of the new value. */
static void note_lag(struct node *n, int64_t heartbeat)
{
    struct cluster *c = n->c;
    if (!n->lg->measuring || heartbeat <= c->seen_heartbeat || c->crashed) {
        if (heartbeat > c->seen_heartbeat)
            c->seen_heartbeat = heartbeat;
        return;
    }
    int64_t sent = heartbeat == c->acked_heartbeat ? c->last_renewal_sent_ns : c->pending_sent_ns;
    if (c->seen_heartbeat > 0 && sent > 0)
        add_sample(&n->lg->lag_ms, (double)(now_ns() - sent) / NS_PER_MS);
    c->seen_heartbeat = heartbeat;
}

static void row_done(void *arg, PGresult *res, const char *err)
{
    struct node *n = arg;
    n->row_inflight = 0;
    if (n->dead)
        return;
    if (res == NULL) {
        count_error(n->lg, Q_READ);
        return;
    }
    if (PQntuples(res) == 0) {
        const char *params[] = {n->c->name};
        query(n, n->wd_db, Q_ENSURE, SQL_CLUSTER_ENSURE, 1, params, NULL, NULL);
        n->row_again = 1;
    } else {
        struct role_input in = {.event = EV_ROW};
        struct role_row *r = &in.row;
        r->exists = 1;
        r->timing_ok = 1;   /* every simulated node runs the same timing */
        snprintf(r->holder, sizeof(r->holder), "%s", PQgetvalue(res, 0, 0));
        r->epoch = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        r->heartbeat = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        snprintf(r->handoff_to, sizeof(r->handoff_to), "%s", PQgetvalue(res, 0, 3));
        r->paused = PQgetvalue(res, 0, 4)[0] == 't';
        r->rank = atoi(PQgetvalue(res, 0, 5));
        snprintf(r->best_standby, sizeof(r->best_standby), "%s", PQgetvalue(res, 0, 6));
        if (!role_is_acting(&n->role) && strcmp(r->holder, n->name) != 0)
            note_lag(n, r->heartbeat);
        n->read_ns = now_ns();
        node_input(n, &in);
    }
    if (n->row_again) {
        n->row_again = 0;
        read_row(n);
    }
}

static void read_row(struct node *n)
{
    if (n->dead)
        return;
    if (n->row_inflight) {
        n->row_again = 1;
        return;
    }
    char window[32];
    snprintf(window, sizeof(window), "%.3f", (double)n->lg->takeover_ns / NS_PER_SEC);
    const char *params[] = {n->c->name, n->name, window, "100"};
    if (query(n, n->wd_db, Q_READ, SQL_POOLED(SQL_CLUSTER_READ), 4, params, row_done, n) == 0)
        n->row_inflight = 1;
}

/* As watchd/main.c's poll_period: once per interval, the renewal's NOTIFY does the rest
 * (-q N: N reads per interval, the standby's way before it listened to renewals). */
static int64_t poll_period(const struct node *n)
{
    if (role_is_acting(&n->role))
        return n->lg->interval_ns;
    int64_t p = n->lg->interval_ns / n->lg->polls_per_interval;
    return p < 50 * NS_PER_MS ? 50 * NS_PER_MS : p;
}

static void on_poll(void *arg)
{
    struct node *n = arg;
    loop_timer_after(n->poll_timer, poll_period(n));
    if (n->lg->listen_beats)
        db_crowd_tick(&n->crowd, n->wd_db);
    if (role_read_due(&n->role, now_ns(), n->read_ns, n->renewal_row_ns))
        read_row(n);
}

static void on_notify(void *arg, const char *channel, const char *payload)
{
    struct node *n = arg;
    int beat = strncmp(channel, SQL_BEAT_CHANNEL_PREFIX, strlen(SQL_BEAT_CHANNEL_PREFIX)) == 0;
    if (n->lg->beat_notify_seen == 0 && beat)
        n->lg->beat_notify_seen = 1;
    if (strcmp(payload, n->c->name) == 0 && !(beat && role_is_acting(&n->role)))
        read_row(n);
}

static void on_wd_db_state(void *arg, int connected, const char *why)
{
    struct node *n = arg;
    if (connected)
        node_up_once(n, &n->wd_up_once);
    n->row_inflight = 0;
    if (connected && n->lg->listen_beats)
        db_crowd_tick(&n->crowd, n->wd_db);
    if (connected)
        read_row(n);
}

/* ---- nodes, crashes, phases ---- */

static void node_start(struct node *n)
{
    struct lg *lg = n->lg;
    struct role_params p = {.interval_ns = lg->interval_ns,
                            .takeover_timeout_ns = lg->takeover_ns,
                            .fence_after_ns = lg->fence_after_ns,
                            .check_failures = 3};
    snprintf(p.node, sizeof(p.node), "%s", n->name);
    snprintf(p.primary, sizeof(p.primary), "a");
    role_init(&n->role, &p);
    /* query deadlines as the daemons set them */
    int64_t hb_deadline = lg->fence_after_ns < 2 * NS_PER_SEC ? lg->fence_after_ns : 2 * NS_PER_SEC;
    int64_t wd_deadline = lg->fence_after_ns / 2 > 5 * NS_PER_SEC ? 5 * NS_PER_SEC
                                                                  : lg->fence_after_ns / 2;
    n->started = 1;
    lg->connecting++;
    n->hb_db = db_new(lg->loop, lg->conninfo, hb_deadline);
    db_crowd_init(&n->beat, lg->interval_ns);
    db_set_callbacks(n->hb_db, on_hb_db_state, NULL, n);
    n->wd_db = db_new(lg->loop, lg->conninfo, wd_deadline);
    db_set_callbacks(n->wd_db, on_wd_db_state, on_notify, n);
    db_listen(n->wd_db, "hs_cluster");
    if (lg->listen_beats) {
        char beat[80];
        db_beat_channel(n->c->name, beat, sizeof(beat));
        db_listen(n->wd_db, beat);
        db_crowd_init(&n->crowd, lg->interval_ns);
        db_crowd_follow(&n->crowd, n->wd_db);
    }
    n->beat_timer = loop_timer_new(lg->loop, on_beat, n);
    n->poll_timer = loop_timer_new(lg->loop, on_poll, n);
    n->deadline_timer = loop_timer_new(lg->loop, on_deadline, n);
    loop_timer_after(n->beat_timer, 0);
    /* watchd's reads start at a phase of their own, as on a machine of its own: b starts
     * 10 ms after a here, and reads in step with a's renewals would see each one at once */
    loop_timer_after(n->poll_timer, 1 + (int64_t)(rand() % 1000) * poll_period(n) / 1000);
}

static void node_kill(struct node *n)
{
    n->dead = 1;
    loop_timer_stop(n->beat_timer);
    loop_timer_stop(n->poll_timer);
    loop_timer_stop(n->deadline_timer);
    db_free(n->hb_db);
    db_free(n->wd_db);
    n->hb_db = n->wd_db = NULL;
}

static void on_crash(void *arg)
{
    struct lg *lg = arg;
    if (lg->crashes_left <= 0)
        return;
    loop_timer_after(lg->crash_timer, lg->crash_every_ns);
    for (int tries = 0; tries < 100; tries++) {
        struct cluster *c = &lg->clusters[rand() % lg->n_clusters];
        if (c->crashed)
            continue;
        for (int i = 0; i < 2; i++) {
            struct node *n = c->nodes[i];
            if (n->role.state == ST_ACTIVE && !n->dead) {
                c->crashed = 1;
                c->crash_ns = now_ns();
                node_kill(n);
                lg->crashes_left--;
                return;
            }
        }
    }
}

struct starter {
    struct lg *lg;
    int next;
    struct loop_timer *t;
    int64_t every_ns;
};

/*
 * Nodes start at most every every_ns, and only while fewer than START_WINDOW are still
 * connecting: a loaded server takes long to start backends, and a storm of connects that
 * miss their deadline and retry would only measure the storm.
 */
#define START_WINDOW 8
static void on_start_next(void *arg)
{
    struct starter *s = arg;
    struct lg *lg = s->lg;
    int total = lg->n_clusters * 2;
    if (s->next >= total)
        return;
    if (lg->connecting < START_WINDOW) {
        struct cluster *c = &lg->clusters[s->next / 2];
        node_start(c->nodes[s->next % 2]);
        s->next++;
    }
    loop_timer_after(s->t, s->every_ns > 5 * NS_PER_MS ? s->every_ns : 5 * NS_PER_MS);
}

/* ---- the server's side of the window: transactions, WAL, CPU of its processes ---- */

/* utime + stime of process pid (ticks), its parent in *ppid; 0 when it is gone */
static int64_t proc_ticks(long pid, long *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');   /* the command may hold spaces */
    long long utime = 0, stime = 0;
    if (p == NULL || sscanf(p + 2, "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld",
                            ppid, &utime, &stime) != 3)
        return 0;
    return utime + stime;
}

/* Time process pid has run on a core and time it has been runnable, waiting for one
 * (/proc/PID/schedstat: the scheduler's run delay), added to *run_ns and *wait_ns. */
static void proc_sched(long pid, int64_t *run_ns, int64_t *wait_ns)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/schedstat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    long long run = 0, wait = 0;
    if (fscanf(f, "%lld %lld", &run, &wait) == 2) {
        *run_ns += run;
        *wait_ns += wait;
    }
    fclose(f);
}

/*
 * The server's processes are the postmaster (the parent of any backend) and its children,
 * found in /proc. Not from pg_stat_activity: with thousands of sessions, reading it costs
 * the server over a second of CPU (every row looks its pid up in the whole process array,
 * under the lock that commits need) at the very moments the window opens and closes.
 * Their CPU ticks and schedstat times go into *s; a session that ended within the window
 * takes its share with it (both sums can come out low when the pooler replaces sessions).
 */
static int server_processes(long backend, struct server_snap *s)
{
    long postmaster = 0, ppid = 0;
    proc_ticks(backend, &postmaster);
    if (postmaster <= 1)
        return 0;
    DIR *d = opendir("/proc");
    if (d == NULL)
        return 0;
    int n = 0;
    struct dirent *e;
    s->cpu_ticks = proc_ticks(postmaster, &ppid);
    proc_sched(postmaster, &s->run_ns, &s->wait_ns);
    while ((e = readdir(d)) != NULL) {
        long pid = strtol(e->d_name, NULL, 10);
        if (pid <= 0 || pid == postmaster)
            continue;
        int64_t t = proc_ticks(pid, &ppid);
        if (ppid == postmaster) {
            s->cpu_ticks += t;
            proc_sched(pid, &s->run_ns, &s->wait_ns);
            n++;
        }
    }
    closedir(d);
    return n + 1;
}

#define SQL_SERVER_COUNTERS \
    "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()), " \
    "pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, " \
    "pg_backend_pid()"

static void machine_ticks(struct server_snap *s)
{
    long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return;
    if (fscanf(f, "cpu %lld %lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3],
               &v[4], &v[5], &v[6], &v[7]) == 8) {
        s->machine_total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
        s->machine_busy = s->machine_total - v[3] - v[4];   /* minus idle and iowait */
    }
    fclose(f);
}

static void server_snap_done(void *arg, PGresult *res, const char *err)
{
    struct server_snap *s = arg;
    s->at_ns = now_ns();
    machine_ticks(s);
    if (res == NULL || PQntuples(res) != 1) {
        fprintf(stderr, "hs-loadgen: server counters: %s\n", err ? err : "no row");
        return;
    }
    s->ok = 1;
    s->xact = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    s->wal_bytes = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    int n = server_processes(strtol(PQgetvalue(res, 0, 2), NULL, 10), s);
    fprintf(stderr, "hs-loadgen: server counters: %d processes read in %.1f ms (the loop waits)\n",
            n, (double)(now_ns() - s->at_ns) / 1e6);
}

/* Through a session of its own on the loop: a blocking read here would stall every
 * simulated node (and fence them). */
static void server_snap(struct lg *lg, struct server_snap *s)
{
    memset(s, 0, sizeof(*s));
    if (db_query(lg->stats_db, SQL_SERVER_COUNTERS, 0, NULL, server_snap_done, s) < 0)
        fprintf(stderr, "hs-loadgen: server counters: session not connected\n");
}

static int settled(const struct lg *lg)
{
    for (int i = 0; i < lg->n_clusters; i++) {
        const struct cluster *c = &lg->clusters[i];
        int active = 0, standby = 0;
        for (int j = 0; j < 2; j++) {
            const struct node *n = c->nodes[j];
            if (!n->started || !db_connected(n->hb_db) || !db_connected(n->wd_db))
                return 0;
            active += n->role.state == ST_ACTIVE;
            standby += n->role.state == ST_STANDBY;
        }
        if (active != 1 || standby != 1)
            return 0;
    }
    return 1;
}

static void settle_report(const struct lg *lg)
{
    int up = 0, active = 0, standby = 0;
    for (int i = 0; i < lg->n_clusters; i++)
        for (int j = 0; j < 2; j++) {
            const struct node *n = lg->clusters[i].nodes[j];
            up += n->started && db_connected(n->hb_db) && db_connected(n->wd_db);
            active += n->role.state == ST_ACTIVE;
            standby += n->role.state == ST_STANDBY;
        }
    struct db_counters dc;
    db_get_counters(&dc);
    fprintf(stderr,
            "hs-loadgen: settling: %d of %d nodes connected, %d active, %d standby; sessions: "
            "%ld connects, %ld connected, %ld connect timeouts, %ld dropped (%ld silent)\n",
            up, 2 * lg->n_clusters, active, standby, dc.connects, dc.connected,
            dc.connect_timeouts, dc.dropped_up, dc.silences);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/*
 * How late the loop runs a timer due every 10 ms: this one thread stands for every node's
 * heartbeatd and watchd, so a late loop delays every simulated node at once (their
 * fences too), which separate daemons on their own machines would not see. Kept for
 * the whole run; lateness over 250 ms is logged with its time.
 */
#define PROBE_NS (10 * NS_PER_MS)
static void on_probe(void *arg)
{
    struct lg *lg = arg;
    int64_t now = now_ns(), late = now - lg->probe_due_ns;
    if (lg->probe_due_ns > 0) {
        if (lg->measuring)
            add_sample(&lg->loop_late_ms, (double)late / NS_PER_MS);
        if (late > lg->loop_late_max_ns) {
            lg->loop_late_max_ns = late;
            lg->loop_late_max_at_ns = now - lg->started_ns;
        }
        if (late > 250 * NS_PER_MS)
            fprintf(stderr, "hs-loadgen: the loop ran %.0f ms late, %.1f s into the run%s\n",
                    (double)late / NS_PER_MS, (double)(now - lg->started_ns) / NS_PER_SEC,
                    lg->measuring ? " (in the window)" : "");
    }
    lg->probe_due_ns = now + PROBE_NS;
    loop_timer_after(lg->probe_timer, PROBE_NS);
}

static void on_phase(void *arg)
{
    struct lg *lg = arg;
    switch (lg->phase) {
    case 0:
        /* measure a steady state: every session up, every cluster one active, one standby */
        int64_t now = now_ns();
        if (!settled(lg) && (now < lg->settle_limit_ns ||
                             (lg->connecting > 0 && now < lg->settle_limit_ns + 120 * NS_PER_SEC))) {
            settle_report(lg);
            loop_timer_after(lg->phase_timer, NS_PER_SEC);
            return;
        }
        lg->settled = settled(lg);
        lg->settle_ns = now_ns() - lg->started_ns;
        server_snap(lg, &lg->server0);
        lg->measuring = 1;
        lg->measure_start_ns = now_ns();
        lg->measure_end_ns = lg->measure_start_ns + lg->measure_ns;
        lg->cpu_at_start_s = cpu_seconds();
        if (lg->crashes_left > 0)
            loop_timer_after(lg->crash_timer, lg->crash_every_ns / 2);
        loop_timer_at(lg->phase_timer, lg->measure_end_ns);
        break;
    case 1:
        /* counting stops; the standbys of the last crashes still get their time to claim */
        lg->measuring = 0;
        lg->measure_end_ns = now_ns();
        lg->cpu_s = cpu_seconds() - lg->cpu_at_start_s;
        server_snap(lg, &lg->server1);
        loop_timer_stop(lg->crash_timer);
        loop_timer_after(lg->phase_timer, lg->takeover_ns + 2 * lg->interval_ns);
        break;
    default: loop_stop(lg->loop); break;
    }
    lg->phase++;
}

/* ---- output ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* nearest rank, as tests/bench/lib.sh */
static double pct(const struct samples *s, double p)
{
    size_t k = (size_t)((double)s->n * p / 100.0 + 0.999999);
    if (k < 1)
        k = 1;
    return s->v[k - 1];
}

static void print_stats(FILE *f, const char *name, struct samples *s, int last)
{
    fprintf(f, "  \"%s\": {\"n\": %zu", name, s->n);
    if (s->n > 0) {
        qsort(s->v, s->n, sizeof(double), cmp_double);
        double sum = 0;
        for (size_t i = 0; i < s->n; i++)
            sum += s->v[i];
        fprintf(f,
                ", \"min\": %.2f, \"p50\": %.2f, \"p90\": %.2f, \"p99\": %.2f, \"p999\": %.2f, "
                "\"max\": %.2f, \"mean\": %.2f",
                s->v[0], pct(s, 50), pct(s, 90), pct(s, 99), pct(s, 99.9), s->v[s->n - 1],
                sum / (double)s->n);
        /* a histogram in 1 ms buckets up to 100 ms (then one overflow bucket), for plots */
        fprintf(f, ", \"hist_1ms\": [");
        size_t b[101] = {0};
        for (size_t i = 0; i < s->n; i++) {
            double v = s->v[i] < 0 ? 0 : s->v[i];
            b[v >= 100 ? 100 : (size_t)v]++;
        }
        for (int i = 0; i <= 100; i++)
            fprintf(f, "%s%zu", i ? "," : "", b[i]);
        fprintf(f, "]");
    }
    fprintf(f, "}%s\n", last ? "" : ",");
}

static void write_json(struct lg *lg, FILE *f)
{
    double secs = (double)(lg->measure_end_ns - lg->measure_start_ns) / NS_PER_SEC;
    uint64_t total = 0;
    fprintf(f, "{\n  \"clusters\": %d, \"nodes\": %d, \"connections\": %d,\n", lg->n_clusters,
            2 * lg->n_clusters, 4 * lg->n_clusters);
    struct db_counters dc;
    db_get_counters(&dc);
    fprintf(f, "  \"sessions\": {\"connects\": %ld, \"connected\": %ld, \"connect_timeouts\": %ld, "
               "\"dropped_silent\": %ld, \"dropped\": %ld},\n",
            dc.connects, dc.connected, dc.connect_timeouts, dc.silences, dc.dropped_up);
    fprintf(f, "  \"interval_ms\": %" PRId64 ", \"takeover_timeout_ms\": %" PRId64
               ", \"fence_after_ms\": %" PRId64 ", \"standby_reads_per_interval\": %d,\n"
               "  \"node_row_in_renewal\": %s, \"node_row_every_interval\": %s,"
               " \"active_reads_every_interval\": %s, \"database_pool_mode\": \"%s\",\n",
            lg->interval_ns / NS_PER_MS, lg->takeover_ns / NS_PER_MS,
            lg->fence_after_ns / NS_PER_MS, lg->polls_per_interval,
            lg->node_row_in_renewal ? "true" : "false", lg->node_row_every ? "true" : "false",
            lg->active_reads_every ? "true" : "false",
            db_pool_transaction() ? "transaction" : "session");
    fprintf(f, "  \"standby_listens_to_renewals\": %s, \"renewal_notify_seen\": %s,\n",
            lg->listen_beats ? "true" : "false", lg->beat_notify_seen ? "true" : "false");
    fprintf(f, "  \"seconds\": %.3f,\n  \"queries\": {", secs);
    for (int k = 0; k < Q__COUNT; k++) {
        fprintf(f, "%s\"%s\": %" PRIu64, k ? ", " : "", qkind_name[k], lg->queries[k]);
        total += lg->queries[k];
    }
    fprintf(f, "},\n  \"query_errors\": {");
    for (int k = 0; k < Q__COUNT; k++)
        fprintf(f, "%s\"%s\": %" PRIu64, k ? ", " : "", qkind_name[k], lg->query_errors[k]);
    fprintf(f, "},\n  \"queries_per_s\": %.1f,\n", (double)total / secs);
    fprintf(f, "  \"takeovers_caused\": %" PRIu64 ", \"takeovers_uncaused\": %" PRIu64
               ", \"fences\": %" PRIu64 ", \"lost_renewals\": %" PRIu64
               ", \"failed_renewals\": %" PRIu64 ", \"bootstrap_claims\": %" PRIu64 ",\n",
            lg->takeovers_caused, lg->takeovers_uncaused, lg->fences, lg->lost_renewals,
            lg->failed_renewals, lg->bootstrap_claims);
    fprintf(f, "  \"crashes\": %d,\n", lg->crashes - lg->crashes_left);
    fprintf(f, "  \"settled\": %s, \"settle_s\": %.1f,\n", lg->settled ? "true" : "false",
            (double)lg->settle_ns / NS_PER_SEC);
    fprintf(f, "  \"loadgen_cpu_percent\": %.1f,\n", lg->cpu_s / secs * 100);
    if (lg->server0.ok && lg->server1.ok) {
        double ssecs = (double)(lg->server1.at_ns - lg->server0.at_ns) / NS_PER_SEC;
        double wal = (double)(lg->server1.wal_bytes - lg->server0.wal_bytes) / ssecs;
        double xacts = (double)(lg->server1.xact - lg->server0.xact);
        double ran = (double)(lg->server1.run_ns - lg->server0.run_ns);
        double waited = (double)(lg->server1.wait_ns - lg->server0.wait_ns);
        /* what the measured reason needs: the CPU one transaction took, and how long the
         * server's processes stood runnable without a core (waiting: their mean number) */
        fprintf(f,
                "  \"server\": {\"xact_per_s\": %.1f, \"wal_bytes_per_s\": %.0f, "
                "\"wal_bytes_per_cluster_per_s\": %.1f, \"cpu_percent\": %.1f, "
                "\"cpu_us_per_xact\": %.1f, \"run_queue_wait_us_per_xact\": %.1f, "
                "\"waiting_for_a_core\": %.2f},\n",
                xacts / ssecs, wal, wal / lg->n_clusters,
                (double)(lg->server1.cpu_ticks - lg->server0.cpu_ticks) /
                    (double)sysconf(_SC_CLK_TCK) / ssecs * 100,
                xacts > 0 ? ran / 1e3 / xacts : 0.0, xacts > 0 ? waited / 1e3 / xacts : 0.0,
                waited / 1e9 / ssecs);
        int64_t ticks = lg->server1.machine_total - lg->server0.machine_total;
        fprintf(f, "  \"machine\": {\"cpus\": %ld, \"busy_percent\": %.1f},\n",
                sysconf(_SC_NPROCESSORS_ONLN),
                ticks > 0 ? (double)(lg->server1.machine_busy - lg->server0.machine_busy) /
                                (double)ticks * 100
                          : 0.0);
    }
    print_stats(f, "renewal_ms", &lg->renewal_ms, 0);
    print_stats(f, "standby_lag_ms", &lg->lag_ms, 0);
    print_stats(f, "crash_to_claim_ms", &lg->detect_ms, 0);
    fprintf(f, "  \"loop_late_max_ms\": %.1f, \"loop_late_max_at_s\": %.1f,\n",
            (double)lg->loop_late_max_ns / NS_PER_MS, (double)lg->loop_late_max_at_ns / NS_PER_SEC);
    print_stats(f, "loop_late_ms", &lg->loop_late_ms, 0);
    print_stats(f, "detection_beyond_timeout_ms", &lg->detect_beyond_ms, 1);
    fprintf(f, "}\n");
}

static void usage(void)
{
    fprintf(stderr, "usage: hs-loadgen -d CONNINFO -n CLUSTERS [-i INTERVAL_MS] [-t TAKEOVER_MS]"
                    " [-r RAMP_S] [-s SECONDS] [-k CRASHES] [-q READS_PER_INTERVAL] [-L] [-F] [-E] [-A] [-P]"
                    " [-p PREFIX] [-o OUT.json]\n");
    exit(2);
}

/* As watchd does at start: the schema, applied idempotently under its advisory lock. */
static int apply_schema(const char *conninfo)
{
    char err[1024];
    PGconn *conn = db_connect_wait(conninfo, 30000, err, sizeof(err));   /* not measured */
    if (conn == NULL) {
        fprintf(stderr, "hs-loadgen: database: %s\n", err);
        return -1;
    }
    int rc = db_apply_schema(conn, 30000, err, sizeof(err));
    PQfinish(conn);
    if (rc < 0)
        fprintf(stderr, "hs-loadgen: %s\n", err);
    return rc;
}

static void raise_fd_limit(int need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)need) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)need ? rl.rlim_max : (rlim_t)need;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)need)
            fprintf(stderr, "hs-loadgen: warning: %d fds needed, limit %lu\n", need,
                    (unsigned long)rl.rlim_cur);
    }
}

int main(int argc, char **argv)
{
    static struct lg lg;
    const char *prefix = "lg", *out = NULL;
    int ramp_s = 20, secs = 60, crashes = 0, c;
    lg.interval_ns = NS_PER_SEC;
    lg.takeover_ns = 3 * NS_PER_SEC;
    lg.polls_per_interval = 1;
    lg.listen_beats = 1;
    while ((c = getopt(argc, argv, "d:n:i:t:r:s:k:q:p:o:LFEAPh")) != -1) {
        switch (c) {
        case 'd': lg.conninfo = optarg; break;
        case 'n': lg.n_clusters = atoi(optarg); break;
        case 'i': lg.interval_ns = atoll(optarg) * NS_PER_MS; break;
        case 't': lg.takeover_ns = atoll(optarg) * NS_PER_MS; break;
        case 'r': ramp_s = atoi(optarg); break;
        case 's': secs = atoi(optarg); break;
        case 'k': crashes = atoi(optarg); break;
        case 'q': lg.polls_per_interval = atoi(optarg); break;
        case 'F': lg.node_row_in_renewal = 1; break;
        case 'E': lg.node_row_every = 1; break;
        case 'A': lg.active_reads_every = 1; break;
        case 'P': db_set_pool_mode(1); break;   /* database_pool_mode = transaction */
        case 'L': lg.listen_beats = 0; break;
        case 'p': prefix = optarg; break;
        case 'o': out = optarg; break;
        default: usage();
        }
    }
    if (lg.conninfo == NULL || lg.n_clusters <= 0 || lg.interval_ns <= 0 ||
        lg.takeover_ns <= lg.interval_ns || secs <= 0 || ramp_s < 0 || crashes < 0 ||
        crashes > lg.n_clusters || lg.polls_per_interval <= 0)
        usage();
    lg.fence_after_ns = lg.takeover_ns / 2;   /* the default of DESIGN §3 */
    log_init("hs-loadgen", 0);
    /* per node: two connections, and the timerfds of two db handles and three timers */
    raise_fd_limit(lg.n_clusters * 2 * 9 + 64);
    if (apply_schema(lg.conninfo) < 0)
        return 1;
    srand((unsigned)time(NULL));

    lg.loop = loop_new();
    if (lg.loop == NULL)
        fatal("loop_new");
    lg.clusters = calloc((size_t)lg.n_clusters, sizeof(*lg.clusters));
    struct node *nodes = calloc((size_t)lg.n_clusters * 2, sizeof(*nodes));
    if (lg.clusters == NULL || nodes == NULL)
        fatal("calloc");
    for (int i = 0; i < lg.n_clusters; i++) {
        struct cluster *cl = &lg.clusters[i];
        snprintf(cl->name, sizeof(cl->name), "%s%05d", prefix, i);
        for (int j = 0; j < 2; j++) {
            struct node *n = &nodes[2 * i + j];
            n->lg = &lg;
            n->c = cl;
            snprintf(n->name, sizeof(n->name), "%c", 'a' + j);
            cl->nodes[j] = n;
        }
    }
    /* node a of each cluster first, so that each cluster has its primary before its standby */
    struct starter st = {.lg = &lg, .every_ns = (int64_t)ramp_s * NS_PER_SEC / (2 * lg.n_clusters)};
    st.t = loop_timer_new(lg.loop, on_start_next, &st);
    loop_timer_after(st.t, 0);

    lg.stats_db = db_new(lg.loop, lg.conninfo, 10 * NS_PER_SEC);
    lg.phase_timer = loop_timer_new(lg.loop, on_phase, &lg);
    lg.crash_timer = loop_timer_new(lg.loop, on_crash, &lg);
    lg.probe_timer = loop_timer_new(lg.loop, on_probe, &lg);
    loop_timer_after(lg.probe_timer, 0);
    lg.crashes = lg.crashes_left = crashes;
    lg.crash_every_ns = crashes ? (int64_t)secs * NS_PER_SEC / crashes : 0;
    /* measure after the ramp and two takeover timeouts, once every cluster has settled
     * (on a loaded machine some connects miss their deadline and retry with backoff) */
    lg.started_ns = now_ns();
    int64_t start = lg.started_ns + (int64_t)ramp_s * NS_PER_SEC + 2 * lg.takeover_ns;
    lg.settle_limit_ns = start + 120 * NS_PER_SEC;
    lg.measure_ns = (int64_t)secs * NS_PER_SEC;
    loop_timer_at(lg.phase_timer, start);

    if (loop_run(lg.loop) < 0)
        return 1;

    FILE *f = out ? fopen(out, "w") : stdout;
    if (f == NULL) {
        fprintf(stderr, "hs-loadgen: %s: %s\n", out, strerror(errno));
        return 1;
    }
    write_json(&lg, f);
    if (out)
        fclose(f);
    return 0;
}
