/*
 * vip.c: the virtual IP on the interface, through rtnetlink (libmnl).
 * Finds, adds and removes the configured address; every address we add carries our
 * mark (IFA_PROTO, and the "IFNAME:hs" label for IPv4) so removal never touches an
 * address an operator or another tool put there.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "log.h"

int vip_from_conf(const struct conf *c, struct vip *v, char *err, size_t errlen)
{
    memset(v, 0, sizeof(*v));
    v->family = strchr(c->vip_address, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(v->family, c->vip_address, v->addr) != 1) {
        snprintf(err, errlen, "[vip] address '%s' is not an IPv4 or IPv6 address",
                 c->vip_address);
        return -1;
    }
    int maxp = v->family == AF_INET ? 32 : 128;
    v->prefix = c->vip_prefix < 0 ? (v->family == AF_INET ? 24 : 64) : c->vip_prefix;
    if (v->prefix > maxp) {
        snprintf(err, errlen, "[vip] netmask /%d too long for %s", v->prefix, c->vip_address);
        return -1;
    }
    if (strlen(c->vip_interface) >= sizeof(v->ifname) || !*c->vip_interface) {
        snprintf(err, errlen, "[vip] interface '%s' is not a valid interface name",
                 c->vip_interface);
        return -1;
    }
    snprintf(v->ifname, sizeof(v->ifname), "%s", c->vip_interface);
    v->remembered_prefix = -1;
    v->ifindex = if_nametoindex(v->ifname);
    snprintf(v->text, sizeof(v->text), "%s/%d", c->vip_address, v->prefix);
    return 0;
}

static size_t addr_len(int family) { return family == AF_INET ? 4 : 16; }

static void our_label(const struct vip *v, char *buf, size_t len)
{
    if (strlen(v->ifname) + strlen(HS_LABEL_SUFFIX) < IFNAMSIZ)
        snprintf(buf, len, "%s%s", v->ifname, HS_LABEL_SUFFIX);
    else
        buf[0] = '\0'; /* no room: IFA_PROTO alone marks it */
}

/* One request on a fresh socket; cb (may be NULL) sees every reply message. */
static int nl_talk(struct nlmsghdr *req, mnl_cb_t cb, void *data, char *err, size_t errlen,
                   const char *what)
{
    struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!nl) {
        snprintf(err, errlen, "%s: netlink socket: %s", what, strerror(errno));
        return -1;
    }
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        snprintf(err, errlen, "%s: netlink bind: %s", what, strerror(errno));
        mnl_socket_close(nl);
        return -1;
    }
    unsigned portid = mnl_socket_get_portid(nl);
    unsigned seq = req->nlmsg_seq;
    int ret = -1, e = 0;
    if (mnl_socket_sendto(nl, req, req->nlmsg_len) < 0) {
        e = errno;
        snprintf(err, errlen, "%s: netlink send: %s", what, strerror(e));
        goto out;
    }
    char buf[32768]; /* a dump of a busy interface comes in pages this large */
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = errno;
            snprintf(err, errlen, "%s: netlink receive: %s", what, strerror(e));
            goto out;
        }
        int r = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
        if (r < 0) {
            e = errno; /* the kernel's answer: EEXIST, EADDRNOTAVAIL, EPERM ... */
            snprintf(err, errlen, "%s: %s", what, strerror(e));
            goto out;
        }
        if (r == MNL_CB_STOP)
            break;
    }
    ret = 0;
out:
    mnl_socket_close(nl);
    errno = e; /* callers look at it */
    return ret;
}

struct find_ctx {
    const struct vip *v;
    struct vip_found *f;
    char label[IFNAMSIZ];
    /* prefixes of our marked copies, for vip_remove_ours */
    int ours_prefix[16];
    int n_ours;
};

static int attr_cb(const struct nlattr *a, void *data)
{
    const struct nlattr **tb = data;
    int type = mnl_attr_get_type(a);
    if (mnl_attr_type_valid(a, IFA_MAX) < 0)
        return MNL_CB_OK; /* newer kernel attribute: not ours to judge */
    tb[type] = a;
    return MNL_CB_OK;
}

