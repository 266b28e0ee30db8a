/*
 * setup.c: the two halves of cloning. `primary --to HOST` pushes this node's installation
 * and shared configuration to HOST; `configure --from HOST` pulls them from HOST onto this
 * node. Either writes the new node's node.conf, registers it in the database and enables
 * its units. Every file written is first backed up (or noted as new) in a transaction
 * directory on the node it is written to, so that a failure puts everything back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clone.h"
#include "db.h"
#include "sha256.h"

/* A command here or on the peer: the same shell text either way. */
struct side {
    struct clone *cl;
    int remote;
    char txdir[256];   /* backups of what this run replaced; ".added" lists new files */
    char *stream;      /* queued files: "mode size path\n" + content, written by tx_flush */
    size_t streamlen, streamcap;
    int nqueued;
};

static int run(struct side *s, const char *cmd, const void *in, size_t inlen, char **out,
               char *err, size_t errlen)
{
    return s->remote ? remote_run(s->cl, cmd, in, inlen, out, err, errlen)
                     : local_run(cmd, in, inlen, out, err, errlen);
}

static const char *where(const struct side *s)
{
    return s->remote ? s->cl->peer : "this node";
}

static int tx_begin(struct side *s)
{
    char err[512], *out = NULL;
    int rc = run(s, "umask 077; mktemp -d /var/tmp/hotstandby-clone.XXXXXX", NULL, 0, &out, err,
                 sizeof(err));
    if (rc != 0 || !out || out[0] != '/') {
        fprintf(stderr, "hotstandby-clone: %s: cannot make a backup directory: %s\n", where(s),
                err);
        free(out);
        return -1;
    }
    out[strcspn(out, "\n")] = '\0';
    snprintf(s->txdir, sizeof(s->txdir), "%s", out);
    free(out);
    return 0;
}

static int tx_flush(struct side *s);

/* Queues path for writing (tx_flush writes them all in one command). */
static int tx_write(struct side *s, const char *path, const void *data, size_t len, int mode)
{
    char head[1200];
    if (strchr(path, '\n') || path[0] != '/') {
        fprintf(stderr, "hotstandby-clone: refusing path '%s'\n", path);
        return -1;
    }
    /* a few MiB per session: a slow peer never holds a huge transfer in one wait */
    if (s->streamlen > (1u << 20) && tx_flush(s) < 0)
        return -1;
    int n = snprintf(head, sizeof(head), "%o %zu %s\n", mode, len, path);
    if (s->streamlen + (size_t)n + len > s->streamcap) {
        size_t cap = (s->streamlen + (size_t)n + len) * 2;
        char *nb = realloc(s->stream, cap);
        if (!nb)
            return -1;
        s->stream = nb;
        s->streamcap = cap;
    }
    memcpy(s->stream + s->streamlen, head, (size_t)n);
    memcpy(s->stream + s->streamlen + n, data, len);
    s->streamlen += (size_t)n + len;
    s->nqueued++;
    return 0;
}

/*
 * Writes every queued file: what was there is copied into the transaction directory first
 * (or the path noted as new), then the content lands in a temp file, is checked for its
 * size and renamed into place. One command for all files: one SSH session, not one each.
 */
static int tx_flush(struct side *s)
{
    char b[300], cmd[2048], err[1024];
    if (!s->nqueued)
        return 0;
    snprintf(cmd, sizeof(cmd),
             "umask 077; set -e; B=%s; while read -r mode size path; do "
             "if [ -e \"$path\" ]; then cp -a --parents \"$path\" \"$B\"; "
             "else echo \"$path\" >> \"$B/.added\"; fi; "
             "mkdir -p \"$(dirname \"$path\")\"; head -c \"$size\" > \"$path.hs-new\"; "
             "[ \"$(stat -c %%s \"$path.hs-new\")\" = \"$size\" ] || "
             "{ echo \"$path: short write\" >&2; exit 1; }; "
             "chmod \"$mode\" \"$path.hs-new\"; mv -f \"$path.hs-new\" \"$path\"; "
             "echo \"$path\"; done",   /* a line per file: a slow peer shows progress */
             shq(s->txdir, b, sizeof(b)));
    char *done = NULL;
    int rc = run(s, cmd, s->stream, s->streamlen, &done, err, sizeof(err));
    free(done);
    if (rc != 0)
        fprintf(stderr, "hotstandby-clone: %s: writing %d files failed: %s\n", where(s),
                s->nqueued, err);
    free(s->stream);
    s->stream = NULL;
    s->streamlen = s->streamcap = 0;
    s->nqueued = 0;
    return rc == 0 ? 0 : -1;
}

