/*
 * main.c: syncd -- command line, the daemon's loop and signals, its role (told by watchd
 * over the control socket, see control.c), and the --once and --serve modes. See syncd.8.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"
#include "daemon.h"
#include "log.h"
#include "loop.h"
#include "pq_lazy.h"
#include "state.h"
#include "syncd.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: syncd [-d] [-c FILE]              daemon (receiver until told it is active)\n"
            "       syncd --serve [-c FILE]           receiver on stdin/stdout (SSH exec channel)\n"
            "       syncd --once [--checksum] [--epoch N] [-c FILE]\n"
            "                                         one full reconcile to every peer, then exit\n"
            "       syncd ctl [-c FILE] JSON           send one request to the daemon, print the reply\n"
            "       syncd -t [-c FILE] | -V | -h\n");
}

int syncd_make_dirs(const struct conf *c, char *err, size_t errlen)
{
    const char *bad = NULL;
    if (mkdir(c->run_dir, 0755) < 0 && errno != EEXIST)
        bad = c->run_dir;
    else if (sync_state_dir(c->state_dir) < 0)
        bad = c->state_dir;
    if (bad)
        snprintf(err, errlen, "%s: %s", bad, strerror(errno));
    return bad ? -1 : 0;
}

/* ---- role ---- */

static void on_watch(void *arg, enum watch_kind kind, const char *path, const char *path2)
{
    struct syncd *sd = arg;
    sd->last_event_ns = now_ns();
    if (kind == W_BARRIER) {
        unsigned long pid;
        unsigned long long seq;
        if (sscanf(path, "%lu-%llu", &pid, &seq) == 2 && pid == (unsigned long)getpid() &&
            seq > sd->barrier_seen)
            sd->barrier_seen = seq;
        return;
    }
    if (kind == W_READY) {
        sd->watch_ready = 1;
        log_info("watching %d paths under %s", sd->conf.n_sync_paths, sd->conf.sync_root);
    }
    for (int i = 0; i < sd->npeers; i++) {
        struct peer *p = sd->peers[i];
        switch (kind) {
        case W_CHANGE:
        case W_DELETE:
            sync_peer_queue(p, OP_SYNC, path, NULL);
            break;
        case W_RENAME:
            sync_peer_queue(p, OP_RENAME, path, path2);
            break;
        case W_DIR:
            sync_peer_queue(p, OP_RECONCILE, path, NULL);
            break;
        case W_RESCAN:
            if (*path) {
                sync_peer_queue(p, OP_RECONCILE, path, NULL);
                break;
            }
            log_notice("inotify queue overflow: reconciling everything");
            for (int j = 0; j < sd->conf.n_sync_paths; j++)
                if (sd->conf.sync_paths[j][1])
                    sync_peer_queue(p, OP_RECONCILE, sd->conf.sync_paths[j] + 1, NULL);
            break;
        case W_READY:
            sync_peer_kick(p);   /* batches waited for the watches */
            break;
        case W_FAILED:
        case W_BARRIER:
            break;
        }
    }
}

struct role_arg {
    int active;
    uint64_t epoch;
};

static void set_role_state(struct sync_state *st, void *arg)
{
    const struct role_arg *r = arg;
    st->active = r->active;
    st->epoch = r->epoch;
    if (r->active) {
        st->was_active = r->epoch;
        if (r->epoch > st->seen_epoch)
            st->seen_epoch = r->epoch;
    }
}

static void become_standby(struct syncd *sd)
{
    for (int i = 0; i < sd->npeers; i++)
        sync_peer_stop(sd->peers[i]);
    sync_watch_stop(sd->watch);
    sd->watch = NULL;
    sd->watch_ready = 0;
    sd->active = 0;
}

static int become_active(struct syncd *sd, uint64_t epoch, char *err, size_t errlen)
{
    if (sd->tree.n == 0 && sync_tree_open(&sd->tree, &sd->conf, 1, err, errlen) < 0)
        return -1;
    int restart = sd->active && sd->epoch != epoch;
    sd->active = 1;
    sd->epoch = epoch;
    if (!sd->watch && !sd->once) {
        sd->watch = sync_watch_start(sd->loop, &sd->conf, &sd->filter, on_watch, sd);
        if (!sd->watch) {
            snprintf(err, errlen, "cannot start the inotify reader");
            return -1;
        }
    }
    for (int i = 0; i < sd->npeers; i++) {
        if (restart)
            sync_peer_stop(sd->peers[i]);   /* new epoch: a new HELLO */
        sync_peer_start(sd->peers[i]);
    }
    return 0;
}

