/* preflight.h: what the checks of preflight.c (the peer, the database, the folder, the
 * service) and preflight_addr.c (the address clients use) share. */
#ifndef HS_CLONE_PREFLIGHT_H
#define HS_CLONE_PREFLIGHT_H

#include <arpa/inet.h>

#include "clone.h"
#include "netinfo.h"

#define MAX_ADDRS 256
#define MAX_NODES 16

/* Another node of the cluster as the database lists it (hs_node). */
struct pf_node {
    char name[CONF_STR];
    char address[CONF_STR];
    int holder;                         /* hs_cluster names it as the holder */
};

struct pf {
    struct clone *cl;
    struct local_addr addrs[MAX_ADDRS];
    int naddrs;
    char peer_addr[INET6_ADDRSTRLEN];   /* the peer's address, numeric */
    int peer_ok;                        /* SSH to the peer works */
    int installing;                     /* primary --to: the peer may have nothing yet */
    int nodes_known;                    /* the database answered: nodes[] and holder hold */
    struct pf_node nodes[MAX_NODES];
    int nnodes;
    char holder[CONF_STR];              /* hs_cluster.holder, "" for nobody */
};

/* preflight_addr.c */
void check_static_address(struct pf *p);
/* connection = vip: subnet and "vip free" (an ARP / ND probe); hostname: the DNS server
 * accepts the key (vipctl test-dns). */
void check_address(struct pf *p);

#endif
