/*
 * probe.c: who on the LAN answers for an address, asked the way address conflict
 * detection asks. IPv4: an ARP probe (RFC 5227 §2.1.1: broadcast request, sender IP
 * 0.0.0.0, target the address), which a host that has the address answers and which
 * changes no neighbour's ARP cache. IPv6: a duplicate address detection solicitation
 * (RFC 4862 §5.4.2: from ::, to the target's solicited-node group, hop limit 255), which
 * a host that has the address answers with an advertisement to ff02::1.
 * A node's own address is asked with an ordinary request from this node's address
 * instead: a host still checking that address (DAD at boot) would take a probe for it as
 * a conflict and give the address up.
 * Everything goes through one AF_PACKET socket on the interface: PROBE_ROUNDS rounds of
 * requests PROBE_SPACING_MS apart (one lost frame is no false "free"), answers collected
 * until PROBE_WINDOW_MS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/ip6.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "ether.h"
#include "probe.h"

#define PROBE_ROUNDS 3
#define PROBE_SPACING_MS 250
#define PROBE_WINDOW_MS 1000

struct prober {
    int fd, family, ifindex;
    const char *ifname;
    unsigned char mac[6];
    const unsigned char *src;
};

const char *mac_text(const unsigned char mac[6], char *buf, size_t len)
{
    snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
             mac[4], mac[5]);
    return buf;
}

static int send_frame(const struct prober *pr, const void *pkt, size_t len,
                      const unsigned char dst[6])
{
    struct sockaddr_ll to = {
        .sll_family = AF_PACKET,
        .sll_protocol = htons(pr->family == AF_INET ? ETH_P_ARP : ETH_P_IPV6),
        .sll_ifindex = pr->ifindex,
        .sll_halen = 6,
    };
    memcpy(to.sll_addr, dst, 6);
    return sendto(pr->fd, pkt, len, 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)len
               ? 0 : -1;
}

static int send_arp(const struct prober *pr, const struct probe_target *t)
{
    static const unsigned char unspecified[4], broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    struct arp_ether_ipv4 pkt;
    arp_fill(&pkt, ARPOP_REQUEST, pr->mac, t->ordinary ? pr->src : unspecified, t->addr);
    return send_frame(pr, &pkt, sizeof(pkt), broadcast);
}

/* The ICMPv6 checksum (RFC 4443 §2.3): over the pseudo-header and the message. */
static uint16_t icmp6_checksum(const uint8_t *ip6_hdr, const uint8_t *msg, size_t len)
{
    uint32_t sum = IPPROTO_ICMPV6 + (uint32_t)len;
    const uint8_t *a = ip6_hdr + 8;   /* source, then destination */
    for (size_t i = 0; i < 32; i += 2)
        sum += (uint32_t)(a[i] << 8 | a[i + 1]);
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(msg[i] << 8 | msg[i + 1]);
    if (len & 1)
        sum += (uint32_t)(msg[len - 1] << 8);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t)~sum);
}

static int send_ns(const struct prober *pr, const struct probe_target *t)
{
    struct __attribute__((packed)) {
        struct ip6_hdr ip;
        struct nd_neighbor_solicit ns;
        struct nd_opt_hdr opt;      /* source link-layer address: never from :: (RFC 4861) */
        unsigned char lladdr[6];
    } pkt;
    memset(&pkt, 0, sizeof(pkt));
    size_t icmp_len = sizeof(pkt.ns) + (t->ordinary ? 8 : 0);
    pkt.ip.ip6_flow = htonl(6u << 28);
    pkt.ip.ip6_plen = htons((uint16_t)icmp_len);
    pkt.ip.ip6_nxt = IPPROTO_ICMPV6;
    pkt.ip.ip6_hlim = 255;   /* RFC 4861 §7.1.1: anything else is dropped */
    if (t->ordinary)
        memcpy(&pkt.ip.ip6_src, pr->src, 16);
    /* solicited-node group ff02::1:ffXX:XXXX (RFC 4291 §2.7.1), MAC 33:33:ff:XX:XX:XX */
    uint8_t *dst = (uint8_t *)&pkt.ip.ip6_dst;
    dst[0] = 0xff, dst[1] = 0x02, dst[11] = 0x01, dst[12] = 0xff;
    memcpy(dst + 13, t->addr + 13, 3);
    unsigned char mac[6] = {0x33, 0x33, 0xff, t->addr[13], t->addr[14], t->addr[15]};
    pkt.ns.nd_ns_type = ND_NEIGHBOR_SOLICIT;
    memcpy(&pkt.ns.nd_ns_target, t->addr, 16);
    pkt.opt.nd_opt_type = ND_OPT_SOURCE_LINKADDR;
    pkt.opt.nd_opt_len = 1;
    memcpy(pkt.lladdr, pr->mac, 6);
    pkt.ns.nd_ns_cksum = icmp6_checksum((const uint8_t *)&pkt, (const uint8_t *)&pkt + sizeof(pkt.ip), icmp_len);
    return send_frame(pr, &pkt, sizeof(pkt.ip) + icmp_len, mac);
}

static void add_mac(struct probe_target *t, const unsigned char mac[6])
{
    for (int i = 0; i < t->nmacs; i++)
        if (!memcmp(t->macs[i], mac, 6))
            return;
    if (t->nmacs < PROBE_MAX_MACS)
        memcpy(t->macs[t->nmacs++], mac, 6);
}