static int find_cb(const struct nlmsghdr *nlh, void *data)
{
    struct find_ctx *fc = data;
    const struct vip *v = fc->v;
    const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
    const struct nlattr *tb[IFA_MAX + 1] = {0};

    if (ifa->ifa_family != v->family || ifa->ifa_index != v->ifindex)
        return MNL_CB_OK;
    mnl_attr_parse(nlh, sizeof(*ifa), attr_cb, tb);
    /* IPv4: IFA_LOCAL is the address itself (IFA_ADDRESS is the peer on p-t-p links). */
    const struct nlattr *aa = v->family == AF_INET && tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
    if (!aa || mnl_attr_get_payload_len(aa) != addr_len(v->family) ||
        memcmp(mnl_attr_get_payload(aa), v->addr, addr_len(v->family)) != 0)
        return MNL_CB_OK;

    int proto = tb[IFA_PROTO] ? mnl_attr_get_u8(tb[IFA_PROTO]) : 0;
    const char *label = tb[IFA_LABEL] ? mnl_attr_get_str(tb[IFA_LABEL]) : "";
    int ours = proto == HS_IFA_PROTO || (*fc->label && !strcmp(label, fc->label)) ||
               (!tb[IFA_PROTO] && ifa->ifa_prefixlen == v->remembered_prefix);
    uint32_t flags = tb[IFA_FLAGS] ? mnl_attr_get_u32(tb[IFA_FLAGS]) : ifa->ifa_flags;

    if (ifa->ifa_prefixlen == v->prefix) {
        fc->f->exact = 1;
        fc->f->exact_ours |= ours;
    }
    if (ours && ifa->ifa_prefixlen != v->prefix)
        fc->f->stale_ours++;
    if (!ours)
        fc->f->foreign++;
    if (flags & IFA_F_TENTATIVE)
        fc->f->tentative = 1;
    if (ours && fc->n_ours < (int)(sizeof(fc->ours_prefix) / sizeof(fc->ours_prefix[0])))
        fc->ours_prefix[fc->n_ours++] = ifa->ifa_prefixlen;
    return MNL_CB_OK;
}

static int find_into(const struct vip *v, struct find_ctx *fc, struct vip_found *f, char *err,
                     size_t errlen)
{
    memset(f, 0, sizeof(*f));
    memset(fc, 0, sizeof(*fc));
    fc->v = v;
    fc->f = f;
    our_label(v, fc->label, sizeof(fc->label));
    if (!v->ifindex)
        return 0;

    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_GETADDR;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = (unsigned)time(NULL);
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
    ifa->ifa_family = (unsigned char)v->family;
    ifa->ifa_index = v->ifindex;
    return nl_talk(nlh, find_cb, fc, err, errlen, v->ifname);
}

int vip_find(const struct vip *v, struct vip_found *f, char *err, size_t errlen)
{
    struct find_ctx fc;
    return find_into(v, &fc, f, err, errlen);
}

static struct nlmsghdr *addr_msg(char *buf, int type, int flags, const struct vip *v,
                                 int prefix)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (unsigned short)type;
    nlh->nlmsg_flags = (unsigned short)(NLM_F_REQUEST | NLM_F_ACK | flags);
    nlh->nlmsg_seq = (unsigned)time(NULL);
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
    ifa->ifa_family = (unsigned char)v->family;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = v->ifindex;
    if (v->family == AF_INET)
        mnl_attr_put(nlh, IFA_LOCAL, 4, v->addr);
    mnl_attr_put(nlh, IFA_ADDRESS, addr_len(v->family), v->addr);
    return nlh;
}

static int no_interface(const struct vip *v, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: interface '%s' does not exist", v->text, v->ifname);
    return -1;
}

int vip_add(const struct vip *v, char *err, size_t errlen)
{
    if (!v->ifindex)
        return no_interface(v, err, errlen);
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = addr_msg(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, v, v->prefix);
    struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
    if (v->family == AF_INET) {
        char label[IFNAMSIZ];
        our_label(v, label, sizeof(label));
        if (*label)
            mnl_attr_put_strz(nlh, IFA_LABEL, label);
        if (v->prefix < 31) {
            uint32_t a, mask = v->prefix ? htonl(~0u << (32 - v->prefix)) : 0;
            memcpy(&a, v->addr, 4);
            a |= ~mask;
            mnl_attr_put(nlh, IFA_BROADCAST, 4, &a);
        }
    } else {
        /* NODAD: the address must answer at once; the holder check is our duplicate
         * detection (RFC 4862 §5.4 allows skipping DAD by configuration). */
        ifa->ifa_flags = IFA_F_NODAD;
        mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
    }
    mnl_attr_put_u8(nlh, IFA_PROTO, HS_IFA_PROTO);

    char why[256];
    if (nl_talk(nlh, NULL, NULL, why, sizeof(why), v->text) < 0) {
        if (errno == EEXIST)
            return 0; /* someone (a concurrent up) was faster: the address is there */
        snprintf(err, errlen, "adding %s on %s: %s", v->text, v->ifname, strerror(errno));
        return -1;
    }
    return 0;
}

int vip_remove_ours(const struct vip *v, int keep_exact, char *err, size_t errlen)
{
    struct find_ctx fc;
    struct vip_found f;
    if (find_into(v, &fc, &f, err, errlen) < 0)
        return -1;
    int removed = 0;
    for (int i = 0; i < fc.n_ours; i++) {
        if (keep_exact && fc.ours_prefix[i] == v->prefix)
            continue;
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = addr_msg(buf, RTM_DELADDR, 0, v, fc.ours_prefix[i]);
        char why[256], addr[INET6_ADDRSTRLEN];
        if (nl_talk(nlh, NULL, NULL, why, sizeof(why), v->text) < 0) {
            if (errno == EADDRNOTAVAIL || errno == ENODEV)
                continue; /* gone already: that is what we wanted */
            inet_ntop(v->family, v->addr, addr, sizeof(addr));
            snprintf(err, errlen, "removing %s/%d from %s: %s", addr, fc.ours_prefix[i],
                     v->ifname, strerror(errno));
            return -1;
        }
        removed++;
    }
    return removed;
}
