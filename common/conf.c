/*
 * conf.c: the configuration file. Strict INI: every section and key is in keys[]
 * below; an unknown key, a bad value, a duplicate or a missing required key is an
 * error naming file:line: key. Durations take ms/s/m suffixes.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "clock.h"
#include "conf.h"
#include "sha256.h"

enum key_type { K_STR, K_DURATION, K_INT, K_BOOL, K_CONNECTION, K_POOL_MODE, K_NETMASK, K_LIST,
                K_PEERS, K_SECRET_FILE, K_PATH, K_MSEC };

struct key {
    const char *section;
    const char *name;
    enum key_type type;
    size_t offset;
    size_t size;          /* K_STR/K_PATH: buffer size */
    long min, max;        /* K_INT; K_DURATION in ms */
};

#define OFF(f) offsetof(struct conf, f)
#define STR(s, k, f) {s, k, K_STR, OFF(f), sizeof(((struct conf *)0)->f), 0, 0}
#define PATHK(s, k, f) {s, k, K_PATH, OFF(f), sizeof(((struct conf *)0)->f), 0, 0}
#define DUR(s, k, f, lo, hi) {s, k, K_DURATION, OFF(f), 0, lo, hi}
#define INT(s, k, f, lo, hi) {s, k, K_INT, OFF(f), 0, lo, hi}
#define BOOL(s, k, f) {s, k, K_BOOL, OFF(f), 0, 0, 0}

