/*
 * send.c: the sender side of one standby. One persistent SSH session (common/ssh.c,
 * nonblocking, inside the daemon's loop), an exec channel running `syncd --serve`,
 * and two queues: `pending` collects changes (coalesced per path), `batch` is what is
 * being sent. A batch ends with SYNC; its ACK means everything before it is on the
 * standby's disk. Operations are state-based (OP_SYNC reads the file as it is when
 * sent), so a lost session only costs a reconcile on the next connect.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "loop.h"
#include "ssh.h"
#include "syncd.h"

#define OUT_HIGH_WATER (4 * 1024 * 1024)
#define OUT_KEEP (64 * 1024)   /* an idle peer gives back a larger output buffer */
#define BACKOFF_MIN_NS (200 * NS_PER_MS)
#define BACKOFF_MAX_NS (5 * NS_PER_SEC)   /* a returning standby is back in sync soon */
#define KEEPALIVE_NS (10 * NS_PER_SEC)
/* From the TCP connect to the receiver's HELLO_OK. A peer that accepts the connection and
 * then stalls (its sshd frozen in the handshake, a hung login, a receiver that never
 * answers the hello) would otherwise hold the peer in "connecting" for ever: no retry, and
 * nothing pushed once it is well again. As long as TCP_USER_TIMEOUT (common/ssh.c). */
#define SESSION_DEADLINE_NS (30 * NS_PER_SEC)
#define MAX_RETRIES 8

/* ---- peer lifecycle ---- */

static void peer_pump(struct peer *p);
static void local_scan_join(struct peer *p, int cancel);
static void peer_fail(struct peer *p, const char *why);

static void on_timer(void *arg)
{
    struct peer *p = arg;
    if (p->state == PS_BACKOFF)
        sync_peer_start(p);
    else if (p->state == PS_READY)
        peer_pump(p);
}

static void on_deadline(void *arg)
{
    struct peer *p = arg;
    char why[160];
    int secs = (int)(SESSION_DEADLINE_NS / NS_PER_SEC);
    if (p->state == PS_CONNECTING)
        snprintf(why, sizeof(why), "no SSH session within %d s (the connect, handshake or "
                 "login stalled)", secs);
    else if (p->state == PS_HELLO)
        snprintf(why, sizeof(why), "the receiver did not answer the hello within %d s", secs);
    else
        return;
    peer_fail(p, why);
}

static void on_keepalive(void *arg)
{
    struct peer *p = arg;
    if (p->ssh && p->state == PS_READY) {
        int next = 0;
        libssh2_keepalive_send(hs_ssh_session(p->ssh), &next);
        peer_pump(p);
    }
    loop_timer_after(p->keepalive, KEEPALIVE_NS);
}

struct peer *sync_peer_new(struct syncd *sd, const struct conf_peer *cp)
{
    struct peer *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->co = sync_coalesce_new();
    if (!p->co) {
        free(p);
        return NULL;
    }
    p->sd = sd;
    p->cp = *cp;
    p->fd = -1;
    p->put_fd = -1;
    p->timer = loop_timer_new(sd->loop, on_timer, p);
    p->keepalive = loop_timer_new(sd->loop, on_keepalive, p);
    p->deadline = loop_timer_new(sd->loop, on_deadline, p);
    return p;
}

static void teardown(struct peer *p)
{
    if (p->fd >= 0)
        loop_del_fd(p->sd->loop, p->fd);
    p->fd = -1;
    p->events = 0;
    hs_ssh_free(p->ssh);
    p->ssh = NULL;
    if (p->put_fd >= 0)
        close(p->put_fd);
    p->put_fd = -1;
    local_scan_join(p, 1);
    manifest_free(&p->local);
    proto_buf_free(&p->out);
    proto_buf_free(&p->in);
    p->errline_len = 0;
    sync_opq_clear(&p->batch);
    sync_opq_clear(&p->pending);
    sync_coalesce_clear(p->co);
    manifest_free(&p->remote);
    idmap_free(&p->ids);
    p->wait_manifest = 0;
    p->batch_open = 0;
    p->full_reconcile = 0;
    loop_timer_stop(p->timer);
    loop_timer_stop(p->keepalive);
    loop_timer_stop(p->deadline);
}

