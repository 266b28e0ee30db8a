/*
 * control.c: watchd's control socket (DESIGN §4). Verbs from operators (vipctl):
 * status, switchover, pause, resume. From heartbeatd: hello (once), then the events
 * "renewed" and "lost", which go straight into the state machine. From syncd: hello,
 * after which it gets the event "peers" (peers.c).
 */
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"
#include "db.h"
#include "log.h"
#include "loop.h"
#include "sql.h"
#include "watchd.h"

static void status(struct watchd *wd, struct ctl_conn *c, json_t *req)
{
    const struct role *r = &wd->role;
    int64_t now = now_ns();
    json_t *body = json_pack(
        "{s:s,s:s,s:s,s:s,s:I,s:I,s:b,s:b,s:b,s:I}", "cluster", wd->conf.cluster, "node",
        wd->conf.node, "role", role_public_name(r), "holder", role_holds_lease(r) ? wd->conf.node : r->row.holder, "epoch",
        (json_int_t)(role_holds_lease(r) ? r->epoch : r->row.epoch), "heartbeat",
        (json_int_t)r->row.heartbeat, "paused", r->row.paused, "database", db_connected(wd->db),
        "heartbeatd", wd->heartbeatd != NULL, "row_age_ms",
        (json_int_t)(wd->row_read_ns ? (now - wd->row_read_ns) / NS_PER_MS : -1));
    if (role_holds_lease(r)) {
        json_object_set_new(body, "lease_ms_left",
                            json_integer((role_lease_deadline(r, now) - now) / NS_PER_MS));
        json_object_set_new(body, "renewal_confirmed", json_boolean(r->renewal_confirmed));
    } else if (r->state == ST_STANDBY && r->row_known) {
        json_object_set_new(body, "still_ms", json_integer((now - r->observed_since_ns) /
                                                           NS_PER_MS));
    }
    json_object_set_new(body, "connection", json_string(connection_name(wd->conf.connection)));
    json_object_set_new(body, "problems", selfmon_problems(wd->selfmon));
    const char *risk = db_replication_risk(wd->db);
    if (risk != NULL)
        json_object_set_new(body, "arbiter_risk", json_string(risk));
    if (wd->timing_mismatch[0])
        json_object_set_new(body, "timing_mismatch", json_string(wd->timing_mismatch));
    ctl_reply(c, req, body);
}

/* An operator verb that is one UPDATE of the row: answered when the database answers,
 * however late once sent (db_query_patient), so that "failed" means nothing changed. */
struct pending {
    struct watchd *wd;
    struct ctl_conn *conn;
    json_t *req;
    const char *verb;
};

static void update_done(void *arg, PGresult *res, const char *err)
{
    struct pending *p = arg;
    /* the client may have gone meanwhile; ctl_conn_send to a closed peer just fails */
    if (res == NULL)
        ctl_error(p->conn, p->req, "%s failed: %s", p->verb, err);
    else if (PQntuples(res) == 0)
        ctl_error(p->conn, p->req, "%s refused: %s", p->verb,
                  strcmp(p->verb, "switchover") == 0 ? "no holder, or the cluster is paused"
                                                     : "no such cluster row");
    else {
        watchd_event(p->wd, p->wd->role.row.epoch, p->verb, "requested on %s",
                     p->wd->conf.node);
        ctl_reply(p->conn, p->req, NULL);
    }
    json_decref(p->req);
    ctl_conn_release(p->conn);
    free(p);
}

static void row_update(struct watchd *wd, struct ctl_conn *c, json_t *req, const char *verb,
                       const char *sql, const char *arg)
{
    struct pending *p = malloc(sizeof(*p));
    if (p == NULL)
        fatal("malloc");
    *p = (struct pending){wd, c, json_incref(req), verb};
    ctl_conn_hold(c);
    const char *params[] = {wd->conf.cluster, arg};
    if (db_query_patient(wd->db, sql, 2, params, update_done, p) < 0)
        update_done(p, NULL, "database not connected");
}

