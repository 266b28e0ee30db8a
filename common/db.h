/* db.h: PostgreSQL access. Every connect and query has a deadline of our own. */
#ifndef HS_DB_H
#define HS_DB_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct db;

/*
 * Asynchronous handle for daemons: queries are queued and run one at a time on a
 * nonblocking connection watched by the loop. A query that misses its deadline drops
 * the connection (a hung server must not hang the daemon) and fails every queued query;
 * reconnects follow with backoff. After each reconnect the LISTEN channels are renewed
 * and the state callback fires, so the owner re-reads what it may have missed.
 */
typedef void (*db_result_cb)(void *arg, PGresult *res, const char *err); /* res freed after */
typedef void (*db_notify_cb)(void *arg, const char *channel, const char *payload);
typedef void (*db_state_cb)(void *arg, int connected, const char *why);

struct db *db_new(struct loop *l, const char *conninfo, int64_t deadline_ns);
void db_free(struct db *d);
void db_set_callbacks(struct db *d, db_state_cb state, db_notify_cb notify, void *arg);
void db_listen(struct db *d, const char *channel);
/* Queues a query. cb may be NULL (fire and forget). Returns 0, or -1 if not connected. */
int db_query(struct db *d, const char *sql, int nparams, const char *const *params,
             db_result_cb cb, void *arg);
/* The same for an operator's verb, whose outcome must be told truly: no deadline. It is
 * sent before the routine queries waiting and answered when the server answers, however
 * late; it fails only if the session ends first (dropped after db_silence_ns without an
 * answer: at most two silences for a patient query), and the error then says "nothing
 * changed" (not sent) or "it may have taken effect" (sent). */
int db_query_patient(struct db *d, const char *sql, int nparams, const char *const *params,
                     db_result_cb cb, void *arg);
/* How long a session whose query was sent may stay silent before it is dropped, for a
 * query deadline: three deadlines, at least 5 s, at most 15 s. */
int64_t db_silence_ns(int64_t deadline_ns);
int db_connected(const struct db *d);
/* What the sessions of this process went through (for hs-loadgen's report). */
struct db_counters {
    long connects, connected, connect_timeouts, silences, dropped_up;
};
void db_get_counters(struct db_counters *out);
/* The channel heartbeatd's renewal notifies (SQL_RENEW), quoted for db_listen. */
void db_beat_channel(const char *cluster, char *out, size_t len);
/*
 * Whether the database is crowded, and what follows from it. Every NOTIFY makes
 * PostgreSQL (up to 18 at least) wake every session of the database that listens to
 * anything, whatever the channel, and each woken session runs a transaction to read the
 * queue: with N clusters renewing that is about 2 N^2 wake-ups per interval (100 clusters
 * at 1 s: 20 000 a second, most of the server's work); and each NOTIFY that commits holds
 * one lock of the whole database through its commit. So while the database holds at most
 * DB_CROWD_MAX_CLUSTERS clusters, heartbeatd's renewals notify the cluster's beat channel
 * and watchd's sessions LISTEN; above it nobody notifies and nobody listens (the schema's
 * triggers still notify a claim or a node's registration, but no session is woken by it).
 * The count is read at the first tick and then every ten intervals (2 s to 60 s), spread a
 * little. Without notifications a node learns of a change at its next read (watchd reads
 * the row once per interval, its peer list every 5 s): a takeover at most an interval
 * later, never earlier, and a switchover request heard up to an interval later: safe.
 */
#define DB_CROWD_MAX_CLUSTERS 16   /* also in schema.sql (hs_few_clusters) and SQL_CLUSTER_COUNT */
struct db_crowd {
    int few;             /* 1: at most DB_CROWD_MAX_CLUSTERS clusters (or not counted yet) */
    int counted;
    int inflight;
    int64_t next_ns;     /* count again from here */
    int64_t period_ns;
    struct db *listeners[2];   /* sessions that LISTEN only while few */
    int n_listeners;
};
void db_crowd_init(struct db_crowd *c, int64_t interval_ns);
/* d LISTENs on its channels only while the count says few; not before the first count. */
void db_crowd_follow(struct db_crowd *c, struct db *d);
/* Call once per interval and after a connect, with the session to count on: counts when due. */
void db_crowd_tick(struct db_crowd *c, struct db *d);
/* SQL_RENEW's $5: whether the renewal notifies ("true" / "false"). */
const char *db_crowd_notify_param(const struct db_crowd *c);
/*
 * heartbeatd's node row (hs_node, SQL_NODE_SEEN): what the node is (address, priority,
 * version, role, state, configuration digest) and that it is live, which every reader
 * judges as seen_at younger than takeover_timeout (the standbys' rank, a switchover's
 * target, vipctl forget, the alerts). It is written at a new connection, at the first
 * tick after what it says changed, and otherwise only when waiting one more interval
 * would leave less than a margin (the larger of half an interval and a quarter of the
 * timeout) before it stops counting as live: every 2 intervals at 1 s / 3 s and at
 * 200 ms / 700 ms (the oldest row 2 s and 0.4 s old), every 4 at 10 s / 60 s (40 s),
 * where it was written every interval (node rows were two of the three commits per
 * cluster and interval).
 * The age counts from when the last write that committed was sent, which is no later
 * than the seen_at it set.
 */