void sync_peer_free(struct peer *p)
{
    if (!p)
        return;
    teardown(p);
    loop_timer_free(p->timer);
    loop_timer_free(p->keepalive);
    loop_timer_free(p->deadline);
    sync_coalesce_free(p->co);
    free(p);
}

void sync_peer_stop(struct peer *p)
{
    teardown(p);
    p->state = PS_IDLE;
    p->backoff_ns = 0;
    p->last_error[0] = '\0';
    p->down_since_ns = p->unacked_since_ns = p->refused_ns = 0;
}

/* Transient failure: log once when it starts, retry with backoff (a reconcile follows). */
static void peer_fail(struct peer *p, const char *why)
{
    if (!p->down_since_ns)
        p->down_since_ns = now_ns();
    if (strcmp(why, p->last_error)) {
        log_warnx("peer %s: %s", p->cp.node, why);
        snprintf(p->last_error, sizeof(p->last_error), "%s", why);
    }
    teardown(p);
    p->state = PS_BACKOFF;
    p->backoff_ns = p->backoff_ns ? p->backoff_ns * 2 : BACKOFF_MIN_NS;
    if (p->backoff_ns > BACKOFF_MAX_NS)
        p->backoff_ns = BACKOFF_MAX_NS;
    if (p->sd->once) {
        p->st.errors++;
        p->once_done = 1;
    } else {
        loop_timer_after(p->timer, p->backoff_ns);
    }
    syncd_peer_progress(p->sd, p);
}

static void set_events(struct peer *p)
{
    if (!p->ssh || p->fd < 0)
        return;
    uint32_t ev = hs_ssh_events(p->ssh);
    if (ev != p->events)
        loop_mod_fd(p->sd->loop, p->fd, ev);
    p->events = ev;
}

static void on_io(void *arg, int fd, uint32_t events)
{
    peer_pump(arg);
}

void sync_peer_start(struct peer *p)
{
    if (p->state != PS_IDLE && p->state != PS_BACKOFF)
        return;
    const struct conf *c = &p->sd->conf;
    struct hs_ssh_opts o = {
        .host = p->cp.host, .port = p->cp.port, .user = c->ssh_user,
        .key = c->ssh_key, .known_hosts = c->known_hosts, .command = c->remote_command,
    };
    char err[512];
    p->ssh = hs_ssh_new(&o, err, sizeof(err));
    if (!p->ssh) {
        peer_fail(p, err);
        return;
    }
    p->state = PS_CONNECTING;
    loop_timer_after(p->deadline, SESSION_DEADLINE_NS);
    p->fd = hs_ssh_fd(p->ssh);
    p->events = hs_ssh_events(p->ssh);
    loop_add_fd(p->sd->loop, p->fd, p->events, on_io, p);
    peer_pump(p);
}

/* ---- queueing ---- */

void sync_peer_queue(struct peer *p, enum op_kind kind, const char *path, const char *path2)
{
    if (!p->unacked_since_ns)
        p->unacked_since_ns = now_ns();
    if (p->state == PS_IDLE || p->state == PS_BACKOFF)
        return;   /* the reconcile on (re)connect will cover it */
    if (kind == OP_SYNC && sync_coalesce_find(p->co, path))
        return;   /* already pending: it will be read as it is when sent */
    if (kind != OP_SYNC)
        sync_coalesce_clear(p->co);   /* a rename or reconcile orders what came before it */
    struct op *o = sync_op_new(kind, path, path2);
    if (!o)
        return;
    sync_opq_push(&p->pending, o);
    if (kind == OP_SYNC)
        sync_coalesce_add(p->co, o);
    if (p->state == PS_READY)
        peer_pump(p);
}

