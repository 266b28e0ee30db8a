/*
 * db_wait.c: blocking PostgreSQL access for commands (vipctl, hotstandby-clone) and for
 * watchd's start-up: the same deadlines as db.c, with poll() instead of the loop.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "db_internal.h"
#include "log.h"

static int wait_fd(PGconn *conn, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = (deadline - now_ns()) / NS_PER_MS;
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = PQsocket(conn), .events = events};
        int rc = poll(&p, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        return rc;
    }
}

/* Behind a transaction pooler no session of ours can ask for durable commits (db.c): the
 * server's setting must give them, or this connection is refused. */
static PGconn *sync_commit_checked(PGconn *conn, int64_t deadline, char *err, size_t errlen)
{
    int64_t left_ms = (deadline - now_ns()) / NS_PER_MS;
    PGresult *r = db_exec_wait(conn, db_sync_commit_sql, 0, NULL, left_ms > 1 ? (int)left_ms : 1,
                               err, errlen);
    if (r == NULL) {
        PQfinish(conn);
        return NULL;
    }
    int verdict = db_sync_commit_verdict(r, err, errlen);
    PQclear(r);
    if (verdict == 0)
        return conn;
    if (verdict < 0)
        snprintf(err, errlen, "%s: unexpected answer", db_sync_commit_sql);
    PQfinish(conn);
    return NULL;
}

PGconn *db_connect_wait(const char *conninfo, int timeout_ms, char *err, size_t errlen)
{
    int64_t deadline = now_ns() + (int64_t)timeout_ms * NS_PER_MS;
    PGconn *conn = db_start_connect(conninfo, (int64_t)timeout_ms * NS_PER_MS);
    if (conn == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (PQstatus(conn) != CONNECTION_BAD) {
        if (st == PGRES_POLLING_OK) {
            PQsetnonblocking(conn, 1);
            return db_pool_transaction() ? sync_commit_checked(conn, deadline, err, errlen)
                                         : conn;
        }
        if (st == PGRES_POLLING_FAILED)
            break;
        int rc = wait_fd(conn, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
        if (rc <= 0) {
            snprintf(err, errlen, "connect timed out after %d ms", timeout_ms);
            PQfinish(conn);
            return NULL;
        }
        st = PQconnectPoll(conn);
    }
    snprintf(err, errlen, "%s", PQerrorMessage(conn));
    db_one_line(err);
    PQfinish(conn);
    return NULL;
}

/* As db_exec_wait; an error the server answered leaves its SQLSTATE in state, else "". */
static PGresult *exec_wait(PGconn *conn, const char *sql, int nparams, const char *const *params,
                           int timeout_ms, char *err, size_t errlen, char state[6])
{
    state[0] = '\0';
    int64_t deadline = now_ns() + (int64_t)timeout_ms * NS_PER_MS;
    int ok = nparams == 0 ? PQsendQuery(conn, sql)
                          : PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (!ok)
        goto fail;
    int rc;
    while ((rc = PQflush(conn)) == 1)
        if (wait_fd(conn, POLLOUT, deadline) <= 0) {
            snprintf(err, errlen, "query timed out after %d ms (not all sent)", timeout_ms);
            return NULL;
        }
    if (rc < 0)
        goto fail;
    PGresult *last = NULL, *r;
    for (;;) {
        while (PQisBusy(conn)) {
            if (wait_fd(conn, POLLIN, deadline) <= 0) {
                if (last)
                    PQclear(last);
                goto timeout;
            }
            if (!PQconsumeInput(conn)) {
                if (last)
                    PQclear(last);
                goto fail;
            }
        }
        r = PQgetResult(conn);
        if (r == NULL)
            break;
        if (last) {
            /* keep the first error of a multi-statement string, else the last result */
            ExecStatusType st = PQresultStatus(last);
            if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
                PQclear(r);
                continue;
            }
            PQclear(last);
        }
        last = r;
    }
    if (last == NULL) {
        snprintf(err, errlen, "no result");
        return NULL;
    }
    ExecStatusType st = PQresultStatus(last);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *code = PQresultErrorField(last, PG_DIAG_SQLSTATE);
        snprintf(state, 6, "%s", code ? code : "");
        snprintf(err, errlen, "%s", PQresultErrorMessage(last));
        db_one_line(err);
        PQclear(last);
        return NULL;
    }
    return last;
timeout:
    /* the server has it: a change it makes may still be committed after we gave up */
    snprintf(err, errlen, "query timed out after %d ms (sent: a change it makes may still "
             "take effect)", timeout_ms);
    return NULL;
fail:
    snprintf(err, errlen, "%s", PQerrorMessage(conn));
    db_one_line(err);
    return NULL;
}

