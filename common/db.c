/*
 * db.c: PostgreSQL through nonblocking libpq. libpq's connect_timeout does not bound
 * an asynchronous connect and nothing bounds a query, so every connect and every
 * query here runs under our own CLOCK_BOOTTIME deadline; missing it drops the
 * connection, because a server that hangs must never hang a daemon's decisions.
 * The arbiter must not lose a committed compare-and-set (DESIGN §3): every session runs
 * with synchronous_commit = on, a server that turns out read-only (a replica first in a
 * multi-host conninfo, an old primary fenced by a failover manager) is left for the next
 * host, and asynchronous replication of the arbiter is reported as a risk.
 * A connect that reached the server is given SESSION_START_MIN_NS to start its session
 * (on a small virtual machine a backend takes 75 ms of CPU to start when idle, seconds
 * under load); one that still was not served waits twice as long next time (up to
 * CONNECT_WAIT_MAX_NS), and every retry is jittered: when many nodes reconnect
 * at once (a restart of the arbiter under a thousand clusters) a slow server gets time to
 * serve them instead of a flood of connects that each start a backend and are then
 * abandoned (which kept a hundred clusters starting together from ever all connecting).
 * The same holds for a query: one that misses its deadline is reported failed to its
 * owner at once, but the session is kept and the late answer thrown away; only a server
 * silent for SILENCE_FACTOR deadlines is dropped. Dropping a slow session would make the
 * server start a new backend for every late answer: under load that is what it can least
 * afford. A query waiting behind a slow one counts its deadline from when it was asked.
 * A patient query (db_query_patient: an operator's verb) has no deadline: a verb reported
 * failed at its deadline and then committed by the late answer told the operator "pause
 * failed" of a cluster that was paused (the fault drill, seed 529032597). It goes before
 * the routine queries waiting (after earlier verbs), is sent unprepared (one round trip),
 * and is answered when the server answers; the silence rule bounds the wait to two
 * silences (the query in flight ahead of it, then its own). If the session ends first its
 * owner hears whether it had been sent ("it may have taken effect") or not.
 * A query with parameters is prepared on its session the first time it is asked there and
 * executed by name afterwards: the daemons ask the same few statements every interval,
 * and parsing, analysing and planning them was over a quarter of the server's CPU with a
 * hundred clusters on one database (perf, tests/bench/bench-clusters.sh).
 * Behind a pooler in transaction mode ([cluster] database_pool_mode = transaction, e.g.
 * pgbouncer pool_mode = transaction) one of our sessions is a different server session
 * at every transaction, so nothing may rely on session state: no statement is prepared
 * (each is sent with its text), nobody LISTENs (and renewals notify nobody: the cluster
 * counts as crowded), no "options" goes in the startup packet (pgbouncer refuses it) and
 * no SET synchronous_commit (it would reach one server session of many): instead every
 * connect checks that the server's own setting makes commits durable, and a server where
 * it does not is left as a read-only one is. The schema's lock is a transaction's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "db.h"
#include "log.h"
#include "loop.h"
#include "db_internal.h"
#include "sql.h"

#define DB_MAX_CHANNELS 4
#define DB_MAX_PREPARED 32   /* distinct statements with parameters kept prepared per session */
#define BACKOFF_MIN_NS (100 * NS_PER_MS)
#define BACKOFF_MAX_NS (5 * NS_PER_SEC)
#define CONNECT_WAIT_MAX_NS (30 * NS_PER_SEC)
/* A connect the server took is given at least this long to start its session: abandoning
 * it frees nothing (the backend starts anyway) and the retry costs a second start. */
#define SESSION_START_MIN_NS (5 * NS_PER_SEC)
#define SILENCE_FACTOR 3
#define SILENCE_MIN_NS (5 * NS_PER_SEC)   /* an overloaded server, not a dead one */
#define SILENCE_MAX_NS (15 * NS_PER_SEC)
/* Behind a transaction pooler the server's synchronous_commit is checked at every connect
 * and again this many deadlines after the last check (5 s to 60 s): the pooler starts new
 * server sessions under a session of ours, and they take the role's setting of then. */
#define SYNC_RECHECK_DEADLINES 20
#define SYNC_RECHECK_MIN_NS (5 * NS_PER_SEC)
#define SYNC_RECHECK_MAX_NS (60 * NS_PER_SEC)

enum db_state { DB_DOWN, DB_CONNECTING, DB_UP };

struct db_query {
    char *sql;
    int nparams;
    char **params;
    db_result_cb cb;
    void *arg;
    int internal;              /* LISTEN after a reconnect: not reported */
    int patient;               /* no deadline: answered when the server answers */
    int abandoned;             /* its owner was told it timed out: the answer is dropped */
    int preparing;             /* in flight is its PREPARE; it runs when that is answered */
    int unprepared;            /* its PREPARE failed: it runs with its text */
    int64_t due_ns;            /* its deadline, counted from when it was asked */
    struct db_query *next;
};

/* A query whose owner is told at its deadline that the server has not answered. */
static int has_deadline(const struct db_query *q) { return !q->internal && !q->patient; }

