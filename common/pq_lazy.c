/*
 * pq_lazy.c: the PQ* functions hotstandby calls, forwarded to libpq.so.5 opened on first
 * use (pq_lazy.h says why). Not part of libhs.a: only a program that links it instead of
 * -lpq gets it. Each function has the prototype of <libpq-fe.h> (the compiler checks the
 * definition against it), and a call that libhs makes and this list lacks fails that
 * program's link, never its run.
 */
#include <dlfcn.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "log.h"
#include "pq_lazy.h"

#define LIBPQ "libpq.so.5"

static void *libpq;

int pq_lazy_load(char *err, size_t errlen)
{
    if (libpq)
        return 0;
    libpq = dlopen(LIBPQ, RTLD_NOW | RTLD_LOCAL);
    if (!libpq) {
        snprintf(err, errlen, "cannot load the PostgreSQL client library: %s (install libpq5)",
                 dlerror());
        return -1;
    }
    return 0;
}

int pq_lazy_loaded(void)
{
    return libpq != NULL;
}

static void *pq_sym(const char *name)
{
    char err[512];
    if (pq_lazy_load(err, sizeof(err)) < 0)
        fatalx("%s", err);
    void *fn = dlsym(libpq, name);
    if (!fn)
        fatalx("%s has no %s: %s", LIBPQ, name, dlerror());
    return fn;
}

/* ret name params: calls the library's name with args. */
#define PQ_FORWARD(ret, name, params, args)                                                  \
    ret name params                                                                          \
    {                                                                                        \
        static __typeof__(name) *fn;                                                         \
        if (!fn)                                                                             \
            fn = (__typeof__(name) *)pq_sym(#name);                                          \
        return fn args;                                                                      \
    }
#define PQ_FORWARD_VOID(name, params, args)                                                  \
    void name params                                                                         \
    {                                                                                        \
        static __typeof__(name) *fn;                                                         \
        if (!fn)                                                                             \
            fn = (__typeof__(name) *)pq_sym(#name);                                          \
        fn args;                                                                             \
    }

/* connections (db.c, db_wait.c) */
PQ_FORWARD(PGconn *, PQconnectStartParams,
           (const char *const *keywords, const char *const *values, int expand_dbname),
           (keywords, values, expand_dbname))
PQ_FORWARD(PostgresPollingStatusType, PQconnectPoll, (PGconn *conn), (conn))
PQ_FORWARD(ConnStatusType, PQstatus, (const PGconn *conn), (conn))
PQ_FORWARD(int, PQsocket, (const PGconn *conn), (conn))
PQ_FORWARD(char *, PQhost, (const PGconn *conn), (conn))
PQ_FORWARD(char *, PQport, (const PGconn *conn), (conn))
PQ_FORWARD(char *, PQerrorMessage, (const PGconn *conn), (conn))
PQ_FORWARD(int, PQsetnonblocking, (PGconn *conn, int arg), (conn, arg))
PQ_FORWARD_VOID(PQfinish, (PGconn *conn), (conn))

/* conninfo (conf_db.c, db.c) */
PQ_FORWARD(PQconninfoOption *, PQconninfoParse, (const char *conninfo, char **errmsg),
           (conninfo, errmsg))
PQ_FORWARD_VOID(PQconninfoFree, (PQconninfoOption *connOptions), (connOptions))
PQ_FORWARD_VOID(PQfreemem, (void *ptr), (ptr))

/* queries */
PQ_FORWARD(int, PQsendQuery, (PGconn *conn, const char *query), (conn, query))
PQ_FORWARD(int, PQsendQueryParams,
           (PGconn *conn, const char *command, int nParams, const Oid *paramTypes,
            const char *const *paramValues, const int *paramLengths, const int *paramFormats,
            int resultFormat),
           (conn, command, nParams, paramTypes, paramValues, paramLengths, paramFormats,
            resultFormat))
PQ_FORWARD(int, PQsendPrepare,
           (PGconn *conn, const char *stmtName, const char *query, int nParams,
            const Oid *paramTypes),
           (conn, stmtName, query, nParams, paramTypes))
PQ_FORWARD(int, PQsendQueryPrepared,
           (PGconn *conn, const char *stmtName, int nParams, const char *const *paramValues,
            const int *paramLengths, const int *paramFormats, int resultFormat),
           (conn, stmtName, nParams, paramValues, paramLengths, paramFormats, resultFormat))
PQ_FORWARD(int, PQflush, (PGconn *conn), (conn))
PQ_FORWARD(int, PQconsumeInput, (PGconn *conn), (conn))
PQ_FORWARD(int, PQisBusy, (PGconn *conn), (conn))
PQ_FORWARD(PGresult *, PQgetResult, (PGconn *conn), (conn))
PQ_FORWARD(PGnotify *, PQnotifies, (PGconn *conn), (conn))

/* results */
PQ_FORWARD(ExecStatusType, PQresultStatus, (const PGresult *res), (res))
PQ_FORWARD(char *, PQresultErrorMessage, (const PGresult *res), (res))
PQ_FORWARD(char *, PQresultErrorField, (const PGresult *res, int fieldcode), (res, fieldcode))
PQ_FORWARD(int, PQntuples, (const PGresult *res), (res))
PQ_FORWARD(int, PQnfields, (const PGresult *res), (res))
PQ_FORWARD(char *, PQgetvalue, (const PGresult *res, int tup_num, int field_num),
           (res, tup_num, field_num))
PQ_FORWARD(int, PQgetisnull, (const PGresult *res, int tup_num, int field_num),
           (res, tup_num, field_num))
PQ_FORWARD_VOID(PQclear, (PGresult *res), (res))