static const struct key keys[] = {
    STR("cluster", "name", cluster),
    STR("cluster", "node", node),
    STR("cluster", "address", address),
    STR("cluster", "primary", primary),
    {"cluster", "connection", K_CONNECTION, OFF(connection), 0, 0, 0},
    STR("cluster", "database", database),
    {"cluster", "database_file", K_SECRET_FILE, OFF(database), sizeof(((struct conf *)0)->database), 0, 0},
    {"cluster", "database_pool_mode", K_POOL_MODE, OFF(database_pool_mode), 0, 0, 0},
    PATHK("cluster", "run_dir", run_dir),
    PATHK("cluster", "state_dir", state_dir),
    STR("cluster", "user", user),

    DUR("heartbeat", "interval", interval_ns, 50, 3600000),
    DUR("heartbeat", "takeover_timeout", takeover_timeout_ns, 500, 86400000),
    DUR("heartbeat", "fence_after", fence_after_ns, 100, 86400000),
    INT("heartbeat", "priority", priority, 0, 1000000),

    STR("vip", "address", vip_address),
    {"vip", "netmask", K_NETMASK, OFF(vip_prefix), 0, 0, 0},
    STR("vip", "interface", vip_interface),
    INT("vip", "garp_count", garp_count, 0, 100),
    DUR("vip", "garp_interval", garp_interval_ns, 1, 60000),

    STR("dns", "type", dns_type),
    STR("dns", "server", dns_server),
    STR("dns", "zone", dns_zone),
    STR("dns", "hostname", dns_hostname),
    DUR("dns", "ttl", dns_ttl_ns, 1000, 86400000),
    STR("dns", "tsig_name", tsig_name),
    PATHK("dns", "tsig_secret_file", tsig_secret_file),
    STR("dns", "tsig_algorithm", tsig_algorithm),
    STR("dns", "realm", dns_realm),
    STR("dns", "user", dns_user),
    PATHK("dns", "password_file", dns_password_file),
    PATHK("dns", "keytab", dns_keytab),
    STR("dns", "kdc", dns_kdc),

    {"sync", "paths", K_LIST, OFF(sync_paths), OFF(n_sync_paths), 0, 0},
    PATHK("sync", "root", sync_root),
    {"sync", "exclude", K_LIST, OFF(sync_exclude), OFF(n_sync_exclude), 0, 0},
    {"sync", "peers", K_PEERS, OFF(sync_peers), 0, 0, 0},
    STR("sync", "ssh_user", ssh_user),
    PATHK("sync", "ssh_key", ssh_key),
    PATHK("sync", "known_hosts", known_hosts),
    STR("sync", "remote_command", remote_command),
    {"sync", "delay_ms", K_MSEC, OFF(sync_delay_ns), 0, 0, 60000},
    DUR("sync", "reconcile_interval", reconcile_interval_ns, 1000, 86400000),
    BOOL("sync", "keep_setid", sync_keep_setid),

    PATHK("shared", "folder", shared_folder),

    STR("notify", "email", email),
    STR("notify", "smtp_url", smtp_url),
    STR("notify", "from", mail_from),
    BOOL("notify", "starttls", starttls),
    STR("notify", "user", smtp_user),
    PATHK("notify", "password_file", password_file),
    DUR("notify", "max_clock_skew", max_clock_skew_ns, 1, 3600000),
    DUR("notify", "pause_alert_after", pause_alert_after_ns, 1000, 86400000 * 7L),
    DUR("notify", "sync_lag_alert", sync_lag_alert_ns, 1000, 86400000),

    STR("service", "start", service_start),
    STR("service", "stop", service_stop),
    STR("service", "check", service_check),
    DUR("service", "check_interval", check_interval_ns, 50, 3600000),
    INT("service", "check_failures", check_failures, 1, 1000),
    DUR("service", "hook_timeout", hook_timeout_ns, 100, 3600000),
    DUR("service", "stop_timeout", stop_timeout_ns, 1, 3600000),
    INT("service", "port", service_port, 0, 65535),

    BOOL("upgrade", "auto", upgrade_auto),
    STR("upgrade", "restart", upgrade_restart),
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/*
 * Per-node keys: what may differ between the nodes of one cluster (node.conf). Every
 * other key is shared: the same on every node, and part of the configuration digest.
 */
static const char *const node_keys[] = {"cluster.node",       "cluster.address", "cluster.run_dir",
                                        "cluster.state_dir",  "heartbeat.priority", "vip.interface",
                                        "sync.root"};

struct parser {
    const char *name;               /* the file being read (the shared file or its include) */
    int line;
    int key_line[NKEYS];
    const char *key_file[NKEYS];    /* the file that set the key */
    uint8_t key_hash[NKEYS][32];    /* sha256("section.key=value") of each shared key set */
    int allow_include;              /* only files (conf_load) may include */
    conf_conninfo_rule conninfo_rule;   /* NULL: [cluster] database is not parsed (conf.h) */
    int in_node_file;
    char node_file[CONF_LONGSTR];
    char *err;
    size_t errlen;
};

static int perr(struct parser *p, int line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int perr(struct parser *p, int line, const char *key, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (line > 0 && key)
        snprintf(p->err, p->errlen, "%s:%d: %s: %s", p->name, line, key, why);
    else if (line > 0)
        snprintf(p->err, p->errlen, "%s:%d: %s", p->name, line, why);
    else if (key)
        snprintf(p->err, p->errlen, "%s: %s: %s", p->name, key, why);
    else
        snprintf(p->err, p->errlen, "%s: %s", p->name, why);
    return -1;
}

int64_t conf_watchd_deadline_ns(const struct conf *c)
{
    int64_t deadline = c->fence_after_ns / 2;
    return deadline > 5 * NS_PER_SEC ? 5 * NS_PER_SEC : deadline;
}

void conf_timing(const struct conf *c, struct conf_timing *t)
{
    t->interval_ms = c->interval_ns / NS_PER_MS;
    t->takeover_timeout_ms = c->takeover_timeout_ns / NS_PER_MS;
    t->fence_after_ms = c->fence_after_ns / NS_PER_MS;
    t->stop_timeout_ms = c->stop_timeout_ns / NS_PER_MS;
}

int conf_timing_differs(const struct conf_timing *mine, const struct conf_timing *cluster,
                        char *why, size_t len)
{
    const char *names[] = {"interval", "takeover_timeout", "fence_after", "stop_timeout"};
    const int64_t a[] = {mine->interval_ms, mine->takeover_timeout_ms, mine->fence_after_ms,
                         mine->stop_timeout_ms};
    const int64_t b[] = {cluster->interval_ms, cluster->takeover_timeout_ms,
                         cluster->fence_after_ms, cluster->stop_timeout_ms};
    size_t n = 0;
    why[0] = '\0';
    for (int i = 0; i < 4; i++) {
        if (a[i] == b[i])
            continue;
        int w = snprintf(why + n, len - n, "%s%s: this file %lld ms, the cluster %lld ms",
                         n ? "; " : "", names[i], (long long)a[i], (long long)b[i]);
        if (w > 0 && (size_t)w < len - n)
            n += (size_t)w;
    }
    return n > 0;
}

int64_t conf_address_down_ns(const struct conf *c)
{
    switch (c->connection) {
    case CONN_VIP: return 250 * NS_PER_MS;        /* netlink delete + exec */
    case CONN_HOSTNAME: return 500 * NS_PER_MS;   /* one RFC 2136 UPDATE */
    default: return 0;
    }
}

void conf_defaults(struct conf *c)
{
    memset(c, 0, sizeof(*c));
    c->connection = CONN_NONE;
    snprintf(c->run_dir, sizeof(c->run_dir), "/run/hotstandby");
    c->interval_ns = 10 * NS_PER_SEC;
    c->takeover_timeout_ns = 60 * NS_PER_SEC;
    c->fence_after_ns = 0; /* derived: takeover_timeout / 2 */
    c->priority = 100;
    c->vip_prefix = -1;
    c->garp_count = 5;
    c->garp_interval_ns = 200 * NS_PER_MS;
    snprintf(c->dns_type, sizeof(c->dns_type), "bind");
    c->dns_ttl_ns = 30 * NS_PER_SEC;
    snprintf(c->tsig_algorithm, sizeof(c->tsig_algorithm), "hmac-sha256");
    snprintf(c->sync_root, sizeof(c->sync_root), "/");
    snprintf(c->ssh_user, sizeof(c->ssh_user), "root");
    snprintf(c->remote_command, sizeof(c->remote_command), "syncd --serve");
    c->sync_delay_ns = 10 * NS_PER_MS;
    c->reconcile_interval_ns = 10 * 60 * NS_PER_SEC;
    c->starttls = 1;
    c->max_clock_skew_ns = 2 * NS_PER_SEC;
    c->pause_alert_after_ns = 3600 * NS_PER_SEC;
    c->sync_lag_alert_ns = 60 * NS_PER_SEC;
    c->check_interval_ns = 0; /* derived: interval */
    c->check_failures = 3;
    c->hook_timeout_ns = 30 * NS_PER_SEC;
    c->stop_timeout_ns = 0; /* derived: 3/4 of what takeover_timeout leaves after the fence */
}

const char *connection_name(enum connection c)
{
    return c == CONN_VIP ? "vip" : c == CONN_HOSTNAME ? "hostname" : "none";
}

int conf_parse_duration(const char *s, int64_t *out_ns)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || v > 1000000000ULL)
        return -1;
    int64_t unit;
    if (*end == '\0' || strcmp(end, "s") == 0)
        unit = NS_PER_SEC;
    else if (strcmp(end, "ms") == 0)
        unit = NS_PER_MS;
    else if (strcmp(end, "m") == 0)
        unit = 60 * NS_PER_SEC;
    else
        return -1;
    if (v > (unsigned long long)(INT64_MAX / unit))
        return -1; /* "200000000m" would overflow int64_t nanoseconds */
    *out_ns = (int64_t)v * unit;
    return 0;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
        return *out = 1, 0;
    if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
        return *out = 0, 0;
    return -1;
}