struct db {
    struct loop *loop;
    char *conninfo;
    int64_t deadline_ns;
    PGconn *conn;
    int fd;                    /* registered with the loop, -1 if none */
    enum db_state state;
    struct db_query *head, *tail;
    struct db_query *inflight;
    int64_t inflight_sent_ns;  /* the server owes an answer since then */
    PGresult *last;            /* result of the in-flight query, delivered when complete */
    struct loop_timer *deadline;
    struct loop_timer *retry;
    int64_t backoff_ns;
    int64_t connect_wait_ns;   /* this connect's deadline (deadline_ns after a success) */
    int64_t connect_start_ns;
    unsigned int jitter;       /* rand_r state for the retry delays */
    char channels[DB_MAX_CHANNELS][80];   /* room for a quoted 63-byte name */
    int n_channels;
    int listening;             /* LISTEN on them (db_set_listening) */
    char *prepared[DB_MAX_PREPARED];   /* statements of this session, named "hs<index>" */
    int n_prepared;
    db_state_cb state_cb;
    db_notify_cb notify_cb;
    void *cb_arg;
    char last_error[256];
    char replication_risk[256];   /* "" when the arbiter's replication looks safe */
    int reported_down;         /* log a failure once when it starts, once when it clears */
    int reported_slow;         /* the same for queries answered after their deadline */
    int64_t sync_checked_ns;   /* pooled: synchronous_commit last asked (connect, recheck) */
    int closing;
};

static int pool_transaction;   /* [cluster] database_pool_mode = transaction */

void db_set_pool_mode(int transaction) { pool_transaction = !!transaction; }
int db_pool_transaction(void) { return pool_transaction; }

static void connect_async(struct db *d);
static void forget_prepared(struct db *d);
static void db_dispatch(struct db *d);
static struct db_query *listen_query(const char *channel);
static struct db_query *internal_query(const char *sql);
static struct db_query *check_query(const char *sql, db_result_cb cb, void *arg);
static void replication_checked(void *arg, PGresult *res, const char *err);

/* Several hosts and no say on which: a read-only one (a replica) must be passed over. */
int db_wants_read_write(const char *conninfo)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    if (opts == NULL)
        return 0;   /* a bare database name, or something libpq will reject itself */
    int hosts = 0, told = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (o->val == NULL || !*o->val)
            continue;
        if (!strcmp(o->keyword, "target_session_attrs"))
            told = 1;
        else if (!strcmp(o->keyword, "host") || !strcmp(o->keyword, "hostaddr")) {
            int n = 1;
            for (const char *c = o->val; *c; c++)
                n += *c == ',';
            hosts = n > hosts ? n : hosts;
        }
    }
    PQconninfoFree(opts);
    return hosts > 1 && !told;
}

/* Our defaults come first so that anything in the operator's conninfo overrides them. */
PGconn *db_start_connect(const char *conninfo, int64_t deadline_ns)
{
    char idle[16], user_timeout[16], ctimeout[16];
    long deadline_ms = (long)(deadline_ns / NS_PER_MS);
    snprintf(idle, sizeof(idle), "%ld", deadline_ms / 1000 > 1 ? deadline_ms / 1000 : 1);
    snprintf(user_timeout, sizeof(user_timeout), "%ld", deadline_ms > 100 ? deadline_ms : 100);
    snprintf(ctimeout, sizeof(ctimeout), "%ld", deadline_ms / 1000 > 2 ? deadline_ms / 1000 : 2);
    const char *keys[] = {"keepalives", "keepalives_idle", "keepalives_interval",
                          "keepalives_count", "tcp_user_timeout", "connect_timeout",
                          "application_name", "target_session_attrs", "options", "dbname",
                          NULL};
    /* in the startup packet: no round trip of its own inside the connect deadline */
    const char *vals[] = {"1", idle, "1", "3", user_timeout, ctimeout, "hotstandby",
                          db_wants_read_write(conninfo) ? "read-write" : "any",
                          pool_transaction ? "" : "-c synchronous_commit=on", conninfo, NULL};
    return PQconnectStartParams(keys, vals, 1);
}

int db_error_means_reconnect(const char *sqlstate)
{
    if (sqlstate == NULL || strlen(sqlstate) != 5)
        return 0;
    /* 25xxx: read-only transaction and the like (a replica, default_transaction_read_only);
     * 08xxx: connection exceptions; 57P01..57P04: shutdown, crash, starting, dropped */
    return !strncmp(sqlstate, "25", 2) || !strncmp(sqlstate, "08", 2) ||
           !strncmp(sqlstate, "57P0", 4);
}

const char db_replication_sql[] =
    "SELECT count(*), count(*) FILTER (WHERE sync_state IN ('sync', 'quorum')), "
    "current_setting('synchronous_standby_names') FROM pg_stat_replication";

