/* netinfo.h: this node's addresses (rtnetlink), for the preflight checks. */
#ifndef HS_CLONE_NETINFO_H
#define HS_CLONE_NETINFO_H

#include <net/if.h>
#include <stdint.h>

struct local_addr {
    int family;
    unsigned char addr[16];
    int prefix;
    int ifindex;
    uint32_t flags;       /* IFA_F_*: no IFA_F_PERMANENT = has a lifetime (DHCP, SLAAC) */
    char ifname[IF_NAMESIZE];
};

/* Fills out with up to max addresses; returns how many, or -1. */
int local_addrs(struct local_addr *out, int max);
int parse_addr(const char *s, int *family, unsigned char addr[16]);
int same_subnet(int family, const unsigned char *a, const unsigned char *b, int prefix);
const struct local_addr *find_addr(const struct local_addr *a, int n, int family,
                                   const unsigned char *addr);

#endif
