/*
 * heartbeatd: writes the heartbeat (DESIGN §1–3). Always updates its own hs_node row;
 * renews the cluster counter only while watchd's grant allows (renew_until_ns), reports
 * every renewal and every zero-row result to watchd at once, with the epoch that renewal
 * was sent with, and stops renewing at the grant's deadline or when watchd's socket goes.
 *
 * The backstop: if watchd has not said "follow" by the grant's fence_at_ns (watchd
 * crashed or is frozen while this node acts), or its socket goes away, heartbeatd runs
 * the fence steps itself: kill the tracked start/check hooks, [service] stop, vipctl
 * down. Both deadlines are absolute CLOCK_BOOTTIME times that watchd computed from the
 * last confirmed renewal's send time (role_grant), so a late grant extends nothing. A
 * renewal that matches no row stops the renewing but keeps the backstop armed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "clock.h"
#include "conf.h"
#include "ctl.h"
#include "daemon.h"
#include "db.h"
#include "log.h"
#include "loop.h"
#include "spawn.h"
#include "sql.h"

#define PROG "heartbeatd"
#define WATCHD_RETRY_NS (200 * NS_PER_MS)

struct heartbeatd {
    struct conf conf;
    const char *conf_path;
    struct loop *loop;
    struct db *db;
    struct ctl_server *ctl;
    int watchd_fd;                 /* our connection to watchd.sock, -1 if none */
    struct loop_timer *beat_timer;
    struct loop_timer *grant_timer;
    struct loop_timer *watchd_timer;
    struct loop_timer *watchdog_timer;
    int64_t watchdog_period_ns;

    int leading;                   /* holds a grant: its backstop is armed */
    int64_t epoch;
    int64_t renew_until_ns;        /* renew while now < this (0: no more) */
    int64_t fence_at_ns;           /* fence here unless watchd says "follow" first */
    int commit_resume;             /* the renewal also commits a pending resume */
    int renewal_inflight;
    int64_t renewal_sent_ns;
    int64_t renewal_epoch;         /* the epoch the renewal in flight was sent with */
    int64_t last_heartbeat;
    int64_t last_renewed_ns;
    uint64_t renewals, lost;
    struct db_crowd beat;    /* whether renewals notify the standbys */
    struct node_row row;     /* our hs_node row: when it is written */
    char role[16];
    int fencing;
};

static void renew(struct heartbeatd *hb);

static void send_watchd(struct heartbeatd *hb, json_t *msg)
{
    if (hb->watchd_fd >= 0 && ctl_send(hb->watchd_fd, msg) < 0)
        log_debug("send to watchd: %s", strerror(errno));
    json_decref(msg);
}

/* ---- fence on an expired grant ---- */

static void fence_done(void *arg, int status)
{
    struct heartbeatd *hb = arg;
    hb->fencing--;
}

static void fence_locally(struct heartbeatd *hb, const char *why)
{
    struct hook_env he;
    hook_env_fill(&he, hb->conf.cluster, hb->conf.node, "fenced", hb->epoch);
    hook_env_deadline(&he, 0);
    char **env = he.env;
    char dir[512];

    log_warnx("grant for epoch %" PRId64 " expired (%s): stopped renewing; fencing this node",
              hb->epoch, why);
    /* a start or check hook of watchd's may still be running: it goes first */
    hook_track_dir(hb->conf.run_dir, dir, sizeof(dir));
    spawn_kill_tracked(dir, NS_PER_SEC);
    if (hb->conf.service_stop[0] &&
        spawn_shell(hb->loop, "service stop", hb->conf.service_stop, env,
                    hb->conf.hook_timeout_ns, fence_done, hb) > 0)
        hb->fencing++;
    if (hb->conf.connection != CONN_NONE) {
        char self[512], vipctl[600];
        if (self_dir(self, sizeof(self)) == 0) {
            snprintf(vipctl, sizeof(vipctl), "%s/vipctl", self);
            char *argv[] = {vipctl, "-c", (char *)hb->conf_path, "down", NULL};
            if (spawn_start(hb->loop, "vipctl down", argv, env, hb->conf.hook_timeout_ns,
                            fence_done, hb) > 0)
                hb->fencing++;
        }
    }
}

static void stop_leading(struct heartbeatd *hb, const char *why, int fence)
{
    if (!hb->leading)
        return;
    hb->leading = 0;
    loop_timer_stop(hb->grant_timer);
    snprintf(hb->role, sizeof(hb->role), "standby");
    if (fence)
        fence_locally(hb, why);
    else
        log_info("stopped renewing epoch %" PRId64 ": %s", hb->epoch, why);
}

static void on_grant_expired(void *arg)
{
    stop_leading(arg, "watchd did not say follow by the grant's deadline", 1);
}

