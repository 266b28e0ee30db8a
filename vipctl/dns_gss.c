/*
 * dns_gss.c: [dns] type = microsoft. The same UPDATE as dns.c (delete the name's A and AAAA
 * RRsets, add this node's address), signed with GSS-TSIG (RFC 3645) as Active Directory's
 * DNS servers (Windows, Samba) require for a secure dynamic update:
 *
 *   1. Kerberos login of [dns] user (gsstsig.c), once per call;
 *   2. TKEY query, mode 3 (GSS-API), carrying the SPNEGO token for DNS/<dc>@REALM, until the
 *      context is established (one round trip with Kerberos);
 *   3. the UPDATE with a TSIG whose MAC is gss_get_mic over the RFC 8945 digest input;
 *   4. the answer: RCODE NOERROR and a TSIG that gss_verify_mic accepts.
 *
 * Samba signs its answers over the request MAC without the MAC's two-byte length that
 * RFC 8945 4.3.3 puts in front of it (source4/dns_server/dns_crypto.c, "1. MAC of request"),
 * which is why BIND's nsupdate -g reports "tsig verify failure" against a Samba DC. We accept
 * a MIC over either layout: both come from the same session key, neither can be forged.
 *
 * All of it over TCP, as Windows clients do: a Kerberos ticket with a PAC is often larger
 * than a datagram should be. Each of the 3 attempts starts over with a fresh context and
 * key name (a lost TKEY answer
 * leaves a half-made context on the server that a retransmission cannot resume); the
 * update itself is idempotent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "address.h"
#include "clock.h"
#include "gsstsig.h"
#include "log.h"
#include "tcp.h"
#include "vipctl.h"

/* Waits for each answer in attempt i: a domain controller under load takes its time to
 * check a ticket; three attempts of two messages stay under 9 s. */
static const int ATTEMPT_MS[] = {1000, 1500, 2000};
#define N_ATTEMPTS (int)(sizeof(ATTEMPT_MS) / sizeof(ATTEMPT_MS[0]))
#define TSIG_FUDGE 300
#define TKEY_MODE_GSSAPI 3
#define MAX_TKEY_ROUNDS 4
#define ALGORITHM "gss-tsig."

/* What fails for good (-1) and what another attempt may cure (RETRY). */
#define RETRY (-2)

struct gss_update {
    const struct conf *c;
    struct sockaddr_storage ss;
    socklen_t sslen;
    char name[CONF_STR + 2];            /* the record */
    char target[CONF_STR * 2];          /* DNS/<dc>@REALM */
    char keyname[64];                   /* this attempt's TKEY/TSIG key name */
    int64_t wait_ns;                    /* this attempt's wait for each answer */
    struct gsstsig_login *login;
    struct gsstsig_session *session;
};

/* One message out over TCP, its answer back into buf; RETRY with err when none came. */
static ssize_t exchange(struct gss_update *u, ldns_pkt *pkt, uint8_t *buf, size_t buflen,
                        char *err, size_t errlen)
{
    uint8_t *wire;
    size_t wlen, replen = 0;
    void *rep = NULL;
    char why[256];
    /* Every message, TKEY rounds included, only under a live lease (vipctl/lease.c). */
    if (lease_check(u->c, why, sizeof(why)) == 0) {
        snprintf(err, errlen, "DNS server %s: %s; stopped before %s", u->c->dns_server, why,
                 ldns_pkt_tsig(pkt) ? "the signed update" : "the next TKEY round");
        return LEASE_ENDED;
    }
    if (ldns_pkt2wire(&wire, pkt, &wlen) != LDNS_STATUS_OK) {
        snprintf(err, errlen, "building the DNS message failed");
        return -1;
    }
    int rc = tcp_exchange(&u->ss, u->sslen, 2, wire, wlen, &rep, &replen, now_ns() + u->wait_ns);
    int e = errno;
    free(wire);
    if (rc < 0) {
        snprintf(err, errlen, "DNS server %s (TCP): %s", u->c->dns_server,
                 e == ETIMEDOUT      ? "no answer"
                 : e == ECONNREFUSED ? "nothing listening (connection refused)"
                                     : strerror(e));
        return RETRY;
    }
    const uint8_t *r = rep;
    if (replen < 12 || replen > buflen || !(r[2] & 0x80) ||
        ((r[0] << 8) | r[1]) != ldns_pkt_id(pkt)) {
        snprintf(err, errlen, "DNS server %s: an answer that is not the answer to our "
                 "message", u->c->dns_server);
        free(rep);
        return -1;
    }
    memcpy(buf, rep, replen);
    free(rep);
    return (ssize_t)replen;
}