/* "255.255.255.0", "24", "/24" (IPv6: "64" or "/64"). Contiguous masks only. */
static int parse_netmask(const char *v, int *prefix)
{
    if (*v == '/')
        v++;
    if (strchr(v, '.')) {
        struct in_addr a;
        if (inet_pton(AF_INET, v, &a) != 1)
            return -1;
        uint32_t m = ntohl(a.s_addr);
        int n = 0;
        while (n < 32 && (m & (0x80000000u >> n)))
            n++;
        if (n < 32 && (m << n) != 0)
            return -1; /* holes in the mask */
        *prefix = n;
        return 0;
    }
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || end == v || n < 0 || n > 128)
        return -1;
    *prefix = (int)n;
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Splits a comma-separated list into n slots of CONF_STR bytes. */
static int split_list(struct parser *p, const char *key, char *v, char (*slots)[CONF_STR],
                      int *n)
{
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(v, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        tok = trim(tok);
        if (!*tok)
            continue;
        if (*n >= CONF_MAX_LIST)
            return perr(p, p->line, key, "more than %d entries", CONF_MAX_LIST);
        if (strlen(tok) >= CONF_STR)
            return perr(p, p->line, key, "entry longer than %d bytes", CONF_STR - 1);
        snprintf(slots[(*n)++], CONF_STR, "%s", tok);
    }
    return 0;
}

/* node=host[:port], comma-separated; [v6]:port for IPv6 literals. */
static int parse_peers(struct parser *p, char *v, struct conf *c)
{
    char items[CONF_MAX_LIST][CONF_STR];
    int n;
    if (split_list(p, "peers", v, items, &n) < 0)
        return -1;
    c->n_sync_peers = 0;
    for (int i = 0; i < n; i++) {
        struct conf_peer *pe = &c->sync_peers[c->n_sync_peers++];
        char *eq = strchr(items[i], '=');
        if (!eq || eq == items[i] || !eq[1] || (size_t)(eq - items[i]) >= sizeof(pe->node))
            return perr(p, p->line, "peers", "'%s' is not node=host[:port]", items[i]);
        *eq = '\0';
        snprintf(pe->node, sizeof(pe->node), "%s", items[i]);
        char *host = eq + 1, *port = NULL;
        if (*host == '[') {
            char *close = strchr(host, ']');
            if (!close)
                return perr(p, p->line, "peers", "'%s': unbalanced '['", host);
            *close = '\0';
            host++;
            if (close[1] == ':')
                port = close + 2;
            else if (close[1])
                return perr(p, p->line, "peers", "junk after ']'");
        } else if ((port = strchr(host, ':')) != NULL) {
            *port++ = '\0';
        }
        if (!*host)
            return perr(p, p->line, "peers", "'%s': empty host", items[i]);
        snprintf(pe->host, sizeof(pe->host), "%s", host);
        pe->port = 22;
        if (port) {
            char *end;
            long pn = strtol(port, &end, 10);
            if (*end || end == port || pn < 1 || pn > 65535)
                return perr(p, p->line, "peers", "bad port '%s'", port);
            pe->port = (int)pn;
        }
    }
    return 0;
}

