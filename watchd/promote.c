/*
 * promote.c: the step sequences behind the state machine's actions (DESIGN §3).
 *
 *   promote:  vipctl up -> [service] start -> syncd active              -> EV_PROMOTED
 *   demote:   kill hooks -> [service] stop -> vipctl down -> syncd standby -> EV_DEMOTED
 *   handoff:  kill hooks -> syncd flush -> [service] stop -> vipctl down   -> EV_DEMOTED
 *   hand row: row to target -> syncd standby                           -> EV_HANDED_OFF
 *   cleanup:  kill hooks -> [service] stop -> vipctl down (at start: nothing of an
 *             earlier life survives, not even a start hook of a watchd killed with -9)
 *
 * One sequence runs at a time; starting one abandons the previous (its late results
 * are recognised by their generation number and dropped). "kill hooks": every hook
 * that may bring the service or the address up runs tracked (spawn_tracked) and is
 * killed, its whole process group, and reaped before any stop runs (DESIGN §3: a node
 * acts until they are gone). Every step is an hs_event.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ctl.h"
#include "db.h"
#include "log.h"
#include "loop.h"
#include "spawn.h"
#include "sql.h"
#include "watchd.h"

enum seq { SEQ_NONE, SEQ_PROMOTE, SEQ_DEMOTE, SEQ_HANDOFF, SEQ_CLEANUP, SEQ_HAND_ROW };

/* SIGKILL reaches a process at once unless it is stuck in the kernel (D state). */
#define KILL_WAIT_NS NS_PER_SEC

struct step_ctx {
    struct watchd *wd;
    unsigned gen;
};

static unsigned seq_gen;

static void seq_next(struct watchd *wd);

static struct step_ctx *ctx_new(struct watchd *wd)
{
    struct step_ctx *c = malloc(sizeof(*c));
    if (c == NULL)
        fatal("malloc");
    c->wd = wd;
    c->gen = seq_gen;
    return c;
}

/* Returns the daemon if the step still belongs to the running sequence, and frees c. */
static struct watchd *ctx_take(struct step_ctx *c)
{
    struct watchd *wd = c->gen == seq_gen ? c->wd : NULL;
    free(c);
    return wd;
}

void watchd_hook_env(struct watchd *wd, const char *role, int64_t epoch, struct hook_env *h)
{
    hook_env_fill(h, wd->conf.cluster, wd->conf.node, role, epoch);
    /* 0 once the lease is gone: a spawned vipctl then refuses up and check */
    hook_env_deadline(h, role_lease_deadline(&wd->role, now_ns()));
}

static void hooks_dir(struct watchd *wd, char *buf, size_t len)
{
    hook_track_dir(wd->conf.run_dir, buf, len);
}

/* Before any stop: nothing that could still bring the service or the address up. */
static void kill_hooks(struct watchd *wd)
{
    char dir[512];
    hooks_dir(wd, dir, sizeof(dir));
    if (spawn_kill_tracked(dir, KILL_WAIT_NS) < 0)
        watchd_event(wd, wd->seq_epoch, "hook-unkillable",
                     "a start/check hook survived SIGKILL: the service may still come up");
}

static const char *seq_role(struct watchd *wd)
{
    return wd->seq_kind == SEQ_PROMOTE ? "active" : "standby";
}

static void step_done(void *arg, int status);

/* Runs a shell hook (cmd) or a vipctl verb as the current step. */
static void run_hook(struct watchd *wd, const char *name, const char *cmd, const char *verb)
{
    /* A fence's stop has a budget (stop_timeout, checked when it ends), not a shorter
     * kill: killing a stop hook would not stop the service. */
    int64_t timeout = wd->conf.hook_timeout_ns;
    struct hook_env he;
    watchd_hook_env(wd, seq_role(wd), wd->seq_epoch, &he);
    char **env = he.env;
    struct step_ctx *c = ctx_new(wd);
    char dir[512];
    hooks_dir(wd, dir, sizeof(dir));
    /* what brings the service or the address up is tracked, so a stop can kill it */
    const char *track = wd->seq_kind == SEQ_PROMOTE ? dir : NULL;
    int rc;
    if (verb != NULL) {
        char *argv[] = {wd->vipctl, "-c", (char *)wd->conf_path, (char *)verb, NULL};
        rc = spawn_tracked(wd->loop, track, name, argv, env, timeout, step_done, c);
    } else {
        char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
        rc = spawn_tracked(wd->loop, track, name, argv, env, timeout, step_done, c);
    }
    if (rc < 0) {
        free(c);
        step_done(ctx_new(wd), -1);
    }
}

