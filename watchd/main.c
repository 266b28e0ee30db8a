/*
 * watchd: decides who is active (DESIGN §3). One epoll loop feeds observations (the
 * cluster row, heartbeatd's renewal reports, hook results, operator commands, SIGTERM)
 * to the pure state machine in role.c and carries out the actions it returns.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"
#include "daemon.h"
#include "db.h"
#include "lease.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "spawn.h"
#include "sql.h"
#include "watchd.h"

#define PROG "watchd"

static void carry_out(struct watchd *wd, const struct role_actions *acts);

/* What a fence's stop may take, service stop and address down together (DESIGN §3). */
static int64_t stop_budget(const struct conf *c)
{
    return c->stop_timeout_ns + conf_address_down_ns(c);
}
static int schema_ready(struct watchd *wd);

/* ---- events: hs_event, the log, and the alerts operators need to hear about ---- */

/*
 * The audit trail must not lose the events that matter most, which happen when the
 * database is away (a fence): they wait in memory, with their own time, and are
 * written once the database is back. A write whose reply was lost may have committed:
 * it is sent again with the same key, and the database keeps the first (SQL_EVENT_ONCE).
 */
static void keep_pending(struct watchd *wd, const struct pending_event *ev)
{
    if (wd->n_pending == PENDING_EVENTS) {
        memmove(&wd->pending[0], &wd->pending[1], sizeof(wd->pending[0]) * (PENDING_EVENTS - 1));
        wd->n_pending--;
    }
    wd->pending[wd->n_pending++] = *ev;
}

struct event_write {
    struct watchd *wd;
    struct pending_event ev;
};

/* A write that was sent but failed (the connection died under it, or the server answered
 * after the deadline: the session is kept then) goes back in line; the next poll or
 * reconnect sends the line again. */
static void event_written(void *arg, PGresult *res, const char *err)
{
    struct event_write *w = arg;
    w->wd->events_inflight--;
    if (res == NULL)
        keep_pending(w->wd, &w->ev);
    free(w);
}

static int send_event(struct watchd *wd, const struct pending_event *ev)
{
    struct event_write *w = malloc(sizeof(*w));
    if (w == NULL)
        fatal("malloc");
    w->wd = wd;
    w->ev = *ev;
    const char *params[] = {wd->conf.cluster, wd->conf.node, ev->epoch, ev->kind, ev->detail,
                            ev->at_ms, ev->key};
    if (db_query(wd->db, SQL_EVENT_ONCE, 7, params, event_written, w) < 0) {
        free(w);
        return -1;
    }
    wd->events_inflight++;
    return 0;
}

/* 128 random bits in hex: unique across nodes and restarts without coordination. */
static void event_key(char key[33])
{
    unsigned char r[16];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        static uint64_t seq;   /* no entropy yet: time, pid and a counter stay unique */
        uint64_t t = (uint64_t)wall_ns(), p = (uint64_t)getpid() << 32 | ++seq;
        memcpy(r, &t, 8);
        memcpy(r + 8, &p, 8);
    }
    for (int i = 0; i < 16; i++)
        snprintf(key + 2 * i, 3, "%02x", r[i]);
}

static void write_event(struct watchd *wd, const char *e, const char *kind, const char *detail,
                        const char *ms)
{
    struct pending_event ev;
    snprintf(ev.epoch, sizeof(ev.epoch), "%s", e);
    snprintf(ev.kind, sizeof(ev.kind), "%s", kind);
    snprintf(ev.detail, sizeof(ev.detail), "%s", detail);
    snprintf(ev.at_ms, sizeof(ev.at_ms), "%s", ms);
    event_key(ev.key);
    if (wd->n_pending > 0 || send_event(wd, &ev) < 0)
        keep_pending(wd, &ev);   /* keeps the order: after older ones */
}

static void flush_pending(struct watchd *wd)
{
    int n = wd->n_pending;
    wd->n_pending = 0;
    for (int i = 0; i < n; i++) {
        if (send_event(wd, &wd->pending[i]) < 0) {
            memmove(&wd->pending[0], &wd->pending[i], sizeof(wd->pending[0]) * (size_t)(n - i));
            wd->n_pending = n - i;
            return;
        }
    }
}

