/*
 * pq_lazy.h: libpq loaded when first needed, for a program whose resident process never
 * talks to the database (syncd: only `--serve`'s epoch check, `--once` and `-t` do).
 * Such a program links common/pq_lazy.o instead of -lpq: it defines the PQ* functions
 * that common/db*.c and conf_db.c call and forwards them to libpq.so.5, opened with
 * dlopen on the first call. A library named in DT_NEEDED is mapped at exec, with its
 * whole chain (OpenSSL, Kerberos, LDAP, GnuTLS: ~400 KiB of relocated pages per process),
 * whether it is used or not; this way a process that never calls PQ* never maps it.
 */
#ifndef HS_PQ_LAZY_H
#define HS_PQ_LAZY_H

#include <stddef.h>

/* Opens libpq.so.5 now (once). 0, or -1 with the reason in err: a caller that can say
 * what it was about to do calls this first; a PQ* call without it exits with the reason. */
int pq_lazy_load(char *err, size_t errlen);
/* 1 once libpq is mapped into this process (tests, logs). */
int pq_lazy_loaded(void);

#endif
