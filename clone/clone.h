/* clone.h: hotstandby-clone — installing a standby from a primary, and the preflight checks. */
#ifndef HS_CLONE_H
#define HS_CLONE_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#ifndef HS_SBINDIR
#define HS_SBINDIR "/usr/local/sbin"
#endif
#ifndef HS_PKGDATADIR
#define HS_PKGDATADIR "/usr/local/share/hotstandby"
#endif
#define INSTALLED_FILES HS_PKGDATADIR "/installed-files"
#define SSH_TIMEOUT_MS 60000   /* generous: a loaded server takes seconds per session */

enum verdict { PASS, WARN, FAIL };

struct clone {
    const char *conf_path;
    struct conf conf;
    int have_conf;
    /* the peer and how the operator reaches it (an admin login, not syncd's key) */
    const char *peer;
    int ssh_port;
    const char *ssh_user;
    char ssh_key[512];
    char known_hosts[512];
    /* for the peer's node.conf */
    const char *new_node, *new_address, *new_interface;
    int new_priority;
    int64_t clock_offset_ns;     /* HS_TEST_CLOCK_OFFSET_MS: tests skew this node's clock */
    int failures;
};

/* main.c */
void report(struct clone *cl, enum verdict v, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* remote.c: commands and files on the peer over SSH (common/ssh.c, host key verified). */
int remote_run(struct clone *cl, const char *cmd, const void *in, size_t inlen, char **out,
               char *err, size_t errlen);
/* Writes data to path on the peer atomically (temp file + rename) with mode. */
int remote_put(struct clone *cl, const char *path, const void *data, size_t len, int mode,
               char *err, size_t errlen);
/* Reads a whole file of the peer; NULL with err when it cannot. */
char *remote_get(struct clone *cl, const char *path, size_t *len, char *err, size_t errlen);
/* The same for a command on this node: /bin/sh -c cmd, stdin from in, stdout into *out
 * (malloc'd, NUL-terminated); returns the exit status (127: could not run). */
int local_run(const char *cmd, const void *in, size_t inlen, char **out, char *err,
              size_t errlen);
/* Shell-quotes s into buf ('...'). */
const char *shq(const char *s, char *buf, size_t len);
/* Reads a local file (at most 256 MiB); NULL with err. */
char *read_local(const char *path, size_t *len, char *err, size_t errlen);
int write_local(const char *path, const void *data, size_t len, int mode, char *err,
                size_t errlen);

/* preflight.c: every check printed PASS/WARN/FAIL with the reason; returns failures. */
int preflight(struct clone *cl, int installing);

/* setup.c: the two halves of cloning. */
int clone_primary(struct clone *cl);
int clone_configure(struct clone *cl);

/* units.c: this node's daemons (systemd units, or detached processes without systemd). */
int units_start(struct clone *cl);
int units_stop(struct clone *cl);
int units_running(struct clone *cl);
int units_restart(struct clone *cl);   /* after an upgrade: never waits for systemd */

/* A file of a release (release.h): as the active published it, and as it was received. */
struct release_file {
    char sha256[65];
    uint64_t size;
    unsigned char *data;    /* as received */
    size_t len;
    int ended;              /* END ok=1 came */
};

/* upgrade.c: publish (the active's checksums) and upgrade (a standby fetches and installs). */
int upgrade_publish(struct clone *cl);
int upgrade_standby(struct clone *cl);

/* install.c: the checked files f (release.h's order) into dir. */
int release_install(const char *dir, const struct release_file f[],
                    int (*last_check)(void *arg, char *err, size_t errlen), void *arg,
                    char *err, size_t errlen);
/* Does dir hold exactly the files f describe already? */
int release_installed(const char *dir, const struct release_file f[]);
/* Keeps make install's installed-files true when dir is the installed sbindir. */
void release_list_update(const char *dir, const struct release_file f[]);

#endif
