/*
 * problems.h: the self-monitoring conditions of DESIGN §7 as a pure module. selfmon.c
 * gathers a view (the database's rows, this node's facts, times) and problems_assess()
 * says which conditions hold now and why; it reads no clock and does no I/O, so the unit
 * tests drive it directly. Raising, resolving, mailing and hs_event are selfmon.c's.
 */
#ifndef HS_PROBLEMS_H
#define HS_PROBLEMS_H

#include <stddef.h>
#include <stdint.h>

enum problem_kind {
    /* raised by role events on this node, resolved when the cluster is whole again */
    PK_TAKEOVER,
    PK_SWITCHOVER,
    PK_SELF_FENCE,
    PK_HEALTH_DEMOTION,
    /* cluster-wide, raised by the holder */
    PK_STANDBY_MISSING,
    PK_VERSION_MISMATCH,
    PK_CONFIG_MISMATCH,
    PK_SHARED_MISMATCH,
    PK_PAUSED,
    /* this node's own */
    PK_DATABASE,
    PK_CLOCK_SKEW,
    PK_SHARED_FOLDER,
    PK_SYNC_FAILURE,
    PK_SYNC_LAG,
    PK_UPGRADE_FAILED,         /* raised by watchd/upgrade.c from its child's outcome */
    PK__COUNT
};

#define PROBLEM_NODES 16
#define PROBLEM_DETAIL 256

struct problem_node {
    char name[64];
    char version[65];
    char digest[65];
    char fsid[256];
    char role[32];
    int64_t seen_ago_ns;       /* database clock: now - seen_at */
};

/* What selfmon.c knows at one moment. */
struct problem_view {
    /* this node */
    const char *me;
    const char *version;
    const char *digest;
    const char *fsid;          /* "" when the folder is not set or not usable */
    int active;                /* the role machine says we are the active */
    /* the row, as last read by selfmon's own query */
    int row_known;
    char holder[64];
    char active_version[65];   /* hs_cluster.active_version ("" unknown) */
    int auto_upgrade;          /* [upgrade] auto: only for the text of the alert */
    int paused;
    int64_t paused_for_ns;
    struct problem_node nodes[PROBLEM_NODES];
    int n_nodes;
    /* clock: database time minus ours at the query's midpoint, +/- half its round trip */
    int clock_known;
    int64_t skew_ns, skew_error_ns;
    /* limits */
    int64_t takeover_timeout_ns, max_clock_skew_ns, pause_alert_after_ns;
};

struct problem_verdict {
    int holds[PK__COUNT];
    char detail[PK__COUNT][PROBLEM_DETAIL];
};

/* Fills v with the conditions among STANDBY_MISSING .. CLOCK_SKEW that hold in view. The
 * caller applies hold-down times (standby missing must last takeover_timeout). A standby
 * reports VERSION_MISMATCH itself when the active runs a newer version than it does. */
void problems_assess(const struct problem_view *view, struct problem_verdict *v);

/* "takeover", "standby-missing", ...: the KIND of the mail subject and of hs_event. */
const char *problem_name(enum problem_kind k);
/* One line for the operator: what to do about it. */
const char *problem_advice(enum problem_kind k);

#endif