int conf_read_secret(const char *path, char *buf, size_t buflen, char *err, size_t errlen)
{
    /* O_NONBLOCK: a FIFO must be refused below, not hang the config check in open(). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    /* A secret others can read is no longer a secret: refuse rather than use it. */
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, errlen, "%s: secret file is accessible by group or others (mode %04o); "
                 "chmod 600 it", path, (unsigned)(st.st_mode & 07777));
        close(fd);
        return -1;
    }
    size_t len = 0;
    while (len + 1 < buflen) {
        ssize_t n = read(fd, buf + len, buflen - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    char extra;
    if (len + 1 >= buflen && read(fd, &extra, 1) == 1) {
        snprintf(err, errlen, "%s: secret longer than %zu bytes", path, buflen - 1);
        close(fd);
        return -1;
    }
    close(fd);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        len--;
    buf[len] = '\0';
    return (int)len;
}

static int set_value(struct parser *p, const struct key *k, char *v, struct conf *c)
{
    char *field = (char *)c + k->offset;
    int64_t ns;
    switch (k->type) {
    case K_STR:
    case K_PATH:
        if (strlen(v) >= k->size)
            return perr(p, p->line, k->name, "value longer than %zu bytes", k->size - 1);
        if (k->type == K_PATH && *v && *v != '/')
            return perr(p, p->line, k->name, "'%s' is not an absolute path", v);
        snprintf(field, k->size, "%s", v);
        return 0;
    case K_DURATION:
        if (conf_parse_duration(v, &ns) < 0)
            return perr(p, p->line, k->name, "'%s' is not a duration (e.g. 500ms, 10s, 2m)", v);
        if (ns < k->min * NS_PER_MS || ns > k->max * NS_PER_MS)
            return perr(p, p->line, k->name, "'%s' out of range (%ld ms .. %ld ms)", v, k->min,
                        k->max);
        *(int64_t *)field = ns;
        return 0;
    case K_INT:
    case K_MSEC: {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno || *end || end == v)
            return perr(p, p->line, k->name, "'%s' is not an integer", v);
        if (n < k->min || n > k->max)
            return perr(p, p->line, k->name, "%ld out of range (%ld .. %ld)", n, k->min, k->max);
        if (k->type == K_MSEC)
            *(int64_t *)field = n * NS_PER_MS;
        else
            *(int *)field = (int)n;
        return 0;
    }
    case K_BOOL:
        if (parse_bool(v, (int *)field) < 0)
            return perr(p, p->line, k->name, "'%s' is not yes or no", v);
        return 0;
    case K_CONNECTION:
        if (!strcmp(v, "vip"))
            c->connection = CONN_VIP;
        else if (!strcmp(v, "hostname"))
            c->connection = CONN_HOSTNAME;
        else if (!strcmp(v, "none"))
            c->connection = CONN_NONE;
        else
            return perr(p, p->line, k->name, "'%s' is not vip, hostname or none", v);
        return 0;
    case K_POOL_MODE:
        if (!strcmp(v, "session"))
            c->database_pool_mode = POOL_SESSION;
        else if (!strcmp(v, "transaction"))
            c->database_pool_mode = POOL_TRANSACTION;
        else
            return perr(p, p->line, k->name, "'%s' is not session or transaction", v);
        return 0;
    case K_NETMASK:
        if (parse_netmask(v, &c->vip_prefix) < 0)
            return perr(p, p->line, k->name, "'%s' is not a netmask or prefix length", v);
        return 0;
    case K_LIST:
        return split_list(p, k->name, v, (char(*)[CONF_STR])field,
                          (int *)((char *)c + k->size));
    case K_PEERS:
        return parse_peers(p, v, c);
    case K_SECRET_FILE: {
        char why[512];
        if (*v != '/')
            return perr(p, p->line, k->name, "'%s' is not an absolute path", v);
        if (conf_read_secret(v, field, k->size, why, sizeof(why)) < 0)
            return perr(p, p->line, k->name, "%s", why);
        return 0;
    }
    }
    return perr(p, p->line, k->name, "internal: unknown key type");
}

static const struct key *find_key(const char *section, const char *name, size_t *idx)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
            return *idx = i, &keys[i];
    return NULL;
}

