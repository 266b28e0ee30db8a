/*
 * dns.c: the virtual hostname. One RFC 2136 UPDATE (ldns) that deletes the name's A and
 * AAAA RRsets and adds this node's address, signed with TSIG (RFC 8945); the answer must
 * carry RCODE NOERROR and a TSIG that verifies against our request. UDP, short timeouts,
 * a bounded number of attempts. Also the plain query `vipctl status` uses.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "clock.h"
#include "log.h"
#include "vipctl.h"

/* Attempt i waits ATTEMPT_MS[i]: a lost datagram costs half a second, a dead server
 * three seconds in all, well inside watchd's promotion timeout. */
static const int ATTEMPT_MS[] = {500, 1000, 1500};
#define N_ATTEMPTS (int)(sizeof(ATTEMPT_MS) / sizeof(ATTEMPT_MS[0]))
#define TSIG_FUDGE 300
#define MAX_SECRET_B64 1024

struct tsig_key {
    char name[CONF_STR + 1];
    char secret_b64[MAX_SECRET_B64];
    const char *algorithm;      /* ldns spelling, e.g. "hmac-sha256." */
};

/* Decoded length of base64 text, or -1 if it is not base64. */
static int b64_decoded_len(const char *s)
{
    int bits = 0, n = 0, pad = 0;
    for (; *s; s++) {
        if (*s == '=') {
            pad++;
            continue;
        }
        if (pad || !(isalnum((unsigned char)*s) || *s == '+' || *s == '/'))
            return -1;
        bits += 6;
        if (bits >= 8)
            n++, bits -= 8;
    }
    return pad > 2 ? -1 : n;
}

static const char *tsig_algorithm(const char *name)
{
    static const struct { const char *conf, *ldns; } algs[] = {
        {"hmac-md5", "hmac-md5.sig-alg.reg.int."}, {"hmac-sha1", "hmac-sha1."},
        {"hmac-sha224", "hmac-sha224."},           {"hmac-sha256", "hmac-sha256."},
        {"hmac-sha384", "hmac-sha384."},           {"hmac-sha512", "hmac-sha512."},
    };
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
        if (!strcasecmp(name, algs[i].conf))
            return algs[i].ldns;
    return NULL;
}

static int load_key(const struct conf *c, struct tsig_key *k, char *err, size_t errlen)
{
    char why[512];
    k->algorithm = tsig_algorithm(c->tsig_algorithm);
    if (!k->algorithm) {
        snprintf(err, errlen, "[dns] tsig_algorithm '%s' is not one of hmac-md5, hmac-sha1, "
                 "hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512", c->tsig_algorithm);
        return -1;
    }
    snprintf(k->name, sizeof(k->name), "%s%s", c->tsig_name,
             c->tsig_name[strlen(c->tsig_name) - 1] == '.' ? "" : ".");
    /* conf_read_secret refuses a file others can read: nothing is sent with such a key. */
    if (conf_read_secret(c->tsig_secret_file, k->secret_b64, sizeof(k->secret_b64), why,
                         sizeof(why)) < 0) {
        snprintf(err, errlen, "TSIG secret: %s", why);
        return -1;
    }
    int n = b64_decoded_len(k->secret_b64);
    if (n < 1 || n > 512) {
        snprintf(err, errlen, "TSIG secret in %s: not base64 of 1 to 512 bytes",
                 c->tsig_secret_file);
        explicit_bzero(k->secret_b64, sizeof(k->secret_b64));
        return -1;
    }
    return 0;
}

