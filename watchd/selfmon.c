/*
 * selfmon.c: self-monitoring and alerts (DESIGN §7). Off the decision path: it runs on a
 * timer of its own, reads the database over a connection of its own (a hung query here
 * drops only that connection, never the role's), asks syncd and the shared-folder thread
 * without waiting, and never feeds the state machine. It turns conditions into problems:
 * raised once (an hs_event row, a mail), kept while they last (shown by `vipctl status`,
 * no further mail), resolved once (an hs_event row, a mail with how long it lasted).
 * Which conditions hold is decided by the pure problems_assess() (problems.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "conf.h"
#include "ctl.h"
#include "daemon.h"
#include "db.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "problems.h"
#include "shared.h"
#include "selfmon.h"
#include "watchd.h"

/* ---- open problems survive a restart (run_dir/watchd.problems), so each gets its
 * resolved mail even when the daemon was restarted in between ---- */

static void state_path(const struct selfmon *sm, char *buf, size_t len, const char *suffix)
{
    snprintf(buf, len, "%s/watchd.problems%s", sm->wd->conf.run_dir, suffix);
}

static void save(const struct selfmon *sm)
{
    char path[CONF_STR + 32], tmp[CONF_STR + 32];
    state_path(sm, path, sizeof(path), "");
    state_path(sm, tmp, sizeof(tmp), ".tmp");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        log_warnx("%s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    for (int k = 0; k < PK__COUNT; k++) {
        const struct condition *c = &sm->c[k];
        char detail[PROBLEM_DETAIL];
        if (!c->raised)
            continue;
        snprintf(detail, sizeof(detail), "%s", c->detail);
        for (char *q = detail; *q; q++)
            if (*q == '\t' || *q == '\n')
                *q = ' ';
        fprintf(f, "%s\t%" PRId64 "\t%s\n", problem_name(k), c->raised_wall_ns, detail);
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0) {
        log_warnx("%s: %s", tmp, strerror(errno));
        return;
    }
    if (rename(tmp, path) < 0)
        log_warnx("%s: %s", path, strerror(errno));
}

static void load(struct selfmon *sm)
{
    char path[CONF_STR + 32], line[PROBLEM_DETAIL + 128];
    state_path(sm, path, sizeof(path), "");
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        char *wall = strchr(line, '\t'), *detail = wall ? strchr(wall + 1, '\t') : NULL;
        if (!detail)
            continue;
        *wall++ = *detail++ = '\0';
        detail[strcspn(detail, "\n")] = '\0';
        for (int k = 0; k < PK__COUNT; k++) {
            struct condition *c = &sm->c[k];
            if (strcmp(line, problem_name(k)) != 0)
                continue;
            c->raised = 1;
            c->raised_wall_ns = strtoll(wall, NULL, 10);
            int64_t ago = wall_ns() - c->raised_wall_ns;
            c->raised_ns = now_ns() - (ago > 0 ? ago : 0);
            snprintf(c->detail, sizeof(c->detail), "%s", detail);
            log_info("problem %s, raised before this start, is still open: %s", line, detail);
        }
    }
    fclose(f);
}

/* ---- raising and resolving ---- */

static int64_t shown_epoch(const struct watchd *wd)
{
    return role_holds_lease(&wd->role) ? wd->role.epoch : wd->role.row.epoch;
}

static void raise_problem(struct selfmon *sm, enum problem_kind k)
{
    struct condition *c = &sm->c[k];
    c->raised = 1;
    c->raised_ns = now_ns();
    c->raised_wall_ns = wall_ns();
    save(sm);
    watchd_event(sm->wd, shown_epoch(sm->wd), "problem", "%s: %s", problem_name(k), c->detail);
    alert_mail(sm, k, NULL);
}

static void resolve_problem(struct selfmon *sm, enum problem_kind k, const char *resolution)
{
    struct condition *c = &sm->c[k];
    if (!c->raised)
        return;
    watchd_event(sm->wd, shown_epoch(sm->wd), "resolved", "%s: %s (after %.1f s)",
                 problem_name(k), resolution, (double)(now_ns() - c->raised_ns) / NS_PER_SEC);
    alert_mail(sm, k, resolution);
    c->raised = 0;
    c->holding_since_ns = 0;
    save(sm);
}

