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
int db_connected(const struct db *d);
/* The channel heartbeatd's renewal notifies (SQL_RENEW), quoted for db_listen. */
void db_beat_channel(const char *cluster, char *out, size_t len);

/* Blocking variants for commands (vipctl, hotstandby-clone) and for tests. */
PGconn *db_connect_wait(const char *conninfo, int timeout_ms, char *err, size_t errlen);
PGresult *db_exec_wait(PGconn *conn, const char *sql, int nparams, const char *const *params,
                       int timeout_ms, char *err, size_t errlen);

/* Where make install puts schema.sql (for the operator who applies it by hand). */
#ifndef HS_PKGDATADIR
#define HS_PKGDATADIR "/usr/local/share/hotstandby"
#endif
#define HS_SCHEMA_FILE HS_PKGDATADIR "/schema.sql"

/* Applies common/schema.sql (compiled in) idempotently under pg_advisory_lock. */
int db_apply_schema(PGconn *conn, int timeout_ms, char *err, size_t errlen);
extern const char db_schema_sql[];


#endif
