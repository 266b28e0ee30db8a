/*
 * role.h: the role state machine of DESIGN §3 as a pure module. role_step() takes
 * what happened and the time (CLOCK_BOOTTIME ns) and says what to do; it reads no
 * clock, does no I/O and keeps no globals, so tests drive it without sleeping.
 */
#ifndef HS_ROLE_H
#define HS_ROLE_H

#include <stdint.h>

enum role_state {
    ST_STARTING,    /* waiting for the first read of the cluster row */
    ST_STANDBY,     /* watching the counter */
    ST_CLAIMING,    /* compare-and-set in flight */
    ST_PROMOTING,   /* holder at our epoch: lead, then VIP + service once a renewal is confirmed */
    ST_ACTIVE,
    ST_HANDOFF,     /* planned switchover: stopping here, still leading */
    ST_HANDOVER,    /* service down, address gone: handing the row to the target, still leading */
    ST_FENCED,      /* lost the lease: demoting, then standby */
    ST_STOPPING,    /* SIGTERM: demoting (still leading), then exit */
    ST_STOPPED,
    ST__COUNT
};

enum role_event {
    EV_ROW,            /* the cluster row was read (or found missing) */
    EV_TICK,           /* a deadline from role_next_deadline() came */
    EV_CAS_RESULT,     /* won + epoch, sent_ns */
    EV_RENEWED,        /* heartbeatd: renewal at epoch confirmed; sent_ns */
    EV_LOST,           /* heartbeatd: renewal matched zero rows */
    EV_PROMOTED,       /* VIP + service steps done */
    EV_PROMOTE_FAILED,
    EV_DEMOTED,        /* stop steps done: hooks killed, service stopped, address down */
    EV_HANDED_OFF,     /* the row now names the target (or someone else took it) */
    EV_HEALTH,         /* ok = 0/1, one [service] check result */
    EV_SWITCHOVER,     /* operator asked this (active) node to hand off; target may be "" */
    EV_TERM,           /* SIGTERM */
    EV__COUNT
};

struct role_row {
    int exists;
    char holder[64];       /* "" = none */
    int64_t epoch;
    int64_t heartbeat;
    char handoff_to[64];   /* "" = none; "*" = best standby */
    int paused;
    int resume_requested;  /* an operator asked to resume; the active's renewal commits it */
    int timing_ok;         /* the row's timing is this node's (DESIGN §3: one fact) */
    int rank;              /* our rank among live standbys (0 = first) */
    char best_standby[64]; /* live standby to hand off to, "" if none */
};

struct role_input {
    enum role_event event;
    struct role_row row;       /* EV_ROW */
    int won;                   /* EV_CAS_RESULT */
    int ok;                    /* EV_HEALTH */
    int64_t epoch;             /* EV_CAS_RESULT, EV_RENEWED, EV_LOST */
    int64_t sent_ns;           /* EV_CAS_RESULT, EV_RENEWED: when the statement was sent */
    char target[64];           /* EV_SWITCHOVER */
    char why[128];             /* EV_PROMOTE_FAILED */
};

enum role_action_kind {
    ACT_CAS,         /* claim: epoch, heartbeat as observed */
    ACT_LEAD,        /* send heartbeatd role_grant() now (main re-sends it every interval) */
    ACT_FOLLOW,      /* tell heartbeatd to stop renewing: only once nothing acts any more */
    ACT_PROMOTE,     /* VIP up, service start, syncd active: then EV_PROMOTED/EV_PROMOTE_FAILED */
    ACT_DEMOTE,      /* kill hooks, service stop, VIP down, syncd standby: then EV_DEMOTED */
    ACT_HANDOFF,     /* kill hooks, syncd flush, service stop, VIP down: then EV_DEMOTED */
    ACT_HAND_ROW,    /* hand the row to target at epoch: then EV_HANDED_OFF */
    ACT_COMMIT_RESUME, /* a holder that no longer acts commits a pending resume at epoch */
    ACT_EVENT,       /* write kind/detail to hs_event and the log */
    ACT_EXIT,
};