void sync_peer_kick(struct peer *p)
{
    if (p->state == PS_READY)
        peer_pump(p);
}

size_t sync_peer_queue_len(const struct peer *p)
{
    return p->pending.n + p->batch.n + (p->put_fd >= 0);
}

int sync_peer_idle(const struct peer *p)
{
    return p->state == PS_READY && !p->batch_open && p->pending.n == 0;
}

/* ---- sending ---- */

static int64_t stat_mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * NS_PER_SEC + st->st_mtim.tv_nsec;
}

static void start_batch(struct peer *p)
{
    if (p->batch_open || !p->pending.head || (!p->sd->watch_ready && !p->sd->once))
        return;
    int64_t now = now_ns();
    int64_t due = p->batch_start_ns + p->sd->conf.sync_delay_ns;
    /* Quiet: send at once. Busy: coalesce for delay_ms after the previous batch. */
    if (now < due && !p->full_reconcile && p->pending.head->kind != OP_RECONCILE) {
        if (!loop_timer_armed(p->timer))
            loop_timer_at(p->timer, due);
        return;
    }
    p->batch_oldest_ns = p->pending.head->queued_ns;
    log_debug("peer %s: batch %llu: %zu operations", p->cp.node,
              (unsigned long long)p->sd->next_token + 1, p->pending.n);
    sync_opq_prepend(&p->batch, &p->pending);
    sync_coalesce_clear(p->co);
    p->batch_open = 1;
    p->batch_sync_sent = 0;
    p->batch_token = ++p->sd->next_token;
    p->batch_start_ns = now;
}

/*
 * lstat of path resolved as the receiver resolves it (tree.h): never through a symlink.
 * Returns the parent directory's fd (*name: the entry in it; "." for a sync path itself),
 * or -1: errno ENOENT when no real entry is there (gone, or behind a symlink or a file).
 */
static int lookup(struct syncd *sd, const char *path, struct stat *st, const char **name)
{
    int pfd = sync_tree_parent(&sd->tree, path, name);
    if (pfd < 0 && errno == EISDIR) {
        const char *rest;
        pfd = sync_openat(sync_tree_find(&sd->tree, path, &rest)->fd, "", O_RDONLY | O_DIRECTORY);
        *name = ".";
    }
    if (pfd < 0) {
        if (errno == ENOTDIR || errno == ELOOP || errno == EXDEV)
            errno = ENOENT;
        return -1;
    }
    if (fstatat(pfd, *name, st, AT_SYMLINK_NOFOLLOW) < 0) {
        int e = errno == ENOTDIR ? ENOENT : errno;
        close(pfd);
        errno = e;
        return -1;
    }
    return pfd;
}

static void requeue(struct peer *p, const char *path)
{
    struct op *o = sync_op_new(OP_SYNC, path, NULL);
    if (o)
        sync_opq_push(&p->pending, o);
}

/* Names an owner to the receiver before its first use in the session (idmap.h). */
static void name_owner(struct peer *p, const struct stat *st)
{
    char name[PROTO_NAME_MAX];
    if (!(p->flags & PF_OWNERS))
        return;
    if (idmap_name_once(&p->ids, ID_USER, st->st_uid, name, sizeof(name)))
        proto_put_idname(&p->out, ID_USER, st->st_uid, name);
    if (idmap_name_once(&p->ids, ID_GROUP, st->st_gid, name, sizeof(name)))
        proto_put_idname(&p->out, ID_GROUP, st->st_gid, name);
}

