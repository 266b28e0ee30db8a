/*
 * syncd.h: the syncd daemon's context and the interfaces between its files:
 * main.c (loop, signals, role), control.c (control verbs, flush), watch.c (inotify reader thread),
 * send.c (one SSH session per standby, batching, reconcile), queue.c (its queues), serve.c
 * (the receiver, `syncd --serve`), apply.c, manifest.c, proto.c, state.c.
 */
#ifndef SYNCD_SYNCD_H
#define SYNCD_SYNCD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "conf.h"
#include "idmap.h"
#include "manifest.h"
#include "proto.h"
#include "tree.h"

struct loop;
struct loop_timer;
struct ctl_server;
struct ctl_conn;
struct hs_ssh;
struct db;

/* ---- watch.c ---- */
enum watch_kind {
    W_CHANGE = 1,   /* path: send its current state */
    W_DELETE,       /* path is gone */
    W_RENAME,       /* path -> path2 */
    W_DIR,          /* path: a new directory, send it and everything in it */
    W_RESCAN,       /* path ("" = everything): events were lost, reconcile */
    W_READY,        /* the initial watches are in place */
    W_FAILED,       /* a watch could not be set: reconcile periodically covers it */
    W_BARRIER,      /* path = "<pid>-<seq>": the flush marker file came through the queue */
};
/* Marker created (and removed) by flush in the first sync path; a temp name, never synced. */
#define SYNC_FLUSH_PREFIX SYNC_TMP_PREFIX "flush-"
typedef void (*watch_cb)(void *arg, enum watch_kind kind, const char *path, const char *path2);
struct sync_watch;
struct sync_watch *sync_watch_start(struct loop *l, const struct conf *c,
                                    const struct manifest_filter *f, watch_cb cb, void *arg);
void sync_watch_drain(struct sync_watch *w);   /* deliver what the pipe holds now */
void sync_watch_stop(struct sync_watch *w);

/* ---- send.c ---- */
enum op_kind { OP_SYNC = 1, OP_DELETE, OP_RENAME, OP_RECONCILE, OP_RECONCILED };

struct op {
    struct op *next;
    enum op_kind kind;
    int64_t queued_ns;
    char *path, *path2;            /* OP_RENAME: from, to; OP_RECONCILE: path2 set = checksum */
};

struct opq {
    struct op *head, *tail;
    size_t n;
};

struct op *sync_op_new(enum op_kind kind, const char *path, const char *path2);
void sync_op_free(struct op *o);
void sync_opq_push(struct opq *q, struct op *o);
struct op *sync_opq_pop(struct opq *q);
void sync_opq_prepend(struct opq *q, struct opq *front);   /* front goes first; emptied */
void sync_opq_clear(struct opq *q);

/* Pending OP_SYNC entries by path, so a path is queued once until its batch starts. */
struct coalesce;
struct coalesce *sync_coalesce_new(void);
void sync_coalesce_free(struct coalesce *c);
void sync_coalesce_clear(struct coalesce *c);
struct op *sync_coalesce_find(const struct coalesce *c, const char *path);
void sync_coalesce_add(struct coalesce *c, struct op *o);

enum peer_state { PS_IDLE, PS_CONNECTING, PS_HELLO, PS_READY, PS_BACKOFF };

struct peer_stats {
    uint64_t sent, deleted, renamed, errors, conflicts_reported;
    uint64_t bytes;
};

struct peer {
    struct syncd *sd;
    struct conf_peer cp;
    enum peer_state state;
    struct hs_ssh *ssh;
    int fd;                        /* registered in the loop, or -1 */
    uint32_t events;
    uint8_t flags;                 /* PF_* from HELLO_OK */
    struct proto_buf out, in;
    char errline[1024];            /* partial stderr line from the receiver */
    size_t errline_len;

    struct opq pending;            /* changes not yet in a batch (coalescing) */
    struct coalesce *co;           /* the OP_SYNC entries of pending, by path */
    struct opq batch;              /* the batch being sent */
    int batch_open;                /* a batch is being sent or awaits its ACK */
    int batch_sync_sent;
    uint64_t batch_token;
    int64_t batch_start_ns, batch_oldest_ns, last_ack_ns, lag_ns;
    int full_reconcile;            /* the current batch holds a full reconcile */
    int retries;                   /* PE_FAILED re-checks since the last clean batch */

    int put_fd;                    /* file being streamed */
    uint64_t put_left;
    char put_path[PROTO_PATH_MAX];

