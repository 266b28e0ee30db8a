/*
 * serve.c: `syncd --serve`, the receiver at the far end of the sender's SSH exec channel.
 * Reads frames on stdin, applies them beneath [sync] root (apply.c), answers on stdout,
 * logs on stderr (which the sender relays into its own log). One session per process.
 *
 * Guards, in order: [sync] paths configured (else nothing is served), a HELLO first, for
 * this cluster, with the epoch the database holds for it (never a newer one; when the
 * database cannot be read the session goes on but its epoch is not recorded) and no older
 * than the newest this node has seen, while this node is not itself active (re-checked
 * every second from the state file the local syncd daemon writes). Bad frames are refused
 * one by one; a frame that breaks the framing ends the session (exit 3), never a crash.
 *
 * The one exception to "HELLO first" is RELEASE_REQ, a standby's upgrade (hotstandby-clone
 * upgrade) fetching this node's binaries: it writes nothing, names nothing (the files are
 * release.h's, beside this executable) and ends the session, so the sync key reads what
 * every user of this machine can read, and no more.
 */
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "clock.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "manifest.h"
#include "proto.h"
#include "release.h"
#include "spawn.h"
#include "state.h"
#include "syncd.h"

struct serve {
    const struct conf *conf;
    struct apply ap;
    char state_path[CONF_STR + 32];
    int hello;
    uint64_t epoch;
    char peer[PROTO_NAME_MAX];
    int discard;                   /* swallowing DATA of a refused PUT */
    int64_t role_checked_ns;
    struct proto_buf in, out;
    uint64_t refused;
    uint64_t consumed;             /* stream offset of the next frame (diagnostics) */
};

static volatile sig_atomic_t serve_stop;

static void on_signal(int signo)
{
    (void)signo;
    serve_stop = 1;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR && !serve_stop)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int flush_out(struct serve *s)
{
    if (!proto_buf_used(&s->out))
        return 0;
    int rc = write_all(1, s->out.data + s->out.off, proto_buf_used(&s->out));
    s->out.off = s->out.len = 0;
    return rc;
}

static void refuse(struct serve *s, int code, const char *path, const char *msg)
{
    if (code == PE_REFUSED || code == PE_FATAL) {
        s->refused++;
        log_warnx("refused from %s: %s", s->peer[0] ? s->peer : "sender", msg);
    } else {
        log_info("could not apply from %s: %s", s->peer, msg);
    }
    proto_put_error(&s->out, (uint8_t)code, path, msg);
}

static void on_commit_failure(void *arg, int code, const char *path, const char *msg)
{
    refuse(arg, code, path, msg);
}

struct hello_arg {
    uint64_t epoch;
    int checked;                   /* epoch equals the database's: it may be recorded */
    struct sync_state before;
};

static void note_epoch(struct sync_state *st, void *arg)
{
    struct hello_arg *h = arg;
    h->before = *st;
    if (h->checked && h->epoch > st->seen_epoch && !st->active && h->epoch >= st->was_active)
        st->seen_epoch = h->epoch;
}

#define DB_CHECK_TIMEOUT_MS 3000