int db_replication_verdict(const PGresult *res, char *why, size_t len)
{
    why[0] = '\0';
    if (PQntuples(res) != 1 || PQnfields(res) != 3)
        return -1;
    long replicas = atol(PQgetvalue(res, 0, 0)), sync = atol(PQgetvalue(res, 0, 1));
    const char *names = PQgetvalue(res, 0, 2);
    if (replicas == 0)
        return 0;   /* no replica: nothing to lose in a failover of the arbiter */
    if (!*names)
        snprintf(why, len, "the arbiter replicates asynchronously to %ld replica%s "
                 "(synchronous_standby_names is empty): a failover of the database may lose "
                 "a committed claim and hand out an epoch twice", replicas,
                 replicas == 1 ? "" : "s");
    else if (sync == 0)
        snprintf(why, len, "none of the arbiter's %ld replica%s is synchronous (sync_state): "
                 "a failover of the database may lose a committed claim", replicas,
                 replicas == 1 ? "" : "s");
    return why[0] ? 1 : 0;
}

void db_one_line(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == '\n')
            *p = *(p + 1) ? ' ' : '\0';
}

static void set_error(struct db *d, const char *why)
{
    snprintf(d->last_error, sizeof(d->last_error), "%s", why);
    db_one_line(d->last_error);
}

static void query_free(struct db_query *q)
{
    for (int i = 0; i < q->nparams; i++)
        free(q->params[i]);
    free(q->params);
    free(q->sql);
    free(q);
}

static void fail_query(struct db_query *q, const char *why)
{
    if (q->cb && !q->internal)
        q->cb(q->arg, NULL, why);
    query_free(q);
}

/* A query the session's end takes with it. A patient one (never prepared: its text is
 * what was sent) hears whether the server had it. */
static void fail_dropped(struct db *d, struct db_query *q, int sent)
{
    if (!q->patient) {
        fail_query(q, d->last_error);
        return;
    }
    char msg[sizeof(d->last_error) + 96];
    snprintf(msg, sizeof(msg),
             sent ? "sent, but the session ended before the answer (%s): it may have taken effect"
                  : "not sent (%s): nothing changed",
             d->last_error);
    fail_query(q, msg);
}

static void watch_fd(struct db *d, uint32_t events);

static struct db_counters counters;

void db_get_counters(struct db_counters *out) { *out = counters; }

/* Drops the connection, fails every pending query and schedules a reconnect. */
static void db_drop(struct db *d, const char *why)
{
    counters.dropped_up += d->state == DB_UP;
    set_error(d, why);
    if (d->fd >= 0) {
        loop_del_fd(d->loop, d->fd);
        d->fd = -1;
    }
    if (d->conn) {
        PQfinish(d->conn);
        d->conn = NULL;
    }
    forget_prepared(d);
    if (d->last) {
        PQclear(d->last);
        d->last = NULL;
    }
    loop_timer_stop(d->deadline);
    int was_up = d->state == DB_UP;
    d->state = DB_DOWN;
    if (!d->reported_down) {
        log_warnx("database: %s", d->last_error);
        d->reported_down = 1;
    }
    struct db_query *q = d->inflight;
    d->inflight = NULL;
    if (q)
        fail_dropped(d, q, 1);
    while ((q = d->head) != NULL) {
        d->head = q->next;
        fail_dropped(d, q, 0);
    }
    d->tail = NULL;
    if (was_up && d->state_cb)
        d->state_cb(d->cb_arg, 0, d->last_error);
    /* between half the backoff and all of it, so that nodes dropped together spread out */
    int64_t half_ms = d->backoff_ns / NS_PER_MS / 2;
    int64_t wait_ms = half_ms + rand_r(&d->jitter) % (half_ms + 1);
    loop_timer_after(d->retry, wait_ms * NS_PER_MS);
    d->backoff_ns = d->backoff_ns * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : d->backoff_ns * 2;
}

/* The server took the connection (TCP is up) but has not finished starting the session. */
static int server_reached(const PGconn *conn)
{
    ConnStatusType st = PQstatus(conn);
    return st != CONNECTION_STARTED && st != CONNECTION_BAD;
}

int64_t db_silence_ns(int64_t deadline_ns)
{
    int64_t s = SILENCE_FACTOR * deadline_ns;
    return s < SILENCE_MIN_NS ? SILENCE_MIN_NS : s > SILENCE_MAX_NS ? SILENCE_MAX_NS : s;
}

static int64_t silence_ns(const struct db *d) { return db_silence_ns(d->deadline_ns); }

/* The next moment something is due: a query's deadline or the end of the server's grace. */
static void arm_deadline(struct db *d)
{
    int64_t at = INT64_MAX;
    if (d->inflight) {
        at = d->inflight_sent_ns + silence_ns(d);
        if (!d->inflight->abandoned && has_deadline(d->inflight) && d->inflight->due_ns < at)
            at = d->inflight->due_ns;
    }
    for (struct db_query *q = d->head; q; q = q->next)
        if (has_deadline(q) && q->due_ns < at)
            at = q->due_ns;
    if (at == INT64_MAX)
        loop_timer_stop(d->deadline);
    else
        loop_timer_at(d->deadline, at);
}