/* ---- database ---- */

static void renewal_done(void *arg, PGresult *res, const char *err)
{
    struct heartbeatd *hb = arg;
    int64_t sent = hb->renewal_sent_ns, epoch = hb->renewal_epoch;
    hb->renewal_inflight = 0;
    if (res == NULL) {
        log_debug("renewal failed: %s", err);
        return;   /* watchd's fence timer decides; we try again next interval */
    }
    if (PQntuples(res) == 0) {
        hb->lost++;
        log_warnx("renewal at epoch %" PRId64 " matched no row: leadership lost", epoch);
        send_watchd(hb, json_pack("{s:s,s:I}", "event", "lost", "epoch", (json_int_t)epoch));
        if (hb->leading && hb->epoch == epoch)
            hb->renew_until_ns = 0;   /* renew no more; the backstop stays armed */
        return;
    }
    hb->renewals++;
    hb->last_heartbeat = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    hb->last_renewed_ns = now_ns();
    json_t *ev = json_pack("{s:s,s:I,s:I,s:I}", "event", "renewed", "epoch", (json_int_t)epoch,
                           "heartbeat", (json_int_t)hb->last_heartbeat, "sent_ns",
                           (json_int_t)sent);
    /* what an operator asked of the active since watchd's last read (SQL_RENEW): watchd
     * reads the row when it differs (an older schema's hs_renew answers two columns) */
    if (ev != NULL && PQnfields(res) >= 5 && !PQgetisnull(res, 0, 3) && !PQgetisnull(res, 0, 4)) {
        json_object_set_new(ev, "handoff_to", json_string(PQgetvalue(res, 0, 2)));
        json_object_set_new(ev, "paused", json_boolean(PQgetvalue(res, 0, 3)[0] == 't'));
        json_object_set_new(ev, "resume_requested",
                            json_boolean(PQgetvalue(res, 0, 4)[0] == 't'));
    }
    send_watchd(hb, ev);
}

static void renew(struct heartbeatd *hb)
{
    if (!hb->leading || hb->renewal_inflight || !db_connected(hb->db))
        return;
    int64_t now = now_ns();
    if (now >= hb->fence_at_ns) {
        stop_leading(hb, "the grant's deadline passed", 1);
        return;
    }
    if (now >= hb->renew_until_ns)
        return;   /* the lease is over: the counter must stand still */
    char epoch[32];
    snprintf(epoch, sizeof(epoch), "%" PRId64, hb->epoch);
    const char *params[] = {hb->conf.cluster, hb->conf.node, epoch,
                            hb->commit_resume ? "true" : "false", db_crowd_notify_param(&hb->beat)};
    /* DESIGN §2: the guarded renewal; zero rows means someone else holds the cluster. */
    if (db_query(hb->db, SQL_POOLED(SQL_RENEW), 5, params, renewal_done, hb) == 0) {
        hb->renewal_inflight = 1;
        hb->renewal_sent_ns = now;
        hb->renewal_epoch = hb->epoch;
    }
}

static void node_row(struct heartbeatd *hb, int force)
{
    char prio[16];
    snprintf(prio, sizeof(prio), "%d", hb->conf.priority);
    const char *state = hb->leading ? "leading" : "following";
    const char *params[] = {hb->conf.cluster, hb->conf.node, hb->conf.address, prio,
                            daemon_version(), hb->role,      state, hb->conf.config_digest};
    node_row_tick(&hb->row, hb->db, params, hb->conf.interval_ns, hb->conf.takeover_timeout_ns,
                  force);
}

static void on_beat(void *arg)
{
    struct heartbeatd *hb = arg;
    loop_timer_after(hb->beat_timer, hb->conf.interval_ns);
    db_crowd_tick(&hb->beat, hb->db);
    renew(hb);
    node_row(hb, 0);
}

static void on_db_state(void *arg, int connected, const char *why)
{
    struct heartbeatd *hb = arg;
    if (connected) {
        db_crowd_tick(&hb->beat, hb->db);
        renew(hb);
        node_row(hb, 1);   /* be seen as live at once, not an interval later */
    }
}

/* ---- watchd connection ---- */

static void watchd_lost(struct heartbeatd *hb)
{
    loop_del_fd(hb->loop, hb->watchd_fd);
    close(hb->watchd_fd);
    hb->watchd_fd = -1;
    log_warnx("watchd went away");
    stop_leading(hb, "watchd's socket went away", 1);
    loop_timer_after(hb->watchd_timer, WATCHD_RETRY_NS);
}