static const char *rcode_name(int rcode)
{
    ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, rcode);
    return lt ? lt->name : "error";
}

static const char *tsig_error_name(int e)
{
    return e == 16 ? "BADSIG" : e == 17 ? "BADKEY" : e == 18 ? "BADTIME" : e == 20 ? "BADNAME"
         : e == 21 ? "BADALG" : e == 0 ? "none" : "unknown";
}

/* --- the domain controller's service principal -------------------------------------- */

static int is_ip_literal(const char *host)
{
    unsigned char a[16];
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* MNAME of the zone's SOA at the server: the DC answering names itself there. */
static int soa_mname(struct gss_update *u, char *out, size_t len, char *err, size_t errlen)
{
    int rc = RETRY;
    for (int i = 0; i < 2 && rc == RETRY; i++) {
        u->wait_ns = ATTEMPT_MS[i] * NS_PER_MS;
        ldns_pkt *q = ldns_pkt_query_new(ldns_dname_new_frm_str(u->c->dns_zone),
                                         LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, 0);
        ldns_pkt_set_random_id(q);
        uint8_t buf[4096];
        ssize_t n = exchange(u, q, buf, sizeof(buf), err, errlen);
        ldns_pkt_free(q);
        if (n < 0) {
            rc = (int)n;
            continue;
        }
        ldns_pkt *reply = NULL;
        ldns_rr_list *ans = NULL;
        rc = -1;
        if (ldns_wire2pkt(&reply, buf, (size_t)n) == LDNS_STATUS_OK)
            ans = ldns_pkt_rr_list_by_type(reply, LDNS_RR_TYPE_SOA, LDNS_SECTION_ANSWER);
        if (ans && ldns_rr_rd_count(ldns_rr_list_rr(ans, 0)) > 0) {
            char *s = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ans, 0), 0));
            size_t l = s ? strlen(s) : 0;
            if (l > 1) {
                snprintf(out, len, "%.*s", (int)(l - 1), s); /* without the final dot */
                rc = 0;
            }
            free(s);
        }
        if (rc < 0)
            snprintf(err, errlen, "DNS server %s has no SOA for zone %s (answered %s): is it a "
                     "domain controller serving the zone?", u->c->dns_server, u->c->dns_zone,
                     reply ? rcode_name(ldns_pkt_get_rcode(reply)) : "garbage");
        ldns_rr_list_deep_free(ans);
        ldns_pkt_free(reply);
    }
    return rc;
}

/* DNS/<host>@REALM: the host of [dns] server if it is a name, else the SOA's MNAME. */
static int dc_principal(struct gss_update *u, char *err, size_t errlen)
{
    char host[CONF_STR];
    const char *s = u->c->dns_server, *colon = strrchr(s, ':');
    if (s[0] != '[' && colon && strchr(s, ':') == colon)
        snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
    else
        snprintf(host, sizeof(host), "%s", s);
    if (s[0] == '[' || is_ip_literal(host)) {
        int rc = soa_mname(u, host, sizeof(host), err, errlen);
        if (rc < 0)
            return rc;
    }
    for (char *p = host; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    snprintf(u->target, sizeof(u->target), "DNS/%s@%s", host, u->c->dns_realm);
    return 0;
}

/* --- TKEY (RFC 2930, RFC 3645 4.1) ------------------------------------------------- */

static ldns_rdf *int16_data(const void *data, size_t len)
{
    uint8_t *b = malloc(len + 2);
    if (!b)
        return NULL;
    b[0] = (uint8_t)(len >> 8);
    b[1] = (uint8_t)len;
    if (len)
        memcpy(b + 2, data, len);
    ldns_rdf *r = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, len + 2, b);
    free(b);
    return r;
}

