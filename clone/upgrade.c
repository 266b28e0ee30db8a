/*
 * upgrade.c: upgrades between the nodes of a cluster (DESIGN §8), run by watchd as a
 * child, off its decision path.
 *
 *   publish  on the active: the checksums of the binaries beside this executable
 *            (common/release.h) and the active's version go to hs_release and
 *            hs_cluster.active_version, written only while this node holds the cluster at
 *            the epoch it read.
 *   upgrade  on a standby: when the active's published files are of a newer version, fetch
 *            them over SSH with the sync key (the active's `syncd --serve` answers a
 *            RELEASE_REQ with exactly those files, read-only), check every one against the
 *            published size and SHA-256, install them beside this executable (temp file,
 *            fsync, rename; the old ones kept as NAME.hs-old) and start the restart command
 *            detached. Never while this node is the active: checked before installing and
 *            again before restarting; a failure anywhere leaves the old files in place.
 *
 * Exit codes: 0 done or nothing to do, 1 failed, 3 refused (this node is or became the
 * active), 4 not yet (the active has not published its files at its epoch). One line
 * saying what happened goes to stdout (or stderr) and to RUN_DIR/upgrade.status, where
 * watchd reads it for the alert.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../syncd/proto.h"
#include "clock.h"
#include "clone.h"
#include "ctl.h"
#include "daemon.h"
#include "db.h"
#include "release.h"
#include "spawn.h"
#include "sql.h"
#include "ssh.h"

#define DB_TIMEOUT_MS 10000

enum { UP_OK = 0, UP_FAILED = 1, UP_REFUSED = 3, UP_NOT_YET = 4 };

/* $1 cluster, $2 node, $3 epoch, $4 version, $5 manifest: only the holder at $3 publishes */
#define SQL_PUBLISH_RELEASE \
    "WITH c AS (UPDATE hs_cluster SET active_version = $4 " \
    "  WHERE cluster = $1 AND holder = $2 AND epoch = $3 RETURNING cluster) " \
    "INSERT INTO hs_release (cluster, node, epoch, version, manifest, published_at) " \
    "SELECT cluster, $2, $3, $4, $5, clock_timestamp() FROM c " \
    "ON CONFLICT (cluster) DO UPDATE SET node = EXCLUDED.node, epoch = EXCLUDED.epoch, " \
    " version = EXCLUDED.version, manifest = EXCLUDED.manifest, " \
    " published_at = EXCLUDED.published_at RETURNING epoch"

/* $1 cluster: the holder, the release it published and where to reach it */
#define SQL_READ_RELEASE \
    "SELECT coalesce(c.holder, ''), c.epoch, coalesce(r.node, ''), coalesce(r.epoch, -1), " \
    " coalesce(r.version, ''), coalesce(r.manifest, ''), coalesce(n.address, '') " \
    "FROM hs_cluster c LEFT JOIN hs_release r ON r.cluster = c.cluster " \
    "LEFT JOIN hs_node n ON n.cluster = c.cluster AND n.node = c.holder WHERE c.cluster = $1"

struct upgrade {
    struct clone *cl;
    char dir[1024];         /* where our binaries are, and where the new ones go */
    char holder[64], version[65], address[256];
    int64_t epoch;
    struct release_file f[RELEASE_NFILES];
};