/* Sends what pfd/name (lstat in st) is now. Only regular files are opened. */
static void encode_entry(struct peer *p, const char *path, int pfd, const char *name,
                         struct stat *stp)
{
    struct stat st = *stp;
    name_owner(p, &st);
    if (S_ISDIR(st.st_mode)) {
        proto_put_mkdir(&p->out, path, st.st_mode & 07777, st.st_uid, st.st_gid,
                        stat_mtime_ns(&st));
    } else if (S_ISLNK(st.st_mode)) {
        char target[PROTO_PATH_MAX];
        ssize_t n = readlinkat(pfd, name, target, sizeof(target) - 1);
        if (n < 0) {
            if (errno == EINVAL)   /* no longer a symlink: send what it is now */
                requeue(p, path);
            return;
        }
        target[n] = '\0';
        proto_put_symlink(&p->out, path, target, st.st_uid, st.st_gid, stat_mtime_ns(&st));
        p->st.sent++;
    } else if (S_ISREG(st.st_mode)) {
        /* O_NONBLOCK | O_NOFOLLOW and a type check: a FIFO or symlink swapped in after
         * the lstat is never opened for a blocking read or followed. */
        int fd = manifest_open_file(pfd, name, &st);
        if (fd < 0) {
            int e = errno;
            if (e == EINVAL || e == ELOOP)
                requeue(p, path);
            else if (e != ENOENT)
                log_warn("%s/%s", p->sd->conf.sync_root, path);
            return;
        }
        if (st.st_size > PROTO_DATA_CHUNK)   /* (a small file is read in one call) */
            posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        proto_put_put(&p->out, path, st.st_mode & 07777, st.st_uid, st.st_gid,
                      stat_mtime_ns(&st), (uint64_t)st.st_size);
        p->put_fd = fd;
        p->put_left = (uint64_t)st.st_size;
        snprintf(p->put_path, sizeof(p->put_path), "%s", path);
    } else {   /* FIFOs, sockets, devices are not synced: the receiver's copy goes */
        proto_put_path(&p->out, PT_DELETE, path);
        p->st.deleted++;
    }
}

static void encode_sync(struct peer *p, const char *path)
{
    struct stat st;
    const char *name;
    int pfd = lookup(p->sd, path, &st, &name);
    if (pfd < 0) {
        if (errno == ENOENT) {
            proto_put_path(&p->out, PT_DELETE, path);
            p->st.deleted++;
        } else {
            log_warn("%s/%s", p->sd->conf.sync_root, path);
        }
        return;
    }
    encode_entry(p, path, pfd, name, &st);
    close(pfd);
}

/* One DATA frame of the file being streamed (or its END). */
static void stream_chunk(struct peer *p)
{
    size_t want = p->put_left < PROTO_DATA_CHUNK ? (size_t)p->put_left : PROTO_DATA_CHUNK;
    ssize_t n = 0;
    if (want) {
        uint8_t *dst = proto_put_data(&p->out, want);
        if (!dst)
            return;
        do
            n = read(p->put_fd, dst, want);
        while (n < 0 && errno == EINTR);
        proto_trim_data(&p->out, dst, want, n > 0 ? (size_t)n : 0);
    }
    if (want && n <= 0) {
        /* The file shrank while being sent: abandon this copy, send it again. */
        proto_put_end(&p->out, 0);
        close(p->put_fd);
        p->put_fd = -1;
        requeue(p, p->put_path);
        return;
    }
    p->put_left -= (uint64_t)n;
    p->st.bytes += (uint64_t)n;
    if (p->put_left == 0) {
        proto_put_end(&p->out, 1);
        close(p->put_fd);
        p->put_fd = -1;
        p->st.sent++;
    }
}

/* ---- the local scan of a reconcile ---- */

static int local_scan_add(void *arg, const struct proto_entry *pe)
{
    struct peer *p = arg;
    if (atomic_load_explicit(&p->scan_cancel, memory_order_relaxed)) {
        errno = ECANCELED;
        return -1;
    }
    return manifest_add(&p->local, pe);
}

/* The thread: reads only the tree, filter and manifest_* fields, which the loop leaves
 * alone until local_scan_join. */