static ldns_pkt *tkey_query(const struct gss_update *u, const struct gsstsig_token *tok)
{
    ldns_pkt *q = ldns_pkt_query_new(ldns_dname_new_frm_str(u->keyname), LDNS_RR_TYPE_TKEY,
                                     LDNS_RR_CLASS_ANY, 0);
    ldns_pkt_set_random_id(q);
    ldns_rr *tk = ldns_rr_new();
    uint32_t now = (uint32_t)time(NULL);
    ldns_rr_set_owner(tk, ldns_dname_new_frm_str(u->keyname));
    ldns_rr_set_type(tk, LDNS_RR_TYPE_TKEY);
    ldns_rr_set_class(tk, LDNS_RR_CLASS_ANY);
    ldns_rr_set_ttl(tk, 0);
    ldns_rr_push_rdf(tk, ldns_dname_new_frm_str(ALGORITHM));
    ldns_rr_push_rdf(tk, ldns_native2rdf_int32(LDNS_RDF_TYPE_TIME, now));
    ldns_rr_push_rdf(tk, ldns_native2rdf_int32(LDNS_RDF_TYPE_TIME, now + 3600));
    ldns_rr_push_rdf(tk, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, TKEY_MODE_GSSAPI));
    ldns_rr_push_rdf(tk, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 0));
    ldns_rr_push_rdf(tk, int16_data(tok->data, tok->len));
    ldns_rr_push_rdf(tk, int16_data(NULL, 0));
    ldns_pkt_push_rr(q, LDNS_SECTION_ADDITIONAL, tk);
    return q;
}

/* The rdata of rr as it was on the wire (ldns may or may not know TKEY's layout). */
static size_t rdata_raw(const ldns_rr *rr, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
        const ldns_rdf *f = ldns_rr_rdf(rr, i);
        if (n + ldns_rdf_size(f) > cap)
            return 0;
        memcpy(out + n, ldns_rdf_data(f), ldns_rdf_size(f));
        n += ldns_rdf_size(f);
    }
    return n;
}

struct tkey_answer {
    int error;
    const uint8_t *key;
    size_t keylen;
};

/* TKEY rdata: algorithm (name), inception, expiration, mode, error, key size, key, ... */
static int parse_tkey(const uint8_t *rd, size_t n, struct tkey_answer *t)
{
    size_t p = 0;
    while (p < n && rd[p] != 0) {
        if (rd[p] & 0xc0)
            return -1;
        p += 1 + rd[p];
    }
    p++;
    if (p + 14 > n)
        return -1;
    t->error = (rd[p + 10] << 8) | rd[p + 11];
    t->keylen = (size_t)((rd[p + 12] << 8) | rd[p + 13]);
    t->key = rd + p + 14;
    return p + 14 + t->keylen <= n ? 0 : -1;
}

static int verify_answer(struct gss_update *u, const uint8_t *buf, size_t n,
                         const ldns_rdf *request_mac, char *err, size_t errlen);

/* The TKEY answer for our key name in reply, or an error naming what the server said. */
static int read_tkey(struct gss_update *u, ldns_pkt *reply, uint8_t *rd, size_t cap,
                     struct tkey_answer *t, char *err, size_t errlen)
{
    int rcode = ldns_pkt_get_rcode(reply);
    if (rcode != LDNS_RCODE_NOERROR) {
        snprintf(err, errlen, "DNS server %s answered %s to the TKEY query: it does not "
                 "negotiate GSS-TSIG keys (is it an Active Directory DNS server?)",
                 u->c->dns_server, rcode_name(rcode));
        return -1;
    }
    ldns_rr_list *ans = ldns_pkt_answer(reply);
    ldns_rdf *want = ldns_dname_new_frm_str(u->keyname);
    int rc = -1;
    for (size_t i = 0; ans && i < ldns_rr_list_rr_count(ans); i++) {
        ldns_rr *rr = ldns_rr_list_rr(ans, i);
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TKEY ||
            ldns_dname_compare(ldns_rr_owner(rr), want) != 0)
            continue;
        size_t len = rdata_raw(rr, rd, cap);
        rc = len && parse_tkey(rd, len, t) == 0 ? 0 : -1;
        break;
    }
    ldns_rdf_deep_free(want);
    if (rc < 0)
        snprintf(err, errlen, "DNS server %s: the TKEY answer carries no key for %s",
                 u->c->dns_server, u->keyname);
    else if (t->error) {
        snprintf(err, errlen, "DNS server %s refused our Kerberos ticket (TKEY error %s): %s",
                 u->c->dns_server, tsig_error_name(t->error),
                 "the domain controller could not accept it; check that the clocks agree "
                 "and that [dns] server names this domain controller (its log says more)");
        rc = -1;
    }
    return rc;
}

