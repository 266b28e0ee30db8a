/*
 * front.c: the `vipctl` binary. It runs by itself only what is on a promotion's or a
 * fence's path for connection = vip: `up` and `check` spawned by watchd (under its lease
 * deadline, HOTSTANDBY_DEADLINE_NS), `down` and `garp`. Every other command line goes,
 * unchanged, to vipctl-full next to it (exec), which has every verb.
 *
 * Why two binaries: the promotion waits for `vipctl up` to return, and a program linked
 * with libpq, ldns, libcurl and Kerberos spends ~25 ms of CPU in the dynamic loader before
 * main() (libpq alone pulls OpenSSL, GSSAPI and LDAP with GnuTLS: 40 libraries, ~11 000
 * symbol relocations; several hundred ms on a loaded machine, past a sub-second lease).
 * This one links libmnl and libc only. Its verbs are the same code as vipctl-full's
 * (vipaddr.c, vip.c, announce.c, lease.c), so either binary gives the same result.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "address.h"
#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "vipctl.h"

/* Replaces this process with vipctl-full, which lies in the same directory. */
static int run_full(char **argv)
{
    char self[PATH_MAX], full[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        fprintf(stderr, "vipctl: /proc/self/exe: %s\n", strerror(errno));
        return EXIT_FAILED;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    snprintf(full, sizeof(full), "%s/vipctl-full", self);
    argv[0] = full;
    execv(full, argv);
    fprintf(stderr, "vipctl: cannot run %s (it has every verb but the address verbs that "
            "watchd spawns): %s\n", full, strerror(errno));
    return EXIT_FAILED;
}

/* The verbs this binary runs; anything else is vipctl-full's. */
static int (*own_verb(const char *verb, int spawned))(const struct conf *)
{
    if (strcmp(verb, "down") == 0)
        return vip_cmd_down;
    if (strcmp(verb, "garp") == 0)
        return vip_cmd_garp;
    /* by hand, up and check ask watchd or the database who holds the cluster */
    if (spawned && strcmp(verb, "up") == 0)
        return vip_cmd_up;
    if (spawned && strcmp(verb, "check") == 0)
        return vip_cmd_check;
    return NULL;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'}, {"force", no_argument, NULL, 'f'},
        {"to", required_argument, NULL, 'T'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0},
    };
    char *orig[argc + 1];
    memcpy(orig, argv, sizeof(orig));   /* getopt permutes argv; vipctl-full gets it as given */
    const char *conf_path = HS_DEFAULT_CONF;
    int debug = 0, ch;
    opterr = 0;   /* vipctl-full reports usage errors */
    while ((ch = getopt_long(argc, argv, "c:tdVhn:", longopts, NULL)) != -1) {
        if (ch == 'c')
            conf_path = optarg;
        else if (ch == 'd')
            debug = 1;
        else
            return run_full(orig);
    }
    const char *deadline = getenv("HOTSTANDBY_DEADLINE_NS");
    int spawned = deadline != NULL && deadline[0] != '\0';
    int (*verb)(const struct conf *) = optind == argc - 1 ? own_verb(argv[optind], spawned) : NULL;
    if (verb == NULL)
        return run_full(orig);

    log_init("vipctl", debug);
    daemon_protect_secrets();
    struct conf c;
    char err[1024];
    /* no conninfo rule: it needs libpq, and this program never connects (the daemons that
     * spawn it, and vipctl-full for everything else, apply it to the same file) */
    if (conf_load_with(conf_path, &c, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "vipctl: %s\n", err);
        return EXIT_USAGE;
    }
    if (c.connection != CONN_VIP)
        return run_full(orig);   /* a hostname's UPDATE needs ldns (and Kerberos) */
    if (verb == vip_cmd_up || verb == vip_cmd_check) {
        char why[512];
        if (lease_check(&c, why, sizeof(why)) != 1) {
            log_errx("%s refused: %s%s", argv[optind], why,
                     verb == vip_cmd_up ? " (--force overrides)" : "");
            return EXIT_REFUSED;
        }
    }
    return verb(&c);
}