/* A condition observed now: raised once it has held for hold_ns, resolved when it stops. */
void selfmon_observe(struct selfmon *sm, enum problem_kind k, int holds, const char *detail,
                     int64_t hold_ns, const char *resolution)
{
    struct condition *c = &sm->c[k];
    if (!holds) {
        c->holding_since_ns = 0;
        resolve_problem(sm, k, resolution);
        return;
    }
    if (!c->holding_since_ns)
        c->holding_since_ns = now_ns();
    snprintf(c->detail, sizeof(c->detail), "%s", detail);
    if (!c->raised && now_ns() - c->holding_since_ns >= hold_ns)
        raise_problem(sm, k);
}

/* ---- role events (from watchd_event) ---- */

static void remember(struct selfmon *sm, int64_t epoch, const char *kind, const char *detail)
{
    if (sm->n_recent == RECENT_EVENTS) {
        memmove(&sm->recent[0], &sm->recent[1], sizeof(sm->recent[0]) * (RECENT_EVENTS - 1));
        sm->n_recent--;
    }
    struct recent_event *e = &sm->recent[sm->n_recent++];
    e->wall_ns = wall_ns();
    e->epoch = epoch;
    snprintf(e->kind, sizeof(e->kind), "%s", kind);
    snprintf(e->detail, sizeof(e->detail), "%s", detail);
}