static int known_section(const char *s)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, s))
            return 1;
    return 0;
}

static int is_node_key(const struct key *k)
{
    char full[96];
    snprintf(full, sizeof(full), "%s.%s", k->section, k->name);
    for (size_t i = 0; i < sizeof(node_keys) / sizeof(node_keys[0]); i++)
        if (!strcmp(full, node_keys[i]))
            return 1;
    return 0;
}

/* With a node file, each key has one place: per-node keys there, the rest in the shared file. */
static int check_key_place(struct parser *p, const struct key *k)
{
    if (p->in_node_file && !is_node_key(k))
        return perr(p, p->line, k->name,
                    "[%s] %s is the same on every node: set it in the shared file, not in a "
                    "node file", k->section, k->name);
    if (!p->in_node_file && p->node_file[0] && is_node_key(k))
        return perr(p, p->line, k->name, "per-node key: set it in %s", p->node_file);
    return 0;
}

static void hash_key(struct parser *p, size_t idx, const struct key *k, const char *val)
{
    struct sha256 h;
    sha256_init(&h);
    sha256_update(&h, k->section, strlen(k->section));
    sha256_update(&h, ".", 1);
    sha256_update(&h, k->name, strlen(k->name));
    sha256_update(&h, "=", 1);
    sha256_update(&h, val, strlen(val));
    sha256_final(&h, p->key_hash[idx]);
}

/* The digest of the shared settings: independent of comments, blank lines and key order. */
static void config_digest(const struct parser *p, struct conf *c)
{
    struct sha256 h;
    uint8_t out[32];
    sha256_init(&h);
    for (size_t i = 0; i < NKEYS; i++)
        if (p->key_line[i] && !is_node_key(&keys[i]))
            sha256_update(&h, p->key_hash[i], sizeof(p->key_hash[i]));
    sha256_final(&h, out);
    for (int i = 0; i < 32; i++)
        snprintf(c->config_digest + 2 * i, 3, "%02x", out[i]);
}

static int parse_text(struct parser *p, const char *text, size_t len, struct conf *c);
static int read_whole(const char *path, char **buf, size_t *len, char *err, size_t errlen);

/* "include = node.conf" (before any section, relative to the including file's directory). */
static int include_node_file(struct parser *p, const char *val, struct conf *c)
{
    if (!p->allow_include || p->in_node_file)
        return perr(p, p->line, "include", "only the configuration file itself may include");
    if (p->node_file[0])
        return perr(p, p->line, "include", "only one include (already %s)", p->node_file);
    if (!*val)
        return perr(p, p->line, "include", "empty value");
    const char *slash = strrchr(p->name, '/');
    if (*val == '/' || !slash)
        snprintf(p->node_file, sizeof(p->node_file), "%s", val);
    else
        snprintf(p->node_file, sizeof(p->node_file), "%.*s/%s", (int)(slash - p->name), p->name,
                 val);
    char *buf = NULL, why[512];
    size_t len = 0;
    if (read_whole(p->node_file, &buf, &len, why, sizeof(why)) < 0)
        return perr(p, p->line, "include", "%s", why);
    const char *name = p->name;
    int line = p->line;
    p->name = p->node_file;
    p->line = 0;
    p->in_node_file = 1;
    int rc = parse_text(p, buf ? buf : "", len, c);
    free(buf);
    p->in_node_file = 0;
    if (rc < 0)
        return -1;
    p->name = name;
    p->line = line;
    snprintf(c->node_file, sizeof(c->node_file), "%s", p->node_file);
    return 0;
}

static int parse_line(struct parser *p, char *line, char *section, size_t seclen,
                      struct conf *c)
{
    char *s = trim(line);
    if (*s == '\0' || *s == '#' || *s == ';')
        return 0;
    if (*s == '[') {
        char *close = strchr(s, ']');
        if (!close || close[1] != '\0')
            return perr(p, p->line, NULL, "malformed section header '%s'", s);
        *close = '\0';
        char *name = trim(s + 1);
        if (!known_section(name))
            return perr(p, p->line, NULL, "unknown section [%s]", name);
        snprintf(section, seclen, "%s", name);
        return 0;
    }
    char *eq = strchr(s, '=');
    if (!eq)
        return perr(p, p->line, NULL, "expected 'key = value', got '%.40s'", s);
    *eq = '\0';
    char *key = trim(s), *val = trim(eq + 1);
    if (!*section && !strcmp(key, "include"))
        return include_node_file(p, val, c);
    if (!*section)
        return perr(p, p->line, key, "key outside of any [section]");
    size_t idx;
    const struct key *k = find_key(section, key, &idx);
    if (!k)
        return perr(p, p->line, key, "unknown key in [%s]", section);
    if (p->key_line[idx])
        return p->key_file[idx] == p->name
                   ? perr(p, p->line, key, "duplicate key (first set on line %d)", p->key_line[idx])
                   : perr(p, p->line, key, "duplicate key (first set in %s:%d)", p->key_file[idx],
                          p->key_line[idx]);
    if (check_key_place(p, k) < 0)
        return -1;
    p->key_line[idx] = p->line;
    p->key_file[idx] = p->name;
    if (!is_node_key(k))
        hash_key(p, idx, k, val);
    if ((k->type == K_STR || k->type == K_PATH) && !*val)
        return 0; /* empty = unset */
    if (!*val)
        return perr(p, p->line, key, "empty value");
    return set_value(p, k, val, c);
}

