/* kdc.h: Kerberos messages to one KDC over TCP, with bounded waits (kdc.c). */
#ifndef HS_KDC_H
#define HS_KDC_H

#include <stddef.h>
#include <sys/socket.h>

struct kdc {
    struct sockaddr_storage ss;
    socklen_t sslen;
    char name[256];             /* host[:port] as configured, for messages */
};

/* "host", "host:port", "[v6]:port"; port 88 by default. */
int kdc_resolve(struct kdc *k, const char *hostport, char *err, size_t errlen);
/* Sends req and returns the KDC's answer in *rep (malloc'ed), trying 3 times within 4.5 s;
 * -1 with err ("cannot reach the KDC at ...") otherwise. */
int kdc_exchange(const struct kdc *k, const void *req, size_t reqlen, void **rep, size_t *replen,
                 char *err, size_t errlen);

#endif