/* "host", "host:port", "[v6]:port" or a bare IPv6 literal; port 53 by default. */
static int server_addr(const char *server, struct sockaddr_storage *ss, socklen_t *sslen,
                       char *err, size_t errlen)
{
    char host[CONF_STR], port[16] = "53";
    const char *colon = strrchr(server, ':');
    if (server[0] == '[') {
        const char *close = strchr(server, ']');
        if (!close || (close[1] && close[1] != ':')) {
            snprintf(err, errlen, "[dns] server '%s': expected [address]:port", server);
            return -1;
        }
        snprintf(host, sizeof(host), "%.*s", (int)(close - server - 1), server + 1);
        if (close[1] == ':')
            snprintf(port, sizeof(port), "%s", close + 2);
    } else if (colon && strchr(server, ':') == colon) {
        snprintf(host, sizeof(host), "%.*s", (int)(colon - server), server);
        snprintf(port, sizeof(port), "%s", colon + 1);
    } else {
        snprintf(host, sizeof(host), "%s", server);
    }
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV}, *res;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "[dns] server '%s': %s", server, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* The name as an FQDN: "app" and "app.zone" both mean app.zone. */
int dns_fqdn(const struct conf *c, char *out, size_t len, char *err, size_t errlen)
{
    char zone[CONF_STR], host[CONF_STR];
    snprintf(zone, sizeof(zone), "%s", c->dns_zone);
    snprintf(host, sizeof(host), "%s", c->dns_hostname);
    size_t zl = strlen(zone), hl = strlen(host);
    if (zl && zone[zl - 1] == '.')
        zone[--zl] = '\0';
    int absolute = hl && host[hl - 1] == '.';
    if (absolute)
        host[--hl] = '\0';
    int in_zone = !strcasecmp(host, zone) ||
                  (hl > zl && host[hl - zl - 1] == '.' && !strcasecmp(host + hl - zl, zone));
    if (!in_zone && absolute) {
        snprintf(err, errlen, "[dns] hostname '%s' is not in zone '%s'", c->dns_hostname,
                 c->dns_zone);
        return -1;
    }
    snprintf(out, len, in_zone ? "%s." : "%s.%s.", host, zone);
    return 0;
}

/*
 * Whether an answer with the right id is the server's: 1 take it, 0 ignore it and keep
 * waiting (anyone on the path can send a datagram with the right id and port; only the
 * key holder can sign it).
 */
typedef int (*accept_fn)(void *arg, const uint8_t *buf, size_t n);

/* One datagram out and the matching answer back before deadline; else -1 and *why. */
static ssize_t one_attempt(const struct sockaddr_storage *ss, socklen_t sslen,
                           const uint8_t *wire, size_t wlen, uint16_t id, int64_t deadline,
                           accept_fn accept, void *arg, uint8_t *buf, size_t buflen,
                           const char **why)
{
    int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)ss, sslen) < 0 ||
        send(fd, wire, wlen, 0) != (ssize_t)wlen) {
        *why = strerror(errno);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    ssize_t got = -1;
    for (;;) {
        int left = (int)((deadline - now_ns()) / NS_PER_MS);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = left > 0 ? poll(&p, 1, left) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            *why = "no answer";
            break;
        }
        ssize_t n = recv(fd, buf, buflen, 0);
        if (n < 0) {
            /* ECONNREFUSED: an ICMP port unreachable, nothing listens there (yet) */
            *why = errno == ECONNREFUSED ? "nothing listening (connection refused)"
                                         : strerror(errno);
            break;
        }
        /* An answer to something else (a late one from an earlier attempt): keep waiting. */
        if (n >= 12 && (buf[2] & 0x80) && ((buf[0] << 8) | buf[1]) == id &&
            (accept == NULL || accept(arg, buf, (size_t)n))) {
            got = n;
            break;
        }
    }
    close(fd);
    return got;
}

static void sleep_until_ns(int64_t t)
{
    for (int64_t d; (d = t - now_ns()) > 0;) {
        struct timespec ts = {d / NS_PER_SEC, d % NS_PER_SEC};
        nanosleep(&ts, NULL);
    }
}

/*
 * Sends what build() makes to the server and waits for the answer with the same id,
 * up to `attempts` times with the waits of ATTEMPT_MS (the message is rebuilt each time,
 * so a TSIG carries a fresh time). Returns the answer's length in buf, or -1 with err.
 */
typedef int (*build_fn)(void *arg, uint8_t **wire, size_t *len, uint16_t *id);

static ssize_t transact(const struct conf *c, build_fn build, accept_fn accept, void *arg,
                        uint8_t *buf, size_t buflen, int attempts, int changes_world,
                        char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (server_addr(c->dns_server, &ss, &sslen, err, errlen) < 0)
        return -1;
    if (attempts > N_ATTEMPTS)
        attempts = N_ATTEMPTS;
    int64_t t0 = now_ns();
    const char *why = "no answer";
    for (int i = 0; i < attempts; i++) {
        uint8_t *wire;
        size_t wlen;
        uint16_t id;
        if (build(arg, &wire, &wlen, &id) < 0) {
            snprintf(err, errlen, "building the DNS message failed");
            return -1;
        }
        /* An UPDATE goes out only under a live lease: one sent later could land after
         * another node's and point the name back at us. The ones already sent may have
         * been applied; the next holder's update replaces them. */
        char ended[256];
        if (changes_world && lease_check(c, ended, sizeof(ended)) == 0) {
            free(wire);
            snprintf(err, errlen, "DNS server %s: %s after %d unanswered attempt(s); stopped "
                     "(an earlier one may have been applied)", c->dns_server, ended, i);
            return LEASE_ENDED;
        }
        int64_t deadline = now_ns() + ATTEMPT_MS[i] * NS_PER_MS;
        ssize_t n = one_attempt(&ss, sslen, wire, wlen, id, deadline, accept, arg, buf, buflen,
                                &why);
        free(wire);
        if (n > 0)
            return n;
        if (i + 1 < attempts)
            sleep_until_ns(deadline); /* a refused send retries at the same pace */
    }
    snprintf(err, errlen, "DNS server %s: %s after %d attempts (%.1f s)", c->dns_server, why,
             attempts, (double)(now_ns() - t0) / NS_PER_SEC);
    return -1;
}