struct role_action {
    enum role_action_kind kind;
    int64_t epoch;
    int64_t heartbeat;
    char target[64];
    char kind_name[32];    /* ACT_EVENT */
    char detail[192];      /* ACT_EVENT */
};

#define ROLE_MAX_ACTIONS 8
struct role_actions {
    int n;
    struct role_action a[ROLE_MAX_ACTIONS];
};

struct role_params {
    char node[64];
    char primary[64];
    int64_t interval_ns;
    int64_t takeover_timeout_ns;
    int64_t fence_after_ns;
    int64_t stop_budget_ns;       /* a fence's stop + address down must end within this */
    int check_failures;
};

struct role {
    struct role_params p;
    enum role_state state;
    int64_t epoch;                /* the epoch we hold (won or granted), 0 if none */
    int renewal_confirmed;        /* a renewal at epoch succeeded since we won it */
    int64_t lease_sent_ns;        /* send time of the last confirmed renewal (or of the claim) */
    struct role_row row;          /* last row read */
    int row_known;
    int64_t observed_since_ns;    /* when row.epoch/heartbeat was first seen with these values */
    int64_t seen_epoch;           /* highest epoch seen in the row */
    int resume_ack;               /* we hold the lease and commit a pending resume */
    int64_t fenced_at_ns;         /* when the current fence began */
    char handoff_target[64];      /* ST_HANDOFF: who gets the row once we are down */
    int health_failures;
    int stop_after_demote;
};

/*
 * What heartbeatd is told (DESIGN §3): renew the counter at epoch until renew_until_ns,
 * and unless watchd says "follow" first, fence this node itself at fence_at_ns (both
 * CLOCK_BOOTTIME, computed here from the last confirmed renewal, never from when the
 * grant arrives). commit_resume: the renewal also commits an operator's resume.
 */
struct role_grant {
    int lead;                     /* 0: heartbeatd follows */
    int64_t epoch;
    int64_t renew_until_ns;       /* 0: renew no more */
    int64_t fence_at_ns;
    int commit_resume;
};

void role_init(struct role *r, const struct role_params *p);
/* Feeds one input; fills out with the actions to carry out, in order. */
void role_step(struct role *r, const struct role_input *in, int64_t now, struct role_actions *out);
/* When the next EV_TICK is needed, or INT64_MAX. */
int64_t role_next_deadline(const struct role *r);

const char *role_state_name(enum role_state s);
const char *role_event_name(enum role_event e);
/* "active" / "standby" / ... as shown to operators. */
const char *role_public_name(const struct role *r);
/* The service or the address may be up (DESIGN §3 "acting"): promoting, active,
 * handoff, fenced, stopping. */
int role_is_acting(const struct role *r);
/* Holds the lease at r->epoch and keeps heartbeatd renewing it. */
int role_holds_lease(const struct role *r);
/* The lease deadline: when an acting node must have begun its fence (INT64_MAX if paused). */
int64_t role_lease_deadline(const struct role *r, int64_t now);
void role_grant(const struct role *r, int64_t now, struct role_grant *g);

/*
 * The active's reads of the cluster row. Its renewal's answer carries what an operator
 * may ask of it (a handoff, a pause, a resume: SQL_RENEW), so while renewals do, it reads
 * the row when one of those differs from its last read (role_renewal_news) and otherwise
 * once every ROLE_ACTIVE_READ_EVERY intervals, for what only a read gives (the best standby
 * to hand off to, the cluster's timing). Anyone else reads once per interval.
 */
#define ROLE_ACTIVE_READ_EVERY 5
int role_renewal_news(const struct role *r, const char *handoff_to, int paused,
                      int resume_requested);
/* last_read_ns: when the last read completed; renewal_row_ns: when the last renewal that
 * carried the row arrived (0: none). */
int role_read_due(const struct role *r, int64_t now, int64_t last_read_ns,
                  int64_t renewal_row_ns);

#endif
