/*
 * apply.h: the receiver's filesystem side. Every path is resolved beneath its [sync] path
 * (tree.h: openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), files are written to a temp file in the target directory,
 * made durable and renamed into place; directories touched are made durable before an ACK.
 *
 * Durability is batched: completed temp files wait (up to APPLY_MAX_PENDING files or
 * APPLY_PENDING_BYTES) until the next commit point -- a SYNC, any non-PUT operation but
 * the MKDIR of a new directory, or the limit -- where one syncfs(2) per filesystem
 * replaces one fsync(2) per file (20 000 small files: one fsync each costs ~0.5 ms here,
 * the batched flush ~0.05 ms a file), and only then are they renamed. A reader still
 * never sees a partial file. At the limit the batch lands in a thread while the next one
 * is received (a first copy of many files: the syncfs overlaps the stream). Up to 16
 * files (the quiet case) are fsynced one by one instead, so that a single change does
 * not wait for other programs' dirty data on the same filesystem.
 * Functions return 0, or a PE_* code with the reason in err.
 */
#ifndef SYNCD_APPLY_H
#define SYNCD_APPLY_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "idmap.h"
#include "proto.h"
#include "tree.h"

struct conf;

#define APPLY_MAX_DIRTY 64
#define APPLY_MAX_PENDING 8192
#define APPLY_PENDING_BYTES (64u << 20)
#define APPLY_MAX_DIRS 128
#define APPLY_HASH_SIZE 16384          /* chains of pend by path hash (a power of two) */

/*
 * A directory that received files of the current batch, resolved once (openat2, like
 * every path) and held until the commit point; consecutive files of one directory reuse
 * it. The commit point closes them all and every non-PUT operation is preceded by one
 * (serve.c), so a directory renamed or deleted by the stream is never reused.
 */
struct apply_dir {
    int fd;
    uint32_t create_gid;           /* the group a file created here gets (setgid dirs) */
    int renamed;                   /* a file landed here: make it durable at the next SYNC */
};

/* A received file waiting for the commit point: durable first, then renamed. */
struct apply_pending {
    int dir;                       /* index in its batch's dirs: the file itself is closed */
    char tmp[64];
    char name[256];
    char *path;
    const char *failed_step;       /* set by the landing: the step that failed, and why */
    int failed_errno;
    uint32_t hash;                 /* of path; next: the next of its chain, index + 1 */
    int next;
};

/* Received files and the directories that hold them, up to one commit point. */
struct apply_batch {
    struct apply_pending pend[APPLY_MAX_PENDING];
    int npend;
    uint64_t bytes;
    struct apply_dir dirs[APPLY_MAX_DIRS];
    int ndirs;
    int head[APPLY_HASH_SIZE];     /* by path hash: the latest pend index + 1, or 0 */
};

/* How failures found at a commit point reach the sender. */
typedef void (*apply_report_cb)(void *arg, int code, const char *path, const char *msg);

struct apply {
    struct sync_tree tree;         /* the [sync] paths: nothing else may be touched */
    const struct conf *conf;
    uint32_t mode_mask;            /* 01777, or 07777 with [sync] keep_setid = yes */
    int owners;                    /* running as root: set uid/gid */
    struct idmap ids;              /* the sender's owners by name */
    int rejoin;                    /* replaced/deleted files go to the conflict store */
    uint64_t epoch;                /* names the conflict directory */
    int dirty[APPLY_MAX_DIRTY];    /* directories to make durable at the next SYNC */
    uint64_t dirty_dev[APPLY_MAX_DIRTY], dirty_ino[APPLY_MAX_DIRTY];
    int ndirty;
    unsigned tmp_counter;
    int pid;                       /* names temp files: .hs-tmp.<pid>.<n> */
    uint64_t conflicts;            /* files preserved in this session */
    /*
     * fill: the files being received. When it is full, it lands behind the stream: a
     * thread makes it durable (syncfs) and renames its files into place while the next
     * files are written into the other batch. One batch lands at a time, in order; any
     * other commit point waits for it first, so the order of operations is the stream's.
     */
    struct apply_batch *fill, *landing;
    pthread_t lander;
    int landing_busy;              /* the thread runs (or ran and was not joined yet) */
    int last_dir;                  /* the latest PUT's directory in fill, or -1 */
    char last_path[PROTO_PATH_MAX]; /* its wire path */
    uint32_t euid, egid, umask;    /* what a file we create gets before fchown/fchmod */
    apply_report_cb report;
    void *report_arg;

    /* the PUT in progress */
    int put_fd, put_dir;
    char put_tmp[64];
    char put_name[256];
    char put_path[PROTO_PATH_MAX];
    uint32_t put_mode, put_uid, put_gid, put_created_mode, put_hash;
    int64_t put_mtime_ns;
    uint64_t put_size, put_written;
};

int apply_open(struct apply *a, const struct conf *c, char *err, size_t errlen);
void apply_close(struct apply *a);
/* Is path acceptable: well-formed, under a sync path, not our temp/conflict names. */
int apply_check_path(const struct apply *a, const char *path, char *err, size_t errlen);

int apply_put_begin(struct apply *a, const struct proto_msg *m, char *err, size_t errlen);
int apply_put_data(struct apply *a, const uint8_t *p, size_t n, char *err, size_t errlen);
int apply_put_end(struct apply *a, int ok, char *err, size_t errlen);
int apply_put_active(const struct apply *a);
void apply_put_abort(struct apply *a);   /* removes the temp file */

int apply_mkdir(struct apply *a, const struct proto_msg *m, char *err, size_t errlen);
int apply_symlink(struct apply *a, const struct proto_msg *m, char *err, size_t errlen);
int apply_delete(struct apply *a, const char *path, char *err, size_t errlen);
int apply_rename(struct apply *a, const struct proto_msg *m, char *err, size_t errlen);
/* Makes pending files durable and renames them into place (failures go to report). */
void apply_commit(struct apply *a);
/* Commits, then makes the directories touched since the last call durable. 0 or -1. */
int apply_sync(struct apply *a);

#endif