/* The outcome line: stdout or stderr, and RUN_DIR/upgrade.status for watchd. */
static int outcome(struct upgrade *u, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int outcome(struct upgrade *u, int code, const char *fmt, ...)
{
    char line[1024], path[CONF_STR + 32], err[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    for (char *p = line; *p; p++)
        if (*p == '\n')
            *p = ' ';
    fprintf(code == UP_OK ? stdout : stderr, "hotstandby-clone: %s\n", line);
    line[n++] = '\n';
    snprintf(path, sizeof(path), "%s/upgrade.status", u->cl->conf.run_dir);
    if (write_local(path, line, (size_t)n, 0644, err, sizeof(err)) < 0)
        fprintf(stderr, "hotstandby-clone: %s\n", err);
    return code;
}

static PGresult *query(PGconn *conn, const char *sql, int n, const char *const *params,
                       char *err, size_t errlen)
{
    PGresult *r = db_exec_wait(conn, sql, n, params, DB_TIMEOUT_MS, err, errlen);
    if (r && PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        err[strcspn(err, "\n")] = '\0';
        PQclear(r);
        return NULL;
    }
    return r;
}

/* ---- publish ---- */

static json_t *hash_release(const char *dir, char *err, size_t errlen)
{
    int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return NULL;
    }
    json_t *files = json_array();
    for (int i = 0; i < RELEASE_NFILES; i++) {
        struct stat st;
        char hex[65];
        uint64_t size;
        int fd = release_open(dirfd, release_files[i], &st);
        if (fd < 0 || release_hash_fd(fd, hex, &size) < 0) {
            snprintf(err, errlen, "%s/%s: %s", dir, release_files[i], strerror(errno));
            if (fd >= 0)
                close(fd);
            close(dirfd);
            json_decref(files);
            return NULL;
        }
        close(fd);
        json_array_append_new(files, json_pack("{s:s,s:I,s:s}", "name", release_files[i],
                                               "size", (json_int_t)size, "sha256", hex));
    }
    close(dirfd);
    return json_pack("{s:s,s:o}", "version", HS_VERSION, "files", files);
}

int upgrade_publish(struct clone *cl)
{
    struct upgrade u = {.cl = cl};
    char err[512], epoch[32];
    if (self_dir(u.dir, sizeof(u.dir)) < 0)
        return outcome(&u, UP_FAILED, "publish: cannot find the directory of this executable");
    json_t *manifest = hash_release(u.dir, err, sizeof(err));
    if (!manifest)
        return outcome(&u, UP_FAILED, "publish: %s", err);
    char *text = json_dumps(manifest, JSON_COMPACT);
    json_decref(manifest);
    PGconn *conn = db_connect_wait(cl->conf.database, DB_TIMEOUT_MS, err, sizeof(err));
    const char *p1[] = {cl->conf.cluster};
    PGresult *r = conn ? query(conn, "SELECT coalesce(holder, ''), epoch FROM hs_cluster "
                                     "WHERE cluster = $1", 1, p1, err, sizeof(err))
                       : NULL;
    int code = UP_FAILED;
    if (r && (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), cl->conf.node) != 0)) {
        snprintf(err, sizeof(err), "this node (%s) does not hold cluster %s", cl->conf.node,
                 cl->conf.cluster);
        code = UP_REFUSED;
    } else if (r) {
        /* the version of these files, as a claim writes that of the claiming watchd */
        snprintf(epoch, sizeof(epoch), "%s", PQgetvalue(r, 0, 1));
        const char *p5[] = {cl->conf.cluster, cl->conf.node, epoch, HS_VERSION, text};
        PQclear(r);
        r = query(conn, SQL_PUBLISH_RELEASE, 5, p5, err, sizeof(err));
        if (r && PQntuples(r) == 1)
            code = UP_OK;
        else if (r) {
            snprintf(err, sizeof(err), "lost cluster %s before publishing", cl->conf.cluster);
            code = UP_REFUSED;
        }
    }
    if (r)
        PQclear(r);
    if (conn)
        PQfinish(conn);
    free(text);
    if (code != UP_OK)
        return outcome(&u, code, "publish: %s", err);
    return outcome(&u, UP_OK, "published the checksums of %s/{watchd,heartbeatd,vipctl,vipctl-full,syncd,"
                   "hotstandby-clone} (version %s) at epoch %s", u.dir, HS_VERSION, epoch);
}

/* ---- upgrade: what the active published ---- */

static int hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

