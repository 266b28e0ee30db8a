/*
 * vipctl-full: every verb of vipctl (DESIGN §5, §10). `vipctl` (front.c) runs the address
 * verbs that watchd and heartbeatd spawn and hands every other command line to this
 * program unchanged. main.c parses the command line and dispatches: address verbs (up,
 * down, garp, check) to address.c, cluster verbs (status, switchover, pause, resume,
 * events) to cluster.c.
 * Exit codes: 0 done, 1 failed, 2 usage or config error, 3 refused.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ctl.h"
#include "db.h"
#include "daemon.h"
#include "log.h"
#include "sql.h"
#include "vipctl.h"

static const char usage[] =
    "usage: vipctl [-c FILE] [-d] VERB [options]\n"
    "       vipctl -t [-c FILE] | -V | -h\n"
    "verbs:\n"
    "  status [--json]          cluster, nodes, address and sync state\n"
    "  up [--force]             bring the virtual IP / hostname to this node (holder only)\n"
    "  down                     remove the virtual IP from this node\n"
    "  garp                     announce the virtual IP again (gratuitous ARP / NA)\n"
    "  check                    holder only: put the address back if someone removed it\n"
    "  switchover [--to NODE]   planned handover to NODE (default: best live standby)\n"
    "  pause | resume [--force] maintenance: no takeover and no fencing while paused;\n"
    "                           resume is committed by the active's next renewal\n"
    "                           (--force: at once, for an active known to be down)\n"
    "  events [-n N] [--json]   the last N role changes (default 20)\n"
    "  set-timing               (paused) make this file's interval, takeover_timeout,\n"
    "                           fence_after and stop_timeout the whole cluster's\n"
    "  test-mail                send one mail through [notify]; print the server's answer\n"
    "  test-dns                 one signed query to [dns] server (nothing changed); print\n"
    "                           whether it accepts the key\n"
    "  forget NODE              remove a node that is gone for good (not the holder,\n"
    "                           not one seen within the takeover timeout)\n"
    "exit: 0 done, 1 failed, 2 usage or config error, 3 refused\n";

int holder_check(const struct conf *c, char *why, size_t whylen)
{
    int spawned = lease_check(c, why, whylen);
    if (spawned >= 0)
        return spawned;   /* never the database's word for an automatic command */
    char path[512], err[256];
    conf_sock_path(c, "watchd", path, sizeof(path));
    json_t *req = json_pack("{s:s}", "cmd", "status");
    json_t *st = ctl_call(path, req, 2000, err, sizeof(err));
    json_decref(req);
    if (st != NULL) {
        const char *holder = json_string_value(json_object_get(st, "holder"));
        const char *role = json_string_value(json_object_get(st, "role"));
        int yes = holder && role && strcmp(holder, c->node) == 0 &&
                  (strcmp(role, "promoting") == 0 || strcmp(role, "active") == 0);
        snprintf(why, whylen, "watchd says this node is %s and the holder is %s",
                 role ? role : "?", holder && holder[0] ? holder : "nobody");
        json_decref(st);
        return yes;
    }
    /* watchd is down: the database decides (ExecStopPost and manual use) */
    PGconn *conn = db_connect_wait(c->database, 3000, err, sizeof(err));
    if (conn == NULL) {
        snprintf(why, whylen, "neither watchd nor the database answers (%s)", err);
        return -1;
    }
    const char *params[] = {c->cluster};
    PGresult *r = db_exec_wait(conn, "SELECT coalesce(holder, '') FROM hs_cluster WHERE cluster = $1",
                               1, params, 3000, err, sizeof(err));
    int yes = -1;
    if (r == NULL) {
        snprintf(why, whylen, "database: %s", err);
    } else {
        const char *holder = PQntuples(r) ? PQgetvalue(r, 0, 0) : "";
        yes = strcmp(holder, c->node) == 0;
        snprintf(why, whylen, "watchd is not running; the database names %s as holder",
                 holder[0] ? holder : "nobody");
        PQclear(r);
    }
    PQfinish(conn);
    return yes;
}

