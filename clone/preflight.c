/*
 * preflight.c: the prerequisites of a failover pair, each checked for real and printed
 * PASS / WARN / FAIL with the reason (hotstandby-clone(8) lists them). Checks that need
 * the peer run their half there over SSH with plain commands, so they work before the
 * peer has hotstandby installed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"
#include "db.h"
#include "preflight.h"

#define DB_TIMEOUT_MS 5000

/* This node's wall clock, with the test-only offset (HS_TEST_CLOCK_OFFSET_MS). */
static double wall_now(const struct clone *cl)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9 + (double)cl->clock_offset_ns / 1e9;
}

static double skew_limit(const struct clone *cl)
{
    return (double)cl->conf.max_clock_skew_ns / 1e9;
}

static int is_local(const struct pf *p, const char *addr)
{
    int fam;
    unsigned char a[16];
    if (parse_addr(addr, &fam, a) < 0)
        return 0;
    if ((fam == AF_INET && a[0] == 127) || (fam == AF_INET6 && !memcmp(a, &in6addr_loopback, 16)))
        return 1;
    return find_addr(p->addrs, p->naddrs, fam, a) != NULL;
}

/* ---- the peer ---- */

static void check_ssh(struct pf *p)
{
    struct clone *cl = p->cl;
    char err[1024], *out = NULL;
    int rc = remote_run(cl, "true", NULL, 0, &out, err, sizeof(err));
    free(out);
    p->peer_ok = rc == 0;
    if (rc == 0)
        report(cl, PASS, "ssh", "%s@%s port %d: logged in, host key known (%s)", cl->ssh_user,
               cl->peer, cl->ssh_port, cl->known_hosts);
    else
        report(cl, FAIL, "ssh", "%s (the other checks of %s are skipped)", err, cl->peer);
}

static void check_version(struct pf *p)
{
    struct clone *cl = p->cl;
    char err[512], *out = NULL;
    int rc = remote_run(cl, HS_SBINDIR "/hotstandby-clone version", NULL, 0, &out, err,
                        sizeof(err));
    if (out)
        out[strcspn(out, "\n")] = '\0';
    if (rc == 0 && !strcmp(out, HS_VERSION))
        report(cl, PASS, "version", "%s on both", HS_VERSION);
    else if (rc == 0)
        report(cl, FAIL, "version", "this node has %s, %s has %s: install the same version",
               HS_VERSION, cl->peer, out);
    else if (p->installing)
        report(cl, WARN, "version", "%s has no %s/hotstandby-clone yet: it gets %s from here",
               cl->peer, HS_SBINDIR, HS_VERSION);
    else
        report(cl, FAIL, "version", "%s: %s/hotstandby-clone: %s", cl->peer, HS_SBINDIR,
               err[0] ? err : "not runnable");
    free(out);
}

static void check_peer_clock(struct pf *p)
{
    struct clone *cl = p->cl;
    char err[512], *out = NULL;
    int rc = remote_run(cl, "date +'%s.%N %z'", NULL, 0, &out, err, sizeof(err));
    double here = wall_now(cl);
    double there;
    char tz[16];
    if (rc != 0 || sscanf(out, "%lf %15s", &there, tz) != 2) {
        report(cl, FAIL, "clock peer", "%s: date: %s", cl->peer, err);
        free(out);
        return;
    }
    free(out);
    /* `there` was read at most one round trip before `here` */
    double skew = there - here;
    if (skew < 0 ? -skew > skew_limit(cl) : skew > skew_limit(cl))
        report(cl, FAIL, "clock peer", "%s is %+.3f s from this node (max_clock_skew %.3f s): "
               "run NTP on both", cl->peer, skew, skew_limit(cl));
    else
        report(cl, PASS, "clock peer", "%+.3f s from %s", skew, cl->peer);
    time_t now = time(NULL);
    struct tm tm;
    char mine[16];
    localtime_r(&now, &tm);
    strftime(mine, sizeof(mine), "%z", &tm);
    if (strcmp(mine, tz))
        report(cl, FAIL, "time zone", "this node %s, %s %s: use the same time zone", mine,
               cl->peer, tz);
    else
        report(cl, PASS, "time zone", "%s on both", mine);
}

