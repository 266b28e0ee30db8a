/*
 * problems.c: which self-monitoring conditions hold (DESIGN §7), decided from a view and
 * nothing else. Cluster-wide conditions are the holder's to report, so one fact makes one
 * mail, not one per node; a node reports what concerns itself (its clock, its folder).
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "problems.h"

static const struct {
    const char *name;
    const char *advice;
} kinds[PK__COUNT] = {
    [PK_TAKEOVER] = {"takeover", "Find out why the old active stopped renewing (crash, freeze, "
                                 "network, database); it rejoins as a standby when it is back."},
    [PK_SWITCHOVER] = {"switchover", "Planned: check the service on the new active; the old "
                                     "active is a standby again once it renews its row."},
    [PK_SELF_FENCE] = {"self-fence", "This node lost its lease (frozen, or cut off from the "
                                     "database) and stopped its service; look at its log."},
    [PK_HEALTH_DEMOTION] = {"health-demotion", "The [service] check failed on this node; repair "
                                               "the service here before it is needed again."},
    [PK_STANDBY_MISSING] = {"standby-missing", "The cluster is unprotected: start watchd and "
                                               "heartbeatd on a standby node."},
    [PK_VERSION_MISMATCH] = {"version-mismatch", "Upgrade the nodes to one version."},
    [PK_CONFIG_MISMATCH] = {"config-mismatch", "Make the shared settings of the nodes' "
                                               "configuration files the same, then SIGHUP."},
    [PK_SHARED_MISMATCH] = {"shared-folder-mismatch", "Mount the same shared filesystem at "
                                                      "[shared] folder on every node."},
    [PK_PAUSED] = {"paused", "No takeover happens while paused: `vipctl resume` when the "
                         "maintenance is over."},
    [PK_DATABASE] = {"database-unreachable", "Check PostgreSQL and the network to it; an "
                                             "active that cannot renew fences itself."},
    [PK_CLOCK_SKEW] = {"clock-skew", "Synchronise this node's clock (NTP/chrony) with the "
                                     "database server's."},
    [PK_SHARED_FOLDER] = {"shared-folder", "Mount the shared folder read-write at [shared] "
                                           "folder on this node."},
    [PK_SYNC_FAILURE] = {"sync-failure", "Check SSH from the active to the standby (sshd, "
                                         "keys, known_hosts) and the receiver's log."},
    [PK_SYNC_LAG] = {"sync-lag", "Files written on the active have not reached a standby: "
                                 "check the network, the standby's disk and syncd."},
    [PK_UPGRADE_FAILED] = {"upgrade-failed", "This node keeps its version: see the reason, "
                                             "fix it on the active or here; the upgrade is "
                                             "tried again later."},
};

const char *problem_name(enum problem_kind k)
{
    return k < PK__COUNT ? kinds[k].name : "problem";
}

const char *problem_advice(enum problem_kind k)
{
    return k < PK__COUNT ? kinds[k].advice : "";
}

static int live(const struct problem_view *v, const struct problem_node *n)
{
    return n->seen_ago_ns < v->takeover_timeout_ns;
}

static int is_me(const struct problem_view *v, const struct problem_node *n)
{
    return strcmp(n->name, v->me) == 0;
}

/* Appends "name value" pairs of live nodes whose field differs from ours. */
static int differing(const struct problem_view *v, size_t field, const char *mine, char *out,
                     size_t outlen)
{
    int n = 0;
    size_t used = strlen(out);
    for (int i = 0; i < v->n_nodes; i++) {
        const struct problem_node *p = &v->nodes[i];
        const char *theirs = (const char *)p + field;
        if (is_me(v, p) || !live(v, p) || !*theirs || !strcmp(theirs, mine))
            continue;
        used += (size_t)snprintf(out + used, used < outlen ? outlen - used : 0, "%s%s has %s",
                                 n ? ", " : "", p->name, theirs);
        n++;
    }
    return n;
}