static size_t key_index(const char *section, const char *name)
{
    size_t idx = 0;
    find_key(section, name, &idx);
    return idx;
}

static int line_of(struct parser *p, const char *section, const char *name)
{
    size_t idx;
    return find_key(section, name, &idx) ? p->key_line[idx] : 0;
}

/* Points error messages at the file that set the key (the shared file or its include). */
static struct parser *at_key(struct parser *p, const char *section, const char *name)
{
    size_t idx;
    if (find_key(section, name, &idx) && p->key_file[idx])
        p->name = p->key_file[idx];
    return p;
}

#define REQUIRE(cond, sec, key, ...)                                                         \
    do {                                                                                     \
        if (!(cond))                                                                         \
            return perr(at_key(p, sec, key), line_of(p, sec, key), key, __VA_ARGS__);        \
    } while (0)

static int valid_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return 0;
    return 1;
}

/* Absolute, and no ".." component anywhere. */
static int clean_abs_path(const char *s)
{
    if (*s != '/')
        return 0;
    for (const char *q = s; (q = strstr(q, "..")) != NULL; q += 2)
        if (q[-1] == '/' && (q[2] == '/' || q[2] == '\0'))
            return 0;
    return 1;
}

int conf_is_mail_address(const char *a)
{
    const char *at = strchr(a, '@');
    return at && at != a && at[1] && !strpbrk(a, " \t\r\n<>,;\"");
}

/* [notify] email: comma-separated bare addresses; a bad one is named with its line. */
static int check_email_list(struct parser *p, const char *email)
{
    char list[CONF_LONGSTR], *save = NULL;
    snprintf(list, sizeof(list), "%s", email);
    for (char *a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
        a = trim(a);
        REQUIRE(!*a || conf_is_mail_address(a), "notify", "email",
                "'%s' is not an e-mail address", a);
    }
    return 0;
}

/* Keys of the other [dns] type would do nothing: refuse them rather than ignore them. */
static const char *const bind_only_keys[] = {"tsig_name", "tsig_secret_file", "tsig_algorithm"};
static const char *const microsoft_only_keys[] = {"realm", "user", "password_file", "keytab",
                                                  "kdc"};

static int refuse_keys(struct parser *p, const char *const *keys_, size_t n, const char *type)
{
    for (size_t i = 0; i < n; i++)
        REQUIRE(!line_of(p, "dns", keys_[i]), "dns", keys_[i], "only for type = %s", type);
    return 0;
}

/* [dns] type = bind: TSIG with a shared secret; type = microsoft: GSS-TSIG (Kerberos). */
static int validate_dns_keys(struct parser *p, struct conf *c)
{
    if (!strcmp(c->dns_type, "bind")) {
        REQUIRE(*c->tsig_name, "dns", "tsig_name", "required when connection = hostname");
        REQUIRE(*c->tsig_secret_file, "dns", "tsig_secret_file",
                "required when connection = hostname");
        return refuse_keys(p, microsoft_only_keys,
                           sizeof(microsoft_only_keys) / sizeof(microsoft_only_keys[0]),
                           "microsoft");
    }
    REQUIRE(!strcmp(c->dns_type, "microsoft"), "dns", "type", "'%s' is not bind or microsoft",
            c->dns_type);
    if (refuse_keys(p, bind_only_keys, sizeof(bind_only_keys) / sizeof(bind_only_keys[0]),
                    "bind") < 0)
        return -1;
    REQUIRE(*c->dns_user, "dns", "user", "required when type = microsoft");
    REQUIRE(!strpbrk(c->dns_user, "\\/ "), "dns", "user",
            "'%s': give the account as user or user@REALM", c->dns_user);
    REQUIRE(*c->dns_password_file || *c->dns_keytab, "dns", "password_file",
            "type = microsoft needs password_file or keytab");
    REQUIRE(!(*c->dns_password_file && *c->dns_keytab), "dns", "keytab",
            "set password_file or keytab, not both");
    if (!*c->dns_realm) {
        /* The AD convention: the realm is the DNS domain in capitals. */
        size_t n = strlen(c->dns_zone);
        for (size_t i = 0; i < n && i + 1 < sizeof(c->dns_realm); i++)
            c->dns_realm[i] = (char)toupper((unsigned char)c->dns_zone[i]);
        if (n && c->dns_realm[n - 1] == '.')
            c->dns_realm[n - 1] = '\0';
    }
    REQUIRE(valid_name(c->dns_realm), "dns", "realm", "'%s' is not a Kerberos realm",
            c->dns_realm);
    return 0;
}