void watchd_event(struct watchd *wd, int64_t epoch, const char *kind, const char *fmt, ...)
{
    char detail[512], e[32], ms[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    log_notice("%s: %s (epoch %" PRId64 ")", kind, detail, epoch);
    if (strcmp(kind, "claimed") == 0 || strcmp(kind, "granted") == 0)
        wd->gained_by_grant = kind[0] == 'g';
    selfmon_on_event(wd->selfmon, epoch, kind, detail);
    snprintf(e, sizeof(e), "%" PRId64, epoch);
    snprintf(ms, sizeof(ms), "%" PRId64, wall_ns() / NS_PER_MS);
    write_event(wd, e, kind, detail, ms);
}

/* ---- the state machine's inputs and outputs ---- */

static void arm_deadline(struct watchd *wd)
{
    int64_t at = role_next_deadline(&wd->role);
    if (at == INT64_MAX)
        loop_timer_stop(wd->deadline_timer);
    else
        loop_timer_at(wd->deadline_timer, at);
}

/*
 * RUN_DIR/lease tells a running vipctl or hook the lease's current deadline (lease.h):
 * each renewal moves it on, a fence sets it to 0. It is written only from here, after
 * each step of the role machine, so a frozen watchd leaves the last deadline standing.
 * A failed write leaves an earlier deadline, never a later one.
 */
static void publish_lease(struct watchd *wd)
{
    int64_t epoch = wd->role.epoch, deadline = role_lease_deadline(&wd->role, now_ns());
    if (epoch == wd->lease_file_epoch && deadline == wd->lease_file_deadline_ns)
        return;
    if (lease_file_write(wd->conf.run_dir, epoch, deadline) < 0) {
        if (!wd->lease_file_failing)
            log_warn("%s/lease: cannot publish the lease deadline (a long vipctl step "
                     "ends at the deadline it started with)", wd->conf.run_dir);
        wd->lease_file_failing = 1;
        return;
    }
    if (wd->lease_file_failing)
        log_info("%s/lease: the lease deadline is published again", wd->conf.run_dir);
    wd->lease_file_failing = 0;
    wd->lease_file_epoch = epoch;
    wd->lease_file_deadline_ns = deadline;
}

void watchd_input(struct watchd *wd, struct role_input *in)
{
    struct role_actions acts;
    /* An overdue deadline goes first: a node waking from a freeze fences before it
     * acts on anything that arrived meanwhile. */
    if (in->event != EV_TICK && now_ns() >= role_next_deadline(&wd->role)) {
        struct role_input tick = {.event = EV_TICK};
        watchd_input(wd, &tick);
    }
    enum role_state before = wd->role.state;
    role_step(&wd->role, in, now_ns(), &acts);
    if (wd->role.state != before)
        log_info("%s: %s -> %s", role_event_name(in->event), role_state_name(before),
                 role_state_name(wd->role.state));
    publish_lease(wd);   /* before carry_out: what it spawns must find the new deadline */
    carry_out(wd, &acts);
    arm_deadline(wd);
    if (wd->role.state != before) {
        daemon_status("%s, epoch %" PRId64, role_state_name(wd->role.state), wd->role.epoch);
        /* heartbeatd writes it into our hs_node row at once */
        watchd_send_heartbeatd(wd, json_pack("{s:s,s:s}", "cmd", "role", "role",
                                             role_public_name(&wd->role)));
    }
}

void watchd_send_heartbeatd(struct watchd *wd, json_t *msg)
{
    if (wd->heartbeatd)
        ctl_conn_send(wd->heartbeatd, msg);
    json_decref(msg);
}

/*
 * "lead" and "follow" are state, not news: only the newest matters, and it must arrive.
 * One that the socket does not take now (heartbeatd frozen, its buffer full) waits in
 * hb_unsent and is retried; a newer one replaces it, so an old "lead" is never sent
 * after a "follow" (and its absolute deadline makes a late one harmless anyway).
 */
static void flush_heartbeatd_state(struct watchd *wd)
{
    if (wd->hb_unsent == NULL)
        return;
    if (wd->heartbeatd == NULL) {   /* gone: it gets the current state with its hello */
        json_decref(wd->hb_unsent);
        wd->hb_unsent = NULL;
        return;
    }
    if (ctl_conn_send(wd->heartbeatd, wd->hb_unsent) == 0) {
        json_decref(wd->hb_unsent);
        wd->hb_unsent = NULL;
        return;
    }
    loop_timer_after(wd->hb_retry_timer, 20 * NS_PER_MS);
}

static void send_heartbeatd_state(struct watchd *wd, json_t *msg)
{
    if (wd->hb_unsent)
        json_decref(wd->hb_unsent);
    wd->hb_unsent = msg;
    flush_heartbeatd_state(wd);
}

static void on_hb_retry(void *arg) { flush_heartbeatd_state(arg); }

/* The grant is role.c's (role_grant): absolute CLOCK_BOOTTIME deadlines from the last
 * confirmed renewal, so a late or replayed grant never extends anything. */
void watchd_grant(struct watchd *wd)
{
    struct role_grant g;
    role_grant(&wd->role, now_ns(), &g);
    if (!g.lead) {
        send_heartbeatd_state(wd, json_pack("{s:s,s:s}", "cmd", "follow", "role", "standby"));
        return;
    }
    send_heartbeatd_state(wd, json_pack("{s:s,s:I,s:I,s:I,s:b}", "cmd", "lead", "epoch",
                                         (json_int_t)g.epoch, "renew_until_ns",
                                         (json_int_t)g.renew_until_ns, "fence_at_ns",
                                         (json_int_t)g.fence_at_ns, "resume", g.commit_resume));
}

static void on_deadline(void *arg)
{
    struct watchd *wd = arg;
    struct role_input in = {.event = EV_TICK};
    watchd_input(wd, &in);
}

static void on_grant_timer(void *arg)
{
    struct watchd *wd = arg;
    if (now_ns() >= role_next_deadline(&wd->role))
        on_deadline(wd);   /* fence first, never re-grant an expired lease */
    struct role_grant g;
    role_grant(&wd->role, now_ns(), &g);
    if (!g.lead)
        return;
    watchd_grant(wd);
    loop_timer_after(wd->grant_timer, wd->conf.interval_ns);
}

/* ---- claim (compare-and-set) ---- */

static void claim_done(void *arg, PGresult *res, const char *err)
{
    struct watchd *wd = arg;
    struct role_input in = {.event = EV_CAS_RESULT};
    in.sent_ns = wd->claim_sent_ns;
    if (res && PQntuples(res) == 1) {
        in.won = 1;
        in.epoch = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    } else if (err) {
        log_warnx("claim failed: %s", err);
    } else {
        log_info("claim lost: another node moved the row first");
    }
    watchd_input(wd, &in);
    watchd_read_row(wd);
}

static void claim(struct watchd *wd, int64_t epoch, int64_t heartbeat)
{
    char e[32], h[32];
    snprintf(e, sizeof(e), "%" PRId64, epoch);
    snprintf(h, sizeof(h), "%" PRId64, heartbeat);
    const char *params[] = {wd->conf.cluster, wd->conf.node, e, h, HS_VERSION};
    log_notice("claiming the cluster: counter %" PRId64 " at epoch %" PRId64 " stood still",
               heartbeat, epoch);
    wd->claim_sent_ns = now_ns();
    if (db_query(wd->db, SQL_CLAIM, 5, params, claim_done, wd) < 0)
        claim_done(wd, NULL, "database not connected");
}

static void commit_resume(struct watchd *wd, int64_t epoch)
{
    char e[32];
    snprintf(e, sizeof(e), "%" PRId64, epoch);
    const char *params[] = {wd->conf.cluster, wd->conf.node, e};
    if (db_query(wd->db, SQL_COMMIT_RESUME, 3, params, NULL, NULL) == 0)
        log_info("committing the resume: the row names us, but we act no more");
}

static void carry_out(struct watchd *wd, const struct role_actions *acts)
{
    for (int i = 0; i < acts->n; i++) {
        const struct role_action *a = &acts->a[i];
        switch (a->kind) {
        case ACT_CAS: claim(wd, a->epoch, a->heartbeat); break;
        case ACT_LEAD:
            watchd_grant(wd);
            loop_timer_after(wd->grant_timer, wd->conf.interval_ns);
            break;
        case ACT_FOLLOW:
            loop_timer_stop(wd->grant_timer);
            send_heartbeatd_state(wd, json_pack("{s:s,s:s}", "cmd", "follow", "role",
                                                "standby"));
            break;
        case ACT_PROMOTE: promote_start(wd, a->epoch); break;
        case ACT_DEMOTE: demote_start(wd, a->epoch); break;
        case ACT_HANDOFF: handoff_start(wd, a->epoch, a->target); break;
        case ACT_HAND_ROW: hand_row_start(wd, a->epoch, a->target); break;
        case ACT_COMMIT_RESUME: commit_resume(wd, a->epoch); break;
        case ACT_EVENT: watchd_event(wd, a->epoch, a->kind_name, "%s", a->detail); break;
        case ACT_EXIT:
            wd->exit_requested = 1;
            loop_stop(wd->loop);
            break;
        }
    }
}

/* ---- reading the cluster row ---- */

/*
 * The cluster's timing is one fact, held in the row (DESIGN §3). A row without timing
 * gets ours (the first node wins); a row whose timing differs from our file makes us
 * take no part, said once in the log, the status and hs_event, with both values.
 */
static int timing_agrees(struct watchd *wd, PGresult *res)
{
    struct conf_timing mine, row = {
        strtoll(PQgetvalue(res, 0, 8), NULL, 10), strtoll(PQgetvalue(res, 0, 9), NULL, 10),
        strtoll(PQgetvalue(res, 0, 10), NULL, 10), strtoll(PQgetvalue(res, 0, 11), NULL, 10)};
    conf_timing(&wd->conf, &mine);
    if (row.interval_ms < 0) {
        char v[4][24];
        snprintf(v[0], sizeof(v[0]), "%" PRId64, mine.interval_ms);
        snprintf(v[1], sizeof(v[1]), "%" PRId64, mine.takeover_timeout_ms);
        snprintf(v[2], sizeof(v[2]), "%" PRId64, mine.fence_after_ms);
        snprintf(v[3], sizeof(v[3]), "%" PRId64, mine.stop_timeout_ms);
        const char *params[] = {wd->conf.cluster, v[0], v[1], v[2], v[3]};
        db_query(wd->db, SQL_TIMING_INIT, 5, params, NULL, NULL);
        wd->row_again = 1;
        return 0;   /* read again: another node may have written its own first */
    }
    char why[sizeof(wd->timing_mismatch)];
    int differs = conf_timing_differs(&mine, &row, why, sizeof(why));
    if (differs && strcmp(why, wd->timing_mismatch) != 0) {
        log_errx("timing differs from the cluster's, taking no part: %s", why);
        watchd_event(wd, wd->role.epoch, "timing-mismatch", "taking no part: %s", why);
    } else if (!differs && wd->timing_mismatch[0]) {
        log_info("timing agrees with the cluster's again");
    }
    snprintf(wd->timing_mismatch, sizeof(wd->timing_mismatch), "%s", differs ? why : "");
    return !differs;
}

static void row_done(void *arg, PGresult *res, const char *err)
{
    struct watchd *wd = arg;
    wd->row_inflight = 0;
    if (res == NULL) {
        log_debug("reading the cluster row: %s", err);
        return;
    }
    if (PQntuples(res) == 0) {
        const char *params[] = {wd->conf.cluster};
        db_query(wd->db, SQL_CLUSTER_ENSURE, 1, params, NULL, NULL);
        wd->row_again = 1;
    } else {
        struct role_input in = {.event = EV_ROW};
        struct role_row *r = &in.row;
        r->exists = 1;
        snprintf(r->holder, sizeof(r->holder), "%s", PQgetvalue(res, 0, 0));
        r->epoch = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        r->heartbeat = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        snprintf(r->handoff_to, sizeof(r->handoff_to), "%s", PQgetvalue(res, 0, 3));
        r->paused = PQgetvalue(res, 0, 4)[0] == 't';
        r->rank = atoi(PQgetvalue(res, 0, 5));
        snprintf(r->best_standby, sizeof(r->best_standby), "%s", PQgetvalue(res, 0, 6));
        r->resume_requested = PQgetvalue(res, 0, 7)[0] == 't';
        r->timing_ok = timing_agrees(wd, res);
        wd->row_read_ns = now_ns();
        watchd_input(wd, &in);
    }
    if (wd->row_again) {
        wd->row_again = 0;
        watchd_read_row(wd);
    }
}

void watchd_read_row(struct watchd *wd)
{
    if (!wd->cleanup_done || !wd->schema_ok)
        return;
    if (wd->row_inflight) {
        wd->row_again = 1;
        return;
    }
    char window[32], prio[16];
    /* a node is live if it wrote its row within the takeover timeout */
    snprintf(window, sizeof(window), "%.3f",
             (double)wd->conf.takeover_timeout_ns / (double)NS_PER_SEC);
    snprintf(prio, sizeof(prio), "%d", wd->conf.priority);
    const char *params[] = {wd->conf.cluster, wd->conf.node, window, prio};
    if (db_query(wd->db, SQL_POOLED(SQL_CLUSTER_READ), 4, params, row_done, wd) == 0)
        wd->row_inflight = 1;
}

/*
 * A standby counts takeover_timeout from its first read of a counter value. Each renewal
 * notifies the cluster's beat channel as it commits, and the standby reads the row on
 * that notification, so it learns of a renewal within a round trip; the poll once per
 * interval is the fallback for a lost notification (takeover then at most one interval
 * later than the timeout). With more than DB_CROWD_MAX_CLUSTERS clusters on the database
 * renewals notify nobody and nobody listens (struct db_crowd): the read once per interval
 * is then how a standby learns of renewals. The active hears of a switchover, a pause or
 * a resume in its renewal's answer and reads when that differs from its last read, else
 * once every ROLE_ACTIVE_READ_EVERY intervals (role_read_due).
 */
static int64_t poll_period(const struct watchd *wd) { return wd->conf.interval_ns; }

static void on_poll(void *arg)
{
    struct watchd *wd = arg;
    loop_timer_after(wd->poll_timer, poll_period(wd));
    /* counted once hs_cluster exists: a count that fails waits for the next poll, and
     * until one succeeds the sessions do not LISTEN */
    if (schema_ready(wd)) {
        db_crowd_tick(&wd->crowd, wd->db);
        if (role_read_due(&wd->role, now_ns(), wd->row_read_ns, wd->renewal_row_ns))
            watchd_read_row(wd);
    }
    /* events kept after a write that timed out on a session that stayed up */
    if (wd->n_pending > 0 && wd->events_inflight == 0 && db_connected(wd->db))
        flush_pending(wd);
}

static void on_notify(void *arg, const char *channel, const char *payload)
{
    struct watchd *wd = arg;
    /* an acting node hears of its own renewals from heartbeatd */
    int beat = strncmp(channel, SQL_BEAT_CHANNEL_PREFIX, strlen(SQL_BEAT_CHANNEL_PREFIX)) == 0;
    if (strcmp(payload, wd->conf.cluster) == 0 && !(beat && role_holds_lease(&wd->role)))
        watchd_read_row(wd);
}

static void on_db_state(void *arg, int connected, const char *why)
{
    struct watchd *wd = arg;
    selfmon_db_state(wd->selfmon, connected, why);
    if (connected)
        flush_pending(wd);
    /* NOTIFY is not durable: after every reconnect, read what we may have missed. */
    wd->row_inflight = 0;
    if (connected && wd->schema_ok)
        db_crowd_tick(&wd->crowd, wd->db);
    if (connected)
        watchd_read_row(wd);
}

/* ---- health checks ---- */

static void on_health_timer(void *arg)
{
    struct watchd *wd = arg;
    loop_timer_after(wd->health_timer, wd->conf.check_interval_ns);
    if (wd->role.state == ST_ACTIVE && !wd->health_running)
        health_check_start(wd);
}

static void on_recheck_timer(void *arg)
{
    struct watchd *wd = arg;
    loop_timer_after(wd->recheck_timer, wd->conf.interval_ns);
    if (wd->role.state == ST_ACTIVE)
        address_recheck_start(wd);
}

/* ---- signals, watchdog ---- */

static void reload(struct watchd *wd)
{
    struct conf fresh;
    char err[1024];
    if (conf_load(wd->conf_path, &fresh, err, sizeof(err)) < 0) {
        log_warnx("reload refused, keeping the running configuration: %s", err);
        return;
    }
    if (strcmp(fresh.node, wd->conf.node) != 0 || strcmp(fresh.cluster, wd->conf.cluster) != 0 ||
        strcmp(fresh.run_dir, wd->conf.run_dir) != 0 ||
        strcmp(fresh.database, wd->conf.database) != 0 ||
        fresh.database_pool_mode != wd->conf.database_pool_mode) {
        log_warnx("reload: cluster, node, run_dir, database and database_pool_mode need a "
                  "restart; kept");
        return;
    }
    int vip_changed = strcmp(fresh.vip_address, wd->conf.vip_address) != 0 ||
                      fresh.vip_prefix != wd->conf.vip_prefix ||
                      strcmp(fresh.vip_interface, wd->conf.vip_interface) != 0;
    struct conf_timing t_old, t_new;
    conf_timing(&wd->conf, &t_old);
    conf_timing(&fresh, &t_new);
    char why[256];
    if (conf_timing_differs(&t_new, &t_old, why, sizeof(why)) && !wd->role.row.paused) {
        /* one node alone must not change the cluster's timing under the others */
        log_warnx("reload refused, keeping the running configuration: timing changes only "
                  "while the cluster is paused, then `vipctl set-timing` (%s)", why);
        return;
    }
    struct conf old = wd->conf;
    if (strcmp(fresh.email, old.email) || strcmp(fresh.smtp_url, old.smtp_url) ||
        strcmp(fresh.mail_from, old.mail_from) || fresh.starttls != old.starttls ||
        strcmp(fresh.smtp_user, old.smtp_user) || strcmp(fresh.password_file, old.password_file)) {
        char nerr[512];
        struct notifier *n = notify_new(&fresh, nerr, sizeof(nerr));
        if (n == NULL) {
            log_warnx("reload refused, keeping the running configuration: alerts: %s", nerr);
            return;
        }
        notify_retire(wd->notifier);   /* flushes in its own thread: the loop never waits */
        wd->notifier = n;
    }
    wd->conf = fresh;
    selfmon_reload(wd->selfmon);
    wd->role.p.interval_ns = fresh.interval_ns;
    wd->role.p.takeover_timeout_ns = fresh.takeover_timeout_ns;
    wd->role.p.fence_after_ns = fresh.fence_after_ns;
    wd->role.p.stop_budget_ns = stop_budget(&fresh);
    wd->role.p.check_failures = fresh.check_failures;
    log_info("configuration reloaded");
    if (vip_changed && old.connection == CONN_VIP && role_holds_lease(&wd->role) &&
        wd->role.state != ST_HANDOVER) {
        /* vipctl up remembers what it brought up: it removes the old address or netmask
         * and adds + announces the new one */
        address_up_again(wd);
        watchd_event(wd, wd->role.epoch, "vip-changed", "virtual IP now %s/%d on %s",
                     fresh.vip_address, fresh.vip_prefix, fresh.vip_interface);
    }
    arm_deadline(wd);
}

static void on_signal(void *arg, int signo)
{
    struct watchd *wd = arg;
    if (signo == SIGHUP) {
        reload(wd);
        return;
    }
    if (wd->exit_requested)
        return;
    log_info("signal %d: stopping", signo);
    struct role_input in = {.event = EV_TERM};
    watchd_input(wd, &in);
}

static void on_watchdog(void *arg)
{
    struct watchd *wd = arg;
    daemon_watchdog_ping();
    loop_timer_after(wd->watchdog_timer, wd->watchdog_period_ns);
}

/*
 * The schema is applied (or found) before the first read of the row. Each attempt is
 * bounded; while the database is away the loop keeps running (signals, control socket)
 * and the next poll tries again. Missing DDL rights are fatal with a clear message.
 * A server slow to start sessions gets twice as long at each failed attempt, up to
 * SCHEMA_WAIT_MAX_MS (with the systemd watchdog fed first, the attempt stays well inside
 * WatchdogSec), as db.c does for the daemons' sessions.
 */
#define SCHEMA_WAIT_MAX_MS 4000
static int schema_ready(struct watchd *wd)
{
    char err[1024];
    if (wd->schema_ok)
        return 1;
    int timeout_ms = (int)(wd->conf.fence_after_ns / NS_PER_MS);
    if (timeout_ms > 2000)
        timeout_ms = 2000;
    if (wd->schema_wait_ms > timeout_ms)
        timeout_ms = wd->schema_wait_ms;
    daemon_watchdog_ping();
    PGconn *conn = db_connect_wait(wd->conf.database, timeout_ms, err, sizeof(err));
    if (conn == NULL) {
        wd->schema_wait_ms = 2 * timeout_ms > SCHEMA_WAIT_MAX_MS ? SCHEMA_WAIT_MAX_MS : 2 * timeout_ms;
        if (!wd->schema_warned)
            log_warnx("database: %s; retrying", err);
        wd->schema_warned = 1;
        return 0;
    }
    int rc = db_apply_schema(conn, timeout_ms, err, sizeof(err));
    PQfinish(conn);
    if (rc == -2) {
        if (!wd->schema_warned)
            log_warnx("database: %s; retrying", err);
        wd->schema_warned = 1;
        return 0;
    }
    if (rc < 0) {
        log_errx("%s", err);
        wd->exit_code = 1;
        loop_stop(wd->loop);
        return 0;
    }
    wd->schema_ok = 1;
    return 1;
}

static void setup_timers(struct watchd *wd)
{
    wd->poll_timer = loop_timer_new(wd->loop, on_poll, wd);
    wd->deadline_timer = loop_timer_new(wd->loop, on_deadline, wd);
    wd->grant_timer = loop_timer_new(wd->loop, on_grant_timer, wd);
    wd->hb_retry_timer = loop_timer_new(wd->loop, on_hb_retry, wd);
    wd->health_timer = loop_timer_new(wd->loop, on_health_timer, wd);
    wd->recheck_timer = loop_timer_new(wd->loop, on_recheck_timer, wd);
    wd->seq_retry_timer = loop_timer_new(wd->loop, seq_retry, wd);
    if (wd->conf.connection != CONN_NONE)
        loop_timer_after(wd->recheck_timer, wd->conf.interval_ns);
    if (wd->conf.service_check[0])
        loop_timer_after(wd->health_timer, wd->conf.check_interval_ns);
    wd->watchdog_period_ns = daemon_watchdog_period_ns();
    if (wd->watchdog_period_ns > 0) {
        wd->watchdog_timer = loop_timer_new(wd->loop, on_watchdog, wd);
        loop_timer_after(wd->watchdog_timer, wd->watchdog_period_ns);
    }
}

int main(int argc, char **argv)
{
    static struct watchd wd;
    struct daemon_opts o = {0};
    int rc;

    if ((rc = daemon_args(argc, argv, PROG, "[-dtVh] [-c FILE]", &o)) >= 0)
        return rc;
    int test_only = o.test_only;
    o.test_only = 0;
    if ((rc = daemon_conf(PROG, &o, &wd.conf)) >= 0)
        return rc;
    char nerr[512];
    if (notify_check(&wd.conf, nerr, sizeof(nerr)) < 0) {   /* e.g. a readable password file */
        fprintf(stderr, "%s: %s: %s\n", PROG, o.conf_path, nerr);
        return 2;
    }
    if (test_only) {
        printf("%s: %s: configuration ok\n", PROG, o.conf_path);
        return 0;
    }
    log_init(PROG, o.debug);
    wd.conf_path = o.conf_path;
    if (daemon_run_dir(&wd.conf) < 0)
        return 1;
    char dir[400];
    if (self_dir(dir, sizeof(dir)) < 0)
        fatal("cannot find my own directory");
    snprintf(wd.vipctl, sizeof(wd.vipctl), "%s/vipctl", dir);
    signal(SIGPIPE, SIG_IGN);

    wd.lease_file_epoch = -1; /* the first step rewrites what a previous run left */
    wd.loop = loop_new();
    if (wd.loop == NULL)
        fatal("loop_new");
    int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    loop_add_signals(wd.loop, sigs, 3, on_signal, &wd);
    if (control_open(&wd) < 0)
        return 1;
    wd.notifier = notify_new(&wd.conf, nerr, sizeof(nerr));
    if (wd.notifier == NULL) {
        log_errx("alerts: %s", nerr);
        return 1;
    }

    struct role_params p = {
        .interval_ns = wd.conf.interval_ns,
        .takeover_timeout_ns = wd.conf.takeover_timeout_ns,
        .fence_after_ns = wd.conf.fence_after_ns,
        .stop_budget_ns = stop_budget(&wd.conf),
        .check_failures = wd.conf.check_failures,
    };
    snprintf(p.node, sizeof(p.node), "%s", wd.conf.node);
    snprintf(p.primary, sizeof(p.primary), "%s", wd.conf.primary);
    role_init(&wd.role, &p);

    wd.db = db_new(wd.loop, wd.conf.database, conf_watchd_deadline_ns(&wd.conf));
    db_set_callbacks(wd.db, on_db_state, on_notify, &wd);
    db_listen(wd.db, "hs_cluster");
    char beat[80];
    db_beat_channel(wd.conf.cluster, beat, sizeof(beat));
    db_listen(wd.db, beat);
    db_crowd_init(&wd.crowd, wd.conf.interval_ns);
    db_crowd_follow(&wd.crowd, wd.db);
    setup_timers(&wd);
    wd.selfmon = selfmon_new(&wd);
    wd.peerlist = peerlist_new(&wd, selfmon_db(wd.selfmon));
    db_crowd_follow(&wd.crowd, selfmon_db(wd.selfmon));

    /* Nothing of an earlier life as active may survive a restart: service stop, VIP down. */
    cleanup_start(&wd);
    daemon_ready();
    log_info("started: node %s of cluster %s, takeover after %" PRId64 " ms, fence after %" PRId64
             " ms",
             wd.conf.node, wd.conf.cluster, wd.conf.takeover_timeout_ns / NS_PER_MS,
             wd.conf.fence_after_ns / NS_PER_MS);
    loop_run(wd.loop);

    /* Let hooks started on the way out (vipctl down, service stop) and calls still in
     * flight (syncd's role) finish; each is bounded by its own timeout. */
    while (spawn_running() > 0 || ctl_async_pending() > 0)
        loop_once(wd.loop, 100);
    watchd_send_heartbeatd(&wd, json_pack("{s:s,s:s}", "cmd", "follow", "role", "stopped"));
    if (wd.hb_unsent)
        json_decref(wd.hb_unsent);
    control_close(&wd);
    peerlist_free(wd.peerlist);
    selfmon_free(wd.selfmon);
    db_free(wd.db);
    notify_free(wd.notifier);
    loop_free(wd.loop);
    return wd.exit_code;
}
