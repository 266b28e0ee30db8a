/* probe.h: who on the LAN answers for an address (ARP / neighbour discovery), for the
 * "vip free" preflight check. */
#ifndef HS_CLONE_PROBE_H
#define HS_CLONE_PROBE_H

#include <stddef.h>

#define PROBE_MAX_MACS 4

struct probe_target {
    unsigned char addr[16];     /* of the family probe_lan is given */
    /* 0: asked as address conflict detection does, from the unspecified address, which
     * changes no neighbour's cache (the VIP); 1: an ordinary request from this node's
     * address (a node's own address, which its owner may be checking for conflicts) */
    int ordinary;
    int nmacs;                  /* distinct link-layer addresses that answered for it */
    unsigned char macs[PROBE_MAX_MACS][6];
};

/* Asks the LAN on ifname who has each of the n targets (family AF_INET: ARP; AF_INET6:
 * neighbour solicitations), a few times over about a second; src is this node's address
 * on ifname, for the ordinary requests. 0 with the answers filled in; 1 when ifname is
 * not an Ethernet interface (err says so); -1 with err. Needs CAP_NET_RAW. */
int probe_lan(const char *ifname, int family, const unsigned char *src, struct probe_target *t,
              int n, char *err, size_t errlen);

/* "aa:bb:cc:dd:ee:ff" */
const char *mac_text(const unsigned char mac[6], char *buf, size_t len);

#endif