/* Every file of release.h exactly once, with a size and a SHA-256. */
static int parse_manifest(struct upgrade *u, const char *text, char *err, size_t errlen)
{
    json_error_t je;
    json_t *m = json_loads(text, 0, &je), *files = json_object_get(m, "files"), *e;
    size_t i;
    int seen = 0, rc = 0;
    json_array_foreach(files, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *sum = json_string_value(json_object_get(e, "sha256"));
        json_t *size = json_object_get(e, "size");
        int k = name ? release_index(name) : -1;
        if (k < 0 || (seen & (1 << k)) || !hex64(sum) || !json_is_integer(size) ||
            json_integer_value(size) < 0) {
            rc = -1;
            break;
        }
        seen |= 1 << k;
        snprintf(u->f[k].sha256, sizeof(u->f[k].sha256), "%s", sum);
        u->f[k].size = (uint64_t)json_integer_value(size);
    }
    if (!json_is_array(files) || seen != (1 << RELEASE_NFILES) - 1)
        rc = -1;
    if (rc < 0)
        snprintf(err, errlen, "the release %s published is malformed", u->holder);
    json_decref(m);
    return rc;
}

/* Reads the row; returns -1 (failed), UP_REFUSED, UP_NOT_YET, or 0 with u filled. */
static int read_release(struct upgrade *u, char *err, size_t errlen)
{
    const struct conf *c = &u->cl->conf;
    PGconn *conn = db_connect_wait(c->database, DB_TIMEOUT_MS, err, errlen);
    const char *p[] = {c->cluster};
    PGresult *r = conn ? query(conn, SQL_READ_RELEASE, 1, p, err, errlen) : NULL;
    if (conn)
        PQfinish(conn);
    if (!r)
        return -1;
    int rc = 0;
    if (PQntuples(r) != 1 || !*PQgetvalue(r, 0, 0)) {
        snprintf(err, errlen, "cluster %s has no active", c->cluster);
        rc = UP_NOT_YET;
    } else if (strcmp(PQgetvalue(r, 0, 0), c->node) == 0) {
        snprintf(err, errlen, "this node (%s) is the active", c->node);
        rc = UP_REFUSED;
    } else {
        snprintf(u->holder, sizeof(u->holder), "%s", PQgetvalue(r, 0, 0));
        u->epoch = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
        snprintf(u->version, sizeof(u->version), "%s", PQgetvalue(r, 0, 4));
        snprintf(u->address, sizeof(u->address), "%s", PQgetvalue(r, 0, 6));
        /* a release of an earlier holder or epoch is not the active's word */
        if (strcmp(PQgetvalue(r, 0, 2), u->holder) != 0 ||
            strtoll(PQgetvalue(r, 0, 3), NULL, 10) != u->epoch) {
            snprintf(err, errlen, "%s has not published its files at epoch %lld yet", u->holder,
                     (long long)u->epoch);
            rc = UP_NOT_YET;
        } else {
            rc = parse_manifest(u, PQgetvalue(r, 0, 5), err, errlen);
        }
    }
    PQclear(r);
    return rc;
}

/* Stop at the next step, never in the middle of the swap: SIGUSR1 from watchd when this
 * node claims the cluster (1), SIGTERM when our deadline passed (2). While fetching, at
 * once: nothing is written yet, and the SSH waits do not end on a signal. */
static volatile sig_atomic_t abandon, fetching;

static void on_signal(int signo)
{
    abandon = signo == SIGUSR1 ? 1 : 2;
    if (fetching)
        _exit(abandon == 1 ? UP_REFUSED : UP_FAILED);
}

static const char *abandon_reason(void)
{
    return abandon == 1 ? "abandoned: this node claims the cluster"
                        : "stopped: its deadline passed";
}