static void *local_scan_main(void *arg)
{
    struct peer *p = arg;
    p->scan_rc = manifest_scan_each(&p->sd->tree, p->manifest_path, &p->sd->filter, 0,
                                    p->manifest_hash, local_scan_add, p);
    p->scan_errno = errno;
    return NULL;
}

/* Without a thread, local_scan_join scans in the loop instead. */
static void local_scan_start(struct peer *p)
{
    manifest_free(&p->local);
    atomic_store(&p->scan_cancel, 0);
    p->scanning = pthread_create(&p->scan_thread, NULL, local_scan_main, p) == 0;
}

/* Waits for the scan (cancel: stops it first); then p->local holds it, scan_rc its result. */
static void local_scan_join(struct peer *p, int cancel)
{
    if (!p->scanning)
        return;
    if (cancel)
        atomic_store(&p->scan_cancel, 1);
    pthread_join(p->scan_thread, NULL);
    p->scanning = 0;
}

static void encode_op(struct peer *p, struct op *o)
{
    switch (o->kind) {
    case OP_SYNC:
        encode_sync(p, o->path);
        break;
    case OP_DELETE:
        proto_put_path(&p->out, PT_DELETE, o->path);
        p->st.deleted++;
        break;
    case OP_RENAME: {
        struct stat st;
        uint64_t size = UINT64_MAX;
        int64_t mtime = 0;
        const char *name;
        int pfd = lookup(p->sd, o->path2, &st, &name);
        if (pfd >= 0) {
            if (S_ISREG(st.st_mode)) {
                size = (uint64_t)st.st_size;
                mtime = stat_mtime_ns(&st);
            }
            close(pfd);
        }
        proto_put_rename(&p->out, o->path, o->path2, size, mtime);
        p->st.renamed++;
        break;
    }
    case OP_RECONCILE:
        p->manifest_hash = o->path2 != NULL;   /* path2 set: compare content too */
        proto_put_manifest_req(&p->out, o->path, p->manifest_hash ? MF_HASH : 0);
        manifest_free(&p->remote);
        snprintf(p->manifest_path, sizeof(p->manifest_path), "%s", o->path);
        p->wait_manifest = 1;
        local_scan_start(p);
        break;
    case OP_RECONCILED:
        proto_put_empty(&p->out, PT_RECONCILED);
        p->full_reconcile = 1;
        break;
    }
}

static void fill(struct peer *p)
{
    if (p->state != PS_READY)
        return;
    start_batch(p);
    while (p->batch_open && !p->wait_manifest && proto_buf_used(&p->out) < OUT_HIGH_WATER) {
        if (p->put_fd >= 0) {
            stream_chunk(p);
            continue;
        }
        struct op *o = sync_opq_pop(&p->batch);
        if (!o) {
            if (!p->batch_sync_sent) {
                proto_put_token(&p->out, PT_SYNC, p->batch_token);
                p->batch_sync_sent = 1;
            }
            break;
        }
        encode_op(p, o);
        sync_op_free(o);
    }
}

/* ---- replies ---- */

/*
 * After a large batch or a full reconcile (manifests, queues, a grown output buffer, all
 * freed by now) the heap holds free pages that stay resident: give them to the kernel.
 */
static void give_back(struct peer *p)
{
    int large = p->out.cap > OUT_KEEP;
    if (large && !p->pending.n && !proto_buf_used(&p->out))
        proto_buf_free(&p->out);   /* the next large batch regrows it */
    if (large || p->full_reconcile)
        malloc_trim(0);
}

struct diff_ctx {
    struct opq ops;
};

static void on_diff(void *arg, enum manifest_action a, const struct manifest_entry *e)
{
    struct diff_ctx *d = arg;
    struct op *o = sync_op_new(a == MA_SEND ? OP_SYNC : OP_DELETE, e->path, NULL);
    if (o)
        sync_opq_push(&d->ops, o);
}