struct node_row {             /* all zero at the start */
    int64_t written_ns;        /* send time of the last write that committed; 0: none */
    int64_t sent_ns;
    int inflight;
    char said[1024];           /* its parameters, as last committed */
    char saying[1024];         /* those of the write in flight */
};
/* Pure: whether a row written (sent) at written_ns must be written again at now_ns. */
int node_row_due(int64_t now_ns, int64_t written_ns, int64_t interval_ns, int64_t takeover_ns);
/* Once per interval (force: after a connect): sends SQL_NODE_SEEN with these parameters
 * on d when due at the current timing or changed. 1 when it sent one. */
int node_row_tick(struct node_row *r, struct db *d, const char *const params[8],
                  int64_t interval_ns, int64_t takeover_ns, int force);
/* [cluster] database_pool_mode = transaction (db.c): every session of this process goes
 * through a pooler in transaction mode. Set once, before the first db_new or connect. */
void db_set_pool_mode(int transaction);
int db_pool_transaction(void);
/* Through such a pooler: the server's synchronous_commit must be durable (1 and why when
 * not, 0 when it is, -1 on a bad result). */
extern const char db_sync_commit_sql[];
int db_sync_commit_verdict(const PGresult *res, char *why, size_t len);

/* LISTEN on the channels given to db_listen only while on (the default); turning it off
 * UNLISTENs at once, turning it on LISTENs at once, and a reconnect follows the setting. */
void db_set_listening(struct db *d, int on);

/* Why the arbiter may lose a committed write (asynchronous replication), or NULL. Checked
 * after every connect; a change is logged. */
const char *db_replication_risk(const struct db *d);

/* Blocking variants for commands (vipctl, hotstandby-clone) and for tests. Every
 * connection asks for synchronous_commit = on in its startup packet (an "options" in the
 * operator's conninfo replaces ours); the daemons' sessions also SET it after connecting. */
PGconn *db_connect_wait(const char *conninfo, int timeout_ms, char *err, size_t errlen);
PGresult *db_exec_wait(PGconn *conn, const char *sql, int nparams, const char *const *params,
                       int timeout_ms, char *err, size_t errlen);

/*
 * The arbiter's replication (for watchd's status and hotstandby-clone's preflight):
 * run db_replication_sql and pass its result to db_replication_verdict, which returns 1 and
 * fills why when replicas exist but none is synchronous, 0 when safe, -1 on a bad result.
 * db_check_replication does both on a blocking connection (-1: query failed, why says so).
 */
extern const char db_replication_sql[];
int db_replication_verdict(const PGresult *res, char *why, size_t len);
int db_check_replication(PGconn *conn, int timeout_ms, char *why, size_t len);
/* SQLSTATEs after which a connection is dropped and the next host tried. */
int db_error_means_reconnect(const char *sqlstate);

/* Where make install puts schema.sql (for the operator who applies it by hand). */
#ifndef HS_PKGDATADIR
#define HS_PKGDATADIR "/usr/local/share/hotstandby"
#endif
#define HS_SCHEMA_FILE HS_PKGDATADIR "/schema.sql"

/* Applies common/schema.sql (compiled in) idempotently under pg_advisory_lock. Returns 0,
 * -1 when the server refused it (no DDL rights, a read-only server: the operator must act),
 * or -2 when the database went away or did not answer within timeout_ms (try again). */
int db_apply_schema(PGconn *conn, int timeout_ms, char *err, size_t errlen);
extern const char db_schema_sql[];
int db_schema_version(void);   /* the one schema.sql raises hs_meta to */


#endif