/* A grant: absolute deadlines (CLOCK_BOOTTIME, this machine) that watchd computed. */
static json_t *lead(struct heartbeatd *hb, json_t *msg)
{
    json_int_t epoch = json_integer_value(json_object_get(msg, "epoch"));
    json_t *ru = json_object_get(msg, "renew_until_ns"), *fa = json_object_get(msg, "fence_at_ns");
    int64_t now = now_ns(), day = 86400 * NS_PER_SEC;
    if (epoch <= 0 || !json_is_integer(ru) || !json_is_integer(fa) ||
        json_integer_value(fa) <= 0 || json_integer_value(fa) > now + day ||
        json_integer_value(ru) > json_integer_value(fa))
        return json_pack("{s:b,s:s}", "ok", 0, "error",
                         "lead needs epoch, renew_until_ns <= fence_at_ns, within a day");
    if (json_integer_value(fa) <= now)   /* a stale grant: nothing to renew or arm */
        return json_pack("{s:b,s:b}", "ok", 1, "stale", 1);
    int fresh = !hb->leading || hb->epoch != epoch;
    hb->leading = 1;
    hb->epoch = epoch;
    hb->renew_until_ns = json_integer_value(ru);
    hb->fence_at_ns = json_integer_value(fa);
    hb->commit_resume = json_is_true(json_object_get(msg, "resume"));
    loop_timer_at(hb->grant_timer, hb->fence_at_ns);
    snprintf(hb->role, sizeof(hb->role), "active");
    if (fresh && hb->renew_until_ns > now) {
        log_info("leading at epoch %" PRId64, (int64_t)epoch);
        renew(hb);   /* the first renewal confirms the claim: do it now */
    } else if (fresh) {
        log_info("epoch %" PRId64 ": renewing no more; fencing here in %" PRId64
                 " ms unless watchd's own fence ends first",
                 (int64_t)epoch, (hb->fence_at_ns - now) / NS_PER_MS);
    }
    return json_pack("{s:b}", "ok", 1);
}

static void handle_watchd_msg(struct heartbeatd *hb, json_t *msg)
{
    const char *cmd = json_string_value(json_object_get(msg, "cmd"));
    json_t *reply = NULL;
    if (cmd == NULL)
        return;   /* replies to our hello */
    if (strcmp(cmd, "lead") == 0) {
        reply = lead(hb, msg);
    } else if (strcmp(cmd, "follow") == 0) {
        const char *role = json_string_value(json_object_get(msg, "role"));
        stop_leading(hb, "watchd said follow", 0);
        snprintf(hb->role, sizeof(hb->role), "%s", role ? role : "standby");
        reply = json_pack("{s:b}", "ok", 1);
    } else if (strcmp(cmd, "role") == 0) {
        const char *role = json_string_value(json_object_get(msg, "role"));
        if (role && strcmp(role, hb->role) != 0) {
            snprintf(hb->role, sizeof(hb->role), "%s", role);
            node_row(hb, 0);   /* it changed: written now (or at the next tick if one is in flight) */
        }
        reply = json_pack("{s:b}", "ok", 1);
    } else {
        reply = json_pack("{s:b,s:s}", "ok", 0, "error", "unknown command");
    }
    json_t *id = json_object_get(msg, "id");
    if (id)
        json_object_set(reply, "id", id);
    send_watchd(hb, reply);
}

static void on_watchd(void *arg, int fd, uint32_t events)
{
    struct heartbeatd *hb = arg;
    for (;;) {
        char err[256];
        json_t *msg = NULL;
        int rc = ctl_recv_nowait(fd, &msg, err, sizeof(err));
        if (rc == 0)
            return;
        if (rc < 0) {
            watchd_lost(hb);
            return;
        }
        if (msg == NULL) {
            log_warnx("watchd sent a malformed message; ignored");
            continue;
        }
        handle_watchd_msg(hb, msg);
        json_decref(msg);
    }
}

static void connect_watchd(void *arg)
{
    struct heartbeatd *hb = arg;
    char path[512];
    conf_sock_path(&hb->conf, "watchd", path, sizeof(path));
    int fd = ctl_connect(path);
    if (fd < 0) {
        loop_timer_after(hb->watchd_timer, WATCHD_RETRY_NS);
        return;
    }
    hb->watchd_fd = fd;
    /* a frozen watchd must never block us (our backstop fence runs in this loop): a
     * report it cannot take within 50 ms is dropped; watchd then fences by its deadline */
    struct timeval tv = {.tv_sec = 0, .tv_usec = 50000};
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
        log_warn("watchd socket: SO_SNDTIMEO");
    loop_add_fd(hb->loop, fd, EPOLLIN, on_watchd, hb);
    send_watchd(hb, json_pack("{s:s,s:s,s:I}", "cmd", "hello", "daemon", PROG, "pid",
                              (json_int_t)getpid()));
    log_info("connected to watchd at %s", path);
}