static void say_slow(struct db *d)
{
    if (d->reported_slow)
        return;
    log_warnx("database: %s:%s answers after the query deadline (%" PRId64 " ms); keeping the "
              "session, dropping it after %" PRId64 " ms without an answer",
              PQhost(d->conn), PQport(d->conn), d->deadline_ns / NS_PER_MS,
              silence_ns(d) / NS_PER_MS);
    d->reported_slow = 1;
}

/* Owners hear of a missed deadline at once; the session waits for the late answer. */
static void queries_due(struct db *d)
{
    int64_t now = now_ns();
    if (d->inflight && now >= d->inflight_sent_ns + silence_ns(d)) {
        char why[128];
        snprintf(why, sizeof(why), "no answer from the server for %" PRId64 " ms",
                 (now - d->inflight_sent_ns) / NS_PER_MS);
        counters.silences++;
        db_drop(d, why);
        return;
    }
    struct db_query *late = NULL, **tail = &late, **pp = &d->head;
    d->tail = NULL;
    while (*pp) {
        struct db_query *q = *pp;
        if (has_deadline(q) && now >= q->due_ns) {
            *pp = q->next;
            q->next = NULL;
            *tail = q;
            tail = &q->next;
        } else {
            d->tail = q;
            pp = &q->next;
        }
    }
    struct db_query *q = d->inflight;
    if (q && !q->abandoned && has_deadline(q) && now >= q->due_ns) {
        say_slow(d);
        q->abandoned = 1;
        if (q->cb)
            q->cb(q->arg, NULL, "query timed out");
        q->cb = NULL;
    }
    while ((q = late) != NULL) {
        late = q->next;
        fail_query(q, "query timed out (queued behind a slow one)");
    }
    if (d->state == DB_UP)
        arm_deadline(d);
}

static void on_deadline(void *arg)
{
    struct db *d = arg;
    if (d->state != DB_CONNECTING) {
        queries_due(d);
        return;
    }
    if (server_reached(d->conn)) {
        int64_t least = d->connect_wait_ns > SESSION_START_MIN_NS ? d->connect_wait_ns
                                                                   : SESSION_START_MIN_NS;
        if (now_ns() < d->connect_start_ns + least) {
            loop_timer_at(d->deadline, d->connect_start_ns + least);
            return;
        }
        int64_t most = d->deadline_ns > CONNECT_WAIT_MAX_NS ? d->deadline_ns : CONNECT_WAIT_MAX_NS;
        d->connect_wait_ns = 2 * d->connect_wait_ns > most ? most : 2 * d->connect_wait_ns;
    }
    counters.connect_timeouts++;
    db_drop(d, "connect timed out");
}

static void on_retry(void *arg)
{
    connect_async(arg);
}

static void deliver_notifies(struct db *d)
{
    PGnotify *n;
    while ((n = PQnotifies(d->conn)) != NULL) {
        if (d->notify_cb)
            d->notify_cb(d->cb_arg, n->relname, n->extra);
        PQfreemem(n);
    }
}

static void forget_prepared(struct db *d)
{
    for (int i = 0; i < d->n_prepared; i++)
        free(d->prepared[i]);
    d->n_prepared = 0;
}

/* q runs next, before everything queued. */
static void push_front(struct db *d, struct db_query *q)
{
    q->next = d->head;
    d->head = q;
    if (d->tail == NULL)
        d->tail = q;
}

static int prepared_index(const struct db *d, const char *sql)
{
    for (int i = 0; i < d->n_prepared; i++)
        if (strcmp(d->prepared[i], sql) == 0)
            return i;
    return -1;
}

/* The PREPARE of the query in flight was answered: the query itself goes next (by name
 * when the PREPARE worked, with its text when not), unless its owner gave up meanwhile. */
static void prepared(struct db *d, struct db_query *q, PGresult *res)
{
    q->preparing = 0;
    if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK)
        d->prepared[d->n_prepared++] = strdup(q->sql);
    else
        q->unprepared = 1;   /* its own run reports what is wrong with it */
    if (res != NULL)
        PQclear(res);
    if (q->abandoned)
        query_free(q);
    else
        push_front(d, q);
}

static void query_done(struct db *d)
{
    struct db_query *q = d->inflight;
    PGresult *res = d->last;
    d->inflight = NULL;
    d->last = NULL;
    loop_timer_stop(d->deadline);
    if (q->preparing) {
        prepared(d, q, res);
        return;
    }
    if (!q->abandoned && has_deadline(q) && d->reported_slow) {
        log_info("database: answers within the deadline again");
        d->reported_slow = 0;
    }
    if (res == NULL) {
        fail_query(q, "no result");
    } else {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            if (q->cb && !q->internal)
                q->cb(q->arg, res, NULL);
        } else {
            char why[512];
            snprintf(why, sizeof(why), "%s", PQresultErrorMessage(res));
            db_one_line(why);
            if (q->internal)
                log_warnx("database: %s: %s", q->sql, why);
            if (q->cb && !q->internal)
                q->cb(q->arg, NULL, why);
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            if (state && strcmp(state, "0A000") == 0 && d->n_prepared > 0) {
                /* "cached plan must not change result type": a table changed under a
                 * prepared statement; prepare them again */
                forget_prepared(d);
                push_front(d, internal_query("DEALLOCATE ALL"));
            }
            if (db_error_means_reconnect(state) && d->conn) {
                /* this server cannot take our writes (any more): the next host may */
                char drop[600];
                snprintf(drop, sizeof(drop), "%s:%s: %s (SQLSTATE %s); reconnecting",
                         PQhost(d->conn), PQport(d->conn), why, state);
                PQclear(res);
                query_free(q);
                d->reported_down = 0;   /* a new fault: say so even if one was logged */
                db_drop(d, drop);
                return;
            }
        }
        PQclear(res);
        query_free(q);
    }
}