/* Runs the TKEY rounds until the context is established (0), or fails. */
static int negotiate(struct gss_update *u, char *err, size_t errlen)
{
    struct gsstsig_token tok = {0};
    u->session = gsstsig_start(u->login, u->target, &tok, err, errlen);
    if (!u->session)
        return -1;
    for (int round = 0; round < MAX_TKEY_ROUNDS; round++) {
        uint8_t buf[8192], rd[8192];
        ldns_pkt *q = tkey_query(u, &tok);
        gsstsig_token_free(&tok);
        ssize_t n = exchange(u, q, buf, sizeof(buf), err, errlen);
        ldns_pkt_free(q);
        if (n < 0)
            return (int)n;
        ldns_pkt *reply = NULL;
        if (ldns_wire2pkt(&reply, buf, (size_t)n) != LDNS_STATUS_OK) {
            snprintf(err, errlen, "DNS server %s: malformed TKEY answer", u->c->dns_server);
            return -1;
        }
        struct tkey_answer t;
        int rc = read_tkey(u, reply, rd, sizeof(rd), &t, err, errlen);
        int signed_answer = ldns_pkt_tsig(reply) != NULL;
        ldns_pkt_free(reply);
        if (rc < 0)
            return -1;
        rc = gsstsig_step(u->session, t.key, t.keylen, &tok, err, errlen);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            gsstsig_token_free(&tok);
            /* The server's last answer is signed with the new context (RFC 3645 4.1.3). */
            return signed_answer ? verify_answer(u, buf, (size_t)n, NULL, err, errlen) : 0;
        }
        if (tok.len == 0) {
            snprintf(err, errlen, "GSS-API wants another round but has nothing to send");
            return -1;
        }
    }
    gsstsig_token_free(&tok);
    snprintf(err, errlen, "DNS server %s: no security context after %d TKEY rounds",
             u->c->dns_server, MAX_TKEY_ROUNDS);
    return -1;
}

/* --- TSIG with gss-tsig (RFC 8945 4.3.3, RFC 3645 5) -------------------------------------- */

/* Appends b to the digest input d (capacity cap at *n), returning -1 if it does not fit. */
static int put(uint8_t *d, size_t cap, size_t *n, const void *b, size_t len)
{
    if (*n + len > cap)
        return -1;
    memcpy(d + *n, b, len);
    *n += len;
    return 0;
}

static int put_name(uint8_t *d, size_t cap, size_t *n, const ldns_rdf *name)
{
    ldns_rdf *canon = ldns_rdf_clone(name);
    ldns_dname2canonical(canon);
    int rc = put(d, cap, n, ldns_rdf_data(canon), ldns_rdf_size(canon));
    ldns_rdf_deep_free(canon);
    return rc;
}

/* The TSIG variables: key name, class ANY, TTL 0, algorithm, time (48 bits), fudge,
 * error, other data (with its length). */
static int put_tsig_vars(uint8_t *d, size_t cap, size_t *n, const ldns_rr *tsig)
{
    static const uint8_t any_ttl0[] = {0, 255, 0, 0, 0, 0};
    if (ldns_rr_rd_count(tsig) < 7)
        return -1;
    const ldns_rdf *time6 = ldns_rr_rdf(tsig, 1), *fudge = ldns_rr_rdf(tsig, 2),
                   *error = ldns_rr_rdf(tsig, 5), *other = ldns_rr_rdf(tsig, 6);
    if (put_name(d, cap, n, ldns_rr_owner(tsig)) < 0 || put(d, cap, n, any_ttl0, 6) < 0 ||
        put_name(d, cap, n, ldns_rr_rdf(tsig, 0)) < 0 ||
        put(d, cap, n, ldns_rdf_data(time6), ldns_rdf_size(time6)) < 0 ||
        put(d, cap, n, ldns_rdf_data(fudge), ldns_rdf_size(fudge)) < 0 ||
        put(d, cap, n, ldns_rdf_data(error), ldns_rdf_size(error)) < 0)
        return -1;
    return put(d, cap, n, ldns_rdf_data(other), ldns_rdf_size(other));
}