static void record_forced_up(const struct conf *c, const char *why)
{
    char err[256], ms[32], detail[400];
    PGconn *conn = db_connect_wait(c->database, 2000, err, sizeof(err));
    if (conn == NULL)
        return;
    snprintf(ms, sizeof(ms), "%lld", (long long)(wall_ns() / NS_PER_MS));
    snprintf(detail, sizeof(detail), "vipctl up --force (%s)", why);
    const char *params[] = {c->cluster, c->node, "0", "forced-up", detail, ms};
    PGresult *r = db_exec_wait(conn, SQL_EVENT, 6, params, 2000, err, sizeof(err));
    if (r)
        PQclear(r);
    PQfinish(conn);
}

static int verb_up(const struct conf *c, int force)
{
    char why[512];
    int holder = holder_check(c, why, sizeof(why));
    if (holder != 1 && !force) {
        log_errx("up refused: %s (--force overrides)", why);
        return holder < 0 ? EXIT_FAILED : EXIT_REFUSED;
    }
    if (holder != 1) {
        log_warnx("up forced: %s", why);
        record_forced_up(c, why);
    }
    return cmd_up(c);
}

/* watchd runs this every interval on the active; silent while all is in place */
static int verb_check(const struct conf *c)
{
    char why[512];
    int holder = holder_check(c, why, sizeof(why));
    if (holder != 1) {
        log_errx("check refused: %s", why);
        return holder < 0 ? EXIT_FAILED : EXIT_REFUSED;
    }
    return cmd_check(c);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'}, {"force", no_argument, NULL, 'f'},
        {"to", required_argument, NULL, 'T'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0},
    };
    const char *conf_path = HS_DEFAULT_CONF, *to = NULL;
    int json = 0, force = 0, test_only = 0, debug = 0, nevents = 20, ch;

    while ((ch = getopt_long(argc, argv, "c:tdVhn:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': conf_path = optarg; break;
        case 't': test_only = 1; break;
        case 'd': debug = 1; break;
        case 'j': json = 1; break;
        case 'f': force = 1; break;
        case 'T': to = optarg; break;
        case 'n':
            nevents = atoi(optarg);
            if (nevents <= 0 || nevents > 100000) {
                fprintf(stderr, "vipctl: -n needs a number from 1 to 100000\n");
                return EXIT_USAGE;
            }
            break;
        case 'V': print_version("vipctl"); return EXIT_DONE;
        case 'h': fputs(usage, stdout); return EXIT_DONE;
        default: fputs(usage, stderr); return EXIT_USAGE;
        }
    }
    log_init("vipctl", debug);
    struct conf c;
    char err[1024];
    daemon_protect_secrets();
    if (conf_load(conf_path, &c, err, sizeof(err)) < 0) {
        fprintf(stderr, "vipctl: %s\n", err);
        return EXIT_USAGE;
    }
    db_set_pool_mode(c.database_pool_mode == POOL_TRANSACTION);
    if (test_only) {
        printf("vipctl: %s: configuration ok\n", conf_path);
        return EXIT_DONE;
    }
    int forget = optind == argc - 2 && strcmp(argv[optind], "forget") == 0;
    if (optind != argc - 1 && !forget) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *verb = argv[optind];
    if (forget)
        return verb_forget(&c, argv[optind + 1]);
    if (strcmp(verb, "up") == 0)
        return verb_up(&c, force);
    if (strcmp(verb, "down") == 0)
        return cmd_down(&c);
    if (strcmp(verb, "garp") == 0)
        return cmd_garp(&c);
    if (strcmp(verb, "check") == 0)
        return verb_check(&c);
    if (strcmp(verb, "status") == 0)
        return verb_status(&c, json);
    if (strcmp(verb, "switchover") == 0)
        return verb_switchover(&c, to);
    if (strcmp(verb, "pause") == 0)
        return verb_pause(&c, 1, 0);
    if (strcmp(verb, "resume") == 0)
        return verb_pause(&c, 0, force);
    if (strcmp(verb, "set-timing") == 0)
        return verb_set_timing(&c);
    if (strcmp(verb, "events") == 0)
        return verb_events(&c, nevents, json);
    if (strcmp(verb, "test-mail") == 0)
        return verb_test_mail(&c);
    if (strcmp(verb, "test-dns") == 0)
        return verb_test_dns(&c);
    fprintf(stderr, "vipctl: unknown verb '%s'\n%s", verb, usage);
    return EXIT_USAGE;
}
