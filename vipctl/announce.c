/*
 * announce.c: telling the LAN that the virtual IP moved.
 * IPv4: gratuitous ARP request, sender = target = VIP (RFC 5227 §2.3 announcement), sent
 * through AF_PACKET to the broadcast address. IPv6: unsolicited neighbour advertisement
 * (RFC 4861 §7.2.6) with the override flag, hop limit 255, to ff02::1.
 * Neighbours replace a fresh cache entry for the VIP with our MAC on either, which is
 * what lets clients reach the new node before their old entry would have expired.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "clock.h"
#include "ether.h"
#include "log.h"
#include "vipctl.h"

/* Switches and clients that missed the burst (port still coming up, STP, a busy ARP
 * cache) get one more announcement this long after the first. */
#define REPEAT_AFTER_NS (3 * NS_PER_SEC)

/*
 * The socket announcements go out on: AF_PACKET for ARP, raw ICMPv6 for NA. It is opened
 * once per `up` and handed to the background announcer, because closing a packet socket
 * waits for an RCU grace period (synchronize_net in packet_release, ~15 ms): done in
 * `up` itself that would be most of its run time.
 */
static int announce_socket_open(const struct vip *v, char *err, size_t errlen);

static int announce_socket(const struct vip *v, char *err, size_t errlen)
{
    int fd = announce_socket_open(v, err, errlen);
    /* The announcer points fds 0-2 at /dev/null: keep the socket clear of them. */
    if (fd >= 0 && fd <= STDERR_FILENO) {
        int high = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        close(fd);
        fd = high;
        if (fd < 0)
            snprintf(err, errlen, "%s: fcntl: %s", v->ifname, strerror(errno));
    }
    return fd;
}

static int announce_socket_open(const struct vip *v, char *err, size_t errlen)
{
    if (v->family == AF_INET) {
        int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
        if (fd < 0)
            snprintf(err, errlen, "%s: AF_PACKET socket: %s", v->ifname, strerror(errno));
        return fd;
    }
    int fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
    if (fd < 0) {
        snprintf(err, errlen, "%s: ICMPv6 socket: %s", v->ifname, strerror(errno));
        return -1;
    }
    int hops = 255, ifindex = (int)v->ifindex, loop = 0;
    /* RFC 4861 §7.1.2: receivers drop neighbour discovery with a hop limit other than 255. */
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) < 0 ||
        setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex)) < 0) {
        snprintf(err, errlen, "%s: ICMPv6 socket options: %s", v->ifname, strerror(errno));
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &loop, sizeof(loop)); /* nice to have */
    struct sockaddr_in6 src = {.sin6_family = AF_INET6};
    memcpy(&src.sin6_addr, v->addr, 16);
    /* Source = the VIP itself when it is usable; otherwise the kernel picks one of ours. */
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
        log_debug("%s: bind to %s: %s; using the kernel's source address", v->ifname, v->text,
                  strerror(errno));
    return fd;
}

static int send_garp(int fd, const struct vip *v, const unsigned char mac[6], char *err,
                     size_t errlen)
{
    /* RFC 5227 §2.3 announcement: sender = target = VIP */
    struct arp_ether_ipv4 pkt;
    arp_fill(&pkt, ARPOP_REQUEST, mac, v->addr, v->addr);

    struct sockaddr_ll to = {
        .sll_family = AF_PACKET,
        .sll_protocol = htons(ETH_P_ARP),
        .sll_ifindex = (int)v->ifindex,
        .sll_halen = 6,
        .sll_addr = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
    };
    ssize_t n = sendto(fd, &pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to));
    if (n != (ssize_t)sizeof(pkt)) {
        snprintf(err, errlen, "%s: sending gratuitous ARP for %s: %s", v->ifname, v->text,
                 n < 0 ? strerror(errno) : "short write");
        return -1;
    }
    return 0;
}

static int send_na(int fd, const struct vip *v, const unsigned char mac[6], char *err,
                   size_t errlen)
{
    struct __attribute__((packed)) {
        struct nd_neighbor_advert na;
        struct nd_opt_hdr opt;
        unsigned char lladdr[6];
    } pkt;
    memset(&pkt, 0, sizeof(pkt));
    pkt.na.nd_na_type = ND_NEIGHBOR_ADVERT;
    /* Not solicited (so receivers accept it from a multicast), override: replace the
     * cached link-layer address of the VIP with ours. */
    pkt.na.nd_na_flags_reserved = ND_NA_FLAG_OVERRIDE;
    memcpy(&pkt.na.nd_na_target, v->addr, 16);
    pkt.opt.nd_opt_type = ND_OPT_TARGET_LINKADDR;
    pkt.opt.nd_opt_len = 1; /* units of 8 bytes */
    memcpy(pkt.lladdr, mac, 6);

    struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_scope_id = v->ifindex};
    inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
    ssize_t n = sendto(fd, &pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to));
    if (n != (ssize_t)sizeof(pkt)) {
        snprintf(err, errlen, "%s: sending neighbour advertisement for %s: %s", v->ifname,
                 v->text, n < 0 ? strerror(errno) : "short write");
        return -1;
    }
    return 0;
}

/* One announcement on fd: 0 sent, -1 error, 1 nothing to send (not Ethernet). */
static int announce_on(int fd, const struct vip *v, char *err, size_t errlen)
{
    unsigned char mac[6];
    int rc = if_ether_mac(v->ifname, mac, err, errlen);
    if (rc != 0)
        return rc;
    return v->family == AF_INET ? send_garp(fd, v, mac, err, errlen)
                                : send_na(fd, v, mac, err, errlen);
}