/* An ARP request or reply whose sender claims a target's address. */
static void on_arp(const struct prober *pr, const uint8_t *buf, size_t n,
                   struct probe_target *t, int nt)
{
    const struct arp_ether_ipv4 *a = (const struct arp_ether_ipv4 *)buf;
    if (n < sizeof(*a) || a->h.ar_hrd != htons(ARPHRD_ETHER) || a->h.ar_pro != htons(ETH_P_IP) ||
        a->h.ar_hln != 6 || a->h.ar_pln != 4 || !memcmp(a->sha, pr->mac, 6))
        return;
    for (int i = 0; i < nt; i++)
        if (!memcmp(a->spa, t[i].addr, 4))
            add_mac(&t[i], a->sha);
}

/* A neighbour advertisement for a target: the MAC of its target link-layer address
 * option, else the frame's source. */
static void on_ipv6(const struct prober *pr, const uint8_t *buf, size_t n,
                    const struct sockaddr_ll *from, struct probe_target *t, int nt)
{
    const struct ip6_hdr *ip = (const struct ip6_hdr *)buf;
    const size_t na_len = sizeof(struct nd_neighbor_advert);
    if (n < sizeof(*ip) + na_len || ip->ip6_nxt != IPPROTO_ICMPV6 || ip->ip6_hlim != 255)
        return;
    const uint8_t *icmp = buf + sizeof(*ip);
    size_t len = ntohs(ip->ip6_plen) < n - sizeof(*ip) ? ntohs(ip->ip6_plen) : n - sizeof(*ip);
    const struct nd_neighbor_advert *na = (const struct nd_neighbor_advert *)icmp;
    if (len < na_len || na->nd_na_type != ND_NEIGHBOR_ADVERT || na->nd_na_code != 0)
        return;
    const unsigned char *mac = from->sll_halen == 6 ? from->sll_addr : NULL;
    for (size_t o = na_len; o + 8 <= len && icmp[o + 1] > 0; o += icmp[o + 1] * 8u)
        if (icmp[o] == ND_OPT_TARGET_LINKADDR && icmp[o + 1] == 1)
            mac = icmp + o + 2;
    if (!mac || !memcmp(mac, pr->mac, 6))
        return;
    for (int i = 0; i < nt; i++)
        if (!memcmp(&na->nd_na_target, t[i].addr, 16))
            add_mac(&t[i], mac);
}

static void drain(const struct prober *pr, struct probe_target *t, int nt)
{
    uint8_t buf[2048];
    struct sockaddr_ll from;
    for (;;) {
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(pr->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return;
        if (from.sll_pkttype == PACKET_OUTGOING)
            continue;   /* our own requests */
        if (pr->family == AF_INET)
            on_arp(pr, buf, (size_t)n, t, nt);
        else
            on_ipv6(pr, buf, (size_t)n, &from, t, nt);
    }
}

static int open_socket(struct prober *pr, char *err, size_t errlen)
{
    int proto = htons(pr->family == AF_INET ? ETH_P_ARP : ETH_P_IPV6);
    pr->fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, proto);
    struct sockaddr_ll me = {.sll_family = AF_PACKET, .sll_protocol = (unsigned short)proto,
                             .sll_ifindex = pr->ifindex};
    if (pr->fd < 0 || bind(pr->fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
        snprintf(err, errlen, "%s: packet socket: %s", pr->ifname, strerror(errno));
        if (pr->fd >= 0)
            close(pr->fd);
        return -1;
    }
    return 0;
}

static int send_round(const struct prober *pr, const struct probe_target *t, int nt, char *err,
                      size_t errlen)
{
    for (int i = 0; i < nt; i++)
        if ((pr->family == AF_INET ? send_arp(pr, &t[i]) : send_ns(pr, &t[i])) < 0) {
            snprintf(err, errlen, "%s: sending a %s: %s", pr->ifname,
                     pr->family == AF_INET ? "ARP request" : "neighbour solicitation",
                     strerror(errno));
            return -1;
        }
    return 0;
}

int probe_lan(const char *ifname, int family, const unsigned char *src, struct probe_target *t,
              int n, char *err, size_t errlen)
{
    struct prober pr = {.family = family, .ifname = ifname, .src = src};
    pr.ifindex = (int)if_nametoindex(ifname);
    if (!pr.ifindex) {
        snprintf(err, errlen, "%s: %s", ifname, strerror(errno));
        return -1;
    }
    int rc = if_ether_mac(ifname, pr.mac, err, errlen);
    if (rc != 0 || open_socket(&pr, err, errlen) < 0)
        return rc != 0 ? rc : -1;
    for (int i = 0; i < n; i++)
        t[i].nmacs = 0;
    int64_t start = now_ns(), end = start + PROBE_WINDOW_MS * NS_PER_MS, next = start;
    int rounds = 0;
    rc = 0;
    for (int64_t now = start; rc == 0 && now < end; now = now_ns()) {
        if (rounds < PROBE_ROUNDS && now >= next) {
            rc = send_round(&pr, t, n, err, errlen);
            rounds++;
            next += PROBE_SPACING_MS * NS_PER_MS;
        }
        int64_t wake = rounds < PROBE_ROUNDS && next < end ? next : end;
        struct pollfd p = {.fd = pr.fd, .events = POLLIN};
        if (poll(&p, 1, (int)((wake - now) / NS_PER_MS) + 1) > 0)
            drain(&pr, t, n);
    }
    close(pr.fd);
    return rc;
}