static void tx_end(struct side *s, int ok)
{
    free(s->stream);
    s->stream = NULL;
    if (!s->txdir[0])
        return;
    char b[300], cmd[1200], err[512];
    shq(s->txdir, b, sizeof(b));
    if (ok)
        snprintf(cmd, sizeof(cmd), "rm -rf %s", b);
    else
        snprintf(cmd, sizeof(cmd),
                 "cd %s && { [ ! -f .added ] || xargs -d '\\n' rm -f < .added; rm -f .added; "
                 "cp -a . / ; } && cd / && rm -rf %s",
                 b, b);
    if (run(s, cmd, NULL, 0, NULL, err, sizeof(err)) != 0)
        fprintf(stderr, "hotstandby-clone: %s: could not %s (backups in %s)\n", where(s),
                ok ? "remove the backups" : "put the old files back", s->txdir);
    else if (!ok)
        fprintf(stderr, "hotstandby-clone: %s: changes rolled back\n", where(s));
    s->txdir[0] = '\0';
}

static void sha256_hex(const void *data, size_t len, char hex[65])
{
    struct sha256 h;
    uint8_t out[32];
    sha256_init(&h);
    sha256_update(&h, data, len);
    sha256_final(&h, out);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", out[i]);
}

static int mode_for(const char *path)
{
    return strncmp(path, HS_SBINDIR "/", strlen(HS_SBINDIR) + 1) ? 0644 : 0755;
}

/* Fetches text from `from` (a side) — the installed-files list or a config file. */
static char *get_from(struct side *from, const char *path, size_t *len, char *err, size_t errlen)
{
    if (from->remote)
        return remote_get(from->cl, path, len, err, errlen);
    return read_local(path, len, err, errlen);
}

/*
 * Copies every file the installed-files list of `from` names to `to`, each checked against
 * its sha256 in the list before it is written; files `to` already has identical are skipped.
 * Returns the number copied, or -1.
 */
static int copy_installation(struct side *from, struct side *to)
{
    char err[1024];
    size_t len;
    char *list = get_from(from, INSTALLED_FILES, &len, err, sizeof(err));
    if (!list) {
        fprintf(stderr, "hotstandby-clone: %s (is hotstandby installed with make install?)\n", err);
        return -1;
    }
    char *have = to->remote ? remote_get(to->cl, INSTALLED_FILES, &len, err, sizeof(err))
                            : read_local(INSTALLED_FILES, &len, err, sizeof(err));
    int copied = 0, rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(list, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        char sum[65], path[1024];
        if (sscanf(line, "%64s %1023s", sum, path) != 2 || path[0] != '/') {
            fprintf(stderr, "hotstandby-clone: %s: malformed line '%.80s'\n", INSTALLED_FILES, line);
            rc = -1;
            break;
        }
        if (have && strstr(have, line))
            continue;
        size_t flen;
        char *data = get_from(from, path, &flen, err, sizeof(err));
        char got[65];
        if (data)
            sha256_hex(data, flen, got);
        if (!data || strcmp(got, sum)) {
            fprintf(stderr, "hotstandby-clone: %s: %s: %s\n", where(from), path,
                    data ? "checksum does not match installed-files: not copied" : err);
            rc = -1;
        } else if (tx_write(to, path, data, flen, mode_for(path)) < 0) {
            rc = -1;
        } else {
            copied++;
        }
        free(data);
    }
    free(have);
    if (rc == 0) {
        char *again = get_from(from, INSTALLED_FILES, &len, err, sizeof(err));
        rc = again ? tx_write(to, INSTALLED_FILES, again, len, 0644) : -1;
        free(again);
    }
    free(list);
    return rc < 0 ? -1 : copied;
}

/* The shared file and the secret / key files it names (same paths on every node). */
static int copy_shared_conf(struct clone *cl, struct side *from, struct side *to)
{
    char err[1024];
    size_t len;
    char *text = get_from(from, cl->conf_path, &len, err, sizeof(err));
    if (!text) {
        fprintf(stderr, "hotstandby-clone: %s\n", err);
        return -1;
    }
    int rc = tx_write(to, cl->conf_path, text, len, 0640);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        char key[64], path[1024];
        if (sscanf(line, " %63[a-z_] = %1023s", key, path) != 2 || path[0] != '/')
            continue;
        size_t kl = strlen(key);
        int secret = kl > 5 && !strcmp(key + kl - 5, "_file");
        if (!secret && strcmp(key, "ssh_key") && strcmp(key, "known_hosts"))
            continue;
        size_t flen;
        char *data = get_from(from, path, &flen, err, sizeof(err));
        if (!data) {
            fprintf(stderr, "hotstandby-clone: %s (named by %s in %s)\n", err, key, cl->conf_path);
            rc = -1;
            break;
        }
        rc = tx_write(to, path, data, flen, strcmp(key, "known_hosts") ? 0600 : 0644);
        free(data);
    }
    free(text);
    return rc;
}

