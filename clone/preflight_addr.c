/*
 * preflight_addr.c: the checks of the address clients use. This node's own address is
 * static; with connection = vip the VIP lies in the subnet both nodes share and no other
 * machine on the LAN answers for it (probe.c); with connection = hostname the DNS server
 * answers and accepts the key (`vipctl test-dns`, the same code as the update).
 */
#include <errno.h>
#include <linux/if_addr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "preflight.h"
#include "probe.h"
#include "spawn.h"

void check_static_address(struct pf *p)
{
    struct clone *cl = p->cl;
    int fam;
    unsigned char a[16];
    if (!cl->conf.address[0] || parse_addr(cl->conf.address, &fam, a) < 0) {
        report(cl, WARN, "static address", "[cluster] address '%s' is not a numeric address: "
               "not checked", cl->conf.address);
        return;
    }
    const struct local_addr *la = find_addr(p->addrs, p->naddrs, fam, a);
    if (!la)
        report(cl, FAIL, "static address", "%s is not an address of this node",
               cl->conf.address);
    else if (!(la->flags & IFA_F_PERMANENT))
        report(cl, FAIL, "static address", "%s on %s has a lifetime (DHCP or autoconfigured): "
               "configure it statically", cl->conf.address, la->ifname);
    else
        report(cl, PASS, "static address", "%s on %s is static", cl->conf.address, la->ifname);
}

/* ---- vip free ---- */

/* The probe's targets: the VIP first, then the other nodes' addresses on the VIP's subnet
 * (the database's list, and the --peer), whose MACs tell a node from a stranger. */
struct vip_probe {
    struct probe_target t[1 + MAX_NODES + 1];
    const char *name[1 + MAX_NODES + 1];
    int holder[1 + MAX_NODES + 1];
    int n;
};

static void add_node(struct vip_probe *vp, const struct local_addr *on_if, const char *name,
                     const char *address, int holder)
{
    int fam;
    unsigned char a[16];
    if (vp->n >= (int)(sizeof(vp->t) / sizeof(vp->t[0])) || parse_addr(address, &fam, a) < 0 ||
        fam != on_if->family || !same_subnet(fam, a, on_if->addr, on_if->prefix))
        return;
    for (int i = 1; i < vp->n; i++)
        if (!memcmp(vp->t[i].addr, a, 16))
            return;
    memset(&vp->t[vp->n], 0, sizeof(vp->t[0]));
    memcpy(vp->t[vp->n].addr, a, 16);
    vp->t[vp->n].ordinary = 1;
    vp->name[vp->n] = name;
    vp->holder[vp->n++] = holder;
}

/* The node whose address answered from mac, or -1. */
static int node_of(const struct vip_probe *vp, const unsigned char mac[6])
{
    for (int i = 1; i < vp->n; i++)
        for (int m = 0; m < vp->t[i].nmacs; m++)
            if (!memcmp(vp->t[i].macs[m], mac, 6))
                return i;
    return -1;
}

/* Nodes whose address did not answer: their MAC could not be compared. */
static void silent_nodes(const struct vip_probe *vp, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 1; i < vp->n && used < len; i++)
        if (!vp->t[i].nmacs)
            used += (size_t)snprintf(out + used, len - used, "%s%s", used ? ", " : "; no answer "
                                     "from the address of ", vp->name[i]);
}

static void judge_claimant(struct pf *p, const struct vip_probe *vp, const unsigned char *mac)
{
    struct clone *cl = p->cl;
    const char *vip = cl->conf.vip_address;
    char m[20], silent[300];
    mac_text(mac, m, sizeof(m));
    int i = node_of(vp, mac);
    if (i < 0) {
        silent_nodes(vp, silent, sizeof(silent));
        report(cl, FAIL, "vip free", "another machine uses VIP %s (MAC %s): pick a free "
               "address%s", vip, m, silent);
    } else if (vp->holder[i] || !p->nodes_known) {
        report(cl, PASS, "vip free", "%s is held by %s (MAC %s), %s", vip, vp->name[i], m,
               vp->holder[i] ? "the cluster's active" : "the peer (fine if it is the active)");
    } else {
        report(cl, WARN, "vip free", "%s (MAC %s) answers for %s, but the database names %s "
               "as the holder: a leftover address? ('vipctl down' on %s)", vp->name[i], m, vip,
               p->holder[0] ? p->holder : "nobody", vp->name[i]);
    }
}