static void raise_now(struct selfmon *sm, enum problem_kind k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void raise_now(struct selfmon *sm, enum problem_kind k, const char *fmt, ...)
{
    struct condition *c = &sm->c[k];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
    va_end(ap);
    if (!c->raised)
        raise_problem(sm, k);
}

void selfmon_on_event(struct selfmon *sm, int64_t epoch, const char *kind, const char *detail)
{
    if (!sm)
        return;
    remember(sm, epoch, kind, detail);
    struct watchd *wd = sm->wd;
    if (strcmp(kind, "claimed") == 0) {
        upgrade_abort(sm);   /* never an upgrade while acting (DESIGN §3) */
        /* whom we replace, if anyone: the holder in our last read (the role machine has
         * already written our own name into its copy of the row) */
        snprintf(sm->claimed_from, sizeof(sm->claimed_from), "%s", sm->view.holder);
    } else if (strcmp(kind, "active") == 0) {
        sm->active_since_ns = now_ns();
        if (wd->gained_by_grant)
            raise_now(sm, PK_SWITCHOVER, "%s took over by planned switchover at epoch %" PRId64,
                      wd->conf.node, epoch);
        else if (*sm->claimed_from && strcmp(sm->claimed_from, wd->conf.node) != 0)
            raise_now(sm, PK_TAKEOVER, "%s took over from %s at epoch %" PRId64
                      ": the counter of %s stood still for takeover_timeout (%" PRId64 " ms)",
                      wd->conf.node, sm->claimed_from, epoch, sm->claimed_from,
                      wd->conf.takeover_timeout_ns / NS_PER_MS);
        /* else the first claim of a cluster without holder: news, not a problem */
    } else if (strcmp(kind, "fenced") == 0) {
        raise_now(sm, PK_SELF_FENCE, "%s stopped acting at epoch %" PRId64 ": %s",
                  wd->conf.node, epoch, detail);
    } else if (strcmp(kind, "health-demotion") == 0) {
        raise_now(sm, PK_HEALTH_DEMOTION, "%s gave the cluster up at epoch %" PRId64
                  " after %d failed checks in a row: %s", wd->conf.node, epoch,
                  wd->conf.check_failures, detail);
    } else if (strcmp(kind, "switchover-refused") == 0 || strcmp(kind, "health-failing") == 0 ||
               strcmp(kind, "forced-up") == 0 || strcmp(kind, "forced-resume") == 0 ||
               strcmp(kind, "hook-unkillable") == 0 || strcmp(kind, "stop-overrun") == 0 ||
               strcmp(kind, "timing-mismatch") == 0) {
        alert_mail_once(sm, kind, epoch, detail);
    }
}

/* Event-raised problems end when the cluster is whole again. */
static void resolve_role_problems(struct selfmon *sm, int standby_live)
{
    struct watchd *wd = sm->wd;
    const struct role *r = &wd->role;
    char why[PROBLEM_DETAIL];
    if (r->state == ST_ACTIVE && standby_live) {
        snprintf(why, sizeof(why), "the cluster is protected again: a standby renews its row");
        resolve_problem(sm, PK_TAKEOVER, why);
        resolve_problem(sm, PK_SWITCHOVER, why);
    } else if (r->state == ST_STANDBY && r->row.holder[0] &&
               strcmp(r->row.holder, wd->conf.node) != 0) {
        /* (a row that still names this node was read before it stopped acting: a node
         * that wakes from a freeze fences first and reads the row after) */
        snprintf(why, sizeof(why), "%s is no longer the active: %s holds the cluster at epoch "
                 "%" PRId64, wd->conf.node, r->row.holder, r->row.epoch);
        resolve_problem(sm, PK_TAKEOVER, why);
        resolve_problem(sm, PK_SWITCHOVER, why);
        snprintf(why, sizeof(why), "%s is a standby again; %s holds the cluster at epoch "
                 "%" PRId64, wd->conf.node, r->row.holder, r->row.epoch);
        if (db_connected(wd->db)) {
            resolve_problem(sm, PK_SELF_FENCE, why);
            resolve_problem(sm, PK_HEALTH_DEMOTION, why);
        }
    }
}

/* ---- the database: our own row's facts out, everyone's in ---- */

/* Our shared_fsid is written only when it changed: otherwise the statement writes nothing
 * (no row version, no WAL, no commit to flush), where it wrote every period (each second
 * at interval 1 s: as many writes as all node rows together). */
#define SQL_SELFMON                                                                          \
    "WITH mine AS (UPDATE hs_node SET shared_fsid = $3 WHERE cluster = $1 AND node = $2 "    \
    " AND shared_fsid IS DISTINCT FROM $3) "                                                  \
    "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8, coalesce(c.holder, ''), " \
    " c.paused, extract(epoch FROM clock_timestamp() - c.changed_at)::float8, "              \
    " coalesce(n.node, ''), coalesce(n.version, ''), coalesce(n.config_digest, ''), "        \
    " coalesce(n.shared_fsid, ''), coalesce(n.role, ''), "                                   \
    " coalesce(extract(epoch FROM clock_timestamp() - n.seen_at)::float8, 1e9), "            \
    " coalesce(c.active_version, '') "                                                        \
    "FROM hs_cluster c LEFT JOIN hs_node n ON n.cluster = c.cluster WHERE c.cluster = $1 "   \
    "ORDER BY n.node LIMIT 16"

static void read_view(struct selfmon *sm, PGresult *res, int64_t recv_wall)
{
    struct problem_view *v = &sm->view;
    v->row_known = PQntuples(res) > 0;
    v->n_nodes = 0;
    if (!v->row_known)
        return;
    double db_ms = atof(PQgetvalue(res, 0, 0));
    int64_t mid = (sm->query_sent_wall_ns + recv_wall) / 2 + sm->clock_offset_ns;
    v->clock_known = 1;
    v->skew_ns = (int64_t)(db_ms * 1e6) - mid;
    v->skew_error_ns = (recv_wall - sm->query_sent_wall_ns) / 2;
    snprintf(v->holder, sizeof(v->holder), "%s", PQgetvalue(res, 0, 1));
    v->paused = PQgetvalue(res, 0, 2)[0] == 't';
    snprintf(v->active_version, sizeof(v->active_version), "%s", PQgetvalue(res, 0, 10));
    v->paused_for_ns = (int64_t)(atof(PQgetvalue(res, 0, 3)) * 1e9);
    for (int i = 0; i < PQntuples(res) && v->n_nodes < PROBLEM_NODES; i++) {
        if (!*PQgetvalue(res, i, 4))
            continue;
        struct problem_node *n = &v->nodes[v->n_nodes++];
        snprintf(n->name, sizeof(n->name), "%s", PQgetvalue(res, i, 4));
        snprintf(n->version, sizeof(n->version), "%s", PQgetvalue(res, i, 5));
        snprintf(n->digest, sizeof(n->digest), "%s", PQgetvalue(res, i, 6));
        snprintf(n->fsid, sizeof(n->fsid), "%s", PQgetvalue(res, i, 7));
        snprintf(n->role, sizeof(n->role), "%s", PQgetvalue(res, i, 8));
        n->seen_ago_ns = (int64_t)(atof(PQgetvalue(res, i, 9)) * 1e9);
    }
}

static void assess(struct selfmon *sm)
{
    struct watchd *wd = sm->wd;
    struct problem_view *v = &sm->view;
    struct problem_verdict verdict;
    v->me = wd->conf.node;
    v->version = daemon_version();
    v->digest = wd->conf.config_digest;     /* heartbeatd publishes it in our row */
    v->fsid = sm->shared_known && sm->shared.ok ? sm->shared.fsid : "";
    v->active = wd->role.state == ST_ACTIVE;
    v->auto_upgrade = wd->conf.upgrade_auto;
    problems_assess(v, &verdict);

    int holder_view = v->active && strcmp(v->holder, wd->conf.node) == 0;
    /* A standby that never was gets takeover_timeout to show up after we became active. */
    int64_t missing_hold = 0;
    if (sm->active_since_ns && now_ns() - sm->active_since_ns < wd->conf.takeover_timeout_ns)
        missing_hold = wd->conf.takeover_timeout_ns - (now_ns() - sm->active_since_ns);
    static const char *const ok_text[PK__COUNT] = {
        [PK_STANDBY_MISSING] = "a standby renews its row again",
        [PK_VERSION_MISMATCH] = "every live node runs the same version",
        [PK_CONFIG_MISMATCH] = "every live node has the same shared settings",
        [PK_SHARED_MISMATCH] = "every node sees the same shared filesystem",
        [PK_PAUSED] = "the cluster was resumed",
        [PK_CLOCK_SKEW] = "the clock of this node is within max_clock_skew of the database clock",
    };
    for (int k = PK_STANDBY_MISSING; k <= PK_PAUSED; k++) {
        const char *resolution = holder_view ? ok_text[k]
                                 : k == PK_VERSION_MISMATCH ? "this node runs the active's version"
                                                            : "this node is no longer the active";
        selfmon_observe(sm, k, verdict.holds[k], verdict.detail[k],
                        k == PK_STANDBY_MISSING ? missing_hold : 0, resolution);
    }
    selfmon_observe(sm, PK_CLOCK_SKEW, verdict.holds[PK_CLOCK_SKEW],
                    verdict.detail[PK_CLOCK_SKEW], 0, ok_text[PK_CLOCK_SKEW]);
    resolve_role_problems(sm, !verdict.holds[PK_STANDBY_MISSING] && holder_view);
    upgrade_tick(sm);
}

static void query_done(void *arg, PGresult *res, const char *err)
{
    struct selfmon *sm = arg;
    sm->query_inflight = 0;
    if (res == NULL) {
        log_debug("selfmon: %s", err);
        return;
    }
    read_view(sm, res, wall_ns());
    sm->view_read_ns = now_ns();
    assess(sm);
}

static void query(struct selfmon *sm)
{
    if (sm->query_inflight || !db_connected(sm->db))
        return;
    const char *fsid = sm->shared_known && sm->shared.ok ? sm->shared.fsid : "";
    const char *params[] = {sm->wd->conf.cluster, sm->wd->conf.node, fsid};
    sm->query_sent_ns = now_ns();
    sm->query_sent_wall_ns = wall_ns();
    if (db_query(sm->db, SQL_SELFMON, 3, params, query_done, sm) == 0)
        sm->query_inflight = 1;
}

/* ---- this node's own conditions ---- */

void selfmon_db_state(struct selfmon *sm, int connected, const char *why)
{
    if (!sm)
        return;
    if (connected) {
        sm->db_down_since_ns = 0;
        return;
    }
    if (!sm->db_down_since_ns) {
        sm->db_down_since_ns = now_ns();
        sm->db_down_since_wall_ns = wall_ns();
    }
    /* libpq's messages span lines: one line for the mail and the status */
    const char *w = why && *why ? why : "connection lost";
    size_t n = 0;
    for (; *w && n + 1 < sizeof(sm->db_why); w++) {
        int space = *w == ' ' || *w == '\t' || *w == '\n' || *w == '\r';
        if (space && (n == 0 || sm->db_why[n - 1] == ' '))
            continue;
        sm->db_why[n++] = space ? ' ' : *w;
    }
    while (n > 0 && sm->db_why[n - 1] == ' ')
        n--;
    sm->db_why[n] = '\0';
}

static void check_database(struct selfmon *sm)
{
    char detail[PROBLEM_DETAIL] = "", when[96], resolution[PROBLEM_DETAIL];
    int down = !db_connected(sm->wd->db);
    if (down && !sm->db_down_since_ns)
        selfmon_db_state(sm, 0, NULL);
    if (down) {
        fmt_time(sm->db_down_since_wall_ns, when, sizeof(when));
        snprintf(detail, sizeof(detail), "no connection since %s (%.1f s): %s", when,
                 (double)(now_ns() - sm->db_down_since_ns) / NS_PER_SEC, sm->db_why);
    }
    snprintf(resolution, sizeof(resolution), "connected again; %s",
             sm->c[PK_DATABASE].detail);
    /* An active cut off that long has fenced: worth a mail. Shorter blips are logged. */
    selfmon_observe(sm, PK_DATABASE, down, detail, sm->wd->conf.fence_after_ns, resolution);
}

static void on_probe(void *arg, int fd, uint32_t events)
{
    struct selfmon *sm = arg;
    if (shared_prober_read(sm->prober, &sm->shared) == 0)
        sm->shared_known = 1;
}

static void check_shared(struct selfmon *sm)
{
    if (!sm->prober) {
        selfmon_observe(sm, PK_SHARED_FOLDER, 0, "", 0, "[shared] folder is not set any more");
        return;
    }
    int64_t stuck_after = 5 * NS_PER_SEC > 2 * sm->period_ns ? 5 * NS_PER_SEC : 2 * sm->period_ns;
    char detail[PROBLEM_DETAIL];
    if (shared_prober_ask(sm->prober) == 0) {
        sm->probe_asked_ns = now_ns();
    } else if (now_ns() - sm->probe_asked_ns > stuck_after) {
        snprintf(detail, sizeof(detail), "the check of %s has not returned for %.0f s "
                 "(a hung network mount?)", sm->wd->conf.shared_folder,
                 (double)(now_ns() - sm->probe_asked_ns) / NS_PER_SEC);
        selfmon_observe(sm, PK_SHARED_FOLDER, 1, detail, 0, "");
        return;
    }
    if (sm->shared_known)
        selfmon_observe(sm, PK_SHARED_FOLDER, !sm->shared.ok, sm->shared.why, 0,
                        "the shared folder is mounted and writable");
}

/* syncd reports its own problems (syncd/alert.c); we raise, mail and record them. */
static void sync_reply(void *arg, json_t *reply, const char *err)
{
    struct selfmon *sm = arg;
    sm->sync_inflight = 0;
    if (reply == NULL)
        return;     /* no syncd on this node, or it is busy: nothing learned */
    char detail[2][PROBLEM_DETAIL] = {"", ""};
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(reply, "problems"), i, p) {
        const char *kind = json_string_value(json_object_get(p, "kind"));
        const char *text = json_string_value(json_object_get(p, "detail"));
        int lag = kind && strcmp(kind, "sync-lag") == 0;
        if (!kind || !text)
            continue;
        text_append(detail[lag], PROBLEM_DETAIL, "%s%s", *detail[lag] ? "; " : "", text);
    }
    selfmon_observe(sm, PK_SYNC_FAILURE, *detail[0] != '\0', detail[0], 0,
                    "every standby is reachable and accepts the pushes");
    selfmon_observe(sm, PK_SYNC_LAG, *detail[1] != '\0', detail[1], 0,
                    "every standby has acknowledged the data written");
}