static int write_node_conf(struct side *to, const char *path, const char *node,
                           const char *address, int priority, const char *interface,
                           const char *by)
{
    char text[2048];
    int n = snprintf(text, sizeof(text),
                     "# node.conf of %s (written by hotstandby-clone on %s): what differs from\n"
                     "# the other nodes; the shared settings are in hotstandby.conf.\n"
                     "[cluster]\nnode = %s\naddress = %s\n[heartbeat]\npriority = %d\n",
                     node, by, node, address, priority);
    if (interface && *interface)
        n += snprintf(text + n, sizeof(text) - (size_t)n, "[vip]\ninterface = %s\n", interface);
    return tx_write(to, path, text, (size_t)n, 0644);
}

/* The new node in hs_node, not yet seen (so nobody counts it as live before it beats). */
static int register_node(const struct conf *c, const char *node, const char *address,
                         int priority)
{
    char err[1024], prio[16];
    PGconn *db = db_connect_wait(c->database, 5000, err, sizeof(err));
    if (!db) {
        fprintf(stderr, "hotstandby-clone: database: %s\n", err);
        return -1;
    }
    char aerr[512];
    if (db_apply_schema(db, 5000, aerr, sizeof(aerr)) < 0)
        fprintf(stderr, "hotstandby-clone: database: %s (going on)\n", aerr);
    snprintf(prio, sizeof(prio), "%d", priority);
    const char *params[] = {c->cluster, node, address, prio};
    PGresult *r = db_exec_wait(db,
        "INSERT INTO hs_node (cluster, node, address, priority, seen_at) "
        "VALUES ($1, $2, $3, $4, to_timestamp(0)) ON CONFLICT (cluster, node) "
        "DO UPDATE SET address = $3, priority = $4", 4, params, 5000, err, sizeof(err));
    PQclear(r);
    PQfinish(db);
    if (!r) {
        fprintf(stderr, "hotstandby-clone: database: registering %s: %s\n", node, err);
        return -1;
    }
    return 0;
}

static int enable_units(struct side *s)
{
    char err[512], *out = NULL;
    int rc = run(s,
                 "if [ -d /run/systemd/system ]; then systemctl daemon-reload && systemctl enable "
                 "hotstandby-heartbeatd.service hotstandby-watchd.service hotstandby-syncd.service "
                 "hotstandby-syncd-once.timer; else echo 'no systemd: units not enabled'; fi",
                 NULL, 0, &out, err, sizeof(err));
    if (out && *out)
        printf("%s: %s", where(s), out);
    free(out);
    if (rc != 0)
        fprintf(stderr, "hotstandby-clone: %s: enabling the units failed: %s\n", where(s), err);
    return rc == 0 ? 0 : -1;
}

static const char *node_dir_file(const char *conf_path, const char *node_file, char *buf,
                                 size_t len)
{
    if (node_file[0] == '/')
        return node_file;
    const char *slash = strrchr(conf_path, '/');
    snprintf(buf, len, "%.*s/%s", slash ? (int)(slash - conf_path) : 1, slash ? conf_path : ".",
             node_file);
    return buf;
}

/* HOST as a numeric address (what node.conf and hs_node should hold); HOST if unresolved. */
static void numeric_address(const char *host, char *buf, size_t len)
{
    struct addrinfo *ai = NULL, hints = {.ai_socktype = SOCK_STREAM};
    snprintf(buf, len, "%s", host);
    if (getaddrinfo(host, NULL, &hints, &ai) == 0 && ai) {
        getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, (socklen_t)len, NULL, 0, NI_NUMERICHOST);
        freeaddrinfo(ai);
    }
}