/* Is this node a standby now, by its own watchd and by the database? 0, or UP_REFUSED. */
static int still_standby(struct upgrade *u, char *err, size_t errlen)
{
    char sock[512], cerr[256];
    if (abandon) {
        snprintf(err, errlen, "%s", abandon_reason());
        return abandon == 1 ? UP_REFUSED : UP_FAILED;
    }
    conf_sock_path(&u->cl->conf, "watchd", sock, sizeof(sock));
    json_t *req = json_pack("{s:s}", "cmd", "status");
    json_t *st = ctl_call(sock, req, 5000, cerr, sizeof(cerr));
    json_decref(req);
    const char *role = json_string_value(json_object_get(st, "role"));
    int rc = 0;
    if (!role || strcmp(role, "standby") != 0) {
        snprintf(err, errlen, "this node's watchd is %s%s, not a standby",
                 role ? role : "unreachable: ", role ? "" : cerr);
        rc = UP_REFUSED;
    }
    json_decref(st);
    if (rc == 0) {
        struct upgrade again = {.cl = u->cl};
        int r = read_release(&again, err, errlen);
        if (r == UP_REFUSED || (r == 0 && strcmp(again.holder, u->holder) != 0)) {
            if (r == 0)
                snprintf(err, errlen, "the active changed from %s to %s", u->holder,
                         again.holder);
            rc = UP_REFUSED;
        }
    }
    return rc;
}

/* The check release_install makes between writing the temp files and the swap. */
static int last_check(void *arg, char *err, size_t errlen)
{
    return still_standby(arg, err, errlen);
}

/* ---- upgrade: fetching ---- */

static int peer_of(struct upgrade *u, struct hs_ssh_opts *o, char *err, size_t errlen)
{
    const struct conf *c = &u->cl->conf;
    o->user = c->ssh_user;
    o->key = c->ssh_key;
    o->known_hosts = c->known_hosts;
    o->command = c->remote_command;
    o->port = 22;
    o->host = u->address;
    for (int i = 0; i < c->n_sync_peers; i++)
        if (strcmp(c->sync_peers[i].node, u->holder) == 0) {
            o->host = c->sync_peers[i].host;
            o->port = c->sync_peers[i].port ? c->sync_peers[i].port : 22;
        }
    if (!*o->host) {
        snprintf(err, errlen, "no address for %s ([sync] peers, hs_node)", u->holder);
        return -1;
    }
    return 0;
}

static int on_frame(struct upgrade *u, uint8_t type, const uint8_t *p, size_t len, int *cur,
                    struct proto_msg *m, char *err, size_t errlen)
{
    char why[256];
    if (proto_decode(type, p, len, m, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "bad frame from %s: %s", u->holder, why);
        return -1;
    }
    struct release_file *f = *cur >= 0 ? &u->f[*cur] : NULL;
    switch (type) {
    case PT_PUT:
        *cur = release_index(m->path);
        if (*cur < 0 || u->f[*cur].data) {
            snprintf(err, errlen, "%s sent %.100s: not a file of its release", u->holder,
                     m->path);
            return -1;
        }
        if (m->size != u->f[*cur].size) {
            snprintf(err, errlen, "%s from %s: %llu bytes, the published size is %llu",
                     m->path, u->holder, (unsigned long long)m->size,
                     (unsigned long long)u->f[*cur].size);
            return -1;
        }
        u->f[*cur].data = malloc(m->size ? m->size : 1);
        return u->f[*cur].data ? 0 : -1;
    case PT_DATA:
        if (!f || f->ended || f->len + m->data_len > f->size) {
            snprintf(err, errlen, "%s sent more data than its release says", u->holder);
            return -1;
        }
        memcpy(f->data + f->len, m->data, m->data_len);
        f->len += m->data_len;
        return 0;
    case PT_END:
        if (!f || !m->ok || f->len != f->size) {
            snprintf(err, errlen, "%s: %s changed while it was sent", u->holder,
                     f ? release_files[*cur] : "?");
            return -1;
        }
        f->ended = 1;
        *cur = -1;
        return 0;
    case PT_ERROR:
        snprintf(err, errlen, "%s: %s", u->holder, m->path2);
        return -1;
    case PT_MANIFEST_END:
        return 1;
    default:
        snprintf(err, errlen, "%s sent an unexpected %s", u->holder, proto_type_name(type));
        return -1;
    }
}