static void poll_syncd(struct selfmon *sm)
{
    if (sm->sync_inflight)
        return;
    char path[512];
    conf_sock_path(&sm->wd->conf, "syncd", path, sizeof(path));
    json_t *req = json_pack("{s:s}", "cmd", "status");
    if (ctl_call_async(sm->wd->loop, path, req, NS_PER_SEC, sync_reply, sm) == 0)
        sm->sync_inflight = 1;
    json_decref(req);
}

static void on_tick(void *arg)
{
    struct selfmon *sm = arg;
    loop_timer_after(sm->timer, sm->period_ns);
    if (sm->wd->role.state != ST_ACTIVE)
        sm->active_since_ns = 0;
    check_database(sm);
    check_shared(sm);
    poll_syncd(sm);
    query(sm);
}

/* ---- status ---- */

json_t *selfmon_problems(const struct selfmon *sm)
{
    json_t *list = json_array();
    if (!sm)
        return list;
    int64_t now = now_ns();
    for (int k = 0; k < PK__COUNT; k++) {
        const struct condition *c = &sm->c[k];
        if (!c->raised)
            continue;
        char since[32];
        fmt_iso(c->raised_wall_ns, since, sizeof(since));
        json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:I,s:s}", "kind", problem_name(k),
                                              "node", sm->wd->conf.node, "since", since,
                                              "for_s", (json_int_t)((now - c->raised_ns) /
                                                                    NS_PER_SEC),
                                              "detail", c->detail));
    }
    return list;
}