static void sleep_until(int64_t t)
{
    for (;;) {
        int64_t left = t - now_ns();
        if (left <= 0)
            return;
        struct timespec ts = {left / NS_PER_SEC, left % NS_PER_SEC};
        nanosleep(&ts, NULL);
    }
}

/* Announces only while the address is still on the interface and the lease lasts:
 * after a `down`, a demotion or the lease's deadline a late packet would pull clients to
 * a node that no longer holds the VIP. */
static int still_here(const struct conf *c, const struct vip *v)
{
    struct vip_found f;
    char err[256];
    return lease_check(c, err, sizeof(err)) != 0 && vip_find(v, &f, err, sizeof(err)) == 0 &&
           (f.exact || f.foreign);
}

static void repeat_child(const struct conf *c, const struct vip *v, int64_t started, int fd)
{
    char err[256];
    int64_t t = started;
    for (int i = 1; i < c->garp_count; i++) {
        t += c->garp_interval_ns;
        sleep_until(t);
        if (!still_here(c, v))
            return;
        if (announce_on(fd, v, err, sizeof(err)) < 0)
            log_warnx("%s", err);
    }
    int64_t late = started + REPEAT_AFTER_NS;
    sleep_until(late > t ? late : t + c->garp_interval_ns);
    if (still_here(c, v) && announce_on(fd, v, err, sizeof(err)) < 0)
        log_warnx("%s", err);
}

/*
 * One announcer per cluster and node: a newer `up` or `garp` replaces the running one, so
 * a caller that runs `up` often (a periodic re-check) never piles up background processes.
 * The pid file names it; the /proc/PID/exe comparison keeps a recycled pid safe.
 */
static void announcer_path(const struct conf *c, char *buf, size_t len)
{
    snprintf(buf, len, "%s/vip-%s.announcer", c->run_dir, c->cluster);
}

/* vipctl or vipctl-full from our directory: either may have started the announcer. */
static int runs_our_binary(pid_t pid)
{
    char proc[64], a[PATH_MAX], b[PATH_MAX];
    snprintf(proc, sizeof(proc), "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(proc, a, sizeof(a) - 1), m = readlink("/proc/self/exe", b, sizeof(b) - 1);
    if (n <= 0 || m <= 0)
        return 0;
    a[n] = b[m] = '\0';
    char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
    if (!sa || !sb || sa - a != sb - b || strncmp(a, b, (size_t)(sa - a)) != 0)
        return 0;
    return strcmp(sa, "/vipctl") == 0 || strcmp(sa, "/vipctl-full") == 0;
}

void announce_stop(const struct conf *c)
{
    char path[CONF_STR + 128];
    int pid;
    announcer_path(c, path, sizeof(path));
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    if (fscanf(f, "%d", &pid) == 1 && pid > 1 && pid != getpid() && runs_our_binary(pid))
        kill(pid, SIGTERM);
    fclose(f);
}

static void record_announcer(const struct conf *c)
{
    char path[CONF_STR + 128];
    announcer_path(c, path, sizeof(path));
    mkdir(c->run_dir, 0755);
    FILE *f = fopen(path, "we");
    if (f) {
        fprintf(f, "%d\n", (int)getpid());
        fclose(f);
    }
}

/*
 * The rest of the announcements run in a detached grandchild so `vipctl up` returns at
 * once: its caller (watchd's promotion, a test, an operator) must not wait for seconds
 * of packets, nor for a pipe the child still holds open, so stdio goes to /dev/null
 * unless stderr is a log file.
 */
static void spawn_repeats(const struct conf *c, const struct vip *v, int64_t started, int fd)
{
    announce_stop(c);
    pid_t pid = fork();
    if (pid < 0) {
        log_warn("fork for the repeated announcements");
        return;
    }
    if (pid > 0) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return;
    }
    setsid();
    signal(SIGHUP, SIG_IGN);
    if (fork() != 0)
        _exit(0);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    struct stat st;
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        if (fstat(STDERR_FILENO, &st) < 0 || !S_ISREG(st.st_mode))
            dup2(null, STDERR_FILENO);
    }
    record_announcer(c);
    repeat_child(c, v, started, fd);
    _exit(0); /* no atexit handlers: they belong to the parent */
}

int announce_burst(const struct conf *c, const struct vip *v)
{
    if (c->garp_count <= 0)
        return 0;
    int64_t started = now_ns();
    char err[256];
    unsigned char mac[6];
    if (!v->ifindex) {
        log_errx("%s: interface '%s' does not exist", v->text, v->ifname);
        return -1;
    }
    int rc = if_ether_mac(v->ifname, mac, err, sizeof(err));
    if (rc > 0) {
        /* loopback (anycast/BGP setups), tun, wireguard: routing moves the address */
        log_info("%s", err);
        return 0;
    }
    int fd = rc < 0 ? -1 : announce_socket(v, err, sizeof(err));
    if (fd >= 0 && lease_check(c, err, sizeof(err)) == 0) {
        log_errx("%s: no announcement: %s", v->text, err);
        close(fd);
        return LEASE_ENDED;
    }
    if (fd < 0 || announce_on(fd, v, err, sizeof(err)) < 0) {
        log_errx("%s", err);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    spawn_repeats(c, v, started, fd);
    close(fd); /* cheap now: the announcer holds the socket and pays for its release */
    return 0;
}