static ldns_rr *tsig_rr(const struct gss_update *u, uint16_t id, uint64_t now)
{
    ldns_rr *t = ldns_rr_new();
    uint8_t time6[6];
    for (int i = 0; i < 6; i++)
        time6[i] = (uint8_t)(now >> (8 * (5 - i)));
    ldns_rr_set_owner(t, ldns_dname_new_frm_str(u->keyname));
    ldns_rr_set_type(t, LDNS_RR_TYPE_TSIG);
    ldns_rr_set_class(t, LDNS_RR_CLASS_ANY);
    ldns_rr_set_ttl(t, 0);
    ldns_rr_push_rdf(t, ldns_dname_new_frm_str(ALGORITHM));
    ldns_rr_push_rdf(t, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_TSIGTIME, 6, time6));
    ldns_rr_push_rdf(t, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, TSIG_FUDGE));
    ldns_rr_push_rdf(t, int16_data(NULL, 0)); /* the MAC, set once it is computed */
    ldns_rr_push_rdf(t, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, id));
    ldns_rr_push_rdf(t, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 0));
    ldns_rr_push_rdf(t, int16_data(NULL, 0));
    return t;
}

/* Signs pkt: digest = message without TSIG + TSIG variables; MAC = gss_get_mic of it. */
static int sign(struct gss_update *u, ldns_pkt *pkt, char *err, size_t errlen)
{
    uint8_t *wire = NULL, digest[16384];
    size_t wlen, n = 0;
    ldns_rr *t = tsig_rr(u, ldns_pkt_id(pkt), (uint64_t)time(NULL));
    struct gsstsig_token mic = {0};
    int rc = -1;
    if (ldns_pkt2wire(&wire, pkt, &wlen) != LDNS_STATUS_OK ||
        put(digest, sizeof(digest), &n, wire, wlen) < 0 ||
        put_tsig_vars(digest, sizeof(digest), &n, t) < 0 ||
        gsstsig_sign(u->session, digest, n, &mic) < 0) {
        snprintf(err, errlen, "signing the update (gss_get_mic) failed");
        ldns_rr_free(t);
        goto out;
    }
    ldns_rdf_deep_free(ldns_rr_set_rdf(t, int16_data(mic.data, mic.len), 3));
    ldns_pkt_set_tsig(pkt, t);
    rc = 0;
out:
    gsstsig_token_free(&mic);
    free(wire);
    return rc;
}

/* Skips a (possibly compressed) name in a message. */
static int skip_name(const uint8_t *w, size_t n, size_t *p)
{
    while (*p < n) {
        uint8_t l = w[*p];
        if (l == 0)
            return (*p)++, 0;
        if ((l & 0xc0) == 0xc0)
            return (*p += 2) <= n ? 0 : -1;
        if (l & 0xc0)
            return -1;
        *p += 1u + l;
    }
    return -1;
}

/* Offset of the last RR of the message (where the TSIG must be), or 0. */
static size_t last_rr_offset(const uint8_t *w, size_t n)
{
    if (n < 12)
        return 0;
    unsigned qd = (w[4] << 8) | w[5], rrs = ((w[6] << 8) | w[7]) + ((w[8] << 8) | w[9]) +
                                            ((w[10] << 8) | w[11]);
    size_t p = 12, last = 0;
    for (unsigned i = 0; i < qd; i++)
        if (skip_name(w, n, &p) < 0 || (p += 4) > n)
            return 0;
    for (unsigned i = 0; i < rrs; i++) {
        last = p;
        if (skip_name(w, n, &p) < 0 || p + 10 > n)
            return 0;
        p += 10u + (size_t)((w[p + 8] << 8) | w[p + 9]);
        if (p > n)
            return 0;
    }
    return p == n ? last : 0;
}