/* An UPDATE of name, or the signed SOA query of zone name that dns_check sends. */
struct update_ctx {
    const struct conf *c;
    const struct tsig_key *key;
    char name[CONF_STR + 2];
    ldns_rdf *request_mac;      /* the MAC of the last request sent, to verify the answer */
    char unverified[512];       /* what the last answer that did not verify said */
};

static ldns_rr *rrset_delete(const char *name, ldns_rr_type type)
{
    /* RFC 2136 §2.5.2: class ANY, TTL 0, no rdata deletes the whole RRset. */
    ldns_rr *rr = ldns_rr_new();
    ldns_rr_set_owner(rr, ldns_dname_new_frm_str(name));
    ldns_rr_set_type(rr, type);
    ldns_rr_set_class(rr, LDNS_RR_CLASS_ANY);
    ldns_rr_set_ttl(rr, 0);
    return rr;
}

ldns_pkt *dns_update_pkt(const struct conf *c, const char *name)
{
    int v6 = strchr(c->address, ':') != NULL;
    char text[CONF_STR * 2 + 64];
    snprintf(text, sizeof(text), "%s %lld IN %s %s", name,
             (long long)(c->dns_ttl_ns / NS_PER_SEC), v6 ? "AAAA" : "A", c->address);
    ldns_rr *add = NULL;
    if (ldns_rr_new_frm_str(&add, text, 0, NULL, NULL) != LDNS_STATUS_OK)
        return NULL;
    ldns_rr_list *up = ldns_rr_list_new();
    ldns_rr_list_push_rr(up, rrset_delete(name, LDNS_RR_TYPE_A));
    ldns_rr_list_push_rr(up, rrset_delete(name, LDNS_RR_TYPE_AAAA));
    ldns_rr_list_push_rr(up, add);
    ldns_pkt *pkt = ldns_update_pkt_new(ldns_dname_new_frm_str(c->dns_zone), LDNS_RR_CLASS_IN,
                                        NULL, up, NULL);
    ldns_rr_list_deep_free(up);
    if (pkt)
        ldns_pkt_set_random_id(pkt);
    return pkt;
}

/* Signs pkt with the key (remembering the request MAC the answer must be signed over)
 * and puts it on the wire; frees pkt. */
static int sign_to_wire(struct update_ctx *u, ldns_pkt *pkt, uint8_t **wire, size_t *len,
                        uint16_t *id)
{
    *id = ldns_pkt_id(pkt);
    int rc = -1;
    if (ldns_pkt_tsig_sign(pkt, u->key->name, u->key->secret_b64, TSIG_FUDGE,
                           u->key->algorithm, NULL) != LDNS_STATUS_OK)
        goto out;
    ldns_rdf_deep_free(u->request_mac);
    u->request_mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(pkt), 3));
    if (ldns_pkt2wire(wire, pkt, len) != LDNS_STATUS_OK)
        goto out;
    rc = 0;
out:
    ldns_pkt_free(pkt);
    return rc;
}

static int build_update(void *arg, uint8_t **wire, size_t *len, uint16_t *id)
{
    struct update_ctx *u = arg;
    ldns_pkt *pkt = dns_update_pkt(u->c, u->name);
    return pkt ? sign_to_wire(u, pkt, wire, len, id) : -1;
}

static const char *rcode_hint(int rcode)
{
    switch (rcode) {
    case LDNS_RCODE_REFUSED:
        return "the server does not allow this key to update the zone (allow-update / "
               "update-policy), or takes only GSS-TSIG updates (Active Directory: set [dns] "
               "type = microsoft)";
    case LDNS_RCODE_NOTAUTH:
        return "the server is not authoritative for the zone, or rejected the TSIG (an Active "
               "Directory server takes only GSS-TSIG: set [dns] type = microsoft)";
    case LDNS_RCODE_NOTZONE:
        return "the name is not in the zone";
    case LDNS_RCODE_SERVFAIL:
        return "the server failed to apply the update";
    default:
        return "the update was not applied";
    }
}