static int parse_stream(struct upgrade *u, unsigned char *out, size_t outlen, char *err,
                        size_t errlen)
{
    struct proto_buf in = {.data = out, .off = 0, .len = outlen, .cap = outlen};
    struct proto_msg *m = malloc(sizeof(*m));
    uint8_t type;
    const uint8_t *p;
    size_t len;
    int cur = -1, rc = 0, r;
    while (m && rc == 0 && (r = proto_next_frame(&in, &type, &p, &len)) == 1) {
        rc = on_frame(u, type, p, len, &cur, m, err, errlen);
        proto_buf_consume(&in, PROTO_HDR + len);
    }
    free(m);
    if (rc == 1)
        return 0;
    if (rc == 0)
        snprintf(err, errlen, "the answer of %s ended early", u->holder);
    return -1;
}

static int fetch(struct upgrade *u, char *err, size_t errlen)
{
    struct hs_ssh_opts o;
    struct proto_buf req = {0};
    char why[512];
    if (peer_of(u, &o, err, errlen) < 0)
        return -1;
    proto_put_path(&req, PT_RELEASE_REQ, u->cl->conf.cluster);
    char *out = NULL;
    size_t outlen = 0;
    fetching = !abandon;
    int rc = abandon ? -1 : hs_ssh_run(&o, req.data, req.len, &out, &outlen, SSH_TIMEOUT_MS,
                                       why, sizeof(why));
    fetching = 0;
    proto_buf_free(&req);
    if (rc != 0) {
        snprintf(err, errlen, "fetching from %s (%s port %d): %s%s", u->holder, o.host, o.port,
                 rc > 0 ? "the remote command failed: " : "", why);
        free(out);
        return -1;
    }
    rc = parse_stream(u, (unsigned char *)out, outlen, err, errlen);
    free(out);
    for (int i = 0; rc == 0 && i < RELEASE_NFILES; i++) {
        char hex[65];
        struct release_file *f = &u->f[i];
        if (!f->ended) {
            snprintf(err, errlen, "%s did not send %s", u->holder, release_files[i]);
            return -1;
        }
        release_hash_mem(f->data, f->len, hex);
        if (strcmp(hex, f->sha256) != 0) {
            snprintf(err, errlen, "%s from %s: SHA-256 %.16s... is not the published %.16s...",
                     release_files[i], u->holder, hex, f->sha256);
            return -1;
        }
    }
    return rc;
}