/* ---- syncd ---- */

static void syncd_role_reply(void *arg, json_t *reply, const char *err)
{
    if (err)
        log_debug("syncd: role: %s", err);
}

void syncd_tell_role(struct watchd *wd, const char *role, int64_t epoch)
{
    char path[512];
    conf_sock_path(&wd->conf, "syncd", path, sizeof(path));
    json_t *req = json_pack("{s:s,s:s,s:I}", "cmd", "role", "role", role, "epoch",
                            (json_int_t)epoch);
    if (ctl_call_async(wd->loop, path, req, NS_PER_SEC, syncd_role_reply, NULL) < 0)
        log_debug("syncd: %s not reachable", path);
    json_decref(req);
}

static void flush_reply(void *arg, json_t *reply, const char *err)
{
    struct watchd *wd = ctx_take(arg);
    if (wd == NULL)
        return;
    if (err || !json_is_true(json_object_get(reply, "ok")))
        log_warnx("syncd flush before the switchover did not complete: %s",
                  err ? err : json_string_value(json_object_get(reply, "error")));
    else
        watchd_event(wd, wd->seq_epoch, "sync-flushed", "standbys acknowledged every change");
    wd->seq_step++;
    seq_next(wd);
}

static void syncd_flush(struct watchd *wd)
{
    char path[512];
    conf_sock_path(&wd->conf, "syncd", path, sizeof(path));
    int64_t bound = wd->conf.hook_timeout_ns < 5 * NS_PER_SEC ? wd->conf.hook_timeout_ns
                                                              : 5 * NS_PER_SEC;
    json_t *req = json_pack("{s:s,s:I}", "cmd", "flush", "timeout_ms",
                            (json_int_t)(bound / NS_PER_MS));
    struct step_ctx *c = ctx_new(wd);
    int rc = ctl_call_async(wd->loop, path, req, bound + 200 * NS_PER_MS, flush_reply, c);
    json_decref(req);
    if (rc < 0) {   /* no syncd on this node: nothing to flush */
        free(c);
        wd->seq_step++;
        seq_next(wd);
    }
}

/* ---- the row handed to the target ---- */

static void handoff_done(void *arg, PGresult *res, const char *err)
{
    struct step_ctx *c = arg;
    struct watchd *wd = ctx_take(c);
    if (wd == NULL)
        return;
    if (res && PQntuples(res) == 1)
        watchd_event(wd, strtoll(PQgetvalue(res, 0, 0), NULL, 10), "handed-off",
                     "cluster handed to %s", wd->seq_target);
    else
        log_warnx("handoff to %s did not apply (%s); a standby takes over after the timeout",
                  wd->seq_target, err ? err : "the row changed meanwhile");
    wd->seq_step++;
    seq_next(wd);
}

static void handoff_row(struct watchd *wd)
{
    char e[32];
    snprintf(e, sizeof(e), "%" PRId64, wd->seq_epoch);
    const char *params[] = {wd->conf.cluster, wd->conf.node, wd->seq_target, e};
    struct step_ctx *c = ctx_new(wd);
    if (db_query(wd->db, SQL_HANDOFF, 4, params, handoff_done, c) < 0)
        handoff_done(c, NULL, "database not connected");
}

/* ---- sequencing ---- */

static const char *const step_event[][4] = {
    [SEQ_PROMOTE] = {"vip-up", "service-started", NULL, NULL},
    [SEQ_DEMOTE] = {NULL, "service-stopped", "vip-down", NULL},
    [SEQ_HANDOFF] = {NULL, NULL, "service-stopped", "vip-down"},
    [SEQ_CLEANUP] = {NULL, "service-stopped", "vip-down", NULL},
    [SEQ_HAND_ROW] = {NULL, NULL, NULL, NULL},
};

/* A failed vipctl down, or a stop hook killed at its timeout, leaves the node possibly
 * acting; a stop hook that exited non-zero has said its word (a stopped service's stop
 * script often exits 1). */
static int must_retry(const char *ev, int status)
{
    if (ev == NULL)
        return 0;
    if (strcmp(ev, "vip-down") == 0)
        return 1;
    return strcmp(ev, "service-stopped") == 0 && status < 0;
}