static const char *tsig_error_name(int e)
{
    return e == 16 ? "BADSIG (wrong secret)"
         : e == 17 ? "BADKEY (the server does not know the key; an Active Directory server "
                     "knows none: set [dns] type = microsoft)"
         : e == 18 ? "BADTIME (clocks differ by more than the fudge)" : e == 22 ? "BADTRUNC" : NULL;
}

/* What an error answer says, with the TSIG error when there is one. */
static void describe_error(const struct update_ctx *u, ldns_pkt *reply, char *out, size_t len)
{
    int rcode = ldns_pkt_get_rcode(reply);
    ldns_rr *tsig = ldns_pkt_tsig(reply);
    const char *terr = NULL;
    if (tsig && ldns_rr_rd_count(tsig) > 5)
        terr = tsig_error_name(ldns_rdf2native_int16(ldns_rr_rdf(tsig, 5)));
    ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, rcode);
    snprintf(out, len, "answered %s%s%s: %s", lt ? lt->name : "error",
             terr ? ", TSIG error " : "", terr ? terr : "",
             terr ? "check [dns] tsig_name, tsig_algorithm and tsig_secret_file against "
                    "the server's key" : rcode_hint(rcode));
}

/* 1 if reply (buf, n on the wire) carries a TSIG that verifies with our key over the
 * request's MAC. */
static int tsig_verifies(const struct update_ctx *u, ldns_pkt *reply, const uint8_t *buf,
                         size_t n)
{
    ldns_rr *tsig = ldns_pkt_tsig(reply);
    int ok = tsig && ldns_pkt_tsig_verify(reply, (uint8_t *)buf, n, u->key->name,
                                          u->key->secret_b64, u->request_mac);
    /* ldns (1.8) detaches the TSIG record before computing the MAC and does not put it
     * back when that fails (an algorithm it cannot compute, as a domain controller's
     * gss-tsig answer): put it back, so the error is still described and the packet frees it. */
    if (tsig && !ldns_pkt_tsig(reply))
        ldns_pkt_set_tsig(reply, tsig);
    return ok;
}

/*
 * An answer counts only if its TSIG verifies against our request (RFC 8945 §5.3): an
 * unsigned REFUSED from anyone who saw the query must not fail a promotion. One that does
 * not verify is noted (a server that does not know our key cannot sign its BADKEY) and
 * we keep waiting for the real one.
 */
static int verified_answer(void *arg, const uint8_t *buf, size_t n)
{
    struct update_ctx *u = arg;
    ldns_pkt *reply = NULL;
    if (ldns_wire2pkt(&reply, buf, n) != LDNS_STATUS_OK) {
        snprintf(u->unverified, sizeof(u->unverified), "a malformed answer");
        return 0;
    }
    ldns_rr *tsig = ldns_pkt_tsig(reply);
    int ok = tsig_verifies(u, reply, buf, n);
    if (!ok) {
        char what[400];
        if (ldns_pkt_get_rcode(reply) == LDNS_RCODE_NOERROR)
            snprintf(what, sizeof(what), "answered NOERROR");
        else
            describe_error(u, reply, what, sizeof(what));
        snprintf(u->unverified, sizeof(u->unverified), "%s (TSIG %s)", what,
                 tsig ? "does not verify" : "missing");
        log_warnx("DNS server %s: ignored an answer whose TSIG %s: %s", u->c->dns_server,
                  tsig ? "does not verify" : "is missing", what);
    }
    ldns_pkt_free(reply);
    return ok;
}

/* buf holds an answer that verified: act on its RCODE. */
static int check_answer(struct update_ctx *u, uint8_t *buf, size_t n, char *err, size_t errlen)
{
    ldns_pkt *reply = NULL;
    if (ldns_wire2pkt(&reply, buf, n) != LDNS_STATUS_OK) {
        snprintf(err, errlen, "DNS server %s: malformed answer", u->c->dns_server);
        return -1;
    }
    int rc = 0;
    if (ldns_pkt_get_rcode(reply) != LDNS_RCODE_NOERROR) {
        char what[400];
        describe_error(u, reply, what, sizeof(what));
        snprintf(err, errlen, "DNS server %s %s", u->c->dns_server, what);
        rc = -1;
    }
    ldns_pkt_free(reply);
    return rc;
}