static void check_names(struct pf *p)
{
    struct clone *cl = p->cl;
    char host[NI_MAXHOST], q1[300], q2[300], cmd[700], err[512], *out = NULL;
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    struct addrinfo *ai = NULL, hints = {.ai_socktype = SOCK_STREAM};
    if (getaddrinfo(cl->peer, NULL, &hints, &ai) != 0 || !ai) {
        report(cl, FAIL, "names", "%s does not resolve here", cl->peer);
        return;
    }
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    sl = ai->ai_addrlen;
    freeaddrinfo(ai);
    getnameinfo((struct sockaddr *)&ss, sl, p->peer_addr, sizeof(p->peer_addr), NULL, 0,
                NI_NUMERICHOST);
    if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), NULL, 0, NI_NAMEREQD) != 0) {
        report(cl, FAIL, "names", "%s (%s) has no name here (reverse lookup): add it to DNS or "
               "/etc/hosts", cl->peer, p->peer_addr);
        return;
    }
    char me[256] = "";
    gethostname(me, sizeof(me));
    const char *myaddr = cl->conf.address[0] ? cl->conf.address : me;
    snprintf(cmd, sizeof(cmd), "getent hosts %s >/dev/null && getent hosts %s >/dev/null",
             shq(me, q1, sizeof(q1)), shq(myaddr, q2, sizeof(q2)));
    int rc = remote_run(cl, cmd, NULL, 0, &out, err, sizeof(err));
    free(out);
    if (rc != 0)
        report(cl, FAIL, "names", "%s cannot resolve this node (%s, %s): add it to DNS or "
               "/etc/hosts there", cl->peer, me, myaddr);
    else
        report(cl, PASS, "names", "%s is %s (%s) here; %s resolves %s and %s", cl->peer, host,
               p->peer_addr, cl->peer, me, myaddr);
}

