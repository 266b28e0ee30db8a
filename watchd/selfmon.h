/* selfmon.h: the self-monitoring's state, shared by selfmon.c (conditions, raising and
 * resolving) and alertmail.c (the mails' text). Private to watchd. */
#ifndef HS_SELFMON_H
#define HS_SELFMON_H

#include <stdint.h>

#include "conf.h"
#include "problems.h"
#include "shared.h"

struct watchd;
struct db;
struct loop_timer;
struct shared_prober;

#define RECENT_EVENTS 6

struct condition {
    int raised;
    int64_t raised_wall_ns;         /* for the mail and for status */
    int64_t raised_ns;
    int64_t holding_since_ns;       /* 0: does not hold now (hold-down before raising) */
    char detail[PROBLEM_DETAIL];    /* the latest numbers */
};

struct recent_event {
    int64_t wall_ns;
    int64_t epoch;
    char kind[32];
    char detail[160];
};

/* upgrade.c: the publish and upgrade children and the spacing of their attempts */
struct upgrader {
    int running;                    /* 0, or the child that runs (UPGRADE_PUBLISH...) */
    int child_pid;                  /* its process group */
    int abandoned;                  /* told to stop: this node claims the cluster */
    int64_t published_epoch;        /* the epoch our checksums were published at */
    int64_t child_epoch;
    int64_t next_publish_ns, next_upgrade_ns;
    int publish_failures, upgrade_attempts;   /* the delays double with these */
};

struct selfmon {
    struct watchd *wd;
    struct db *db;                  /* its own connection */
    struct loop_timer *timer;
    int64_t period_ns;
    int64_t clock_offset_ns;        /* HOTSTANDBY_TEST_CLOCK_OFFSET (tests only) */
    char shared_folder[CONF_STR];   /* what the prober checks */

    int query_inflight;
    int64_t query_sent_ns, query_sent_wall_ns;
    struct problem_view view;
    int64_t view_read_ns;

    struct shared_prober *prober;
    int64_t probe_asked_ns;
    struct shared_result shared;
    int shared_known;

    int sync_inflight;

    int64_t db_down_since_ns, db_down_since_wall_ns;
    char db_why[200];
    int64_t active_since_ns;        /* 0 while not active */
    char claimed_from[64];          /* the holder our last claim replaced ("" = none) */

    struct upgrader upgrade;

    struct condition c[PK__COUNT];
    struct recent_event recent[RECENT_EVENTS];
    int n_recent;
};

/* selfmon.c: a condition seen now (raised after hold_ns, resolved when it ends) */
void selfmon_observe(struct selfmon *sm, enum problem_kind k, int holds, const char *detail,
                     int64_t hold_ns, const char *resolution);

/* upgrade.c: after every read of the cluster's rows; when this node claims the cluster */
void upgrade_tick(struct selfmon *sm);
void upgrade_abort(struct selfmon *sm);

/* alertmail.c */
void fmt_time(int64_t wall_ns, char *buf, size_t len);     /* "... UTC (... local zone)" */
void fmt_iso(int64_t wall_ns, char *buf, size_t len);      /* "2026-12-02T01:02:03Z" */
/* Appends to a NUL-terminated buffer, truncating at len. */
void text_append(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The mail of problem k: raised (resolution NULL) or resolved. */
void alert_mail(struct selfmon *sm, enum problem_kind k, const char *resolution);
/* News without a condition behind it (a refused switchover, a failing check kept). */
void alert_mail_once(struct selfmon *sm, const char *kind, int64_t epoch, const char *detail);

#endif