static void check_vip_free(struct pf *p, int fam, const unsigned char *vip,
                           const struct local_addr *on_if, int held_here)
{
    struct clone *cl = p->cl;
    static struct vip_probe vp;
    memset(&vp, 0, sizeof(vp));
    memcpy(vp.t[0].addr, vip, 16);
    vp.n = 1;
    for (int i = 0; i < p->nnodes; i++)
        add_node(&vp, on_if, p->nodes[i].name, p->nodes[i].address, p->nodes[i].holder);
    if (cl->peer && p->peer_addr[0])
        add_node(&vp, on_if, cl->peer, p->peer_addr, 0);
    char err[512];
    int rc = probe_lan(on_if->ifname, fam, on_if->addr, vp.t, vp.n, err, sizeof(err));
    const char *how = fam == AF_INET ? "ARP probes" : "duplicate address detection";
    if (rc != 0) {
        report(cl, WARN, "vip free", "%s: no %s, so not checked whether another machine "
               "uses %s", err, how, cl->conf.vip_address);
        return;
    }
    for (int i = 0; i < vp.t[0].nmacs; i++)
        judge_claimant(p, &vp, vp.t[0].macs[i]);
    if (!vp.t[0].nmacs)
        report(cl, PASS, "vip free", "no %smachine on %s answers for %s (%s)",
               held_here ? "other " : "", on_if->ifname, cl->conf.vip_address, how);
}

/* ---- vip subnet ---- */

static void check_vip(struct pf *p)
{
    struct clone *cl = p->cl;
    int fam, pfam;
    unsigned char vip[16], peer[16];
    parse_addr(cl->conf.vip_address, &fam, vip);
    const struct local_addr *on_if = NULL;
    for (int i = 0; i < p->naddrs; i++)
        if (!strcmp(p->addrs[i].ifname, cl->conf.vip_interface) && p->addrs[i].family == fam &&
            memcmp(p->addrs[i].addr, vip, fam == AF_INET6 ? 16 : 4) &&
            same_subnet(fam, p->addrs[i].addr, vip, p->addrs[i].prefix))
            on_if = &p->addrs[i];
    if (!on_if) {
        report(cl, FAIL, "vip subnet", "%s is outside every subnet of %s on this node: the VIP "
               "must be in the servers' subnet (else use connection = hostname)",
               cl->conf.vip_address, cl->conf.vip_interface);
        return;
    }
    char mine[INET6_ADDRSTRLEN];
    inet_ntop(fam, on_if->addr, mine, sizeof(mine));
    report(cl, PASS, "vip subnet", "%s is in %s/%d on %s", cl->conf.vip_address, mine,
           on_if->prefix, on_if->ifname);
    const struct local_addr *held = find_addr(p->addrs, p->naddrs, fam, vip);
    if (held)
        report(cl, WARN, "vip free", "%s is on %s of this node (fine if this node is active)",
               cl->conf.vip_address, held->ifname);
    check_vip_free(p, fam, vip, on_if, held != NULL);
    if (!p->peer_addr[0] || parse_addr(p->peer_addr, &pfam, peer) < 0)
        return;
    if (pfam != fam || !same_subnet(fam, peer, on_if->addr, on_if->prefix))
        report(cl, FAIL, "vip subnet", "%s (%s) is not in %s/%d: both nodes must share the "
               "VIP's subnet (else use connection = hostname)", cl->peer, p->peer_addr, mine,
               on_if->prefix);
    else
        report(cl, PASS, "vip subnet", "%s (%s) is in the same subnet", cl->peer, p->peer_addr);
}

/* ---- dns ---- */

/* The last line of out, without a log priority prefix ("<3>") or "vipctl: ". */
static const char *last_line(char *out)
{
    size_t len = strlen(out);
    while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
        out[--len] = '\0';
    char *line = strrchr(out, '\n');
    line = line ? line + 1 : out;
    if (line[0] == '<' && strchr(line, '>'))
        line = strchr(line, '>') + 1;
    if (!strncmp(line, "vipctl: ", 8))
        line += 8;
    return line;
}

/* `vipctl test-dns` from this program's directory: one signed query, nothing changed.
 * vipctl-full has the DNS code (ldns, Kerberos for GSS-TSIG): one DNS client. */
static void check_dns(struct pf *p)
{
    struct clone *cl = p->cl;
    char dir[512], q1[600], q2[600], cmd[1400], err[512], *out = NULL;
    if (self_dir(dir, sizeof(dir)) < 0) {
        report(cl, FAIL, "dns", "cannot find the directory of this program (for vipctl)");
        return;
    }
    snprintf(cmd, sizeof(cmd), "%s/vipctl", dir);
    shq(cmd, q1, sizeof(q1));
    snprintf(cmd, sizeof(cmd), "%s -c %s test-dns 2>&1", q1, shq(cl->conf_path, q2, sizeof(q2)));
    int rc = local_run(cmd, NULL, 0, &out, err, sizeof(err));
    const char *line = out ? last_line(out) : err;
    if (rc == 0)
        report(cl, PASS, "dns", "%s", line);
    else if (rc == 127)
        report(cl, FAIL, "dns", "cannot run %s/vipctl: %s", dir, line[0] ? line : "not found");
    else
        report(cl, FAIL, "dns", "%s", line[0] ? line : "vipctl test-dns failed");
    free(out);
}

void check_address(struct pf *p)
{
    if (p->cl->conf.connection == CONN_HOSTNAME)
        check_dns(p);
    else if (p->cl->conf.connection == CONN_VIP)
        check_vip(p);
}