/* ---- life cycle ---- */

static int64_t test_clock_offset(void)
{
    const char *s = getenv("HOTSTANDBY_TEST_CLOCK_OFFSET");
    int64_t ns = 0;
    if (!s || !*s)
        return 0;
    int neg = *s == '-';
    if (conf_parse_duration(s + neg, &ns) < 0) {
        log_warnx("HOTSTANDBY_TEST_CLOCK_OFFSET: '%s' is not a duration; ignored", s);
        return 0;
    }
    log_warnx("HOTSTANDBY_TEST_CLOCK_OFFSET: this node's clock is taken as %s%lld ms off "
              "(test only)", neg ? "-" : "+", (long long)(ns / NS_PER_MS));
    return neg ? -ns : ns;
}

static int64_t period_for(const struct conf *c)
{
    int64_t p = c->interval_ns;
    return p < NS_PER_SEC ? NS_PER_SEC : p > 10 * NS_PER_SEC ? 10 * NS_PER_SEC : p;
}

static void start_prober(struct selfmon *sm)
{
    struct watchd *wd = sm->wd;
    snprintf(sm->shared_folder, sizeof(sm->shared_folder), "%s", wd->conf.shared_folder);
    sm->shared_known = 0;
    if (!*sm->shared_folder)
        return;
    sm->prober = shared_prober_new(sm->shared_folder, wd->conf.node);
    if (sm->prober)
        loop_add_fd(wd->loop, shared_prober_fd(sm->prober), EPOLLIN, on_probe, sm);
    else
        log_warnx("shared folder %s: cannot start its checker", sm->shared_folder);
}

