/* address.h: what vip.c (netlink), announce.c (GARP/NA), vipaddr.c (the VIP verbs) and
 * dns.c (UPDATE) give address.c and front.c. */
#ifndef HS_ADDRESS_H
#define HS_ADDRESS_H

#include <net/if.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

/*
 * Addresses hotstandby adds carry IFA_PROTO = HS_IFA_PROTO (kernel >= 6.1, both families;
 * `ip addr` shows "proto 0x68"), and IPv4 ones also the label "IFNAME:hs" when it fits in
 * IFNAMSIZ. Either mark makes an address ours; `down` removes only those. Older kernels
 * keep no IFA_PROTO: there the state file (vip->remembered_prefix) vouches for it.
 */
#define HS_IFA_PROTO 0x68
#define HS_LABEL_SUFFIX ":hs"

/* The virtual IP of a config, resolved against the running system. */
struct vip {
    int family;                         /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int prefix;
    char ifname[IFNAMSIZ];
    unsigned ifindex;                   /* 0 when the interface does not exist */
    char text[64];                      /* "192.0.2.10/24" for messages */
    /* The prefix of this address that the state file says we added, or -1. On kernels
     * without IFA_PROTO (before 6.1) an IPv6 address has no other mark; a copy with this
     * prefix and no IFA_PROTO at all counts as ours. */
    int remembered_prefix;
};

/* Copies on the interface of the VIP's address, whatever their prefix. */
struct vip_found {
    int exact;          /* our address with our prefix is there */
    int exact_ours;     /* ... and carries our mark */
    int stale_ours;     /* our marked copies with another prefix (old netmask) */
    int foreign;        /* copies without our mark (added by someone else) */
    int tentative;      /* IPv6 still doing DAD (not usable yet) */
};

/* vip.c */
int vip_from_conf(const struct conf *c, struct vip *v, char *err, size_t errlen);
int vip_find(const struct vip *v, struct vip_found *f, char *err, size_t errlen);
/* Adds the address with our mark; EEXIST counts as success. */
int vip_add(const struct vip *v, char *err, size_t errlen);
/* Removes our marked copies of the address; keep_exact spares the one with v->prefix.
 * Returns how many were removed, or -1. */
int vip_remove_ours(const struct vip *v, int keep_exact, char *err, size_t errlen);

/* vipaddr.c: the verbs for connection = vip (exit codes of vipctl.h); up and check only
 * after the caller's holder check. */
int vip_cmd_up(const struct conf *c);
int vip_cmd_down(const struct conf *c);
int vip_cmd_garp(const struct conf *c);
int vip_cmd_check(const struct conf *c);
/* The configured VIP, with the prefix the state file remembers adding: 0, or -1 with err. */
int vip_configured(const struct conf *c, struct vip *v, char *err, size_t errlen);

/* announce.c: gratuitous ARP (IPv4) or unsolicited NA (IPv6) for v. First announcement now; the rest of garp_count and a late repeat from a detached child
 * that checks before every packet that the address is still on the interface and the
 * lease lasts (lease.c). LEASE_ENDED if the lease ended before the first one. */
int announce_burst(const struct conf *c, const struct vip *v);
/* Stops this cluster's background announcer, if one runs (before the address goes). */
void announce_stop(const struct conf *c);

/* dns.c */
/* [dns] hostname as an FQDN with the final dot: "app" and "app.zone" both mean app.zone.;
 * an absolute name outside the zone is an error. */
int dns_fqdn(const struct conf *c, char *out, size_t len, char *err, size_t errlen);
int dns_update(const struct conf *c, char *err, size_t errlen);
/* The unsigned UPDATE (RFC 2136) both types send: delete name's A and AAAA RRsets, add
 * [cluster] address with [dns] ttl; random id. NULL if it cannot be built. */
struct ldns_struct_pkt;
struct ldns_struct_pkt *dns_update_pkt(const struct conf *c, const char *name);
/* Resolves [dns] hostname at [dns] server: fills addrs (text) and returns their number,
 * or -1 with err. */
int dns_resolve(const struct conf *c, char addrs[][64], int max, char *err, size_t errlen);
/* The [dns] server as a socket address. */
int dns_server_sockaddr(const struct conf *c, struct sockaddr_storage *ss, socklen_t *sslen,
                        char *err, size_t errlen);

/* A query for the zone's SOA signed with the TSIG key, nothing changed: 0 with msg when
 * the server's answer is signed with the key, else -1 with msg naming what it said
 * (BADKEY, BADSIG, BADTIME with the clock offset, unsigned, no answer). */
int dns_check(const struct conf *c, char *msg, size_t msglen);

/* dns_gss.c: type = microsoft, the same update signed with GSS-TSIG (RFC 3645). */
int dns_gss_update(const struct conf *c, char *err, size_t errlen);
/* The Kerberos login and the GSS-TSIG key negotiation (TKEY) only, nothing changed: 0
 * with msg when the server established the context, else -1 with msg. */
int dns_gss_check(const struct conf *c, char *msg, size_t msglen);

#endif