/* ssh-keygen -F: is there a known_hosts entry for host (hashed entries too)? */
static int known_locally(const char *file, const char *host)
{
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execlp("ssh-keygen", "ssh-keygen", "-F", host, "-f", file, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return 0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void check_sync_keys(struct pf *p)
{
    struct clone *cl = p->cl;
    const char *kh = cl->conf.known_hosts;
    if (!kh[0]) {
        report(cl, WARN, "host keys", "[sync] known_hosts not set: file sync is off");
        return;
    }
    if (known_locally(kh, cl->peer) || (p->peer_addr[0] && known_locally(kh, p->peer_addr)))
        report(cl, PASS, "host keys", "%s knows %s", kh, cl->peer);
    else
        report(cl, FAIL, "host keys", "%s has no host key for %s: add it (ssh-keyscan, checked "
               "by hand) so that syncd can push there", kh, cl->peer);
    if (!cl->conf.address[0])
        return;
    char q1[600], q2[300], cmd[1000], err[512], *out = NULL;
    snprintf(cmd, sizeof(cmd), "ssh-keygen -F %s -f %s >/dev/null",
             shq(cl->conf.address, q2, sizeof(q2)), shq(kh, q1, sizeof(q1)));
    int rc = remote_run(cl, cmd, NULL, 0, &out, err, sizeof(err));
    free(out);
    if (rc == 0)
        report(cl, PASS, "host keys", "%s:%s knows this node (%s)", cl->peer, kh,
               cl->conf.address);
    else if (p->installing)
        report(cl, WARN, "host keys", "%s:%s does not know this node (%s) yet: it gets this "
               "node's copy", cl->peer, kh, cl->conf.address);
    else
        report(cl, FAIL, "host keys", "%s:%s has no host key for this node (%s)", cl->peer, kh,
               cl->conf.address);
}

static void check_peer_folder(struct pf *p)
{
    struct clone *cl = p->cl;
    if (!cl->conf.shared_folder[0])
        return;
    char q[600], cmd[1200], err[512], *out = NULL;
    shq(cl->conf.shared_folder, q, sizeof(q));
    snprintf(cmd, sizeof(cmd),
             "mountpoint -q %s || { echo not mounted >&2; exit 1; }; "
             "t=$(mktemp -p %s .hotstandby-preflight.XXXXXX) && rm -f \"$t\"",
             q, q);
    int rc = remote_run(cl, cmd, NULL, 0, &out, err, sizeof(err));
    free(out);
    if (rc == 0)
        report(cl, PASS, "shared folder", "%s:%s mounted and writable", cl->peer,
               cl->conf.shared_folder);
    else
        report(cl, FAIL, "shared folder", "%s:%s: %s", cl->peer, cl->conf.shared_folder,
               err[0] ? err : "not writable");
}

/* The peer's configuration, when it has one: shared settings and service port. */
static void check_peer_conf(struct pf *p)
{
    struct clone *cl = p->cl;
    char err[1024], dir[] = "/tmp/hs-clone.XXXXXX", path[600];
    size_t len;
    char *text = remote_get(cl, cl->conf_path, &len, err, sizeof(err));
    if (!text) {
        report(cl, p->installing ? WARN : FAIL, "config", "%s has no %s%s", cl->peer,
               cl->conf_path, p->installing ? " yet: it gets this node's" : "");
        return;
    }
    static struct conf peer;
    int rc = -1;
    if (mkdtemp(dir)) {
        snprintf(path, sizeof(path), "%s/hotstandby.conf", dir);
        rc = write_local(path, text, len, 0600, err, sizeof(err));
        char node_path[700];
        snprintf(node_path, sizeof(node_path), "%s/node.conf", dir);
        if (rc == 0 && cl->conf.node_file[0]) {
            size_t nlen;
            char *node = remote_get(cl, cl->conf.node_file, &nlen, err, sizeof(err));
            rc = node ? write_local(node_path, node, nlen, 0600, err, sizeof(err)) : -1;
            free(node);
        }
        if (rc == 0)
            rc = conf_load(path, &peer, err, sizeof(err));
        unlink(path);
        unlink(node_path);
        rmdir(dir);
    }
    free(text);
    if (rc < 0) {
        report(cl, FAIL, "config", "%s's configuration: %s", cl->peer, err);
        return;
    }
    if (strcmp(peer.config_digest, cl->conf.config_digest))
        report(cl, FAIL, "config", "%s's shared settings differ from this node's (digest %.12s "
               "vs %.12s): copy %s", cl->peer, peer.config_digest, cl->conf.config_digest,
               cl->conf_path);
    else
        report(cl, PASS, "config", "same shared settings (digest %.12s)", peer.config_digest);
    if (peer.service_port != cl->conf.service_port)
        report(cl, FAIL, "service port", "this node %d, %s %d: the service must listen on the "
               "same port on both", cl->conf.service_port, cl->peer, peer.service_port);
}

/* ---- this node ---- */

static void check_folder(struct pf *p)
{
    struct clone *cl = p->cl;
    const char *f = cl->conf.shared_folder;
    if (!f[0])
        return;
    struct stat st, up;
    char parent[CONF_STR + 4], tmp[CONF_STR + 40];
    snprintf(parent, sizeof(parent), "%s/..", f);
    if (stat(f, &st) < 0 || stat(parent, &up) < 0) {
        report(cl, FAIL, "shared folder", "%s: %s", f, strerror(errno));
        return;
    }
    if (st.st_dev == up.st_dev && st.st_ino != up.st_ino) {
        report(cl, FAIL, "shared folder", "%s is not a mount point (not mounted?)", f);
        return;
    }
    snprintf(tmp, sizeof(tmp), "%s/.hotstandby-preflight.XXXXXX", f);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        report(cl, FAIL, "shared folder", "%s is not writable: %s", f, strerror(errno));
        return;
    }
    close(fd);
    unlink(tmp);
    report(cl, PASS, "shared folder", "%s mounted and writable", f);
}

/* 1 if watchd on this node says it is active (so the service runs here). */
static int active_here(const struct clone *cl)
{
    char path[600], err[256];
    conf_sock_path(&cl->conf, "watchd", path, sizeof(path));
    json_t *req = json_pack("{s:s}", "cmd", "status");
    json_t *st = ctl_call(path, req, 2000, err, sizeof(err));
    json_decref(req);
    const char *role = st ? json_string_value(json_object_get(st, "role")) : NULL;
    int yes = role && !strcmp(role, "active");
    json_decref(st);
    return yes;
}

static void check_service_port(struct pf *p)
{
    struct clone *cl = p->cl;
    int port = cl->conf.service_port;
    if (!port || !active_here(cl))
        return;
    char ports[8];
    snprintf(ports, sizeof(ports), "%d", port);
    const char *host = cl->conf.address[0] ? cl->conf.address : "127.0.0.1";
    struct addrinfo *ai = NULL, hints = {.ai_socktype = SOCK_STREAM};
    int ok = 0;
    if (getaddrinfo(host, ports, &hints, &ai) == 0 && ai) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ok = fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
    }
    if (ok)
        report(cl, PASS, "service port", "the service answers on %s port %d", host, port);
    else
        report(cl, FAIL, "service port", "this node is active but nothing answers on %s port %d",
               host, port);
}

/* The other nodes and the holder, which the "vip free" check tells from strangers by
 * their MACs. Nothing when the schema is not there yet (a first preflight). */