int dns_update(const struct conf *c, char *err, size_t errlen)
{
    struct tsig_key key;
    struct update_ctx u = {.c = c, .key = &key};
    unsigned char a[16];
    if (inet_pton(AF_INET, c->address, a) != 1 && inet_pton(AF_INET6, c->address, a) != 1) {
        snprintf(err, errlen, "[cluster] address '%s' is not an IP address (the record needs one)",
                 c->address);
        return -1;
    }
    if (dns_fqdn(c, u.name, sizeof(u.name), err, errlen) < 0 || load_key(c, &key, err, errlen) < 0)
        return -1;
    uint8_t buf[4096];
    ssize_t n = transact(c, build_update, verified_answer, &u, buf, sizeof(buf), N_ATTEMPTS, 1,
                         err, errlen);
    if (n == LEASE_ENDED) {
        ldns_rdf_deep_free(u.request_mac);
        explicit_bzero(&key, sizeof(key));
        return LEASE_ENDED;
    }
    if (n < 0 && u.unverified[0]) {
        size_t l = strlen(err);
        snprintf(err + l, errlen - l, "; the only answers did not verify, the last one %s",
                 u.unverified);
    }
    int rc = n < 0 ? -1 : check_answer(&u, buf, (size_t)n, err, errlen);
    ldns_rdf_deep_free(u.request_mac);
    explicit_bzero(&key, sizeof(key));
    return rc;
}

/* ---- the check: a signed query that changes nothing (vipctl test-dns, preflight) ---- */

static int build_signed_soa(void *arg, uint8_t **wire, size_t *len, uint16_t *id)
{
    struct update_ctx *u = arg;
    ldns_pkt *pkt = ldns_pkt_query_new(ldns_dname_new_frm_str(u->name), LDNS_RR_TYPE_SOA,
                                       LDNS_RR_CLASS_IN, 0);
    if (!pkt)
        return -1;
    ldns_pkt_set_random_id(pkt);
    return sign_to_wire(u, pkt, wire, len, id);
}

static int64_t be48(const uint8_t *p)
{
    int64_t v = 0;
    for (int i = 0; i < 6; i++)
        v = v << 8 | p[i];
    return v;
}

/* A BADTIME answer carries the server's clock in its other data (RFC 8945 §5.2.3). */
static void describe_badtime(const struct update_ctx *u, const ldns_rr *tsig, char *out,
                             size_t len)
{
    const ldns_rdf *other = ldns_rr_rd_count(tsig) > 6 ? ldns_rr_rdf(tsig, 6) : NULL;
    const uint8_t *d = other ? ldns_rdf_data(other) : NULL;
    if (d && ldns_rdf_size(other) == 8 && d[0] == 0 && d[1] == 6)
        snprintf(out, len, "DNS server %s answered TSIG error BADTIME: its clock is %+lld s "
                 "from this node's (more than the %d s a signature may differ): run NTP on "
                 "both", u->c->dns_server, (long long)(be48(d + 2) - time(NULL)), TSIG_FUDGE);
    else
        snprintf(out, len, "DNS server %s answered TSIG error BADTIME: its clock and this "
                 "node's differ by more than %d s: run NTP on both", u->c->dns_server,
                 TSIG_FUDGE);
}

/* What the answer to the signed query says about the key: 0 only when it is signed with
 * the key over our request (a forged answer can make the check fail, never pass). */
static int judge_check(struct update_ctx *u, const uint8_t *buf, size_t n, char *msg,
                       size_t msglen)
{
    const char *server = u->c->dns_server;
    ldns_pkt *reply = NULL;
    if (ldns_wire2pkt(&reply, buf, n) != LDNS_STATUS_OK) {
        snprintf(msg, msglen, "DNS server %s: malformed answer", server);
        return -1;
    }
    int ok = tsig_verifies(u, reply, buf, n);
    ldns_rr *tsig = ldns_pkt_tsig(reply);
    int terr = tsig && ldns_rr_rd_count(tsig) > 5 ? ldns_rdf2native_int16(ldns_rr_rdf(tsig, 5)) : 0;
    int rcode = ldns_pkt_get_rcode(reply), rc = -1;
    ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, rcode);
    char what[400];
    if (terr == 18) {
        describe_badtime(u, tsig, msg, msglen);
    } else if (terr) {
        describe_error(u, reply, what, sizeof(what));
        snprintf(msg, msglen, "DNS server %s %s", server, what);
    } else if (!tsig) {
        snprintf(msg, msglen, "DNS server %s answered %s without a signature: it does not "
                 "know TSIG, or this is not its answer", server, lt ? lt->name : "?");
    } else if (!ok) {
        snprintf(msg, msglen, "DNS server %s answered with a signature that does not verify "
                 "with key %s: check [dns] tsig_secret_file and tsig_algorithm", server,
                 u->key->name);
    } else if (rcode != LDNS_RCODE_NOERROR) {
        snprintf(msg, msglen, "DNS server %s accepts key %s but answered %s to the SOA query "
                 "of %s: it does not serve the zone ([dns] zone, server)", server,
                 u->c->tsig_name, lt ? lt->name : "?", u->name);
    } else {
        snprintf(msg, msglen, "DNS server %s answers and accepts key %s (signed SOA query of "
                 "%s)", server, u->c->tsig_name, u->name);
        rc = 0;
    }
    ldns_pkt_free(reply);
    return rc;
}