void seq_retry(void *arg)
{
    struct watchd *wd = arg;
    if (wd->seq_retry_gen == seq_gen && wd->seq_kind != SEQ_NONE)
        seq_next(wd);
}

static void step_done(void *arg, int status)
{
    struct watchd *wd = ctx_take(arg);
    if (wd == NULL)
        return;
    int step = wd->seq_step;
    const char *ev = step < 4 ? step_event[wd->seq_kind][step] : NULL;
    if (status != 0 && wd->seq_kind == SEQ_PROMOTE) {
        struct role_input in = {.event = EV_PROMOTE_FAILED};
        snprintf(in.why, sizeof(in.why), "%s %s", step == 0 ? "vipctl up" : "[service] start",
                 status < 0 ? "timed out" : "failed");
        wd->seq_kind = SEQ_NONE;
        seq_gen++;
        watchd_input(wd, &in);
        return;
    }
    if (status != 0 && must_retry(ev, status)) {
        /* The address (or, after a timed-out stop, the service) may still be up: the
         * node keeps acting and runs the step again; it never ends a demotion or a
         * handoff with the address on its interface (DESIGN §3 "acting"). */
        watchd_event(wd, wd->seq_epoch, "stop-step-retry", "%s %s (status %d); running it again",
                     strcmp(ev, "vip-down") == 0 ? "vipctl down" : "[service] stop",
                     status < 0 ? "timed out" : "failed", status);
        wd->seq_retry_gen = seq_gen;
        loop_timer_after(wd->seq_retry_timer, 200 * NS_PER_MS);
        return;
    }
    if (status != 0)
        log_warnx("step %d of the %s failed (status %d); going on", step,
                  wd->seq_kind == SEQ_HANDOFF ? "handoff" : "demotion", status);
    else if (ev && wd->seq_kind != SEQ_CLEANUP)
        watchd_event(wd, wd->seq_epoch, ev, "%s",
                     ev[0] == 'v' ? (strcmp(ev, "vip-up") == 0 ? "virtual address up"
                                                                : "virtual address down")
                                  : "hook done");
    wd->seq_step++;
    seq_next(wd);
}

static int vip_managed(struct watchd *wd) { return wd->conf.connection != CONN_NONE; }

static void skip(struct watchd *wd)
{
    wd->seq_step++;
    seq_next(wd);
}

/* The guarantee of DESIGN §3 holds only if a fence is over within its budget. */
static void check_fence_budget(struct watchd *wd)
{
    int64_t took = now_ns() - wd->role.fenced_at_ns;
    int64_t budget = wd->role.p.stop_budget_ns;
    if (wd->role.state == ST_FENCED && took > budget)
        watchd_event(wd, wd->seq_epoch, "stop-overrun",
                     "the fence took %" PRId64 " ms, over its budget of %" PRId64
                     " ms (stop_timeout + address down): a standby may have acted while the "
                     "service was up; the no-overlap guarantee was broken",
                     took / NS_PER_MS, budget / NS_PER_MS);
}

static void finish(struct watchd *wd, enum role_event ev)
{
    if (ev == EV_DEMOTED && wd->seq_kind == SEQ_DEMOTE)
        check_fence_budget(wd);
    wd->seq_kind = SEQ_NONE;
    seq_gen++;
    if (ev == EV__COUNT)
        return;
    struct role_input in = {.event = ev};
    watchd_input(wd, &in);
}

static void service_step(struct watchd *wd, const char *name, const char *cmd)
{
    if (cmd[0])
        run_hook(wd, name, cmd, NULL);
    else
        skip(wd);
}

static void vip_step(struct watchd *wd, const char *verb)
{
    char name[32];
    snprintf(name, sizeof(name), "vipctl %s", verb);
    if (vip_managed(wd))
        run_hook(wd, name, NULL, verb);
    else
        skip(wd);
}