int syncd_set_role(struct syncd *sd, int active, uint64_t epoch, char *err, size_t errlen)
{
    if (epoch < sd->epoch) {
        snprintf(err, errlen, "epoch %llu is older than %llu", (unsigned long long)epoch,
                 (unsigned long long)sd->epoch);
        return -1;
    }
    struct role_arg r = {active, epoch};
    if (sync_state_update(sd->state_path, set_role_state, &r, NULL) < 0) {
        snprintf(err, errlen, "%s: %s", sd->state_path, strerror(errno));
        return -1;
    }
    if (active != sd->active || epoch != sd->epoch)
        log_info("role %s at epoch %llu", active ? "active" : "standby",
                 (unsigned long long)epoch);
    if (!active) {
        become_standby(sd);
        sd->epoch = epoch;
        return 0;
    }
    return become_active(sd, epoch, err, errlen);
}

/* ---- daemon ---- */

static void on_reconcile_timer(void *arg)
{
    struct syncd *sd = arg;
    if (sd->active)
        for (int i = 0; i < sd->npeers; i++)
            for (int j = 0; j < sd->conf.n_sync_paths; j++)
                if (sd->conf.sync_paths[j][1])
                    sync_peer_queue(sd->peers[i], OP_RECONCILE, sd->conf.sync_paths[j] + 1,
                                    NULL);
    loop_timer_after(sd->reconcile_timer, sd->conf.reconcile_interval_ns);
}

static void reload(struct syncd *sd);

static void on_signal(void *arg, int signo)
{
    struct syncd *sd = arg;
    if (signo == SIGHUP) {
        reload(sd);
        return;
    }
    loop_stop(sd->loop);
}

/* Peers and exclusion filter from sd->conf. */
static void make_peers(struct syncd *sd)
{
    sd->filter.globs = sd->conf.sync_exclude;
    sd->filter.n = sd->conf.n_sync_exclude;
    sd->npeers = 0;
    for (int i = 0; i < sd->conf.n_sync_peers && i < CONF_MAX_LIST; i++) {
        if (!strcmp(sd->conf.sync_peers[i].node, sd->conf.node))
            continue;
        sd->peers[sd->npeers] = sync_peer_new(sd, &sd->conf.sync_peers[i]);
        if (sd->peers[sd->npeers])
            sd->npeers++;
    }
}

static void free_peers(struct syncd *sd)
{
    for (int i = 0; i < sd->npeers; i++)
        sync_peer_free(sd->peers[i]);
    sd->npeers = 0;
}

static int syncd_setup(struct syncd *sd)
{
    sd->loop = loop_new();
    if (!sd->loop)
        return -1;
    sync_state_path(sd->conf.state_dir, sd->state_path, sizeof(sd->state_path));
    sd->watchd_fd = -1;   /* peers.c: connected only by the daemon */
    make_peers(sd);
    return 0;
}

/*
 * SIGHUP: re-read the configuration. A bad file changes nothing. Otherwise the sender (if
 * active) stops, takes the new paths, excludes, peers and timings, and starts again at the
 * same epoch: its reconnects reconcile. run_dir (socket, state) needs a restart.
 */
static void reload(struct syncd *sd)
{
    static struct conf nc;   /* large */
    char err[1024];
    if (conf_load_with(sd->conf_path, &nc, NULL, err, sizeof(err)) < 0) {
        log_warnx("SIGHUP: %s; keeping the running configuration", err);
        return;
    }
    if (strcmp(nc.run_dir, sd->conf.run_dir)) {
        log_warnx("SIGHUP: run_dir change needs a restart; keeping %s", sd->conf.run_dir);
        snprintf(nc.run_dir, sizeof(nc.run_dir), "%s", sd->conf.run_dir);
    }
    if (strcmp(nc.state_dir, sd->conf.state_dir)) {
        log_warnx("SIGHUP: state_dir change needs a restart; keeping %s", sd->conf.state_dir);
        snprintf(nc.state_dir, sizeof(nc.state_dir), "%s", sd->conf.state_dir);
    }
    int was_active = sd->active;
    syncd_flush_abort_all(sd, "configuration reloaded");
    become_standby(sd);
    sync_peers_unwatch(sd);
    free_peers(sd);
    sd->conf = nc;
    sync_tree_close(&sd->tree);
    make_peers(sd);
    sync_peers_watch(sd);
    loop_timer_after(sd->reconcile_timer, sd->conf.reconcile_interval_ns);
    log_info("SIGHUP: configuration %s re-read: %d paths, %d peers", sd->conf_path,
             sd->conf.n_sync_paths, sd->npeers);
    if (was_active && become_active(sd, sd->epoch, err, sizeof(err)) < 0)
        log_warnx("SIGHUP: %s", err);
}