int dns_check(const struct conf *c, char *msg, size_t msglen)
{
    struct tsig_key key;
    struct update_ctx u = {.c = c, .key = &key};
    size_t zl = strlen(c->dns_zone);
    snprintf(u.name, sizeof(u.name), "%s%s", c->dns_zone,
             zl && c->dns_zone[zl - 1] == '.' ? "" : ".");
    if (load_key(c, &key, msg, msglen) < 0)
        return -1;
    uint8_t buf[4096];
    /* the first answer with our id, judged: a refusal is as telling as an acceptance */
    ssize_t n = transact(c, build_signed_soa, NULL, &u, buf, sizeof(buf), N_ATTEMPTS, 0, msg,
                         msglen);
    int rc = n < 0 ? -1 : judge_check(&u, buf, (size_t)n, msg, msglen);
    ldns_rdf_deep_free(u.request_mac);
    explicit_bzero(&key, sizeof(key));
    return rc;
}

struct query_ctx {
    const char *name;
    ldns_rr_type type;
};

static int build_query(void *arg, uint8_t **wire, size_t *len, uint16_t *id)
{
    struct query_ctx *q = arg;
    ldns_pkt *pkt = ldns_pkt_query_new(ldns_dname_new_frm_str(q->name), q->type,
                                       LDNS_RR_CLASS_IN, 0);
    if (!pkt)
        return -1;
    ldns_pkt_set_random_id(pkt);
    *id = ldns_pkt_id(pkt);
    int rc = ldns_pkt2wire(wire, pkt, len) == LDNS_STATUS_OK ? 0 : -1;
    ldns_pkt_free(pkt);
    return rc;
}

int dns_resolve(const struct conf *c, char addrs[][64], int max, char *err, size_t errlen)
{
    char name[CONF_STR + 2];
    if (dns_fqdn(c, name, sizeof(name), err, errlen) < 0)
        return -1;
    int count = 0;
    static const ldns_rr_type types[] = {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA};
    for (size_t t = 0; t < 2; t++) {
        struct query_ctx q = {name, types[t]};
        uint8_t buf[4096];
        ssize_t n = transact(c, build_query, NULL, &q, buf, sizeof(buf), 2, 0, err, errlen);
        if (n < 0)
            return -1;
        ldns_pkt *reply = NULL;
        if (ldns_wire2pkt(&reply, buf, (size_t)n) != LDNS_STATUS_OK) {
            snprintf(err, errlen, "DNS server %s: malformed answer", c->dns_server);
            return -1;
        }
        ldns_rr_list *ans = ldns_pkt_answer(reply);
        for (size_t i = 0; ans && i < ldns_rr_list_rr_count(ans) && count < max; i++) {
            ldns_rr *rr = ldns_rr_list_rr(ans, i);
            if (ldns_rr_get_type(rr) != types[t] || ldns_rr_rd_count(rr) < 1)
                continue;
            ldns_rdf *rd = ldns_rr_rdf(rr, 0);
            inet_ntop(t == 0 ? AF_INET : AF_INET6, ldns_rdf_data(rd), addrs[count++], 64);
        }
        ldns_pkt_free(reply);
    }
    return count;
}

/* For dns_gss.c, which sends its own messages (TKEY, GSS-TSIG) to the same server. */
int dns_server_sockaddr(const struct conf *c, struct sockaddr_storage *ss, socklen_t *sslen,
                        char *err, size_t errlen)
{
    return server_addr(c->dns_server, ss, sslen, err, errlen);
}