/* Drops remote entries we exclude (and everything below an excluded directory). */
static void filter_remote(struct manifest *m, const struct manifest_filter *f)
{
    size_t w = 0;
    char *skip = NULL;
    for (size_t i = 0; i < m->n; i++) {
        struct manifest_entry *e = &m->e[i];
        int below = skip && proto_path_under(e->path, skip);
        if (below || manifest_excluded(f, e->path)) {
            if (!below) {
                free(skip);
                skip = strdup(e->path);
            }
            free(e->path);
            free(e->target);
            continue;
        }
        m->e[w++] = *e;
    }
    free(skip);
    m->n = w;
}

static void on_manifest_end(struct peer *p)
{
    if (p->scanning) {
        local_scan_join(p, 0);
        errno = p->scan_errno;
    } else {
        p->scan_rc = manifest_scan(&p->sd->tree, p->manifest_path, &p->sd->filter, 0,
                                   p->manifest_hash, &p->local);
    }
    struct manifest local = p->local;
    memset(&p->local, 0, sizeof(p->local));
    if (p->scan_rc < 0)
        log_warn("reconcile %s/%s", p->sd->conf.sync_root, p->manifest_path);
    if (p->flags & PF_NO_SETID)   /* the receiver strips them: not a difference */
        for (size_t i = 0; i < local.n; i++)
            local.e[i].mode &= ~06000u;
    manifest_sort(&local);
    manifest_sort(&p->remote);
    filter_remote(&p->remote, &p->sd->filter);
    struct diff_ctx d = {{0}};
    size_t n = manifest_diff(&local, &p->remote, (p->flags & PF_OWNERS) != 0, on_diff, &d);
    if (n)
        log_info("peer %s: reconcile %s: %zu of %zu entries differ", p->cp.node,
                 p->manifest_path, n, local.n);
    else
        log_debug("peer %s: reconcile %s: in sync (%zu entries)", p->cp.node,
                  p->manifest_path, local.n);
    sync_opq_prepend(&p->batch, &d.ops);
    manifest_free(&local);
    manifest_free(&p->remote);
    p->wait_manifest = 0;
}

static void queue_full_reconcile(struct peer *p)
{
    struct opq q = {0};
    const struct conf *c = &p->sd->conf;
    for (int i = 0; i < c->n_sync_paths; i++) {
        const char *rel = c->sync_paths[i] + 1;
        struct op *o = *rel ? sync_op_new(OP_RECONCILE, rel, p->sd->checksum ? "checksum" : NULL)
                            : NULL;
        if (o)
            sync_opq_push(&q, o);
    }
    struct op *o = sync_op_new(OP_RECONCILED, NULL, NULL);
    if (o)
        sync_opq_push(&q, o);
    sync_coalesce_clear(p->co);
    sync_opq_prepend(&p->pending, &q);
}