/* The cluster's epoch in hs_cluster (0 without a row). 0, or -1 with the reason in err. */
static int db_epoch(const struct conf *c, uint64_t *epoch, char *err, size_t errlen)
{
    PGconn *conn = db_connect_wait(c->database, DB_CHECK_TIMEOUT_MS, err, errlen);
    if (!conn)
        return -1;
    const char *params[1] = {c->cluster};
    PGresult *r = db_exec_wait(conn, "SELECT epoch FROM hs_cluster WHERE cluster = $1", 1,
                               params, DB_CHECK_TIMEOUT_MS, err, errlen);
    PQfinish(conn);
    if (!r)
        return -1;
    *epoch = PQntuples(r) == 1 ? strtoull(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return 0;
}

/*
 * A HELLO's epoch is believed only once it matches the database's: a newer one is forged
 * (it would make every real push look old), an older one is a sender that is no longer
 * the holder. Returns 1 checked, 0 unchecked (database unreachable), -1 refused (msg).
 */
static int check_epoch(struct serve *s, uint64_t epoch, char *msg, size_t msglen)
{
    char err[256];
    uint64_t dbe;
    if (db_epoch(s->conf, &dbe, err, sizeof(err)) < 0) {
        log_notice("epoch %llu from %s not checked (database: %s): accepted for this "
                   "session, not recorded", (unsigned long long)epoch, s->peer, err);
        return 0;
    }
    if (epoch == dbe)
        return 1;
    snprintf(msg, msglen, "epoch %llu is %s than the database's epoch %llu for cluster %s",
             (unsigned long long)epoch, epoch > dbe ? "newer" : "older",
             (unsigned long long)dbe, s->conf->cluster);
    return -1;
}

static int on_hello(struct serve *s, const struct proto_msg *m)
{
    char msg[512];
    if (m->version != PROTO_VERSION) {
        snprintf(msg, sizeof(msg), "protocol version %u, this receiver speaks %u", m->version,
                 PROTO_VERSION);
        goto fatal;
    }
    if (strcmp(m->cluster, s->conf->cluster)) {
        snprintf(msg, sizeof(msg), "sender is in cluster '%s', this node in '%s'", m->cluster,
                 s->conf->cluster);
        goto fatal;
    }
    snprintf(s->peer, sizeof(s->peer), "%s", m->node);
    struct hello_arg h = {.epoch = m->epoch};
    h.checked = check_epoch(s, m->epoch, msg, sizeof(msg));
    if (h.checked < 0)
        goto fatal;
    if (sync_state_update(s->state_path, note_epoch, &h, NULL) < 0) {
        snprintf(msg, sizeof(msg), "%s: %s", s->state_path, strerror(errno));
        goto fatal;
    }
    if (h.before.active) {
        snprintf(msg, sizeof(msg), "this node (%s) is active at epoch %llu: push refused",
                 s->conf->node, (unsigned long long)h.before.epoch);
        goto fatal;
    }
    if (m->epoch < h.before.seen_epoch || m->epoch < h.before.was_active) {
        snprintf(msg, sizeof(msg), "epoch %llu is older than epoch %llu seen here",
                 (unsigned long long)m->epoch,
                 (unsigned long long)(h.before.seen_epoch > h.before.was_active
                                          ? h.before.seen_epoch : h.before.was_active));
        goto fatal;
    }
    s->hello = 1;
    s->epoch = m->epoch;
    s->ap.epoch = m->epoch;
    s->ap.rejoin = h.before.was_active && m->epoch > h.before.was_active;
    s->role_checked_ns = now_ns();
    log_info("session from %s at epoch %llu%s", s->peer, (unsigned long long)m->epoch,
             s->ap.rejoin ? " (rejoin: differing files are kept in " SYNC_CONFLICTS ")" : "");
    uint8_t flags = (s->ap.rejoin ? PF_REJOIN : 0) | (s->ap.owners ? PF_OWNERS : 0) |
                    (s->ap.mode_mask & 06000 ? 0 : PF_NO_SETID);
    proto_put_hello_ok(&s->out, s->conf->node, m->epoch, flags);
    return 0;
fatal:
    refuse(s, PE_FATAL, "", msg);
    return -1;
}

/* Still allowed to apply pushes? (our node may have become active, or a newer epoch seen) */
static int still_standby(struct serve *s)
{
    int64_t now = now_ns();
    if (now - s->role_checked_ns < NS_PER_SEC)
        return 1;
    s->role_checked_ns = now;
    struct sync_state st;
    char msg[256];
    if (sync_state_read(s->state_path, &st) < 0)
        return 1;
    if (st.active)
        snprintf(msg, sizeof(msg), "this node became active at epoch %llu: session ended",
                 (unsigned long long)st.epoch);
    else if (st.seen_epoch > s->epoch)
        snprintf(msg, sizeof(msg), "a sender at newer epoch %llu exists: session ended",
                 (unsigned long long)st.seen_epoch);
    else
        return 1;
    refuse(s, PE_FATAL, "", msg);
    return 0;
}

static void clear_rejoin(struct sync_state *st, void *arg)
{
    uint64_t epoch = *(uint64_t *)arg;
    if (st->was_active && st->was_active < epoch)
        st->was_active = 0;
}

/* The receiver's manifest goes out as the scan finds it (no copy of the whole list). */
struct manifest_out {
    struct serve *s;
    size_t frame;                  /* open MANIFEST frame in s->out, or (size_t)-1 */
};

/* Owners by name (syncd(8)), each before the first entry that uses it. */
static void name_owners(struct manifest_out *mo, const struct proto_entry *pe)
{
    struct serve *s = mo->s;
    char name[PROTO_NAME_MAX];
    if (!s->ap.owners)
        return;
    if (idmap_name_once(&s->ap.ids, ID_USER, pe->uid, name, sizeof(name))) {
        proto_put_idname(&s->out, ID_USER, pe->uid, name);
        mo->frame = (size_t)-1;   /* the next entry opens a new MANIFEST frame */
    }
    if (idmap_name_once(&s->ap.ids, ID_GROUP, pe->gid, name, sizeof(name))) {
        proto_put_idname(&s->out, ID_GROUP, pe->gid, name);
        mo->frame = (size_t)-1;
    }
}

static int put_manifest_entry(void *arg, const struct proto_entry *pe)
{
    struct manifest_out *mo = arg;
    name_owners(mo, pe);
    if (proto_put_entry(&mo->s->out, &mo->frame, pe) < 0) {
        errno = ENOMEM;
        return -1;
    }
    if (proto_buf_used(&mo->s->out) > 1024 * 1024) {
        mo->frame = (size_t)-1;
        return flush_out(mo->s);
    }
    return 0;
}

static int on_manifest_req(struct serve *s, const struct proto_msg *m)
{
    char err[PROTO_PATH_MAX + 128];
    int rc = apply_check_path(&s->ap, m->path, err, sizeof(err));
    if (rc) {
        refuse(s, rc, m->path, err);
        proto_put_path(&s->out, PT_MANIFEST_END, m->path);
        return 0;
    }
    struct manifest_out mo = {s, (size_t)-1};
    if (manifest_scan_each(&s->ap.tree, m->path, NULL, 1, m->flags & MF_HASH, put_manifest_entry,
                           &mo) < 0) {
        snprintf(err, sizeof(err), "%s: scan: %s", m->path, strerror(errno));
        refuse(s, PE_FAILED, m->path, err);
    }
    proto_put_path(&s->out, PT_MANIFEST_END, m->path);
    return 0;
}

static void send_release_file(struct serve *s, int dirfd, const char *dir, const char *name)
{
    char msg[PROTO_PATH_MAX + 128];
    struct stat st;
    int fd = release_open(dirfd, name, &st);
    if (fd < 0) {
        snprintf(msg, sizeof(msg), "%s/%s: %s", dir, name, strerror(errno));
        refuse(s, PE_FAILED, name, msg);
        return;
    }
    proto_put_put(&s->out, name, st.st_mode & 0777, 0, 0,
                  (int64_t)st.st_mtim.tv_sec * NS_PER_SEC + st.st_mtim.tv_nsec,
                  (uint64_t)st.st_size);
    uint64_t sent = 0;
    int ok = 1;
    while (ok && sent < (uint64_t)st.st_size) {
        uint8_t *d = proto_put_data(&s->out, PROTO_DATA_CHUNK);
        ssize_t n = d ? pread(fd, d, PROTO_DATA_CHUNK, (off_t)sent) : -1;
        if (d)
            proto_trim_data(&s->out, d, PROTO_DATA_CHUNK, n > 0 ? (size_t)n : 0);
        if (n <= 0 && !(n < 0 && errno == EINTR))
            ok = 0;   /* shorter than it was: END says abandon, the standby checks anyway */
        sent += n > 0 ? (uint64_t)n : 0;
        if (proto_buf_used(&s->out) > 4 * 1024 * 1024 && flush_out(s) < 0)
            ok = 0;
    }
    close(fd);
    proto_put_end(&s->out, ok);
}

static void on_release_req(struct serve *s, const struct proto_msg *m)
{
    char dir[PROTO_PATH_MAX], msg[PROTO_PATH_MAX + 128];
    if (strcmp(m->path, s->conf->cluster) != 0) {
        snprintf(msg, sizeof(msg), "release asked for cluster '%s', this node is in '%s'",
                 m->path, s->conf->cluster);
        refuse(s, PE_FATAL, "", msg);
        return;
    }
    int dirfd = self_dir(dir, sizeof(dir)) == 0
                    ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dirfd < 0) {
        snprintf(msg, sizeof(msg), "the directory of this executable: %s", strerror(errno));
        refuse(s, PE_FATAL, "", msg);
        return;
    }
    log_info("release: sending the binaries in %s", dir);
    for (int i = 0; i < RELEASE_NFILES; i++)
        send_release_file(s, dirfd, dir, release_files[i]);
    close(dirfd);
    proto_put_path(&s->out, PT_MANIFEST_END, "");
}

