/* ether.c: see ether.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ether.h"

int if_ether_mac(const char *ifname, unsigned char mac[6], char *err, size_t errlen)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "%s: socket: %s", ifname, strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    int rc = ioctl(fd, SIOCGIFHWADDR, &ifr);
    int e = errno;
    close(fd);
    if (rc < 0) {
        snprintf(err, errlen, "%s: reading MAC address: %s", ifname, strerror(e));
        return -1;
    }
    if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
        snprintf(err, errlen, "%s: not an Ethernet interface (type %d): no ARP/ND on it",
                 ifname, ifr.ifr_hwaddr.sa_family);
        return 1;
    }
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    return 0;
}

void arp_fill(struct arp_ether_ipv4 *p, int op, const unsigned char sha[6],
              const unsigned char spa[4], const unsigned char tpa[4])
{
    memset(p, 0, sizeof(*p));
    p->h.ar_hrd = htons(ARPHRD_ETHER);
    p->h.ar_pro = htons(ETH_P_IP);
    p->h.ar_hln = 6;
    p->h.ar_pln = 4;
    p->h.ar_op = htons((unsigned short)op);
    memcpy(p->sha, sha, 6);
    memcpy(p->spa, spa, 4);
    memcpy(p->tpa, tpa, 4);
}
