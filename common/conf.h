/* conf.h: the hotstandby configuration (DESIGN §9), parsed strictly from an INI file. */
#ifndef HS_CONF_H
#define HS_CONF_H

#include <stddef.h>
#include <stdint.h>

/* make passes sysconfdir (the install variable) */
#ifndef HS_SYSCONFDIR
#define HS_SYSCONFDIR "/etc"
#endif
#define HS_DEFAULT_CONF HS_SYSCONFDIR "/hotstandby/hotstandby.conf"
#define CONF_STR 256
#define CONF_LONGSTR 1024
#define CONF_MAX_LIST 32

enum connection { CONN_NONE, CONN_VIP, CONN_HOSTNAME };
/* [cluster] database_pool_mode: session (a server session per connection: direct, or a
 * pooler in session mode) or transaction (a pooler in transaction mode: common/db.c) */
enum pool_mode { POOL_SESSION, POOL_TRANSACTION };

struct conf_peer {
    char node[64];
    char host[CONF_STR];
    int port;
};

struct conf {
    char path[CONF_LONGSTR];            /* the file this came from */
    char node_file[CONF_LONGSTR];       /* its "include" (node.conf), if any */
    char config_digest[65];             /* sha256 hex of the shared settings (hotstandby.conf(5)) */

    /* [cluster] */
    char cluster[64];                   /* name */
    char node[64];
    char address[CONF_STR];
    char primary[64];
    enum connection connection;
    enum pool_mode database_pool_mode;
    char database[CONF_LONGSTR];        /* libpq conninfo (from database or database_file) */
    char run_dir[CONF_STR];
    char state_dir[CONF_STR];           /* persistent node state; default /var/lib/hotstandby/<name> */
    char user[64];

    /* [heartbeat] */
    int64_t interval_ns;
    int64_t takeover_timeout_ns;
    int64_t fence_after_ns;
    int priority;

    /* [vip] */
    char vip_address[CONF_STR];
    int vip_prefix;                     /* from netmask (dotted or /len); -1 = default for family */
    char vip_interface[64];
    int garp_count;
    int64_t garp_interval_ns;

    /* [dns] */
    char dns_type[16];
    char dns_server[CONF_STR];          /* host[:port] */
    char dns_zone[CONF_STR];
    char dns_hostname[CONF_STR];
    int64_t dns_ttl_ns;
    char tsig_name[CONF_STR];
    char tsig_secret_file[CONF_STR];
    char tsig_algorithm[32];
    /* type = microsoft: GSS-TSIG with Kerberos credentials (vipctl/gsstsig.c) */
    char dns_realm[CONF_STR];           /* default: the zone upper-cased */
    char dns_user[CONF_STR];            /* user or user@REALM */
    char dns_password_file[CONF_STR];   /* 0600; or dns_keytab */
    char dns_keytab[CONF_STR];          /* 0600 */
    char dns_kdc[CONF_STR];             /* host[:port]; default: the host of server */

    /* [sync] */
    char sync_paths[CONF_MAX_LIST][CONF_STR];
    int n_sync_paths;
    char sync_root[CONF_STR];
    char sync_exclude[CONF_MAX_LIST][CONF_STR];
    int n_sync_exclude;
    struct conf_peer sync_peers[CONF_MAX_LIST];
    int n_sync_peers;
    char ssh_user[64];
    char ssh_key[CONF_STR];
    char known_hosts[CONF_STR];
    char remote_command[CONF_LONGSTR];
    int64_t sync_delay_ns;
    int64_t reconcile_interval_ns;
    int sync_keep_setid;                /* receiver keeps setuid/setgid bits (default: stripped) */

    /* [shared] */
    char shared_folder[CONF_STR];

    /* [notify] */
    char email[CONF_LONGSTR];
    char smtp_url[CONF_STR];
    char mail_from[CONF_STR];
    int starttls;
    char smtp_user[CONF_STR];
    char password_file[CONF_STR];
    int64_t max_clock_skew_ns;
    int64_t pause_alert_after_ns;
    int64_t sync_lag_alert_ns;          /* unacknowledged sync data older than this alerts */

