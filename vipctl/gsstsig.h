/* gsstsig.h: Kerberos credentials and a GSS-API security context for GSS-TSIG (RFC 3645),
 * as dns_gss.c uses them. No DNS in here, no Kerberos outside. */
#ifndef HS_GSSTSIG_H
#define HS_GSSTSIG_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

struct gsstsig_login;       /* the initial credentials of [dns] user */
struct gsstsig_session;     /* one security context with the DNS server */

/* A token to send or one received. Tokens we made are freed with gsstsig_token_free. */
struct gsstsig_token {
    void *data;
    size_t len;
};
void gsstsig_token_free(struct gsstsig_token *t);

/*
 * Points this process's Kerberos library at a private profile (realm, KDC, no DNS look-ups
 * of KDCs or realms, no silent clock correction), reads the password or keytab of the config
 * (refusing files others can read) and gets the user's initial credentials into a memory
 * credentials cache that dies with them. Returns NULL with a sentence in err.
 */
struct gsstsig_login *gsstsig_login(const struct conf *c, char *err, size_t errlen);
void gsstsig_login_free(struct gsstsig_login *l);

/* Starts a context with service principal `target` (e.g. DNS/dc1.example.com@EXAMPLE.COM):
 * *out is the first token for the TKEY query. NULL with err on failure. */
struct gsstsig_session *gsstsig_start(struct gsstsig_login *l, const char *target,
                                      struct gsstsig_token *out, char *err, size_t errlen);
/* Feeds the server's token: 1 if the context is established (*out may still hold a last
 * token), 0 if *out must be sent in another round, -1 with err. */
int gsstsig_step(struct gsstsig_session *s, const void *in, size_t inlen, struct gsstsig_token *out,
                     char *err, size_t errlen);
/* MIC over buf (gss_get_mic): the TSIG MAC of a gss-tsig request. */
int gsstsig_sign(struct gsstsig_session *s, const void *buf, size_t len, struct gsstsig_token *mic);
/* 0 if mic is a valid gss_verify_mic of buf under this context, else -1. */
int gsstsig_verify(struct gsstsig_session *s, const void *buf, size_t len, const void *mic,
                       size_t miclen);
void gsstsig_free(struct gsstsig_session *s);

#endif