static void read_results(struct db *d)
{
    /* an idle connection also wakes us when the server goes away: notice it now,
     * not at the next query, so LISTEN is renewed before anyone relies on it */
    if (!PQconsumeInput(d->conn) || PQstatus(d->conn) == CONNECTION_BAD) {
        db_drop(d, PQerrorMessage(d->conn));
        return;
    }
    while (d->inflight && !PQisBusy(d->conn)) {
        PGresult *r = PQgetResult(d->conn);
        if (r == NULL) {
            query_done(d);
            break;
        }
        if (d->last)
            PQclear(d->last);
        d->last = r;
    }
    if (d->conn)
        deliver_notifies(d);
    if (d->conn && d->inflight == NULL)
        db_dispatch(d);
}

const char db_sync_commit_sql[] = "SELECT current_setting('synchronous_commit')";

int db_sync_commit_verdict(const PGresult *res, char *why, size_t len)
{
    why[0] = '\0';
    if (PQntuples(res) != 1 || PQnfields(res) != 1)
        return -1;
    const char *v = PQgetvalue(res, 0, 0);
    if (!strcmp(v, "on") || !strcmp(v, "remote_write") || !strcmp(v, "remote_apply"))
        return 0;
    snprintf(why, len, "synchronous_commit is '%s' on the server, and through a pooler in "
             "transaction mode (database_pool_mode) our sessions cannot set it: a committed "
             "claim could be lost; set it for the role (ALTER ROLE ... SET synchronous_commit "
             "= on)", v);
    return 1;
}

/* Behind a transaction pooler: the server's own setting must make our commits durable. */
static void sync_commit_checked(void *arg, PGresult *res, const char *err)
{
    struct db *d = arg;
    char why[300], drop[400];
    if (d->closing || d->state != DB_UP)
        return;   /* the session ended first: the next one is checked */
    int verdict = res != NULL ? db_sync_commit_verdict(res, why, sizeof(why)) : -1;
    if (verdict == 0)
        return;   /* durable: the queries behind it go on */
    if (verdict < 0)   /* refused or a strange answer: nothing may go on unchecked */
        snprintf(why, sizeof(why), "checking synchronous_commit: %s", err ? err : "unexpected answer");
    snprintf(drop, sizeof(drop), "%s; reconnecting", why);
    d->reported_down = 0;
    db_drop(d, drop);
}

static void on_connected(struct db *d)
{
    loop_timer_stop(d->deadline);
    counters.connected++;
    d->state = DB_UP;
    d->backoff_ns = BACKOFF_MIN_NS;
    d->connect_wait_ns = d->deadline_ns;
    if (d->reported_down) {
        log_info("database: connected to %s:%s", PQhost(d->conn), PQport(d->conn));
        d->reported_down = 0;
    }
    /* LISTEN is per session: renew it before anyone relies on notifications; and no
     * write of ours may be acknowledged before it is durable. */
    d->sync_checked_ns = now_ns();
    for (int i = d->listening ? d->n_channels - 1 : -1; i >= -1; i--) {
        struct db_query *q = i >= 0 ? listen_query(d->channels[i])
                             : pool_transaction ? check_query(db_sync_commit_sql,
                                                              sync_commit_checked, d)
                                                : internal_query("SET synchronous_commit = on");
        push_front(d, q);
    }
    watch_fd(d, EPOLLIN);
    if (d->state_cb)
        d->state_cb(d->cb_arg, 1, NULL);
    if (d->state == DB_UP)
        db_query(d, db_replication_sql, 0, NULL, replication_checked, d);
    if (d->state == DB_UP)
        db_dispatch(d);
}

static void connect_poll(struct db *d)
{
    PostgresPollingStatusType st = PQconnectPoll(d->conn);
    /* libpq may move to another socket (multi-host conninfo, retry without SSL). */
    int fd = PQsocket(d->conn);
    if (fd != d->fd && d->fd >= 0) {
        loop_del_fd(d->loop, d->fd);
        d->fd = -1;
    }
    switch (st) {
    case PGRES_POLLING_READING:
        watch_fd(d, EPOLLIN);
        break;
    case PGRES_POLLING_WRITING:
        watch_fd(d, EPOLLOUT);
        break;
    case PGRES_POLLING_OK:
        on_connected(d);
        break;
    default:
        db_drop(d, PQerrorMessage(d->conn));
        break;
    }
}