    int wait_manifest;
    int manifest_hash;             /* this reconcile compares content (SHA-256) too */
    char manifest_path[PROTO_PATH_MAX];
    struct manifest remote;
    /* The local side of a reconcile is scanned in a thread while the receiver scans its
     * own: started with the MANIFEST_REQ, joined at MANIFEST_END. */
    pthread_t scan_thread;
    int scanning;                  /* scan_thread runs (or ended, not yet joined) */
    atomic_int scan_cancel;        /* teardown: stop the scan at the next entry */
    int scan_rc, scan_errno;
    struct manifest local;
    struct idmap ids;              /* owners by name, this session */

    struct loop_timer *timer;      /* delay / backoff */
    struct loop_timer *keepalive;
    struct loop_timer *deadline;   /* connect to HELLO_OK: a peer that stalls is retried */
    int64_t backoff_ns;
    char last_error[512];
    /* alert.c's facts: kept across reconnects (teardown drops the queues, not these) */
    int64_t down_since_ns;         /* first failure since the last HELLO_OK, 0 = up */
    int64_t unacked_since_ns;      /* oldest change not yet acknowledged, 0 = none */
    int64_t refused_ns;            /* last push the receiver refused */
    uint64_t refused_count;
    char refused[256];
    int once_done;
    struct peer_stats st;
};

struct peer *sync_peer_new(struct syncd *sd, const struct conf_peer *cp);
void sync_peer_free(struct peer *p);
void sync_peer_start(struct peer *p);          /* connect (sender role) */
void sync_peer_stop(struct peer *p);           /* disconnect, drop queues */
void sync_peer_kick(struct peer *p);           /* start a batch if one is due */
/* Queue an operation for this peer (coalesced with identical pending ones). */
void sync_peer_queue(struct peer *p, enum op_kind kind, const char *path, const char *path2);
int sync_peer_idle(const struct peer *p);      /* nothing pending, nothing unacknowledged */
size_t sync_peer_queue_len(const struct peer *p);

/* ---- alert.c ---- */
struct json_t;
/* The sync problems of an active (DESIGN §7), for the status verb: a standby unreachable
 * for sync_lag_alert, a push refused within it, unacknowledged data older than it. watchd's
 * self-monitoring raises them (mail, hs_event); here they are only detected. */
struct json_t *sync_alert_problems(const struct syncd *sd, int64_t now);

/* ---- main.c ---- */
struct flush_wait;

struct syncd {
    struct conf conf;
    char conf_path[CONF_LONGSTR];
    struct loop *loop;
    struct ctl_server *ctl;
    char state_path[CONF_STR + 32];
    int active;
    uint64_t epoch;
    struct sync_tree tree;         /* sender: the [sync] paths, for reading (n = 0: closed) */
    struct manifest_filter filter;
    struct sync_watch *watch;
    int watch_ready;
    int64_t last_event_ns;         /* last record from the inotify reader */
    uint64_t barrier_sent, barrier_seen;   /* flush markers through the inotify queue */
    struct peer *peers[CONF_MAX_LIST];
    int npeers;
    /* peers.c, when [sync] peers is empty: the list from watchd (hs_node) */
    int watchd_fd;                 /* our connection to watchd.sock, -1 if none */
    int watchd_down_logged;        /* the outage was logged; said again when it ends */
    int peers_known;               /* a list came since we started */
    struct loop_timer *peers_timer;   /* connect again, or "no list yet" */
    struct loop_timer *reconcile_timer;
    struct flush_wait *flushes;
    uint64_t next_token;
    int once;                      /* --once: exit after one full reconcile of every peer */
    int checksum;                  /* full reconciles compare content (--checksum) */
};

/* Creates run_dir and state_dir. Returns 0, or -1 with the reason in err. */
int syncd_make_dirs(const struct conf *c, char *err, size_t errlen);
int syncd_set_role(struct syncd *sd, int active, uint64_t epoch, char *err, size_t errlen);

/* ---- control.c ---- */
struct json_t;
void syncd_control_request(void *arg, struct ctl_conn *conn, struct json_t *req, const char *cmd);
void syncd_control_close(void *arg, struct ctl_conn *conn);
void syncd_flush_abort_all(struct syncd *sd, const char *why);
/* Called by send.c when a peer acknowledged a batch or went away (flush, --once). */
void syncd_peer_progress(struct syncd *sd, struct peer *p);

/* ---- peers.c ---- */
/* 1 when [sync] peers is empty: every other node in hs_node is a peer (DESIGN §9). */
int sync_peers_from_db(const struct conf *c);
/* Daemon: keeps sd->peers equal to hs_node's other nodes, as watchd reports them over
 * its control socket (reconnecting when it goes); nothing when [sync] peers names them. */
void sync_peers_watch(struct syncd *sd);
void sync_peers_unwatch(struct syncd *sd);
/* --once: reads the list from hs_node now (blocking). 0, or -1 with err. */
int sync_peers_load(struct syncd *sd, char *err, size_t errlen);

/* ---- serve.c ---- */
int syncd_serve(const struct conf *c);

#endif