static void switchover(struct watchd *wd, struct ctl_conn *c, json_t *req)
{
    json_t *to = json_object_get(req, "to");
    const char *target = "*";
    if (to != NULL && !json_is_null(to)) {
        if (!json_is_string(to) || json_string_length(to) == 0 || json_string_length(to) > 63) {
            ctl_error(c, req, "\"to\" must be a node name");
            return;
        }
        target = json_string_value(to);
        if (strcmp(target, wd->role.row.holder) == 0) {
            ctl_error(c, req, "%s already holds the cluster", target);
            return;
        }
    }
    if (wd->role.state == ST_ACTIVE) {
        /* we hold the cluster: hand off directly, no round trip through the row */
        struct role_input in = {.event = EV_SWITCHOVER};
        snprintf(in.target, sizeof(in.target), "%s", strcmp(target, "*") ? target : "");
        watchd_input(wd, &in);
        if (wd->role.state == ST_HANDOFF)
            ctl_reply(c, req, json_pack("{s:s}", "from", wd->conf.node));
        else
            ctl_error(c, req, "switchover refused: no live standby to hand the cluster to");
        return;
    }
    row_update(wd, c, req, "switchover", SQL_REQUEST_SWITCHOVER, target);
}

/* "force": the operator knows the active is down (it can never commit the resume). */
static void resume(struct watchd *wd, struct ctl_conn *c, json_t *req)
{
    if (json_is_true(json_object_get(req, "force")))
        row_update(wd, c, req, "forced-resume", SQL_SET_PAUSED, "false");
    else
        row_update(wd, c, req, "resume", SQL_REQUEST_RESUME, "");
}

/* The daemons of this node say hello: heartbeatd (renewals in, grants out) and syncd
 * (its peer list out, peers.c). Only a daemon running as we do may. */
static void hello(struct watchd *wd, struct ctl_conn *c, json_t *req)
{
    const char *daemon = json_string_value(json_object_get(req, "daemon"));
    char err[160];
    if (daemon == NULL || (strcmp(daemon, "heartbeatd") != 0 && strcmp(daemon, "syncd") != 0)) {
        ctl_error(c, req, "hello: unknown daemon");
        return;
    }
    /* the operator user may reach the socket, but only a daemon of ours (running as we
     * do) may feed renewals into the state machine or hold a connection for good */
    if (ctl_conn_uid(c) != geteuid()) {
        log_warnx("control: hello as %s from uid %d refused: daemons run as uid %d", daemon,
                  (int)ctl_conn_uid(c), (int)geteuid());
        ctl_error(c, req, "hello: only uid %d may speak as a daemon", (int)geteuid());
        return;
    }
    if (strcmp(daemon, "syncd") == 0) {
        if (peerlist_subscribe(wd->peerlist, c, err, sizeof(err)) < 0) {
            log_warnx("control: hello as syncd refused: %s", err);
            ctl_error(c, req, "hello: %s", err);
            return;
        }
        log_info("syncd connected: it gets the peer list from hs_node");
        ctl_reply(c, req, NULL);
        peerlist_welcome(wd->peerlist);
        return;
    }
    wd->heartbeatd = c;
    ctl_conn_keep(c);
    log_info("heartbeatd connected");
    ctl_reply(c, req, NULL);
    /* it writes our role into the node row: tell it where we are now */
    watchd_send_heartbeatd(wd, json_pack("{s:s,s:s}", "cmd", "role", "role",
                                         role_public_name(&wd->role)));
    /* a heartbeatd restarted while we lead gets its grant (and its backstop) at once */
    if (role_is_acting(&wd->role) || role_holds_lease(&wd->role))
        watchd_grant(wd);
}