/* The restart runs detached (its own session): it restarts the watchd that started us. */
static int restart_detached(struct upgrade *u, char *err, size_t errlen)
{
    char cmd[CONF_LONGSTR + 2400], bin[1100], q1[1200], q2[1200], logf[CONF_STR + 32];
    const struct conf *c = &u->cl->conf;
    snprintf(bin, sizeof(bin), "%s/hotstandby-clone", u->dir);
    if (*c->upgrade_restart)
        snprintf(cmd, sizeof(cmd), "%s", c->upgrade_restart);
    else
        snprintf(cmd, sizeof(cmd), "exec %s -c %s restart", shq(bin, q1, sizeof(q1)),
                 shq(u->cl->conf_path, q2, sizeof(q2)));
    snprintf(logf, sizeof(logf), "%s/upgrade-restart.log", c->run_dir);
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        if (fork() != 0)
            _exit(0);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (null < 0 || fd < 0)
            _exit(126);
        dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("HOTSTANDBY_CLUSTER", c->cluster, 1);   /* as the hooks get them */
        setenv("HOTSTANDBY_NODE", c->node, 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0) {
        snprintf(err, errlen, "cannot start the restart: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void record_event(struct upgrade *u, const char *detail)
{
    char err[256], e[32], ms[32];
    PGconn *conn = db_connect_wait(u->cl->conf.database, DB_TIMEOUT_MS, err, sizeof(err));
    if (!conn)
        return;
    snprintf(e, sizeof(e), "%lld", (long long)u->epoch);
    snprintf(ms, sizeof(ms), "%lld", (long long)(wall_ns() / NS_PER_MS));
    const char *p[] = {u->cl->conf.cluster, u->cl->conf.node, e, "upgraded", detail, ms};
    PGresult *r = db_exec_wait(conn, SQL_EVENT, 6, p, DB_TIMEOUT_MS, err, sizeof(err));
    if (r)
        PQclear(r);
    PQfinish(conn);
}

static int restart(struct upgrade *u, const char *done)
{
    char err[1024];
    int rc;
    /* the last moment to stay out of a promotion: restarting watchd then would demote */
    if ((rc = still_standby(u, err, sizeof(err))) != 0)
        return outcome(u, rc, "upgrade: %s installed but not restarted: %s", u->version, err);
    if (restart_detached(u, err, sizeof(err)) < 0)
        return outcome(u, UP_FAILED, "upgrade: %s installed but %s", u->version, err);
    return outcome(u, UP_OK, "%s; restarting this node's daemons", done);
}

static int run_upgrade(struct upgrade *u)
{
    char err[1024], detail[600];
    int rc = read_release(u, err, sizeof(err));
    if (rc != 0)
        return outcome(u, rc < 0 ? UP_FAILED : rc, "upgrade: %s", err);
    if (release_installed(u->dir, u->f)) {
        snprintf(detail, sizeof(detail), "the files of %s (%s) are installed in %s", u->holder,
                 u->version, u->dir);
        return restart(u, detail);
    }
    if (strverscmp(u->version, HS_VERSION) <= 0)
        return outcome(u, UP_OK, "upgrade: nothing to do: %s published version %s, this node "
                       "has %s", u->holder, u->version, HS_VERSION);
    if ((rc = still_standby(u, err, sizeof(err))) != 0)
        return outcome(u, rc, "upgrade: %s: nothing installed", err);
    if (fetch(u, err, sizeof(err)) < 0)
        return outcome(u, abandon == 1 ? UP_REFUSED : UP_FAILED,
                       "upgrade to %s failed: %s; nothing installed, %s kept", u->version,
                       abandon ? abandon_reason() : err, HS_VERSION);
    if ((rc = release_install(u->dir, u->f, last_check, u, err, sizeof(err))) != 0)
        return outcome(u, rc == UP_REFUSED ? UP_REFUSED : UP_FAILED,
                       "upgrade to %s failed: %s; nothing installed, %s kept", u->version, err,
                       HS_VERSION);
    release_list_update(u->dir, u->f);
    snprintf(detail, sizeof(detail), "upgraded %s -> %s: the files of %s in %s, checked "
             "against the checksums it published at epoch %lld; old files kept as *.hs-old",
             HS_VERSION,
             u->version, u->holder, u->dir, (long long)u->epoch);
    record_event(u, detail);
    return restart(u, detail);
}

int upgrade_standby(struct clone *cl)
{
    static struct upgrade u;   /* large: off the stack */
    u.cl = cl;
    if (self_dir(u.dir, sizeof(u.dir)) < 0)
        return outcome(&u, UP_FAILED, "upgrade: cannot find the directory of this executable");
    if (!*cl->conf.ssh_key || !*cl->conf.known_hosts)
        return outcome(&u, UP_FAILED, "upgrade: [sync] ssh_key and known_hosts are needed");
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    char status[CONF_STR + 32];   /* no outcome of an earlier attempt may be read for this one */
    snprintf(status, sizeof(status), "%s/upgrade.status", cl->conf.run_dir);
    unlink(status);
    int rc = run_upgrade(&u);
    for (int i = 0; i < RELEASE_NFILES; i++)
        free(u.f[i].data);
    return rc;
}