static void syncd_teardown(struct syncd *sd)
{
    become_standby(sd);
    syncd_flush_abort_all(sd, "syncd is stopping");
    sync_peers_unwatch(sd);
    free_peers(sd);
    if (sd->ctl)
        ctl_server_close(sd->ctl);
    if (sd->reconcile_timer)
        loop_timer_free(sd->reconcile_timer);
    sync_tree_close(&sd->tree);
    loop_free(sd->loop);
}

static int run_daemon(struct syncd *sd)
{
    char err[512], sock[CONF_STR + 32];
    /* The resident daemon's memory (tests/bench/bench-memory.sh): the inotify reader and
     * the scanners allocate little, so one arena serves every thread (one per thread held
     * ~50 KiB resident each); buffers of 64 KiB and more (a batch's output, the replies)
     * are mappings of their own, given back to the kernel when freed, not heap that stays
     * resident after the initial sync. Before any thread starts. */
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);
    if (syncd_make_dirs(&sd->conf, err, sizeof(err)) < 0) {
        log_warnx("%s", err);
        return 1;
    }
    struct role_arg r = {0, 0};
    struct sync_state st;
    if (sync_state_read(sd->state_path, &st) == 0)
        r.epoch = st.epoch;
    /* Without watchd's word this node is a receiver: never push on a stale belief. */
    if (sync_state_update(sd->state_path, set_role_state, &r, NULL) < 0) {
        log_warn("%s", sd->state_path);
        return 1;
    }
    sd->epoch = r.epoch;
    uid_t allowed = 0;
    if (sd->conf.user[0]) {
        struct passwd *pw = getpwnam(sd->conf.user);
        if (pw)
            allowed = pw->pw_uid;
    }
    conf_sock_path(&sd->conf, "syncd", sock, sizeof(sock));
    struct ctl_handlers h = {.request = syncd_control_request, .close = syncd_control_close,
                             .arg = sd};
    sd->ctl = ctl_server_open(sd->loop, sock, allowed, &h);
    if (!sd->ctl) {
        log_warn("%s", sock);
        return 1;
    }
    int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    loop_add_signals(sd->loop, sigs, 3, on_signal, sd);
    signal(SIGPIPE, SIG_IGN);
    sd->reconcile_timer = loop_timer_new(sd->loop, on_reconcile_timer, sd);
    loop_timer_after(sd->reconcile_timer, sd->conf.reconcile_interval_ns);
    sync_peers_watch(sd);
    if (sync_peers_from_db(&sd->conf))
        log_info("standby (receiver) for cluster %s, node %s; peers: the other nodes in "
                 "hs_node; control socket %s", sd->conf.cluster, sd->conf.node, sock);
    else
        log_info("standby (receiver) for cluster %s, node %s; %d peers; control socket %s",
                 sd->conf.cluster, sd->conf.node, sd->npeers, sock);
    daemon_watchdog_arm(sd->loop);
    daemon_ready();
    int rc = loop_run(sd->loop);
    log_info("stopping");
    return rc < 0 ? 1 : 0;
}

static int run_once(struct syncd *sd, long long epoch_opt)
{
    char err[512];
    struct sync_state st;
    if (sync_state_read(sd->state_path, &st) < 0) {
        log_warn("%s", sd->state_path);
        return 1;
    }
    uint64_t epoch = epoch_opt >= 0 ? (uint64_t)epoch_opt : st.epoch;
    if (epoch_opt < 0 && !st.active) {
        printf("syncd: once: node %s is not active: nothing to push\n", sd->conf.node);
        return 0;
    }
    if (sync_peers_load(sd, err, sizeof(err)) < 0) {
        log_warnx("once: reading the peers from hs_node: %s", err);
        return 1;
    }
    if (sd->npeers == 0) {
        printf("syncd: once: no peers (%s)\n", sync_peers_from_db(&sd->conf)
                                                    ? "no other node in hs_node"
                                                    : "none configured");
        return 0;
    }
    sd->once = 1;
    if (become_active(sd, epoch, err, sizeof(err)) < 0) {
        log_warnx("%s", err);
        return 1;
    }
    int64_t start = now_ns();
    int pending = 0;
    for (int i = 0; i < sd->npeers; i++)
        pending |= !sd->peers[i]->once_done;
    if (pending)   /* a peer may already have failed to connect */
        loop_run(sd->loop);
    int bad = 0;
    printf("syncd: once:");
    for (int i = 0; i < sd->npeers; i++) {
        struct peer *p = sd->peers[i];
        bad |= p->st.errors > 0 || !p->once_done;
        printf(" %s: %s, %llu sent, %llu deleted, %llu errors;", p->cp.node,
               p->st.errors || !p->once_done ? "FAILED" : "in sync",
               (unsigned long long)p->st.sent, (unsigned long long)p->st.deleted,
               (unsigned long long)p->st.errors);
    }
    printf(" %.2f s\n", (double)(now_ns() - start) / 1e9);
    return bad ? 1 : 0;
}