    /* [service] */
    char service_start[CONF_LONGSTR];
    char service_stop[CONF_LONGSTR];
    char service_check[CONF_LONGSTR];
    int64_t check_interval_ns;
    int check_failures;
    int64_t hook_timeout_ns;       /* start, check, and the stops of a switchover or shutdown */
    int64_t stop_timeout_ns;       /* a fence's [service] stop (the margin of DESIGN §3) */
    int service_port;              /* what clients connect to (preflight), 0 = none */

    /* [upgrade] */
    int upgrade_auto;
    char upgrade_restart[CONF_LONGSTR];   /* after an upgrade; "" = hotstandby-clone restart */
};

/* Fills c from path. On error returns -1 and writes "file:line: key: why" into err. */
int conf_load(const char *path, struct conf *c, char *err, size_t errlen);
/* Parses a buffer (used by conf_load, the unit tests and the fuzzer). conf_load refuses a
 * password in [cluster] database unless the file is private (0600); conf_parse cannot
 * know where the text came from and leaves that check to its caller. */
int conf_parse(const char *name, const char *text, size_t len, struct conf *c, char *err,
               size_t errlen);

/*
 * The [cluster] database rule: conninfo parses as libpq's, holds a password only if file
 * is private, names a private passfile. 0, or -1 with why. conf_load and conf_parse
 * (conf_db.c) apply conf_conninfo_check, which links libpq; conf.c itself does not, so
 * that a program that never connects can read a config without loading libpq and its
 * libraries (vipctl's front, vipctl/front.c): it calls conf_load_with(..., NULL, ...).
 */
typedef int (*conf_conninfo_rule)(const char *conninfo, const char *file, int file_private,
                                  char *why, size_t whylen);
int conf_conninfo_check(const char *conninfo, const char *file, int file_private, char *why,
                        size_t whylen);
int conf_load_with(const char *path, struct conf *c, conf_conninfo_rule rule, char *err,
                   size_t errlen);
int conf_parse_with(const char *name, const char *text, size_t len, struct conf *c,
                    conf_conninfo_rule rule, char *err, size_t errlen);
void conf_defaults(struct conf *c);

/* "10s", "200ms", "1m", bare number = seconds. Returns 0 or -1. */
int conf_parse_duration(const char *s, int64_t *out_ns);
/* Reads a secret file, refusing one that group or others can read. Returns length or -1. */
int conf_read_secret(const char *path, char *buf, size_t buflen, char *err, size_t errlen);

/* A peer learnt while running ([sync] peers empty: a row of hs_node, which watchd passes
 * to syncd): node and host printable ASCII without space, quote or backslash, within
 * conf_peer's sizes; port 22 (DESIGN §9). 0, or -1 with why (the value is not quoted). */
int conf_peer_make(struct conf_peer *p, const char *node, const char *host, char *why,
                   size_t whylen);
/* Paths a node writes, derived from run_dir. */
void conf_sock_path(const struct conf *c, const char *daemon, char *buf, size_t len);

const char *connection_name(enum connection c);

/* A bare e-mail address: local@domain, nothing that would break a header or SMTP command. */
int conf_is_mail_address(const char *a);

/* What a fence's vipctl down may take (fixed per connection type): part of the margin
 * fence_after + stop_timeout + address down < takeover_timeout. */
int64_t conf_address_down_ns(const struct conf *c);

/* watchd's query deadline: well inside fence_after (half of it, at most 5 s), so that a
 * hung server is noticed in time. vipctl waits for watchd's answer to a verb by it. */
int64_t conf_watchd_deadline_ns(const struct conf *c);

/* The cluster-wide timing of DESIGN §3 in ms, as hs_cluster holds it (-1: not set). */
struct conf_timing {
    int64_t interval_ms, takeover_timeout_ms, fence_after_ms, stop_timeout_ms;
};
void conf_timing(const struct conf *c, struct conf_timing *t);
/* 0 if equal; else 1 and why names each value that differs, this file's and the cluster's. */
int conf_timing_differs(const struct conf_timing *mine, const struct conf_timing *cluster,
                        char *why, size_t len);

#endif
