/*
 * upgrade.c: watchd's part in upgrades (DESIGN §8), driven by selfmon after each read of
 * the cluster's rows. The active has `hotstandby-clone publish` record the checksums of
 * its binaries once per epoch it holds; a standby older than the active, with
 * [upgrade] auto = yes, runs `hotstandby-clone upgrade` (clone/upgrade.c: fetch, check,
 * install, restart). Both are children with a deadline, one at a time: nothing here
 * waits, and their outcome raises or resolves the upgrade-failed problem, never an input
 * of the role machine. A failed attempt is tried again after a delay that doubles (from
 * 10 intervals, at least 10 s, up to an hour): a permanent failure costs one attempt an
 * hour, not one per interval.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "selfmon.h"
#include "watchd.h"

enum { UPGRADE_PUBLISH = 1, UPGRADE_FETCH = 2 };

#define PUBLISH_TIMEOUT_NS (60 * NS_PER_SEC)
#define UPGRADE_TIMEOUT_NS (150 * NS_PER_SEC)
#define RETRY_MAX_NS (3600 * NS_PER_SEC)

/* The child's exit codes (clone/upgrade.c). */
enum { CHILD_REFUSED = 3, CHILD_NOT_YET = 4 };

static int64_t retry_after(const struct selfmon *sm, int failures)
{
    int64_t base = 10 * sm->wd->conf.interval_ns;
    int64_t d = base < 10 * NS_PER_SEC ? 10 * NS_PER_SEC : base;
    for (int i = 1; i < failures && d < RETRY_MAX_NS; i++)
        d *= 2;
    return d < RETRY_MAX_NS ? d : RETRY_MAX_NS;
}

/* What the child wrote to RUN_DIR/upgrade.status (its one-line outcome). */
static void child_outcome(const struct selfmon *sm, int status, char *buf, size_t len)
{
    char path[CONF_STR + 32];
    snprintf(path, sizeof(path), "%s/upgrade.status", sm->wd->conf.run_dir);
    if (status < 0)
        snprintf(buf, len, "hotstandby-clone did not finish within its deadline");
    else
        snprintf(buf, len, "hotstandby-clone exited with status %d", status);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    char line[PROBLEM_DETAIL];
    ssize_t n = read(fd, line, sizeof(line) - 1);
    close(fd);
    if (n > 0) {
        line[n] = '\0';
        line[strcspn(line, "\n")] = '\0';
        snprintf(buf, len, "%s", line);
    }
}

static void publish_done(void *arg, int status)
{
    struct selfmon *sm = arg;
    struct upgrader *up = &sm->upgrade;
    up->running = 0;
    if (status == 0) {
        up->published_epoch = up->child_epoch;
        up->publish_failures = 0;
    } else if (status != CHILD_REFUSED) {
        char why[PROBLEM_DETAIL];
        child_outcome(sm, status, why, sizeof(why));
        up->next_publish_ns = now_ns() + retry_after(sm, ++up->publish_failures);
        log_warnx("the checksums of this node's binaries are not published (standbys cannot "
                  "upgrade from it): %s", why);
    }
}

static void upgrade_done(void *arg, int status)
{
    struct selfmon *sm = arg;
    struct upgrader *up = &sm->upgrade;
    char why[PROBLEM_DETAIL];
    up->running = 0;
    child_outcome(sm, status, why, sizeof(why));
    if (up->abandoned) {
        status = CHILD_REFUSED;   /* whatever it was doing when we told it to stop */
        up->abandoned = 0;
    }
    if (status == CHILD_REFUSED || status == CHILD_NOT_YET) {
        /* we are (or became) the active, or there is nothing to fetch yet: no alert */
        up->next_upgrade_ns = now_ns() + retry_after(sm, 1);
        log_info("upgrade not done: %s", why);
        return;
    }
    /* spaced even after a success: a restart that does not happen is not retried at once */
    up->next_upgrade_ns = now_ns() + retry_after(sm, up->upgrade_attempts);
    if (status == 0) {
        /* an open upgrade-failed ends when this node runs the new version (after the
         * restart), not when the files are in place */
        log_info("%s", why);
        return;
    }
    log_warnx("upgrade failed (next attempt in %" PRId64 " s): %s",
              (up->next_upgrade_ns - now_ns()) / NS_PER_SEC, why);
    selfmon_observe(sm, PK_UPGRADE_FAILED, 1, why, 0, "");
}