/* One frame. Returns 0 to go on, -1 to end the session, 1 when it is over. */
static int on_frame(struct serve *s, uint8_t type, const uint8_t *p, size_t len,
                    struct proto_msg *m)
{
    char err[PROTO_PATH_MAX + 256];
    if (proto_decode(type, p, len, m, err, sizeof(err)) < 0) {
        refuse(s, PE_FATAL, "", err);
        return -1;
    }
    if (!s->hello) {
        if (type == PT_HELLO)
            return on_hello(s, m);
        if (type == PT_RELEASE_REQ) {
            on_release_req(s, m);
            return 1;
        }
        snprintf(err, sizeof(err), "%s before HELLO", proto_type_name(type));
        refuse(s, PE_FATAL, "", err);
        return -1;
    }
    if (type == PT_DATA || type == PT_END) {
        if (s->discard) {
            s->discard = type == PT_DATA;
            return 0;
        }
        if (!apply_put_active(&s->ap)) {
            snprintf(err, sizeof(err), "%s outside a PUT", proto_type_name(type));
            refuse(s, PE_FATAL, "", err);
            return -1;
        }
        int rc = type == PT_DATA ? apply_put_data(&s->ap, m->data, m->data_len, err, sizeof(err))
                                 : apply_put_end(&s->ap, m->ok, err, sizeof(err));
        if (rc) {
            refuse(s, rc, s->ap.put_path, err);
            s->discard = type == PT_DATA;
        }
        return 0;
    }
    if (apply_put_active(&s->ap) || s->discard) {
        snprintf(err, sizeof(err), "%s inside a PUT", proto_type_name(type));
        refuse(s, PE_FATAL, "", err);
        return -1;
    }
    if (!still_standby(s))
        return -1;
    if (type != PT_PUT && type != PT_MKDIR)   /* (apply_mkdir decides for itself) */
        apply_commit(&s->ap);   /* ordering: files received so far land before this operation */
    int rc = 0;
    switch (type) {
    case PT_PUT:
        rc = apply_put_begin(&s->ap, m, err, sizeof(err));
        s->discard = rc != 0;
        break;
    case PT_MKDIR: rc = apply_mkdir(&s->ap, m, err, sizeof(err)); break;
    case PT_SYMLINK: rc = apply_symlink(&s->ap, m, err, sizeof(err)); break;
    case PT_DELETE: rc = apply_delete(&s->ap, m->path, err, sizeof(err)); break;
    case PT_RENAME: rc = apply_rename(&s->ap, m, err, sizeof(err)); break;
    case PT_MANIFEST_REQ: return on_manifest_req(s, m);
    case PT_IDNAME:
        idmap_learn(&s->ap.ids, m->flags, m->uid, m->node);
        return 0;
    case PT_SYNC:
        if (apply_sync(&s->ap) < 0)
            refuse(s, PE_FAILED, "", "fsync of a directory failed");
        proto_put_token(&s->out, PT_ACK, m->token);
        return 0;
    case PT_RECONCILED:
        if (s->ap.rejoin) {
            sync_state_update(s->state_path, clear_rejoin, &s->epoch, NULL);
            log_info("rejoin complete: %llu conflicting files kept",
                     (unsigned long long)s->ap.conflicts);
            s->ap.rejoin = 0;
        }
        return 0;
    default:
        snprintf(err, sizeof(err), "unexpected %s from a sender", proto_type_name(type));
        refuse(s, PE_FATAL, "", err);
        return -1;
    }
    /* A failed rename is repaired by re-checking its destination. */
    if (rc)
        refuse(s, rc, type == PT_RENAME ? m->path2 : m->path, err);
    return 0;
}

