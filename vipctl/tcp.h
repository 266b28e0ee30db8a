/* tcp.h: one request and its answer over a fresh TCP connection, each behind its length
 * (2 bytes for DNS, RFC 1035 4.2.2; 4 bytes for Kerberos, RFC 4120 7.2.2), within a
 * deadline (tcp.c). Used for the KDC and for GSS-TSIG's large messages. */
#ifndef HS_TCP_H
#define HS_TCP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Returns 0 with the answer in *rep (malloc'ed, at most 1 MiB), or -1 with errno
 * (ETIMEDOUT when the deadline, ns of now_ns(), passed). */
int tcp_exchange(const struct sockaddr_storage *ss, socklen_t sslen, int len_bytes,
                 const void *req, size_t reqlen, void **rep, size_t *replen, int64_t deadline);

#endif