/* ---- our own control socket ---- */

static void on_request(void *arg, struct ctl_conn *c, json_t *req, const char *cmd)
{
    struct heartbeatd *hb = arg;
    if (strcmp(cmd, "status") == 0) {
        int64_t now = now_ns();
        ctl_reply(c, req,
                  json_pack("{s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:b,s:b}", "node", hb->conf.node,
                            "leading", hb->leading, "epoch", (json_int_t)hb->epoch,
                            "grant_ms_left",
                            (json_int_t)(hb->leading ? (hb->fence_at_ns - now) / NS_PER_MS : 0),
                            "heartbeat", (json_int_t)hb->last_heartbeat, "renewals",
                            (json_int_t)hb->renewals, "lost", (json_int_t)hb->lost,
                            "database", db_connected(hb->db), "watchd", hb->watchd_fd >= 0));
    } else {
        ctl_error(c, req, "unknown command '%.64s'", cmd);
    }
}

static void on_watchdog(void *arg)
{
    struct heartbeatd *hb = arg;
    daemon_watchdog_ping();
    loop_timer_after(hb->watchdog_timer, hb->watchdog_period_ns);
}

static void on_signal(void *arg, int signo)
{
    struct heartbeatd *hb = arg;
    if (signo == SIGHUP) {
        struct conf fresh;
        char err[1024];
        if (conf_load(hb->conf_path, &fresh, err, sizeof(err)) < 0) {
            log_warnx("reload refused: %s", err);
            return;
        }
        hb->conf.interval_ns = fresh.interval_ns;
        hb->conf.takeover_timeout_ns = fresh.takeover_timeout_ns;
        hb->conf.priority = fresh.priority;
        hb->conf.hook_timeout_ns = fresh.hook_timeout_ns;
        hb->conf.stop_timeout_ns = fresh.stop_timeout_ns;
        snprintf(hb->conf.service_stop, sizeof(hb->conf.service_stop), "%s", fresh.service_stop);
        log_info("configuration reloaded");
        return;
    }
    log_info("stopping on signal %d", signo);
    loop_stop(hb->loop);
}

int main(int argc, char **argv)
{
    static struct heartbeatd hb;
    struct daemon_opts o = {0};
    int rc;

    if ((rc = daemon_args(argc, argv, PROG, "[-dtVh] [-c FILE]", &o)) >= 0)
        return rc;
    if ((rc = daemon_conf(PROG, &o, &hb.conf)) >= 0)
        return rc;
    log_init(PROG, o.debug);
    hb.conf_path = o.conf_path;
    hb.watchd_fd = -1;
    snprintf(hb.role, sizeof(hb.role), "starting");
    if (daemon_run_dir(&hb.conf) < 0)
        return 1;

    hb.loop = loop_new();
    if (hb.loop == NULL)
        fatal("loop_new");
    int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    loop_add_signals(hb.loop, sigs, 3, on_signal, &hb);
    signal(SIGPIPE, SIG_IGN);

    char path[512];
    conf_sock_path(&hb.conf, PROG, path, sizeof(path));
    struct ctl_handlers h = {.request = on_request, .arg = &hb};
    hb.ctl = ctl_server_open(hb.loop, path, 0, &h);
    if (hb.ctl == NULL)
        return 1;

    /* A query deadline below the interval keeps one slow statement from eating a beat. */
    int64_t deadline = hb.conf.fence_after_ns < 2 * NS_PER_SEC ? hb.conf.fence_after_ns
                                                              : 2 * NS_PER_SEC;
    hb.db = db_new(hb.loop, hb.conf.database, deadline);
    db_crowd_init(&hb.beat, hb.conf.interval_ns);
    db_set_callbacks(hb.db, on_db_state, NULL, &hb);
    hb.beat_timer = loop_timer_new(hb.loop, on_beat, &hb);
    hb.grant_timer = loop_timer_new(hb.loop, on_grant_expired, &hb);
    hb.watchd_timer = loop_timer_new(hb.loop, connect_watchd, &hb);
    loop_timer_after(hb.beat_timer, 0);
    connect_watchd(&hb);

    hb.watchdog_period_ns = daemon_watchdog_period_ns();
    if (hb.watchdog_period_ns > 0) {
        hb.watchdog_timer = loop_timer_new(hb.loop, on_watchdog, &hb);
        loop_timer_after(hb.watchdog_timer, hb.watchdog_period_ns);
    }
    daemon_ready();
    log_info("started for node %s of cluster %s", hb.conf.node, hb.conf.cluster);
    loop_run(hb.loop);

    ctl_server_close(hb.ctl);
    db_free(hb.db);
    loop_free(hb.loop);
    return 0;
}