static int serve_loop(struct serve *s)
{
    struct proto_msg *m = malloc(sizeof(*m));
    if (!m)
        return 1;
    int status = 0;
    while (!serve_stop) {
        if (proto_buf_reserve(&s->in, PROTO_MAX_PAYLOAD + PROTO_HDR) < 0) {
            status = 1;
            break;
        }
        ssize_t n = read(0, s->in.data + s->in.len, s->in.cap - s->in.len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0)
                log_warn("stdin");
            break;
        }
        s->in.len += (size_t)n;
        uint8_t type;
        const uint8_t *p;
        size_t len;
        int r;
        while ((r = proto_next_frame(&s->in, &type, &p, &len)) == 1) {
            int rc = on_frame(s, type, p, len, m);
            proto_buf_consume(&s->in, PROTO_HDR + len);
            s->consumed += PROTO_HDR + len;
            if (rc != 0) {
                status = rc < 0 ? 3 : 0;
                goto out;
            }
        }
        if (r < 0) {
            const uint8_t *h = s->in.data + s->in.off;
            char msg[160];
            snprintf(msg, sizeof(msg), "invalid frame header %02x%02x%02x%02x %02x at byte %llu: "
                     "stream unusable", h[0], h[1], h[2], h[3], h[4],
                     (unsigned long long)s->consumed);
            refuse(s, PE_FATAL, "", msg);
            status = 3;
            break;
        }
        if (flush_out(s) < 0)
            break;
    }
    if (proto_buf_used(&s->in) && status == 0 && !serve_stop)
        log_warnx("session from %s ended inside a frame", s->peer[0] ? s->peer : "sender");
