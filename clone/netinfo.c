/*
 * netinfo.c: this node's addresses as the kernel has them (rtnetlink dump through libmnl):
 * family, prefix, interface and flags — what the static-address, VIP-subnet and
 * database-elsewhere checks look at.
 */
#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "netinfo.h"

struct dump {
    struct local_addr *a;
    int n, max;
};

static int on_attr(const struct nlattr *attr, void *data)
{
    const struct nlattr **tb = data;
    int type = mnl_attr_get_type(attr);
    if (type <= IFA_MAX)
        tb[type] = attr;
    return MNL_CB_OK;
}

static int on_msg(const struct nlmsghdr *nlh, void *data)
{
    struct dump *d = data;
    const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
    const struct nlattr *tb[IFA_MAX + 1] = {0};
    mnl_attr_parse(nlh, sizeof(*ifa), on_attr, tb);
    const struct nlattr *at = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
    if (!at || d->n >= d->max)
        return MNL_CB_OK;
    struct local_addr *a = &d->a[d->n++];
    memset(a, 0, sizeof(*a));
    a->family = ifa->ifa_family;
    size_t len = ifa->ifa_family == AF_INET6 ? 16 : 4;
    if (mnl_attr_get_payload_len(at) < len)
        len = mnl_attr_get_payload_len(at);
    memcpy(a->addr, mnl_attr_get_payload(at), len);
    a->prefix = ifa->ifa_prefixlen;
    a->ifindex = (int)ifa->ifa_index;
    a->flags = tb[IFA_FLAGS] ? mnl_attr_get_u32(tb[IFA_FLAGS]) : ifa->ifa_flags;
    if (!if_indextoname(ifa->ifa_index, a->ifname))
        snprintf(a->ifname, sizeof(a->ifname), "#%u", ifa->ifa_index);
    return MNL_CB_OK;
}

int local_addrs(struct local_addr *out, int max)
{
    struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
    if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        if (nl)
            mnl_socket_close(nl);
        return -1;
    }
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_GETADDR;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = (unsigned)time(NULL);
    struct rtgenmsg *rt = mnl_nlmsg_put_extra_header(nlh, sizeof(*rt));
    rt->rtgen_family = AF_UNSPEC;
    unsigned portid = mnl_socket_get_portid(nl);
    struct dump d = {.a = out, .max = max};
    int rc = -1;
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) >= 0) {
        ssize_t n;
        while ((n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0) {
            rc = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, portid, on_msg, &d);
            if (rc <= MNL_CB_STOP)
                break;
        }
    }
    mnl_socket_close(nl);
    return rc < 0 ? -1 : d.n;
}

int parse_addr(const char *s, int *family, unsigned char addr[16])
{
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, s, addr) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, addr) == 1) {
        *family = AF_INET6;
        return 0;
    }
    return -1;
}

int same_subnet(int family, const unsigned char *a, const unsigned char *b, int prefix)
{
    int bytes = family == AF_INET6 ? 16 : 4;
    for (int i = 0; i < bytes && prefix > 0; i++, prefix -= 8) {
        unsigned char mask = prefix >= 8 ? 0xff : (unsigned char)(0xff << (8 - prefix));
        if ((a[i] & mask) != (b[i] & mask))
            return 0;
    }
    return 1;
}

const struct local_addr *find_addr(const struct local_addr *a, int n, int family,
                                   const unsigned char *addr)
{
    for (int i = 0; i < n; i++)
        if (a[i].family == family && !memcmp(a[i].addr, addr, family == AF_INET6 ? 16 : 4))
            return &a[i];
    return NULL;
}