static void read_nodes(struct pf *p, PGconn *db)
{
    struct clone *cl = p->cl;
    char err[512];
    const char *params[] = {cl->conf.cluster, cl->conf.node};
    PGresult *r = db_exec_wait(db,
        "SELECT node, address FROM hs_node WHERE cluster = $1 AND node <> $2 ORDER BY node",
        2, params, DB_TIMEOUT_MS, err, sizeof(err));
    PGresult *h = r ? db_exec_wait(db, "SELECT coalesce(holder, '') FROM hs_cluster "
                                       "WHERE cluster = $1", 1, params, DB_TIMEOUT_MS, err,
                                   sizeof(err))
                    : NULL;
    if (h) {
        p->nodes_known = 1;
        if (PQntuples(h) == 1)
            snprintf(p->holder, sizeof(p->holder), "%s", PQgetvalue(h, 0, 0));
        for (int i = 0; i < PQntuples(r) && p->nnodes < MAX_NODES; i++) {
            struct pf_node *n = &p->nodes[p->nnodes++];
            snprintf(n->name, sizeof(n->name), "%s", PQgetvalue(r, i, 0));
            snprintf(n->address, sizeof(n->address), "%s", PQgetvalue(r, i, 1));
            n->holder = !strcmp(n->name, p->holder);
        }
    }
    PQclear(r);
    PQclear(h);
}

/* The database: reachable, writable, elsewhere, synchronous, and its clock. */
static void check_database(struct pf *p)
{
    struct clone *cl = p->cl;
    char err[1024];
    PGconn *db = db_connect_wait(cl->conf.database, DB_TIMEOUT_MS, err, sizeof(err));
    if (!db) {
        report(cl, FAIL, "database", "not reachable from this node: %s", err);
        return;
    }
    double t0 = wall_now(cl);
    PGresult *r = db_exec_wait(db,
        "SELECT extract(epoch FROM clock_timestamp())::text, pg_is_in_recovery()::text, "
        " current_setting('transaction_read_only'), coalesce(host(inet_server_addr()), ''), "
        " current_setting('synchronous_standby_names'), current_setting('synchronous_commit')",
        0, NULL, DB_TIMEOUT_MS, err, sizeof(err));
    double t1 = wall_now(cl);
    if (!r || PQntuples(r) != 1) {
        report(cl, FAIL, "database", "query failed: %s", err);
        PQclear(r);
        PQfinish(db);
        return;
    }
    double dbtime = strtod(PQgetvalue(r, 0, 0), NULL);
    int ro = !strcmp(PQgetvalue(r, 0, 1), "true") || !strcmp(PQgetvalue(r, 0, 2), "on");
    const char *server = PQgetvalue(r, 0, 3);
    int sync = PQgetvalue(r, 0, 4)[0] && strcmp(PQgetvalue(r, 0, 5), "off") &&
               strcmp(PQgetvalue(r, 0, 5), "local");
    if (ro)
        report(cl, FAIL, "database", "reachable but read-only (a standby server?): use "
               "target_session_attrs=read-write");
    else
        report(cl, PASS, "database", "reachable and writable (%s)", server[0] ? server : "socket");
    if (!server[0] || is_local(p, server))
        report(cl, FAIL, "database host", "the database runs on this node (%s): it must be on a "
               "separate server", server[0] ? server : "Unix socket");
    else if (p->peer_addr[0] && !strcmp(server, p->peer_addr))
        report(cl, FAIL, "database host", "the database runs on %s: it must be on a separate "
               "server", cl->peer);
    else
        report(cl, PASS, "database host", "on %s, not on a node", server);
    if (sync)
        report(cl, PASS, "db replication", "synchronous (%s)", PQgetvalue(r, 0, 4));
    else
        report(cl, WARN, "db replication", "not replicated synchronously: a failover of the "
               "database server may lose a committed takeover");
    double skew = dbtime - (t0 + t1) / 2;
    if (skew < 0 ? -skew > skew_limit(cl) : skew > skew_limit(cl))
        report(cl, FAIL, "clock database", "%+.3f s from the database (max_clock_skew %.3f s): "
               "run NTP", skew, skew_limit(cl));
    else
        report(cl, PASS, "clock database", "%+.3f s from the database", skew);
    PQclear(r);
    read_nodes(p, db);
    PQfinish(db);
}

int preflight(struct clone *cl, int installing)
{
    static struct pf p;
    memset(&p, 0, sizeof(p));
    p.cl = cl;
    p.installing = installing;
    p.naddrs = local_addrs(p.addrs, MAX_ADDRS);
    if (p.naddrs < 0)
        p.naddrs = 0;
    int failures_before = cl->failures;
    if (cl->peer) {
        check_ssh(&p);
        if (p.peer_ok) {
            check_version(&p);
            check_names(&p);
            check_peer_clock(&p);
            check_sync_keys(&p);
            check_peer_folder(&p);
            check_peer_conf(&p);
        }
    }
    check_database(&p);
    check_static_address(&p);
    check_address(&p);
    check_folder(&p);
    check_service_port(&p);
    int failed = cl->failures - failures_before;
    printf("%s: %d check(s) failed\n", failed ? "preflight FAILED" : "preflight passed", failed);
    return failed;
}