static void on_request(void *arg, struct ctl_conn *c, json_t *req, const char *cmd)
{
    struct watchd *wd = arg;
    if (strcmp(cmd, "status") == 0)
        status(wd, c, req);
    else if (strcmp(cmd, "switchover") == 0)
        switchover(wd, c, req);
    else if (strcmp(cmd, "pause") == 0)
        row_update(wd, c, req, "pause", SQL_SET_PAUSED, "true");
    else if (strcmp(cmd, "resume") == 0)
        resume(wd, c, req);
    else if (strcmp(cmd, "hello") == 0)
        hello(wd, c, req);
    else
        ctl_error(c, req, "unknown command '%.64s'", cmd);
}

/* What the renewal's answer says of the row (SQL_RENEW): read it now when that differs
 * from the last read; otherwise the active's next read may wait (role_read_due). */
static void renewal_row(struct watchd *wd, json_t *msg, int64_t now)
{
    json_t *h = json_object_get(msg, "handoff_to"), *p = json_object_get(msg, "paused"),
           *r = json_object_get(msg, "resume_requested");
    if (!json_is_string(h) || !json_is_boolean(p) || !json_is_boolean(r))
        return;   /* a heartbeatd on an older schema: the active reads every interval */
    wd->renewal_row_ns = now;
    if (!role_renewal_news(&wd->role, json_string_value(h), json_is_true(p), json_is_true(r)))
        return;
    if (wd->role.row_known)
        log_info("the renewal's answer shows a change (handoff_to '%.63s', paused %s, resume "
                 "requested %s): reading the row", json_string_value(h),
                 json_is_true(p) ? "yes" : "no", json_is_true(r) ? "yes" : "no");
    watchd_read_row(wd);
}

static void on_event(void *arg, struct ctl_conn *c, json_t *msg, const char *event)
{
    struct watchd *wd = arg;
    if (c != wd->heartbeatd) {
        log_warnx("control: event '%.64s' from a peer that is not heartbeatd; ignored", event);
        return;
    }
    json_t *epoch = json_object_get(msg, "epoch");
    if (!json_is_integer(epoch)) {
        log_warnx("control: heartbeatd event without an epoch; ignored");
        return;
    }
    struct role_input in = {.epoch = json_integer_value(epoch)};
    if (strcmp(event, "renewed") == 0) {
        json_t *sent = json_object_get(msg, "sent_ns");
        if (!json_is_integer(sent))
            return;
        in.event = EV_RENEWED;
        /* a send time in the future would stretch the lease past its end: clamp to now */
        int64_t now = now_ns();
        in.sent_ns = json_integer_value(sent) > now ? now : json_integer_value(sent);
        watchd_input(wd, &in);
        renewal_row(wd, msg, now);
        return;
    } else if (strcmp(event, "lost") == 0) {
        in.event = EV_LOST;
    } else {
        return;
    }
    watchd_input(wd, &in);
}

static void on_close(void *arg, struct ctl_conn *c)
{
    struct watchd *wd = arg;
    peerlist_closed(wd->peerlist, c);
    if (c == wd->heartbeatd) {
        wd->heartbeatd = NULL;
        log_warnx("heartbeatd disconnected");
    }
}

int control_open(struct watchd *wd)
{
    char path[512];
    uid_t allowed = 0;
    if (wd->conf.user[0]) {
        struct passwd *pw = getpwnam(wd->conf.user);
        if (pw == NULL) {
            log_errx("[cluster] user %s does not exist", wd->conf.user);
            return -1;
        }
        allowed = pw->pw_uid;
    }
    conf_sock_path(&wd->conf, "watchd", path, sizeof(path));
    struct ctl_handlers h = {.request = on_request, .event = on_event, .close = on_close,
                             .arg = wd};
    wd->ctl = ctl_server_open(wd->loop, path, allowed, &h);
    return wd->ctl ? 0 : -1;
}

void control_close(struct watchd *wd)
{
    ctl_server_close(wd->ctl);
    wd->ctl = NULL;
}