out:
    flush_out(s);
    free(m);
    return status;
}

int syncd_serve(const struct conf *c)
{
    struct sigaction sa = {.sa_handler = on_signal};   /* no SA_RESTART: read() returns */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct serve *s = calloc(1, sizeof(*s));
    if (!s)
        return 1;
    s->conf = c;
    sync_state_path(c->state_dir, s->state_path, sizeof(s->state_path));
    char err[512] = "";
    if (syncd_make_dirs(c, err, sizeof(err)) == 0)
        apply_open(&s->ap, c, err, sizeof(err));
    if (err[0]) {
        log_warnx("%s", err);
        proto_put_error(&s->out, PE_FATAL, "", err);
        flush_out(s);
        proto_buf_free(&s->out);
        free(s);
        return 1;
    }
    /* sshd hands us pipes of 64 KiB: larger ones mean fewer wakeups per MiB received. */
    fcntl(0, F_SETPIPE_SZ, 1024 * 1024);
    fcntl(1, F_SETPIPE_SZ, 1024 * 1024);
    s->ap.report = on_commit_failure;
    s->ap.report_arg = s;
    int status = serve_loop(s);
    apply_close(&s->ap);   /* removes a half-received temp file */
    proto_buf_free(&s->in);
    proto_buf_free(&s->out);
    if (s->refused)
        log_info("session from %s: %llu frames refused", s->peer[0] ? s->peer : "sender",
                 (unsigned long long)s->refused);
    free(s);
    return status;
}