int clone_primary(struct clone *cl)
{
    if (!cl->conf.node_file[0]) {
        fprintf(stderr, "hotstandby-clone: %s has no 'include = node.conf': split it into the "
                "shared file and node.conf first (hotstandby.conf(5))\n", cl->conf_path);
        return -1;
    }
    if (preflight(cl, 1)) {
        fprintf(stderr, "hotstandby-clone: preflight failed: nothing was changed on %s\n",
                cl->peer);
        return -1;
    }
    char node[64], address[256], err[512], *out = NULL;
    snprintf(node, sizeof(node), "%s", cl->new_node ? cl->new_node : "");
    if (!node[0] && remote_run(cl, "hostname -s", NULL, 0, &out, err, sizeof(err)) == 0 && out)
        snprintf(node, sizeof(node), "%.*s", (int)strcspn(out, "\n"), out);
    free(out);
    if (cl->new_address)
        snprintf(address, sizeof(address), "%s", cl->new_address);
    else
        numeric_address(cl->peer, address, sizeof(address));
    if (!node[0] || !strcmp(node, cl->conf.node)) {
        fprintf(stderr, "hotstandby-clone: the new node needs a name of its own (--node)\n");
        return -1;
    }
    struct side here = {.cl = cl}, there = {.cl = cl, .remote = 1};
    if (tx_begin(&there) < 0)
        return -1;
    int copied = copy_installation(&here, &there);
    int ok = copied >= 0 && copy_shared_conf(cl, &here, &there) == 0 &&
             write_node_conf(&there, cl->conf.node_file, node, address,
                             cl->new_priority >= 0 ? cl->new_priority : cl->conf.priority,
                             cl->new_interface ? cl->new_interface : cl->conf.vip_interface,
                             cl->conf.node) == 0 &&
             tx_flush(&there) == 0 &&
             register_node(&cl->conf, node, address,
                           cl->new_priority >= 0 ? cl->new_priority : cl->conf.priority) == 0 &&
             enable_units(&there) == 0;
    tx_end(&there, ok);
    if (ok)
        printf("%s is node %s of cluster %s (%d installed files copied); start it with "
               "Configure_failover_server.sh or systemctl\n", cl->peer, node, cl->conf.cluster,
               copied);
    return ok ? 0 : -1;
}

/* This node's address towards the peer (the source address the kernel would use). */
static void address_towards(const char *peer, char *buf, size_t len)
{
    struct addrinfo *ai = NULL, hints = {.ai_socktype = SOCK_DGRAM};
    buf[0] = '\0';
    if (getaddrinfo(peer, "22", &hints, &ai) != 0 || !ai)
        return;
    int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
        getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        getnameinfo((struct sockaddr *)&ss, sl, buf, (socklen_t)len, NULL, 0, NI_NUMERICHOST);
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
}

/* The primary's node.conf value of a key (for defaults such as the VIP interface). */
static void peer_value(const char *text, const char *key, char *buf, size_t len)
{
    char k[64], v[256];
    buf[0] = '\0';
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (sscanf(l, " %63[a-z_] = %255[^\n]", k, v) == 2 && !strcmp(k, key))
            snprintf(buf, len, "%s", v);
}

int clone_configure(struct clone *cl)
{
    char err[1024], node_path[1100], address[256], node[64], iface[64] = "";
    size_t len;
    char *shared = remote_get(cl, cl->conf_path, &len, err, sizeof(err));
    if (!shared) {
        fprintf(stderr, "hotstandby-clone: %s\n", err);
        return -1;
    }
    char inc[512];
    peer_value(shared, "include", inc, sizeof(inc));
    free(shared);
    if (!inc[0]) {
        fprintf(stderr, "hotstandby-clone: %s:%s has no 'include = node.conf': split it on the "
                "primary first (hotstandby.conf(5))\n", cl->peer, cl->conf_path);
        return -1;
    }
    node_dir_file(cl->conf_path, inc, node_path, sizeof(node_path));
    char *theirs = remote_get(cl, node_path, &len, err, sizeof(err));
    if (theirs) {
        peer_value(theirs, "interface", iface, sizeof(iface));
        free(theirs);
    }
    gethostname(node, sizeof(node));
    node[strcspn(node, ".")] = '\0';
    if (cl->new_node)
        snprintf(node, sizeof(node), "%s", cl->new_node);
    if (cl->new_address)
        snprintf(address, sizeof(address), "%s", cl->new_address);
    else
        address_towards(cl->peer, address, sizeof(address));

    struct side here = {.cl = cl}, there = {.cl = cl, .remote = 1};
    if (tx_begin(&here) < 0)
        return -1;
    int ok = copy_installation(&there, &here) >= 0 && copy_shared_conf(cl, &there, &here) == 0 &&
             write_node_conf(&here, node_path, node, address,
                             cl->new_priority >= 0 ? cl->new_priority : 100,
                             cl->new_interface ? cl->new_interface : iface, cl->peer) == 0 &&
             tx_flush(&here) == 0;
    if (ok && conf_load(cl->conf_path, &cl->conf, err, sizeof(err)) < 0) {
        fprintf(stderr, "hotstandby-clone: %s\n", err);
        ok = 0;
    }
    if (ok)
        db_set_pool_mode(cl->conf.database_pool_mode == POOL_TRANSACTION);
    if (ok && preflight(cl, 0)) {
        fprintf(stderr, "hotstandby-clone: preflight failed\n");
        ok = 0;
    }
    ok = ok && register_node(&cl->conf, cl->conf.node, address, cl->conf.priority) == 0 &&
         enable_units(&here) == 0;
    tx_end(&here, ok);
    if (ok)
        printf("this node is %s of cluster %s; start its units (Configure_failover_server.sh "
               "does)\n", cl->conf.node, cl->conf.cluster);
    return ok ? 0 : -1;
}