/* Returns -1 if the peer was torn down. */
static int on_reply(struct peer *p, uint8_t type, const uint8_t *pl, size_t len,
                    struct proto_msg *m)
{
    char err[256];
    if (proto_decode(type, pl, len, m, err, sizeof(err)) < 0) {
        peer_fail(p, err);
        return -1;
    }
    switch (type) {
    case PT_HELLO_OK:
        if (p->state != PS_HELLO)
            break;
        p->state = PS_READY;
        loop_timer_stop(p->deadline);
        p->flags = m->flags;
        p->backoff_ns = 0;
        p->retries = 0;
        if (p->last_error[0])
            log_info("peer %s: connected again", p->cp.node);
        else
            log_info("peer %s: connected (%s:%d, epoch %llu%s)", p->cp.node, p->cp.host,
                     p->cp.port, (unsigned long long)p->sd->epoch,
                     m->flags & PF_REJOIN ? ", rejoin of an old active" : "");
        p->last_error[0] = '\0';
        p->down_since_ns = 0;
        p->last_ack_ns = now_ns();
        queue_full_reconcile(p);
        return 0;
    case PT_ERROR:
        if (m->code == PE_FATAL) {
            snprintf(err, sizeof(err), "receiver refused the session: %s", m->path2);
            peer_fail(p, err);
            return -1;
        }
        if (m->code == PE_FAILED && m->path[0] && p->retries < MAX_RETRIES) {
            log_info("peer %s: %s (re-checking)", p->cp.node, m->path2);
            p->retries++;
            struct op *o = sync_op_new(OP_RECONCILE, m->path, NULL);
            if (o)
                sync_opq_push(&p->pending, o);
            return 0;
        }
        p->st.errors++;
        p->refused_ns = now_ns();
        p->refused_count++;
        snprintf(p->refused, sizeof(p->refused), "%s", m->path2);
        if (m->code == PE_FAILED) {
            /* Out of re-checks (a full disk, say): the peer lacks what we hold, so no flush
             * may call it in sync. Start over; the reconnect reconciles everything. */
            snprintf(err, sizeof(err), "could not apply: %s; reconnecting", m->path2);
            p->backoff_ns = BACKOFF_MAX_NS / 2;   /* peer_fail doubles it: a slow re-check */
            peer_fail(p, err);
            return -1;
        }
        return 0;
    case PT_MANIFEST: {
        if (!p->wait_manifest)
            break;
        const uint8_t *d = m->data;
        size_t dl = m->data_len;
        struct proto_entry *e = malloc(sizeof(*e));
        int r = 0;
        while (e && (r = proto_next_entry(&d, &dl, e)) == 1) {
            if (!proto_path_under(e->path, p->manifest_path))
                continue;
            e->uid = idmap_to_local(&p->ids, ID_USER, e->uid);   /* in our numbers */
            e->gid = idmap_to_local(&p->ids, ID_GROUP, e->gid);
            manifest_add(&p->remote, e);
        }
        free(e);
        if (r < 0) {
            peer_fail(p, "malformed manifest from the receiver");
            return -1;
        }
        return 0;
    }
    case PT_IDNAME:
        idmap_learn(&p->ids, m->flags, m->uid, m->node);
        return 0;
    case PT_MANIFEST_END:
        if (!p->wait_manifest)
            break;
        on_manifest_end(p);
        return 0;
    case PT_ACK:
        if (!p->batch_open || m->token != p->batch_token)
            break;
        p->batch_open = 0;
        p->last_ack_ns = now_ns();
        p->lag_ns = p->last_ack_ns - p->batch_oldest_ns;
        p->unacked_since_ns = p->pending.head ? p->pending.head->queued_ns : 0;
        if (p->full_reconcile && p->sd->once)
            p->once_done = 1;
        p->retries = p->pending.n ? p->retries : 0;
        give_back(p);
        p->full_reconcile = 0;
        syncd_peer_progress(p->sd, p);
        return 0;
    default:
        break;
    }
    snprintf(err, sizeof(err), "unexpected %s from the receiver", proto_type_name(type));
    peer_fail(p, err);
    return -1;
}

/* ---- I/O ---- */

static int write_out(struct peer *p, LIBSSH2_CHANNEL *ch)
{
    int progress = 0;
    while (proto_buf_used(&p->out)) {
        size_t n = proto_buf_used(&p->out);
        ssize_t w = libssh2_channel_write(ch, (const char *)p->out.data + p->out.off,
                                          n > 1024 * 1024 ? 1024 * 1024 : n);
        if (w == LIBSSH2_ERROR_EAGAIN)
            break;
        if (w < 0) {
            char *msg = NULL;
            libssh2_session_last_error(hs_ssh_session(p->ssh), &msg, NULL, 0);
            char err[512];
            snprintf(err, sizeof(err), "write: %s", msg ? msg : "channel error");
            peer_fail(p, err);
            return -1;
        }
        proto_buf_consume(&p->out, (size_t)w);
        progress = 1;
    }
    return progress;
}