static void seq_next(struct watchd *wd)
{
    int s = wd->seq_step;
    switch (wd->seq_kind) {
    case SEQ_PROMOTE:
        if (s == 0) vip_step(wd, "up");
        else if (s == 1) service_step(wd, "service start", wd->conf.service_start);
        else {
            syncd_tell_role(wd, "active", wd->seq_epoch);
            finish(wd, EV_PROMOTED);
        }
        break;
    case SEQ_DEMOTE:
    case SEQ_CLEANUP:
        if (s == 0) {
            kill_hooks(wd);
            skip(wd);
        } else if (s == 1) service_step(wd, "service stop", wd->conf.service_stop);
        else if (s == 2) vip_step(wd, "down");
        else {
            syncd_tell_role(wd, "standby", wd->seq_epoch);
            if (wd->seq_kind == SEQ_CLEANUP) {
                finish(wd, EV__COUNT);
                wd->cleanup_done = 1;
                loop_timer_after(wd->poll_timer, 0);
            } else {
                finish(wd, EV_DEMOTED);
            }
        }
        break;
    case SEQ_HANDOFF:   /* still leading: no standby can take over meanwhile */
        if (s == 0) {
            kill_hooks(wd);
            skip(wd);
        } else if (s == 1) syncd_flush(wd);
        else if (s == 2) service_step(wd, "service stop", wd->conf.service_stop);
        else if (s == 3) vip_step(wd, "down");
        else finish(wd, EV_DEMOTED);
        break;
    case SEQ_HAND_ROW:
        if (s == 0) handoff_row(wd);
        else {
            syncd_tell_role(wd, "standby", wd->seq_epoch);
            finish(wd, EV_HANDED_OFF);
        }
        break;
    }
}

static void seq_start(struct watchd *wd, enum seq kind, int64_t epoch, const char *target)
{
    seq_gen++;
    wd->seq_kind = kind;
    wd->seq_step = 0;
    wd->seq_epoch = epoch;
    snprintf(wd->seq_target, sizeof(wd->seq_target), "%s", target ? target : "");
    seq_next(wd);
}

void promote_start(struct watchd *wd, int64_t epoch) { seq_start(wd, SEQ_PROMOTE, epoch, NULL); }
void demote_start(struct watchd *wd, int64_t epoch) { seq_start(wd, SEQ_DEMOTE, epoch, NULL); }
void cleanup_start(struct watchd *wd) { seq_start(wd, SEQ_CLEANUP, 0, NULL); }

void handoff_start(struct watchd *wd, int64_t epoch, const char *target)
{
    seq_start(wd, SEQ_HANDOFF, epoch, target);
}

void hand_row_start(struct watchd *wd, int64_t epoch, const char *target)
{
    seq_start(wd, SEQ_HAND_ROW, epoch, target);
}

void address_up_again(struct watchd *wd)
{
    char dir[512];
    hooks_dir(wd, dir, sizeof(dir));
    struct hook_env he;
    watchd_hook_env(wd, "active", wd->role.epoch, &he);
    char *up[] = {wd->vipctl, "-c", (char *)wd->conf_path, "up", NULL};
    spawn_tracked(wd->loop, dir, "vipctl up", up, he.env, wd->conf.hook_timeout_ns, NULL, NULL);
}

/* ---- the active's address re-check ---- */

static void recheck_done(void *arg, int status)
{
    struct watchd *wd = arg;
    wd->recheck_running = 0;
    if (status != 0)
        log_warnx("vipctl check exited with status %d", status);
}

/* Someone may have removed the VIP (or changed the DNS record) behind our back. */
void address_recheck_start(struct watchd *wd)
{
    if (wd->conf.connection == CONN_NONE || wd->recheck_running)
        return;
    struct hook_env he;
    watchd_hook_env(wd, "active", wd->role.epoch, &he);
    char **env = he.env;
    char dir[512];
    hooks_dir(wd, dir, sizeof(dir));
    char *argv[] = {wd->vipctl, "-c", (char *)wd->conf_path, "check", NULL};
    if (spawn_tracked(wd->loop, dir, "vipctl check", argv, env, wd->conf.hook_timeout_ns,
                      recheck_done, wd) > 0)
        wd->recheck_running = 1;
}

/* ---- health ---- */

static void health_done(void *arg, int status)
{
    struct watchd *wd = arg;
    wd->health_running = 0;
    struct role_input in = {.event = EV_HEALTH, .ok = status == 0};
    watchd_input(wd, &in);
}

void health_check_start(struct watchd *wd)
{
    struct hook_env he;
    watchd_hook_env(wd, "active", wd->role.epoch, &he);
    char **env = he.env;
    char dir[512];
    hooks_dir(wd, dir, sizeof(dir));
    int64_t timeout = wd->conf.check_interval_ns < wd->conf.hook_timeout_ns
                          ? wd->conf.check_interval_ns
                          : wd->conf.hook_timeout_ns;
    if (spawn_shell_tracked(wd->loop, dir, "service check", wd->conf.service_check, env, timeout,
                            health_done, wd) > 0)
        wd->health_running = 1;
}