static int run_ctl(const struct conf *c, const char *json)
{
    json_error_t je;
    json_t *req = json_loads(json, 0, &je);
    if (!req || !json_is_object(req)) {
        fprintf(stderr, "syncd: ctl: not a JSON object: %s\n", req ? json : je.text);
        json_decref(req);
        return 2;
    }
    char sock[CONF_STR + 32], err[256];
    conf_sock_path(c, "syncd", sock, sizeof(sock));
    json_int_t t = json_integer_value(json_object_get(req, "timeout_ms"));
    json_t *rep = ctl_call(sock, req, (int)(t > 0 ? t + 2000 : 10000), err, sizeof(err));
    json_decref(req);
    if (!rep) {
        fprintf(stderr, "syncd: ctl: %s: %s\n", sock, err);
        return 1;
    }
    char *s = json_dumps(rep, JSON_COMPACT);
    printf("%s\n", s ? s : "null");
    free(s);
    int ok = json_is_true(json_object_get(rep, "ok"));
    json_decref(rep);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    enum { OPT_SERVE = 1000, OPT_ONCE, OPT_EPOCH, OPT_CHECKSUM };
    static const struct option longopts[] = {
        {"serve", no_argument, NULL, OPT_SERVE},
        {"once", no_argument, NULL, OPT_ONCE},
        {"epoch", required_argument, NULL, OPT_EPOCH},
        {"checksum", no_argument, NULL, OPT_CHECKSUM},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *conf_path = HS_DEFAULT_CONF;
    int debug = 0, test_only = 0, serve = 0, once = 0, checksum = 0;
    long long epoch = -1;
    int ch;
    while ((ch = getopt_long(argc, argv, "+c:dtVh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': conf_path = optarg; break;
        case 'd': debug = 1; break;
        case 't': test_only = 1; break;
        case 'V': print_version("syncd"); return 0;
        case 'h': usage(stdout); return 0;
        case OPT_SERVE: serve = 1; break;
        case OPT_ONCE: once = 1; break;
        case OPT_CHECKSUM: checksum = 1; break;
        case OPT_EPOCH: {
            char *end;
            epoch = strtoll(optarg, &end, 10);
            if (*end || epoch < 0) {
                fprintf(stderr, "syncd: --epoch: '%s' is not a number\n", optarg);
                return 2;
            }
            break;
        }
        default: usage(stderr); return 2;
        }
    }
    const char *ctl_json = NULL;
    if (optind < argc && !strcmp(argv[optind], "ctl")) {
        /* "syncd ctl [-c FILE] JSON": options may follow the verb too */
        optind++;
        while ((ch = getopt(argc, argv, "c:")) != -1) {
            if (ch != 'c') {
                usage(stderr);
                return 2;
            }
            conf_path = optarg;
        }
        if (optind != argc - 1) {
            usage(stderr);
            return 2;
        }
        ctl_json = argv[optind];
    } else if (optind != argc) {
        usage(stderr);
        return 2;
    }
    log_init("syncd", debug);
    static struct syncd sd;   /* large (the configuration); one per process */
    char err[1024];
    daemon_protect_secrets();
    /* The daemon (and ctl) never use [cluster] database: they read the file without
     * libpq's conninfo check, so that libpq is never loaded into them (pq_lazy.h). -t,
     * --serve and --once check it as every other program does. */
    int uses_db = test_only || serve || once;
    if (uses_db && pq_lazy_load(err, sizeof(err)) < 0) {
        fprintf(stderr, "syncd: %s\n", err);
        return 1;
    }
    if (conf_load_with(conf_path, &sd.conf, uses_db ? conf_conninfo_check : NULL, err,
                       sizeof(err)) < 0) {
        fprintf(stderr, "syncd: %s\n", err);
        return 2;
    }
    if (test_only)
        return 0;
    if (ctl_json)
        return run_ctl(&sd.conf, ctl_json);
    if (serve)
        return syncd_serve(&sd.conf);
    snprintf(sd.conf_path, sizeof(sd.conf_path), "%s", conf_path);
    sd.checksum = checksum;
    if (syncd_setup(&sd) < 0) {
        log_warnx("cannot set up the event loop");
        return 1;
    }
    int rc = once ? run_once(&sd, epoch) : run_daemon(&sd);
    syncd_teardown(&sd);
    return rc;
}
