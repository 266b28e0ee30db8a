/* ether.h: an interface's Ethernet address and the ARP packet for IPv4 over Ethernet
 * (RFC 826), shared by vipctl's announcements and hotstandby-clone's address probe. */
#ifndef HS_ETHER_H
#define HS_ETHER_H

#include <net/if_arp.h>
#include <stddef.h>

struct arp_ether_ipv4 {
    struct arphdr h;
    unsigned char sha[6], spa[4], tha[6], tpa[4];
} __attribute__((packed));

/* ifname's MAC address: 0, or 1 when it is not an Ethernet interface (loopback, tun,
 * wireguard: nothing to ARP on; err says so), or -1 with err. */
int if_ether_mac(const char *ifname, unsigned char mac[6], char *err, size_t errlen);

/* An ARP packet of operation op (ARPOP_REQUEST, ARPOP_REPLY) from sha/spa for tpa; tha
 * zero, as requests and RFC 5227 probes and announcements have it. */
void arp_fill(struct arp_ether_ipv4 *p, int op, const unsigned char sha[6],
              const unsigned char spa[4], const unsigned char tpa[4]);

#endif
