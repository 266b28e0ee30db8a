/*
 * hotstandby-clone: sets up a standby from a primary (DESIGN §8), with the preflight
 * checks the product model lists as prerequisites. Verbs:
 *   preflight [--peer HOST]      the checks, PASS/WARN/FAIL each; exit 1 if any failed
 *   primary --to HOST            on the primary: copy the installation and config to HOST
 *   configure --from HOST        on the secondary: fetch them from HOST
 *   start | stop | running       this node's daemons (systemd units, or detached);
 *                                running: exit 0 if watchd runs here
 *   restart                      the same, without waiting for systemd (after an upgrade)
 *   publish | upgrade            run by watchd (upgrade.c): the active publishes the
 *                                checksums of its binaries; a standby upgrades itself
 *   version                      print the version
 * Exit codes: 0 done, 1 failed, 2 usage or config error; publish and upgrade also
 * 3 refused (this node is the active, or is not) and 4 not yet (see upgrade.c).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "clone.h"
#include "daemon.h"
#include "db.h"
#include "log.h"

static const char usage[] =
    "usage: hotstandby-clone [-c FILE] [SSH options] preflight [--peer HOST]\n"
    "       hotstandby-clone [-c FILE] [SSH options] primary --to HOST [node options]\n"
    "       hotstandby-clone [-c FILE] [SSH options] configure --from HOST [node options]\n"
    "       hotstandby-clone [-c FILE] start | stop | restart | running\n"
    "       hotstandby-clone [-c FILE] publish | upgrade\n"
    "       hotstandby-clone version | -V | -h\n"
    "SSH options (the operator's login to the peer, not syncd's key):\n"
    "  -l USER    login (default root)        -p PORT   port (default 22)\n"
    "  -i KEY     private key (default ~/.ssh/id_ed25519)\n"
    "  -k FILE    known_hosts (default ~/.ssh/known_hosts; the host key must be in it)\n"
    "node options (the new node's node.conf):\n"
    "  --node NAME  --address ADDR  --priority N  --interface IF\n"
    "exit: 0 done, 1 failed, 2 usage or config error\n";

static const char *verdict_name[] = {"PASS", "WARN", "FAIL"};

void report(struct clone *cl, enum verdict v, const char *check, const char *fmt, ...)
{
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    printf("%s  %-16s %s\n", verdict_name[v], check, why);
    fflush(stdout);
    if (v == FAIL)
        cl->failures++;
}

static void defaults(struct clone *cl)
{
    const char *home = getenv("HOME");
    cl->conf_path = HS_DEFAULT_CONF;
    cl->ssh_port = 22;
    cl->ssh_user = "root";
    snprintf(cl->ssh_key, sizeof(cl->ssh_key), "%s/.ssh/id_ed25519", home ? home : "/root");
    snprintf(cl->known_hosts, sizeof(cl->known_hosts), "%s/.ssh/known_hosts",
             home ? home : "/root");
    cl->new_priority = -1;
    const char *off = getenv("HS_TEST_CLOCK_OFFSET_MS");
    if (off)
        cl->clock_offset_ns = strtoll(off, NULL, 10) * NS_PER_MS;
}

static int parse_args(struct clone *cl, int argc, char **argv, const char **verb)
{
    enum { O_PEER = 256, O_NODE, O_ADDRESS, O_PRIORITY, O_INTERFACE };
    static const struct option longopts[] = {
        {"peer", required_argument, NULL, O_PEER},      {"to", required_argument, NULL, O_PEER},
        {"from", required_argument, NULL, O_PEER},      {"node", required_argument, NULL, O_NODE},
        {"address", required_argument, NULL, O_ADDRESS},
        {"priority", required_argument, NULL, O_PRIORITY},
        {"interface", required_argument, NULL, O_INTERFACE},
        {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "+c:l:p:i:k:Vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': cl->conf_path = optarg; break;
        case 'l': cl->ssh_user = optarg; break;
        case 'p': cl->ssh_port = atoi(optarg); break;
        case 'i': snprintf(cl->ssh_key, sizeof(cl->ssh_key), "%s", optarg); break;
        case 'k': snprintf(cl->known_hosts, sizeof(cl->known_hosts), "%s", optarg); break;
        case 'V': print_version("hotstandby-clone"); exit(0);
        case 'h': fputs(usage, stdout); exit(0);
        default: return -1;
        }
    }
    if (optind >= argc)
        return -1;
    *verb = argv[optind++];
    /* verb options may follow the verb */
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case O_PEER: cl->peer = optarg; break;
        case O_NODE: cl->new_node = optarg; break;
        case O_ADDRESS: cl->new_address = optarg; break;
        case O_PRIORITY: cl->new_priority = atoi(optarg); break;
        case O_INTERFACE: cl->new_interface = optarg; break;
        default: return -1;
        }
    }
    if (optind != argc || cl->ssh_port <= 0 || cl->ssh_port > 65535)
        return -1;
    return 0;
}

static int load_conf(struct clone *cl)
{
    char err[1024];
    if (conf_load(cl->conf_path, &cl->conf, err, sizeof(err)) < 0) {
        fprintf(stderr, "hotstandby-clone: %s\n", err);
        return -1;
    }
    cl->have_conf = 1;
    db_set_pool_mode(cl->conf.database_pool_mode == POOL_TRANSACTION);
    return 0;
}

int main(int argc, char **argv)
{
    static struct clone cl; /* large: off the stack */
    const char *verb = NULL;
    log_init("hotstandby-clone", 0);
    defaults(&cl);
    if (parse_args(&cl, argc, argv, &verb) < 0) {
        fputs(usage, stderr);
        return 2;
    }
    if (!strcmp(verb, "version")) {
        printf("%s\n", HS_VERSION);
        return 0;
    }
    int needs_peer = !strcmp(verb, "primary") || !strcmp(verb, "configure");
    int known = needs_peer || !strcmp(verb, "preflight") || !strcmp(verb, "start") ||
                !strcmp(verb, "stop") || !strcmp(verb, "running") ||
                !strcmp(verb, "restart") || !strcmp(verb, "publish") ||
                !strcmp(verb, "upgrade");
    if (!known || (needs_peer && !cl.peer)) {
        fputs(usage, stderr);
        return 2;
    }
    /* configure may run before this node has any config: it fetches it */
    if (strcmp(verb, "configure") && load_conf(&cl) < 0)
        return 2;
    if (!strcmp(verb, "start"))
        return units_start(&cl) < 0 ? 1 : 0;
    if (!strcmp(verb, "running"))
        return units_running(&cl);
    if (!strcmp(verb, "stop"))
        return units_stop(&cl) < 0 ? 1 : 0;
    if (!strcmp(verb, "restart"))
        return units_restart(&cl) < 0 ? 1 : 0;
    if (!strcmp(verb, "publish"))
        return upgrade_publish(&cl);
    if (!strcmp(verb, "upgrade"))
        return upgrade_standby(&cl);
    if (!strcmp(verb, "preflight"))
        return preflight(&cl, 0) ? 1 : 0;
    if (!strcmp(verb, "primary"))
        return clone_primary(&cl) < 0 ? 1 : 0;
    return clone_configure(&cl) < 0 ? 1 : 0;
}