static void on_fd(void *arg, int fd, uint32_t events)
{
    struct db *d = arg;
    if (d->state == DB_CONNECTING) {
        connect_poll(d);
        return;
    }
    if (events & EPOLLOUT) {
        int rc = PQflush(d->conn);
        if (rc < 0) {
            db_drop(d, PQerrorMessage(d->conn));
            return;
        }
        if (rc == 0)
            watch_fd(d, EPOLLIN);
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        read_results(d);
}

static void watch_fd(struct db *d, uint32_t events)
{
    int fd = PQsocket(d->conn);
    if (fd < 0)
        return;
    if (d->fd == fd) {
        loop_mod_fd(d->loop, fd, events);
        return;
    }
    if (d->fd >= 0)
        loop_del_fd(d->loop, d->fd);
    d->fd = fd;
    if (loop_add_fd(d->loop, fd, events, on_fd, d) < 0)
        fatal("loop_add_fd %d", fd);
}

static void connect_async(struct db *d)
{
    counters.connects++;
    d->conn = db_start_connect(d->conninfo, d->deadline_ns);
    if (d->conn == NULL)
        fatal("PQconnectStartParams: out of memory");
    if (PQstatus(d->conn) == CONNECTION_BAD) {
        db_drop(d, PQerrorMessage(d->conn));
        return;
    }
    PQsetnonblocking(d->conn, 1);
    d->state = DB_CONNECTING;
    d->connect_start_ns = now_ns();
    loop_timer_after(d->deadline, d->connect_wait_ns);
    watch_fd(d, EPOLLOUT);
}

static struct db_query *internal_query(const char *sql)
{
    struct db_query *q = calloc(1, sizeof(*q));
    if (q == NULL)
        fatal("calloc");
    q->sql = strdup(sql);
    q->internal = 1;   /* not reported to anyone */
    return q;
}

/* Asked before anything else on a new session, and nothing else is sent before its answer:
 * no deadline of its own (a pooler may start a server session for it first), the
 * silence rule bounds it; cb is told the answer or why there is none. */
static struct db_query *check_query(const char *sql, db_result_cb cb, void *arg)
{
    struct db_query *q = calloc(1, sizeof(*q));
    if (q == NULL || (q->params = calloc(1, sizeof(char *))) == NULL)
        fatal("calloc");
    q->sql = strdup(sql);
    q->cb = cb;
    q->arg = arg;
    q->patient = 1;
    return q;
}

static struct db_query *listen_query(const char *channel)
{
    char sql[112];
    snprintf(sql, sizeof(sql), "LISTEN %s", channel);
    return internal_query(sql);
}

static void enqueue(struct db *d, struct db_query *q)
{
    q->due_ns = now_ns() + d->deadline_ns;
    struct db_query **pp = &d->head;
    if (q->patient)   /* before the routine queries, after the verbs asked earlier */
        while (*pp && (*pp)->patient)
            pp = &(*pp)->next;
    else
        pp = d->tail ? &d->tail->next : &d->head;
    q->next = *pp;
    *pp = q;
    if (q->next == NULL)
        d->tail = q;
    db_dispatch(d);
    if (d->state == DB_UP && d->inflight != q)
        arm_deadline(d);   /* waits behind another: its own deadline may come first */
}

static void db_dispatch(struct db *d)
{
    if (d->state != DB_UP || d->inflight || d->head == NULL)
        return;
    struct db_query *q = d->head;
    d->head = q->next;
    if (d->head == NULL)
        d->tail = NULL;
    d->inflight = q;
    int ok, i = -1;
    char name[16];
    if (q->nparams > 0 && !q->internal && !q->unprepared && !pool_transaction) {
        i = prepared_index(d, q->sql);
        q->preparing = i < 0 && d->n_prepared < DB_MAX_PREPARED;
        snprintf(name, sizeof(name), "hs%d", i < 0 ? d->n_prepared : i);
    }
    if (q->preparing)
        ok = PQsendPrepare(d->conn, name, q->sql, q->nparams, NULL);
    else if (i >= 0)
        ok = PQsendQueryPrepared(d->conn, name, q->nparams, (const char *const *)q->params,
                                 NULL, NULL, 0);
    else if (q->nparams == 0 && q->internal)
        ok = PQsendQuery(d->conn, q->sql);
    else
        ok = PQsendQueryParams(d->conn, q->sql, q->nparams, NULL,
                               (const char *const *)q->params, NULL, NULL, 0);
    if (!ok) {
        db_drop(d, PQerrorMessage(d->conn));
        return;
    }
    d->inflight_sent_ns = now_ns();
    arm_deadline(d);
    int rc = PQflush(d->conn);
    if (rc < 0)
        db_drop(d, PQerrorMessage(d->conn));
    else
        watch_fd(d, rc == 1 ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

struct db *db_new(struct loop *l, const char *conninfo, int64_t deadline_ns)
{
    struct db *d = calloc(1, sizeof(*d));
    if (d == NULL)
        fatal("calloc");
    d->loop = l;
    d->conninfo = strdup(conninfo);
    d->deadline_ns = deadline_ns;
    d->connect_wait_ns = deadline_ns;
    d->fd = -1;
    d->listening = !pool_transaction;
    d->backoff_ns = BACKOFF_MIN_NS;
    d->jitter = (unsigned int)getpid() ^ (unsigned int)(uintptr_t)d ^ (unsigned int)now_ns();
    d->deadline = loop_timer_new(l, on_deadline, d);
    d->retry = loop_timer_new(l, on_retry, d);
    connect_async(d);
    return d;
}

void db_free(struct db *d)
{
    if (d == NULL)
        return;
    d->state_cb = NULL;
    d->closing = 1;   /* callbacks below may try to queue more: refused */
    if (d->fd >= 0)
        loop_del_fd(d->loop, d->fd);
    if (d->conn)
        PQfinish(d->conn);
    forget_prepared(d);
    if (d->last)
        PQclear(d->last);
    /* every owner hears about its query, so nothing it allocated for the answer leaks */
    struct db_query *q = d->inflight;
    d->inflight = NULL;
    if (q)
        fail_query(q, "shutting down");
    while ((q = d->head) != NULL) {
        d->head = q->next;
        fail_query(q, "shutting down");
    }
    loop_timer_free(d->deadline);
    loop_timer_free(d->retry);
    free(d->conninfo);
    free(d);
}

void db_set_callbacks(struct db *d, db_state_cb state, db_notify_cb notify, void *arg)
{
    d->state_cb = state;
    d->notify_cb = notify;
    d->cb_arg = arg;
}

void db_listen(struct db *d, const char *channel)
{
    if (d->n_channels >= DB_MAX_CHANNELS)
        fatalx("db_listen: too many channels");
    snprintf(d->channels[d->n_channels++], sizeof(d->channels[0]), "%s", channel);
    if (d->state == DB_UP && d->listening)
        enqueue(d, listen_query(channel));
}

void db_set_listening(struct db *d, int on)
{
    on = on && !pool_transaction;   /* a pooled session LISTENs on no server session */
    if (on == d->listening)
        return;
    d->listening = on;
    if (d->state != DB_UP)
        return;   /* the connect does what the setting says */
    if (!on)
        enqueue(d, internal_query("UNLISTEN *"));
    for (int i = 0; on && i < d->n_channels; i++)
        enqueue(d, listen_query(d->channels[i]));
}

/* Pooled: the server's synchronous_commit again, before the next query, once it is due. */
static void sync_recheck(struct db *d)
{
    if (!pool_transaction)
        return;
    int64_t every = SYNC_RECHECK_DEADLINES * d->deadline_ns, now = now_ns();
    every = every < SYNC_RECHECK_MIN_NS ? SYNC_RECHECK_MIN_NS
            : every > SYNC_RECHECK_MAX_NS ? SYNC_RECHECK_MAX_NS : every;
    if (now - d->sync_checked_ns < every)
        return;
    d->sync_checked_ns = now;
    push_front(d, check_query(db_sync_commit_sql, sync_commit_checked, d));
}

static int query_new(struct db *d, const char *sql, int nparams, const char *const *params,
                     db_result_cb cb, void *arg, int patient)
{
    if (d->state != DB_UP || d->closing)
        return -1;
    struct db_query *q = calloc(1, sizeof(*q));
    if (q == NULL)
        fatal("calloc");
    q->sql = strdup(sql);
    q->nparams = nparams;
    q->params = calloc(nparams > 0 ? nparams : 1, sizeof(char *));
    for (int i = 0; i < nparams; i++)
        q->params[i] = params[i] ? strdup(params[i]) : NULL;
    q->cb = cb;
    q->arg = arg;
    q->patient = patient;
    q->unprepared = patient;   /* rare: its text, in one round trip */
    sync_recheck(d);
    enqueue(d, q);
    return 0;
}

int db_query(struct db *d, const char *sql, int nparams, const char *const *params,
             db_result_cb cb, void *arg)
{
    return query_new(d, sql, nparams, params, cb, arg, 0);
}

int db_query_patient(struct db *d, const char *sql, int nparams, const char *const *params,
                     db_result_cb cb, void *arg)
{
    return query_new(d, sql, nparams, params, cb, arg, 1);
}

int db_connected(const struct db *d) { return d->state == DB_UP; }

void db_beat_channel(const char *cluster, char *out, size_t len)
{
    /* cut at 63 bytes as SQL_RENEW's left(..., 63); quoted for LISTEN. Cluster names are
     * letters, digits, '-', '_' and '.' (conf.c): nothing inside needs escaping */
    char name[64];
    snprintf(name, sizeof(name), "%s%s", SQL_BEAT_CHANNEL_PREFIX, cluster);
    snprintf(out, len, "\"%s\"", name);
}

void db_crowd_init(struct db_crowd *c, int64_t interval_ns)
{
    int64_t p = 10 * interval_ns;
    p = p < 2 * NS_PER_SEC ? 2 * NS_PER_SEC : p > 60 * NS_PER_SEC ? 60 * NS_PER_SEC : p;
    *c = (struct db_crowd){.few = !pool_transaction, .period_ns = p};
}

void db_crowd_follow(struct db_crowd *c, struct db *d)
{
    if (c->n_listeners >= (int)(sizeof(c->listeners) / sizeof(c->listeners[0])))
        fatalx("db_crowd_follow: too many sessions");
    c->listeners[c->n_listeners++] = d;
    db_set_listening(d, c->counted && c->few);
}

static void crowd_counted(void *arg, PGresult *res, const char *err)
{
    struct db_crowd *c = arg;
    c->inflight = 0;
    if (res == NULL || PQntuples(res) != 1) {
        c->next_ns = 0;   /* again at the next tick */
        return;
    }
    long n = atol(PQgetvalue(res, 0, 0));
    int few = n <= DB_CROWD_MAX_CLUSTERS;
    /* what follows for this process: [listens][few] */
    static const char *const follows[2][2] = {
        {"renewals notify nobody; standbys learn of them by reading once per interval",
         "renewals notify the standbys again"},
        {"listening to no notification; changes are learnt by reading once per interval",
         "listening to notifications again"},
    };
    int listens = c->n_listeners > 0;
    /* a listener says so at the first count too: it did not listen before it */
    if (few != c->few || (listens && !c->counted && !few))
        log_info("the database holds %s%ld clusters: %s (every NOTIFY wakes every listening "
                 "session of the database; at most %d clusters notify and listen)",
                 few ? "" : "more than ", few ? n : DB_CROWD_MAX_CLUSTERS, follows[listens][few],
                 DB_CROWD_MAX_CLUSTERS);
    c->few = few;
    c->counted = 1;
    for (int i = 0; i < c->n_listeners; i++)
        db_set_listening(c->listeners[i], few);
}

void db_crowd_tick(struct db_crowd *c, struct db *d)
{
    int64_t now = now_ns();
    if (pool_transaction && !c->counted) {
        /* crowded for good: nothing to count */
        log_info("database_pool_mode = transaction: %s (a pooled session LISTENs on no server "
                 "session)", c->n_listeners > 0
                     ? "listening to no notification; changes are learnt by reading once per interval"
                     : "renewals notify nobody; standbys learn of them by reading once per interval");
        c->counted = 1;
    }
    if (pool_transaction || c->inflight || now < c->next_ns || !db_connected(d))
        return;
    /* spread over a quarter of the period, so that nodes started together do not count
     * together for ever */
    int64_t spread = c->period_ns / 4;
    c->next_ns = now + c->period_ns - spread + (int64_t)(rand() % 1000) * spread / 1000;
    if (db_query(d, SQL_CLUSTER_COUNT, 0, NULL, crowd_counted, c) == 0)
        c->inflight = 1;
}

const char *db_crowd_notify_param(const struct db_crowd *c)
{
    return c->few ? "true" : "false";
}

int node_row_due(int64_t now_ns, int64_t written_ns, int64_t interval_ns, int64_t takeover_ns)
{
    if (written_ns <= 0 || now_ns < written_ns)
        return 1;
    /* skip this tick only if the next one still leaves the margin before the timeout */
    int64_t margin = interval_ns / 2 > takeover_ns / 4 ? interval_ns / 2 : takeover_ns / 4;
    return now_ns - written_ns + interval_ns > takeover_ns - margin;
}

static void node_row_done(void *arg, PGresult *res, const char *err)
{
    struct node_row *r = arg;
    (void)err;
    r->inflight = 0;
    if (res == NULL)
        return;   /* not written: due at the next tick */
    r->written_ns = r->sent_ns;
    memcpy(r->said, r->saying, sizeof(r->said));
}

int node_row_tick(struct node_row *r, struct db *d, const char *const params[8],
                  int64_t interval_ns, int64_t takeover_ns, int force)
{
    if (r->inflight || !db_connected(d))
        return 0;
    char saying[sizeof(r->saying)];
    size_t off = 0;
    for (int i = 0; i < 8 && off < sizeof(saying); i++)
        off += (size_t)snprintf(saying + off, sizeof(saying) - off, "%s\x1f", params[i]);
    int64_t now = now_ns();
    if (!force && strcmp(saying, r->said) == 0 &&
        !node_row_due(now, r->written_ns, interval_ns, takeover_ns))
        return 0;
    if (db_query(d, SQL_POOLED(SQL_NODE_SEEN), 8, params, node_row_done, r) != 0)
        return 0;
    r->inflight = 1;
    r->sent_ns = now;
    memcpy(r->saying, saying, sizeof(r->saying));
    return 1;
}

const char *db_replication_risk(const struct db *d)
{
    return d->replication_risk[0] ? d->replication_risk : NULL;
}

static void replication_checked(void *arg, PGresult *res, const char *err)
{
    struct db *d = arg;
    char why[sizeof(d->replication_risk)];
    if (res == NULL || d->closing)
        return;   /* dropped or refused (pg_stat_replication hidden): nothing to say */
    if (db_replication_verdict(res, why, sizeof(why)) < 0)
        return;
    if (strcmp(why, d->replication_risk) != 0) {
        if (why[0])
            log_warnx("database: %s", why);
        else if (d->replication_risk[0])
            log_info("database: the arbiter's replication is synchronous again");
    }
    snprintf(d->replication_risk, sizeof(d->replication_risk), "%s", why);
}