static int start_child(struct selfmon *sm, int which, const char *verb, int64_t timeout_ns,
                       spawn_done_cb done)
{
    struct watchd *wd = sm->wd;
    char clone[sizeof(wd->vipctl) + 32];
    snprintf(clone, sizeof(clone), "%s", wd->vipctl);
    char *slash = strrchr(clone, '/');
    snprintf(slash ? slash + 1 : clone, sizeof(clone) - (size_t)(slash ? slash + 1 - clone : 0),
             "hotstandby-clone");
    char *argv[] = {clone, "-c", (char *)wd->conf_path, (char *)verb, NULL};
    char *env[] = {NULL};
    char name[40];
    snprintf(name, sizeof(name), "hotstandby-clone %s", verb);
    int pid = spawn_start(wd->loop, name, argv, env, timeout_ns, done, sm);
    if (pid < 0)
        return -1;
    sm->upgrade.running = which;
    sm->upgrade.child_pid = pid;
    return 0;
}

void upgrade_abort(struct selfmon *sm)
{
    if (!sm || sm->upgrade.running != UPGRADE_FETCH)
        return;
    /* the child stops at its next step and installs nothing (clone/upgrade.c) */
    log_notice("this node claims the cluster: the upgrade in progress is abandoned");
    sm->upgrade.abandoned = 1;
    kill(-sm->upgrade.child_pid, SIGUSR1);
}

/* The active: publish once per epoch it holds (again after a failure, spaced). */
static void consider_publish(struct selfmon *sm)
{
    struct upgrader *up = &sm->upgrade;
    const struct role *r = &sm->wd->role;
    if (r->state != ST_ACTIVE || up->published_epoch == r->epoch ||
        now_ns() < up->next_publish_ns)
        return;
    up->child_epoch = r->epoch;
    if (start_child(sm, UPGRADE_PUBLISH, "publish", PUBLISH_TIMEOUT_NS, publish_done) < 0)
        up->next_publish_ns = now_ns() + retry_after(sm, ++up->publish_failures);
}

/* A standby older than the active: upgrade when allowed, spaced. */
static void consider_upgrade(struct selfmon *sm)
{
    struct upgrader *up = &sm->upgrade;
    struct watchd *wd = sm->wd;
    const struct problem_view *v = &sm->view;
    int older = *v->active_version && *v->holder && strcmp(v->holder, wd->conf.node) != 0 &&
                strverscmp(v->active_version, daemon_version()) > 0;
    if (!older && sm->c[PK_UPGRADE_FAILED].raised && wd->role.state == ST_STANDBY) {
        char why[PROBLEM_DETAIL];
        snprintf(why, sizeof(why), "this node runs %s, the active %s runs %s", daemon_version(),
                 v->holder, *v->active_version ? v->active_version : "an unknown version");
        selfmon_observe(sm, PK_UPGRADE_FAILED, 0, "", 0, why);
    }
    /* never while this node is or may become the active (DESIGN §3): standby only */
    if (!older || !wd->conf.upgrade_auto || wd->role.state != ST_STANDBY ||
        now_ns() < up->next_upgrade_ns)
        return;
    log_notice("the active %s runs %s, this node %s: upgrading ([upgrade] auto = yes)",
               v->holder, v->active_version, daemon_version());
    up->upgrade_attempts++;
    if (start_child(sm, UPGRADE_FETCH, "upgrade", UPGRADE_TIMEOUT_NS, upgrade_done) < 0)
        up->next_upgrade_ns = now_ns() + retry_after(sm, up->upgrade_attempts);
}

void upgrade_tick(struct selfmon *sm)
{
    if (sm->upgrade.running || !sm->view.row_known)
        return;
    consider_publish(sm);
    if (!sm->upgrade.running)
        consider_upgrade(sm);
}