/*
 * The answer's TSIG (RFC 8945 5.3): digest = request MAC (length + MAC; Samba: MAC only) +
 * the answer without its TSIG, with the original id and one additional record less + the
 * TSIG variables; its MAC must be a gss_verify_mic of that, and its time within the fudge.
 */
static int verify_answer(struct gss_update *u, const uint8_t *buf, size_t n,
                         const ldns_rdf *request_mac, char *err, size_t errlen)
{
    ldns_pkt *reply = NULL;
    size_t off = last_rr_offset(buf, n);
    int rc = -1;
    if (ldns_wire2pkt(&reply, buf, n) != LDNS_STATUS_OK || !off || !ldns_pkt_tsig(reply)) {
        snprintf(err, errlen, "DNS server %s: answer's TSIG is missing", u->c->dns_server);
        goto out;
    }
    ldns_rr *t = ldns_pkt_tsig(reply);
    const ldns_rdf *mac = ldns_rr_rdf(t, 3), *orig = ldns_rr_rdf(t, 4);
    int64_t signed_at = 0;
    for (size_t i = 0; i < 6 && ldns_rdf_size(ldns_rr_rdf(t, 1)) == 6; i++)
        signed_at = (signed_at << 8) | ldns_rdf_data(ldns_rr_rdf(t, 1))[i];
    for (int layout = 0; layout < (request_mac ? 2 : 1) && rc < 0; layout++) {
        uint8_t d[16384];
        size_t dn = 0, skip = layout == 1 ? 2 : 0; /* layout 1: Samba's, no MAC length */
        if (request_mac && put(d, sizeof(d), &dn, ldns_rdf_data(request_mac) + skip,
                               ldns_rdf_size(request_mac) - skip) < 0)
            break;
        size_t head = dn;
        if (put(d, sizeof(d), &dn, buf, off) < 0 || put_tsig_vars(d, sizeof(d), &dn, t) < 0)
            break;
        memcpy(d + head, ldns_rdf_data(orig), 2);
        unsigned ar = ((d[head + 10] << 8) | d[head + 11]) - 1u;
        d[head + 10] = (uint8_t)(ar >> 8);
        d[head + 11] = (uint8_t)ar;
        rc = gsstsig_verify(u->session, d, dn, ldns_rdf_data(mac) + 2, ldns_rdf_size(mac) - 2);
        if (rc == 0)
            log_debug("answer's TSIG verified (%s)", !request_mac ? "no request MAC"
                      : layout == 0 ? "RFC 8945 layout" : "Samba's layout: request MAC without its length");
    }
    if (rc < 0)
        snprintf(err, errlen, "DNS server %s: answer's TSIG does not verify (gss_verify_mic)",
                 u->c->dns_server);
    else if (llabs((long long)time(NULL) - signed_at) > TSIG_FUDGE) {
        snprintf(err, errlen, "DNS server %s: answer's TSIG was made %lld s away from this "
                 "machine's time: the clocks differ", u->c->dns_server,
                 (long long)(signed_at - time(NULL)));
        rc = -1;
    }
out:
    ldns_pkt_free(reply);
    return rc;
}

/* --- the update ---------------------------------------------------------------------- */

static const char *update_hint(int rcode, int tsig_error)
{
    if (tsig_error)
        return "the domain controller did not accept the signature (its log says why)";
    switch (rcode) {
    case LDNS_RCODE_REFUSED:
        return "the account may not change this name, or the zone takes no dynamic updates: "
               "give the account rights on the zone (or on the record, if another account "
               "created it), see vipctl(8)";
    case LDNS_RCODE_SERVFAIL:
        /* Samba answers an update it may not apply (access denied) this way; Windows
         * answers REFUSED. */
        return "the server could not apply it; on Samba this is also how it says the account "
               "may not change this name (another account created the record, or the zone "
               "denies it), see vipctl(8)";
    case LDNS_RCODE_NOTAUTH:
        return "the server is not authoritative for the zone, or rejected the signature";
    case LDNS_RCODE_NOTZONE:
        return "the name is not in the zone";
    }
    return "the update was not applied";
}

