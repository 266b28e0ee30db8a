/* watchd.h: the daemon's one context struct and what its files offer each other. */
#ifndef HS_WATCHD_H
#define HS_WATCHD_H

#include <jansson.h>
#include <stdint.h>

#include "conf.h"
#include "db.h"
#include "role.h"
#include "spawn.h"

struct loop;
struct loop_timer;
struct db;
struct ctl_server;
struct ctl_conn;
struct notifier;
struct selfmon;
struct peerlist;

/* Events written while the database is away wait here (oldest dropped when full). */
#define PENDING_EVENTS 64
struct pending_event {
    char epoch[24], kind[32], detail[512], at_ms[24];
    char key[33];   /* hs_event.event_key: a write re-sent after a lost reply lands once */
};

struct watchd {
    struct conf conf;
    const char *conf_path;
    char vipctl[512];               /* vipctl next to our own binary */
    struct loop *loop;
    struct db *db;
    struct db_crowd crowd;          /* LISTEN only while the database holds few clusters */
    struct ctl_server *ctl;
    struct ctl_conn *heartbeatd;    /* the connection that said hello as heartbeatd */
    struct notifier *notifier;      /* e-mail alerts ([notify]); logs only when unset */
    struct selfmon *selfmon;        /* self-monitoring: problems, their mails and events */
    struct peerlist *peerlist;      /* syncd's peers from hs_node ([sync] peers empty) */

    struct role role;
    struct loop_timer *poll_timer;      /* read the row every interval */
    struct loop_timer *deadline_timer;  /* role_next_deadline() */
    struct loop_timer *grant_timer;     /* re-grant heartbeatd every interval while acting */
    struct loop_timer *hb_retry_timer;  /* hb_unsent: a lead/follow the socket did not take */
    json_t *hb_unsent;
    struct loop_timer *health_timer;
    struct loop_timer *watchdog_timer;
    int64_t watchdog_period_ns;
    int64_t claim_sent_ns;              /* the lease of a won claim starts here */
    int row_inflight;
    int row_again;                      /* a NOTIFY came while a read was in flight */
    int64_t row_read_ns;                /* when the last row read completed */
    int64_t renewal_row_ns;             /* when the last renewal that carried the row came */
    int cleanup_done;
    int schema_ok;
    int schema_warned;
    int schema_wait_ms;   /* the next schema connect's deadline after a failed one */
    int exit_code;
    int gained_by_grant;
    struct pending_event pending[PENDING_EVENTS];
    int n_pending;
    int events_inflight;          /* event writes sent, not answered yet */
    int health_running;
    int recheck_running;
    struct loop_timer *seq_retry_timer; /* a stop or vipctl down that failed runs again */
    unsigned seq_retry_gen;
    struct loop_timer *recheck_timer;   /* vipctl check every interval while active */
    int exit_requested;
    char timing_mismatch[256];          /* "" while our timing is the cluster's */
    int64_t lease_file_epoch;           /* what RUN_DIR/lease says (lease.h) */
    int64_t lease_file_deadline_ns;
    int lease_file_failing;             /* its last write failed (logged once) */

    /* promote.c: the step sequence in progress */
    int seq_kind;                       /* 0 none, else enum role_action_kind */
    int seq_step;
    int64_t seq_epoch;
    char seq_target[64];
};

/* main.c */
void watchd_input(struct watchd *wd, struct role_input *in);
void watchd_event(struct watchd *wd, int64_t epoch, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void watchd_read_row(struct watchd *wd);
void watchd_send_heartbeatd(struct watchd *wd, json_t *msg);
void watchd_grant(struct watchd *wd);   /* lead (role_grant) or follow, delivered for sure */

/* promote.c: the sequences behind ACT_PROMOTE, ACT_DEMOTE, ACT_HANDOFF, ACT_CLEANUP */
void promote_start(struct watchd *wd, int64_t epoch);
void seq_retry(void *arg);   /* the seq_retry_timer callback */
void demote_start(struct watchd *wd, int64_t epoch);
void handoff_start(struct watchd *wd, int64_t epoch, const char *target);
void hand_row_start(struct watchd *wd, int64_t epoch, const char *target);
void address_up_again(struct watchd *wd);   /* vipctl up after a reload changed the VIP */
/* The environment of a hook: HOTSTANDBY_* including the lease deadline. */
void watchd_hook_env(struct watchd *wd, const char *role, int64_t epoch, struct hook_env *h);
void cleanup_start(struct watchd *wd);
void syncd_tell_role(struct watchd *wd, const char *role, int64_t epoch);
void health_check_start(struct watchd *wd);
void address_recheck_start(struct watchd *wd);

/* selfmon.c: off the decision path (own timer, own database connection) */
struct selfmon *selfmon_new(struct watchd *wd);
void selfmon_free(struct selfmon *sm);
void selfmon_reload(struct selfmon *sm);
void selfmon_on_event(struct selfmon *sm, int64_t epoch, const char *kind, const char *detail);
void selfmon_db_state(struct selfmon *sm, int connected, const char *why);
json_t *selfmon_problems(const struct selfmon *sm);     /* for status: a new array */
struct db *selfmon_db(const struct selfmon *sm);   /* its connection, shared with peers.c */

/* peers.c: syncd's peer list, read from hs_node on selfmon's connection (it sets that
 * connection's callbacks: LISTEN hs_node) and sent to the syncd that said hello */
struct peerlist *peerlist_new(struct watchd *wd, struct db *db);
void peerlist_free(struct peerlist *pl);   /* before the connection's db_free */
int peerlist_subscribe(struct peerlist *pl, struct ctl_conn *c, char *err, size_t errlen);
void peerlist_welcome(struct peerlist *pl);   /* after the hello's reply */
void peerlist_closed(struct peerlist *pl, struct ctl_conn *c);

/* control.c */
int control_open(struct watchd *wd);
void control_close(struct watchd *wd);

#endif