/* The receiver's stderr, relayed line by line into our log. */
static void read_stderr(struct peer *p, LIBSSH2_CHANNEL *ch)
{
    for (;;) {
        ssize_t n = libssh2_channel_read_stderr(ch, p->errline + p->errline_len,
                                                sizeof(p->errline) - 1 - p->errline_len);
        if (n <= 0)
            return;
        p->errline_len += (size_t)n;
        char *start = p->errline, *nl;
        while ((nl = memchr(start, '\n', p->errline_len - (size_t)(start - p->errline)))) {
            *nl = '\0';
            const char *line = start;
            if (line[0] == '<' && line[1] && line[2] == '>')
                line += 3;
            log_info("peer %s says: %s", p->cp.node, line);
            start = nl + 1;
        }
        size_t rest = p->errline_len - (size_t)(start - p->errline);
        memmove(p->errline, start, rest);
        p->errline_len = rest;
        if (p->errline_len == sizeof(p->errline) - 1)
            p->errline_len = 0;   /* an overlong line is dropped */
    }
}

static int read_in(struct peer *p, LIBSSH2_CHANNEL *ch, struct proto_msg *m)
{
    int progress = 0;
    for (;;) {
        if (proto_buf_reserve(&p->in, 256 * 1024) < 0) {
            peer_fail(p, "out of memory");
            return -1;
        }
        ssize_t n = libssh2_channel_read(ch, (char *)p->in.data + p->in.len,
                                         p->in.cap - p->in.len);
        if (n == LIBSSH2_ERROR_EAGAIN)
            break;
        if (n < 0 || (n == 0 && libssh2_channel_eof(ch))) {
            read_stderr(p, ch);
            peer_fail(p, n < 0 ? "connection lost" : "receiver closed the session");
            return -1;
        }
        if (n == 0)
            break;
        p->in.len += (size_t)n;
        progress = 1;
        uint8_t type;
        const uint8_t *pl;
        size_t len;
        int r;
        while ((r = proto_next_frame(&p->in, &type, &pl, &len)) == 1) {
            if (on_reply(p, type, pl, len, m) < 0)
                return -1;
            proto_buf_consume(&p->in, PROTO_HDR + len);
        }
        if (r < 0) {
            peer_fail(p, "invalid frame from the receiver");
            return -1;
        }
    }
    read_stderr(p, ch);
    return progress;
}

static void peer_pump(struct peer *p)
{
    static struct proto_msg m;   /* large; one pump runs at a time */
    if (p->state == PS_CONNECTING) {
        char err[512];
        int rc = hs_ssh_step(p->ssh, err, sizeof(err));
        if (rc == HS_SSH_ERROR) {
            peer_fail(p, err);
            return;
        }
        if (rc == HS_SSH_AGAIN) {
            set_events(p);
            return;
        }
        p->state = PS_HELLO;
        proto_put_hello(&p->out, p->sd->conf.cluster, p->sd->conf.node, p->sd->epoch);
        loop_timer_after(p->keepalive, KEEPALIVE_NS);
    }
    if (p->state != PS_HELLO && p->state != PS_READY)
        return;
    LIBSSH2_CHANNEL *ch = hs_ssh_channel(p->ssh);
    for (int round = 0;; round++) {
        if (round == 256) {            /* let the rest of the loop run, then go on */
            loop_timer_after(p->timer, 0);
            break;
        }
        fill(p);
        int w = write_out(p, ch);
        if (w < 0)
            return;
        int r = read_in(p, ch, &m);
        if (r < 0)
            return;
        /*
         * Any libssh2 call (the stderr read, a write, a keepalive) may have pulled our
         * stdout data off the socket into its own queue: then the socket will not become
         * readable again for it, so look at the queue before waiting on epoll.
         */
        if (!w && !r && !libssh2_poll_channel_read(ch, 0) && !libssh2_poll_channel_read(ch, 1))
            break;
    }
    set_events(p);
}