/* Secrets come from files only others cannot read (DESIGN §9): a password written in the
 * conninfo is accepted only when this file itself is private; else database_file or a
 * libpq passfile holds it. The rule parses the conninfo (conf_db.c, libpq). */
static int check_conninfo(struct parser *p, const struct conf *c)
{
    int line = line_of(p, "cluster", "database");
    if (!p->conninfo_rule || !line ||
        (!strchr(c->database, '=') && strncmp(c->database, "postgres", 8) != 0))
        return 0;   /* from database_file (0600), or a bare database name */
    /* conf_parse's text came from no file: its caller answers for it */
    const char *file = p->key_file[key_index("cluster", "database")];
    struct stat st;
    int file_private = !p->allow_include ||
                       (stat(file, &st) == 0 && !(st.st_mode & (S_IRWXG | S_IRWXO)));
    char why[CONF_LONGSTR];
    if (p->conninfo_rule(c->database, file, file_private, why, sizeof(why)) < 0)
        return perr(at_key(p, "cluster", "database"), line, "database", "%s", why);
    return 0;
}

static int validate(struct parser *p, struct conf *c)
{
    REQUIRE(*c->cluster, "cluster", "name", "required ([cluster] name)");
    REQUIRE(valid_name(c->cluster), "cluster", "name", "use letters, digits, '-', '_', '.'");
    REQUIRE(*c->node, "cluster", "node", "required ([cluster] node)");
    REQUIRE(valid_name(c->node), "cluster", "node", "use letters, digits, '-', '_', '.'");
    if (!*c->state_dir)
        snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/hotstandby/%s", c->cluster);
    REQUIRE(*c->database, "cluster", "database", "required (database or database_file)");
    REQUIRE(!(line_of(p, "cluster", "database") && line_of(p, "cluster", "database_file")),
            "cluster", "database_file", "set database or database_file, not both");
    if (check_conninfo(p, c) < 0)
        return -1;
    if (!c->fence_after_ns)
        c->fence_after_ns = c->takeover_timeout_ns / 2;
    REQUIRE(c->interval_ns < c->takeover_timeout_ns, "heartbeat", "interval",
            "must be shorter than takeover_timeout");
    /* The safety argument (DESIGN §3): the active stops acting before any standby may act. */
    REQUIRE(c->fence_after_ns < c->takeover_timeout_ns, "heartbeat", "fence_after",
            "must be shorter than takeover_timeout");
    REQUIRE(c->fence_after_ns > c->interval_ns, "heartbeat", "fence_after",
            "must be longer than interval (one renewal must fit before fencing)");
    if (!c->check_interval_ns)
        c->check_interval_ns = c->interval_ns;
    if (c->connection == CONN_VIP) {
        REQUIRE(*c->vip_address, "vip", "address", "required when connection = vip");
        REQUIRE(*c->vip_interface, "vip", "interface", "required when connection = vip");
        int v6 = strchr(c->vip_address, ':') != NULL;
        unsigned char buf[16];
        REQUIRE(inet_pton(v6 ? AF_INET6 : AF_INET, c->vip_address, buf) == 1, "vip", "address",
                "'%s' is not an IPv4 or IPv6 address", c->vip_address);
        if (c->vip_prefix < 0)
            c->vip_prefix = v6 ? 64 : 24;
        REQUIRE(c->vip_prefix <= (v6 ? 128 : 32), "vip", "netmask",
                "prefix /%d too long for %s", c->vip_prefix, v6 ? "IPv6" : "IPv4");
    }
    if (c->connection == CONN_HOSTNAME) {
        REQUIRE(*c->dns_server, "dns", "server", "required when connection = hostname");
        REQUIRE(*c->dns_zone, "dns", "zone", "required when connection = hostname");
        REQUIRE(*c->dns_hostname, "dns", "hostname", "required when connection = hostname");
        REQUIRE(*c->address, "cluster", "address",
                "required when connection = hostname (the record points at it)");
        if (validate_dns_keys(p, c) < 0)
            return -1;
    }
    /* DESIGN §3: a fence must be over (service stopped, address down) before any standby
     * may act. The default leaves a quarter of the room for the standby's poll slack. */
    int64_t down = conf_address_down_ns(c);
    if (!c->stop_timeout_ns)
        c->stop_timeout_ns = (c->takeover_timeout_ns - c->fence_after_ns - down) * 3 / 4;
    REQUIRE(c->stop_timeout_ns > 0 &&
                c->fence_after_ns + c->stop_timeout_ns + down < c->takeover_timeout_ns,
            "service", "stop_timeout",
            "fence_after %lld ms + stop_timeout %lld ms + address down %lld ms must be "
            "shorter than takeover_timeout %lld ms (a fence must end before a standby acts)",
            (long long)(c->fence_after_ns / NS_PER_MS), (long long)(c->stop_timeout_ns / NS_PER_MS),
            (long long)(down / NS_PER_MS), (long long)(c->takeover_timeout_ns / NS_PER_MS));
    for (int i = 0; i < c->n_sync_paths; i++)
        REQUIRE(clean_abs_path(c->sync_paths[i]), "sync", "paths",
                "'%s' must be absolute and without '..'", c->sync_paths[i]);
    REQUIRE(!*c->email || *c->smtp_url, "notify", "smtp_url", "required when email is set");
    /* the standby fetches the active's files with the sync key (hotstandby-clone(8)) */
    REQUIRE(!c->upgrade_auto || (*c->ssh_key && *c->known_hosts), "upgrade", "auto",
            "needs [sync] ssh_key and known_hosts: the files are fetched from the active "
            "over SSH with the sync key");
    return check_email_list(p, c->email);
}

