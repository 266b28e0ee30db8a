/* db_internal.h: what db.c and db_wait.c share; not for other files. */
#ifndef HS_DB_INTERNAL_H
#define HS_DB_INTERNAL_H

#include <libpq-fe.h>
#include <stdint.h>

/* Starts a connect with our keepalive / timeout defaults, which the conninfo may override. */
PGconn *db_start_connect(const char *conninfo, int64_t deadline_ns);
/* 1 when conninfo names several hosts and no target_session_attrs (read-write is added). */
int db_wants_read_write(const char *conninfo);
/* libpq messages span lines; log lines must not. */
void db_one_line(char *s);

#endif