static void stop_prober(struct selfmon *sm)
{
    if (!sm->prober)
        return;
    loop_del_fd(sm->wd->loop, shared_prober_fd(sm->prober));
    shared_prober_free(sm->prober);
    sm->prober = NULL;
}

struct selfmon *selfmon_new(struct watchd *wd)
{
    struct selfmon *sm = calloc(1, sizeof(*sm));
    if (!sm)
        fatal("calloc");
    sm->wd = wd;
    sm->period_ns = period_for(&wd->conf);
    sm->clock_offset_ns = test_clock_offset();
    load(sm);
    sm->view.takeover_timeout_ns = wd->conf.takeover_timeout_ns;
    sm->view.max_clock_skew_ns = wd->conf.max_clock_skew_ns;
    sm->view.pause_alert_after_ns = wd->conf.pause_alert_after_ns;
    /* Its own connection, with a deadline of its own: never in the role's queue. */
    sm->db = db_new(wd->loop, wd->conf.database, 5 * NS_PER_SEC);
    start_prober(sm);
    sm->timer = loop_timer_new(wd->loop, on_tick, sm);
    loop_timer_after(sm->timer, sm->period_ns);
    return sm;
}

struct db *selfmon_db(const struct selfmon *sm)
{
    return sm->db;
}

/* SIGHUP: thresholds and the shared settings' digest may have changed. */
void selfmon_reload(struct selfmon *sm)
{
    if (!sm)
        return;
    const struct conf *c = &sm->wd->conf;
    sm->period_ns = period_for(c);
    sm->view.takeover_timeout_ns = c->takeover_timeout_ns;
    sm->view.max_clock_skew_ns = c->max_clock_skew_ns;
    sm->view.pause_alert_after_ns = c->pause_alert_after_ns;
    if (strcmp(sm->shared_folder, c->shared_folder) != 0) {
        stop_prober(sm);
        start_prober(sm);
        selfmon_observe(sm, PK_SHARED_FOLDER, 0, "", 0, "[shared] folder changed by a reload");
    }
}

void selfmon_free(struct selfmon *sm)
{
    if (!sm)
        return;
    stop_prober(sm);
    /* its reply would come to freed memory: let a status call to syncd finish (<= 1 s) */
    for (int i = 0; sm->sync_inflight && i < 15; i++)
        loop_once(sm->wd->loop, 100);
    loop_timer_free(sm->timer);
    db_free(sm->db);
    free(sm);
}