static void assess_cluster(const struct problem_view *v, struct problem_verdict *out)
{
    char *d;
    int standbys = 0;
    for (int i = 0; i < v->n_nodes; i++)
        if (!is_me(v, &v->nodes[i]) && live(v, &v->nodes[i]) &&
            strcmp(v->nodes[i].role, "standby") == 0)
            standbys++;
    if (standbys == 0) {
        out->holds[PK_STANDBY_MISSING] = 1;
        snprintf(out->detail[PK_STANDBY_MISSING], PROBLEM_DETAIL,
                 "no standby has renewed its row within takeover_timeout (%lld ms)",
                 (long long)(v->takeover_timeout_ns / NS_PER_MS));
    }
    d = out->detail[PK_VERSION_MISMATCH];
    snprintf(d, PROBLEM_DETAIL, "%s has %s; ", v->me, v->version);
    out->holds[PK_VERSION_MISMATCH] =
        differing(v, offsetof(struct problem_node, version), v->version, d, PROBLEM_DETAIL) > 0;
    d = out->detail[PK_CONFIG_MISMATCH];
    snprintf(d, PROBLEM_DETAIL, "shared settings digest: %s has %s; ", v->me, v->digest);
    out->holds[PK_CONFIG_MISMATCH] =
        differing(v, offsetof(struct problem_node, digest), v->digest, d, PROBLEM_DETAIL) > 0;
    if (*v->fsid) {
        d = out->detail[PK_SHARED_MISMATCH];
        snprintf(d, PROBLEM_DETAIL, "%s has %s; ", v->me, v->fsid);
        out->holds[PK_SHARED_MISMATCH] =
            differing(v, offsetof(struct problem_node, fsid), v->fsid, d, PROBLEM_DETAIL) > 0;
    }
    if (v->paused && v->paused_for_ns >= v->pause_alert_after_ns) {
        out->holds[PK_PAUSED] = 1;
        snprintf(out->detail[PK_PAUSED], PROBLEM_DETAIL,
                 "paused for %lld s (pause_alert_after %lld s): no takeover, no fencing",
                 (long long)(v->paused_for_ns / NS_PER_SEC),
                 (long long)(v->pause_alert_after_ns / NS_PER_SEC));
    }
}

/* A standby older than the active says so itself (DESIGN §8): the active's own report
 * names every differing node, this one says what this node will do about it. */
static void assess_own_version(const struct problem_view *v, struct problem_verdict *out)
{
    if (v->active || !*v->holder || strcmp(v->holder, v->me) == 0 || !*v->active_version ||
        strverscmp(v->active_version, v->version) <= 0)
        return;
    out->holds[PK_VERSION_MISMATCH] = 1;
    snprintf(out->detail[PK_VERSION_MISMATCH], PROBLEM_DETAIL,
             "%s has %s, older than %s on the active %s: %s", v->me, v->version,
             v->active_version, v->holder,
             v->auto_upgrade ? "it upgrades itself ([upgrade] auto = yes)"
                             : "upgrade it ([upgrade] auto = no)");
}

void problems_assess(const struct problem_view *v, struct problem_verdict *out)
{
    memset(out, 0, sizeof(*out));
    if (v->row_known && v->active && strcmp(v->holder, v->me) == 0)
        assess_cluster(v, out);
    if (v->row_known)
        assess_own_version(v, out);
    if (v->clock_known) {
        int64_t off = v->skew_ns < 0 ? -v->skew_ns : v->skew_ns;
        /* Only what the round trip cannot explain counts. */
        if (off - v->skew_error_ns > v->max_clock_skew_ns) {
            out->holds[PK_CLOCK_SKEW] = 1;
            snprintf(out->detail[PK_CLOCK_SKEW], PROBLEM_DETAIL,
                     "the clock of %s is %s the database clock by %.3f s (+/- %.3f s; "
                     "max_clock_skew %.3f s)",
                     v->me, v->skew_ns > 0 ? "behind" : "ahead of", (double)off / NS_PER_SEC,
                     (double)v->skew_error_ns / NS_PER_SEC,
                     (double)v->max_clock_skew_ns / NS_PER_SEC);
        }
    }
}