PGresult *db_exec_wait(PGconn *conn, const char *sql, int nparams, const char *const *params,
                       int timeout_ms, char *err, size_t errlen)
{
    char state[6];
    return exec_wait(conn, sql, nparams, params, timeout_ms, err, errlen, state);
}

int db_check_replication(PGconn *conn, int timeout_ms, char *why, size_t len)
{
    PGresult *r = db_exec_wait(conn, db_replication_sql, 0, NULL, timeout_ms, why, len);
    if (r == NULL)
        return -1;
    int rc = db_replication_verdict(r, why, len);
    if (rc < 0)
        snprintf(why, len, "unexpected answer from pg_stat_replication");
    PQclear(r);
    return rc;
}

/* Same key for every hotstandby process: "hsschema" as an int64. */
#define SCHEMA_LOCK_KEY "7522018851094111589"

/* The version schema.sql ends with ("-- hs-schema-version: N" and the UPDATE after it). */
int db_schema_version(void)
{
    static const char mark[] = "\n-- hs-schema-version: ";
    const char *p = strstr(db_schema_sql, mark);
    if (p == NULL)
        fatalx("schema.sql has no hs-schema-version line");
    return atoi(p + strlen(mark));
}

int db_apply_schema(PGconn *conn, int timeout_ms, char *err, size_t errlen)
{
    char e[512];
    /* Already there (perhaps applied by hand for a user without DDL rights): done. */
    PGresult *r = db_exec_wait(conn,
                               "SELECT max(schema_version) FROM hs_meta "
                               "WHERE to_regclass('hs_event') IS NOT NULL",
                               0, NULL, timeout_ms, e, sizeof(e));
    if (r == NULL && (PQstatus(conn) != CONNECTION_OK || PQisBusy(conn))) {
        snprintf(err, errlen, "reading the schema version: %s", e);
        return -2;
    }
    if (r != NULL) {
        int have = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) ? atoi(PQgetvalue(r, 0, 0)) : 0;
        PQclear(r);
        if (have >= db_schema_version())
            return 0;
    }
    /* The lock is the transaction's (the whole file is one implicit transaction): it ends
     * with it, even when a statement fails, and it holds behind a pooler in transaction
     * mode, where a session's lock and unlock could reach two server sessions. */
    static const char lock[] = "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK_KEY ");\n";
    char *sql = malloc(sizeof(lock) + strlen(db_schema_sql));
    if (sql == NULL)
        fatal("malloc");
    memcpy(sql, lock, sizeof(lock) - 1);
    strcpy(sql + sizeof(lock) - 1, db_schema_sql);
    char state[6];
    r = exec_wait(conn, sql, 0, NULL, timeout_ms, e, sizeof(e), state);
    free(sql);
    int rc = 0;
    if (r == NULL && (state[0] == '\0' || strcmp(state, "25006") == 0)) {
        /* the database went away, did not answer in time, or is read-only for now (an
         * arbiter between failover steps): try again later */
        snprintf(err, errlen, "applying the schema: %s", e);
        return -2;
    } else if (r == NULL) {
        snprintf(err, errlen,
                 "applying the schema failed (%s); a database user without DDL rights "
                 "needs " HS_SCHEMA_FILE " applied by hand (psql -f)",
                 e);
        rc = -1;
    } else {
        PQclear(r);
    }
    return rc;
}