static int parse_text(struct parser *p, const char *text, size_t len, struct conf *c)
{
    char section[64] = "";
    char line[4096];
    size_t pos = 0;
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        p->line++;
        if (end - pos >= sizeof(line))
            return perr(p, p->line, NULL, "line longer than %zu bytes", sizeof(line) - 1);
        memcpy(line, text + pos, end - pos);
        line[end - pos] = '\0';
        if (memchr(line, '\0', end - pos))
            return perr(p, p->line, NULL, "NUL byte in line");
        if (parse_line(p, line, section, sizeof(section), c) < 0)
            return -1;
        pos = end + 1;
    }
    return 0;
}

static int parse_all(struct parser *p, const char *text, size_t len, struct conf *c)
{
    conf_defaults(c);
    snprintf(c->path, sizeof(c->path), "%s", p->name);
    if (parse_text(p, text, len, c) < 0 || validate(p, c) < 0)
        return -1;
    config_digest(p, c);
    return 0;
}

int conf_parse_with(const char *name, const char *text, size_t len, struct conf *c,
                    conf_conninfo_rule rule, char *err, size_t errlen)
{
    struct parser p = {.name = name, .err = err, .errlen = errlen, .conninfo_rule = rule};
    return parse_all(&p, text, len, c);
}

static int read_whole(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 > cap) {
            if (cap > (1u << 20)) {
                snprintf(err, errlen, "%s: larger than 1 MiB", path);
                free(buf);
                fclose(f);
                return -1;
            }
            char *nb = realloc(buf, cap = cap ? cap * 2 : 8192);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "%s: out of memory", path);
                return -1;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "%s: read error", path);
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

int conf_load_with(const char *path, struct conf *c, conf_conninfo_rule rule, char *err,
                   size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    if (read_whole(path, &buf, &len, err, errlen) < 0)
        return -1;
    struct parser p = {.name = path, .err = err, .errlen = errlen, .allow_include = 1,
                       .conninfo_rule = rule};
    int rc = parse_all(&p, buf ? buf : "", len, c);
    free(buf);
    return rc;
}

void conf_sock_path(const struct conf *c, const char *daemon, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s.sock", c->run_dir, daemon);
}

static int plain_word(const char *s, size_t size)
{
    size_t n = strlen(s);
    if (n == 0 || n >= size)
        return 0;
    for (; *s; s++)
        if (*s <= ' ' || *s > '~' || *s == '"' || *s == '\\')
            return 0;
    return 1;
}

int conf_peer_make(struct conf_peer *p, const char *node, const char *host, char *why,
                   size_t whylen)
{
    if (!plain_word(node, sizeof(p->node))) {
        snprintf(why, whylen, "a node name must be 1-%zu printable characters without space, "
                 "quote or backslash", sizeof(p->node) - 1);
        return -1;
    }
    if (!plain_word(host, sizeof(p->host))) {
        snprintf(why, whylen, "node %s: its address must be 1-%zu printable characters "
                 "without space, quote or backslash", node, sizeof(p->host) - 1);
        return -1;
    }
    snprintf(p->node, sizeof(p->node), "%s", node);
    snprintf(p->host, sizeof(p->host), "%s", host);
    p->port = 22;
    return 0;
}