static int send_update(struct gss_update *u, char *err, size_t errlen)
{
    ldns_pkt *pkt = dns_update_pkt(u->c, u->name);
    if (!pkt || sign(u, pkt, err, errlen) < 0) {
        if (!pkt)
            snprintf(err, errlen, "building the update failed");
        ldns_pkt_free(pkt);
        return -1;
    }
    uint8_t buf[4096];
    ssize_t n = exchange(u, pkt, buf, sizeof(buf), err, errlen);
    ldns_rdf *request_mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(pkt), 3));
    ldns_pkt_free(pkt);
    ldns_pkt *reply = NULL;
    int rc = (int)n;
    if (n >= 0 && ldns_wire2pkt(&reply, buf, (size_t)n) != LDNS_STATUS_OK) {
        snprintf(err, errlen, "DNS server %s: malformed answer", u->c->dns_server);
        rc = -1;
    } else if (n >= 0 && ldns_pkt_get_rcode(reply) != LDNS_RCODE_NOERROR) {
        ldns_rr *t = ldns_pkt_tsig(reply);
        int terr = t && ldns_rr_rd_count(t) > 5 ? ldns_rdf2native_int16(ldns_rr_rdf(t, 5)) : 0;
        int rcode = ldns_pkt_get_rcode(reply);
        snprintf(err, errlen, "DNS server %s answered %s%s%s to the update of %s: %s",
                 u->c->dns_server, rcode_name(rcode), terr ? ", TSIG error " : "",
                 terr ? tsig_error_name(terr) : "", u->name, update_hint(rcode, terr));
        rc = -1;
    } else if (n >= 0) {
        /* A NOERROR that does not prove it came from the server we authenticated proves
         * nothing. */
        rc = verify_answer(u, buf, (size_t)n, request_mac, err, errlen);
    }
    ldns_rdf_deep_free(request_mac);
    ldns_pkt_free(reply);
    return rc;
}

/* update 0: the negotiation only (dns_gss_check). */
static int one_attempt(struct gss_update *u, int i, int update, char *err, size_t errlen)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r))
        r = (uint64_t)now_ns();
    snprintf(u->keyname, sizeof(u->keyname), "%016llx.hotstandby.", (unsigned long long)r);
    u->wait_ns = ATTEMPT_MS[i] * NS_PER_MS;
    int rc = negotiate(u, err, errlen);
    if (rc == 0 && update)
        rc = send_update(u, err, errlen);
    gsstsig_free(u->session);
    u->session = NULL;
    return rc;
}

static int run(const struct conf *c, int update, char *err, size_t errlen)
{
    struct gss_update u = {.c = c};
    if (dns_fqdn(c, u.name, sizeof(u.name), err, errlen) < 0 ||
        dns_server_sockaddr(c, &u.ss, &u.sslen, err, errlen) < 0)
        return -1;
    int64_t t0 = now_ns();
    u.login = gsstsig_login(c, err, errlen);
    if (!u.login)
        return -1;
    int rc = dc_principal(&u, err, errlen);
    for (int i = 0; rc == 0 && i < N_ATTEMPTS; i++) {
        rc = one_attempt(&u, i, update, err, errlen);
        if (rc != RETRY)
            break;
        if (i + 1 < N_ATTEMPTS) {
            rc = 0;
            continue;
        }
        size_t used = strlen(err);
        snprintf(err + used, errlen - used, " after %d attempts (%.1f s)", N_ATTEMPTS,
                 (double)(now_ns() - t0) / NS_PER_SEC);
    }
    if (rc == 0 && !update)
        snprintf(err, errlen, "DNS server %s (%s) accepts the Kerberos login of %s (GSS-TSIG "
                 "key negotiated)", c->dns_server, u.target, c->dns_user);
    gsstsig_login_free(u.login);
    return rc == 0 || rc == LEASE_ENDED ? rc : -1;
}

int dns_gss_update(const struct conf *c, char *err, size_t errlen)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, c->address, a) != 1 && inet_pton(AF_INET6, c->address, a) != 1) {
        snprintf(err, errlen, "[cluster] address '%s' is not an IP address (the record needs one)",
                 c->address);
        return -1;
    }
    return run(c, 1, err, errlen);
}

int dns_gss_check(const struct conf *c, char *msg, size_t msglen)
{
    return run(c, 0, msg, msglen);
}
