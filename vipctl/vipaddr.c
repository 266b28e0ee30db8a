/*
 * vipaddr.c: the address verbs for connection = vip (up, down, garp, check): netlink
 * through vip.c, announcements through announce.c. Linked into both vipctl binaries:
 * `vipctl` (front.c) runs them itself when watchd or heartbeatd spawn it, vipctl-full
 * through address.c. The caller has checked the holder for up and check. Everything here
 * is idempotent: running a verb twice has the effect of once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "address.h"
#include "log.h"
#include "vipctl.h"

/*
 * <run_dir>/vip-<cluster>.state remembers the address this node last added, so that
 * after the operator changes [vip] address or interface (SIGHUP on the active, then `up`)
 * the old address is removed too: the config no longer names it. On kernels without
 * IFA_PROTO it is also what marks an IPv6 VIP as ours (struct vip remembered_prefix).
 */
static void state_path(const struct conf *c, char *buf, size_t len)
{
    snprintf(buf, len, "%s/vip-%s.state", c->run_dir, c->cluster);
}

static void state_save(const struct conf *c, const struct vip *v)
{
    char path[CONF_STR + 128], tmp[CONF_STR + 140];
    state_path(c, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = NULL;
    if ((mkdir(c->run_dir, 0755) < 0 && errno != EEXIST) || !(f = fopen(tmp, "we"))) {
        log_warn("%s: cannot remember %s (an address change will need `ip addr del`)",
                 c->run_dir, v->text);
        return;
    }
    fprintf(f, "%s %s\n", v->ifname, v->text);
    if (fclose(f) != 0 || rename(tmp, path) < 0)
        log_warn("%s", path);
}

static void state_clear(const struct conf *c)
{
    char path[CONF_STR + 128];
    state_path(c, path, sizeof(path));
    unlink(path);
}

/* The VIP the state file names, with remembered_prefix set: 1, or 0 if there is none. */
static int state_load(const struct conf *c, struct vip *old)
{
    char path[CONF_STR + 128], ifname[IFNAMSIZ + 1], text[80], err[512];
    state_path(c, path, sizeof(path));
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int n = fscanf(f, "%16s %79s", ifname, text);
    fclose(f);
    char *slash = n == 2 ? strchr(text, '/') : NULL;
    if (!slash)
        return 0;
    *slash = '\0';
    struct conf oc = *c;
    snprintf(oc.vip_address, sizeof(oc.vip_address), "%s", text);
    snprintf(oc.vip_interface, sizeof(oc.vip_interface), "%s", ifname);
    oc.vip_prefix = atoi(slash + 1);
    if (vip_from_conf(&oc, old, err, sizeof(err)) < 0)
        return 0;
    old->remembered_prefix = old->prefix;
    return 1;
}

static int same_address(const struct vip *a, const struct vip *b)
{
    return a->family == b->family && !memcmp(a->addr, b->addr, sizeof(a->addr)) &&
           !strcmp(a->ifname, b->ifname);
}

int vip_configured(const struct conf *c, struct vip *v, char *err, size_t errlen)
{
    struct vip old;
    if (vip_from_conf(c, v, err, errlen) < 0)
        return -1;
    if (state_load(c, &old) && same_address(&old, v))
        v->remembered_prefix = old.prefix;
    return 0;
}

static int vip_or_fail(const struct conf *c, struct vip *v)
{
    char err[256];
    if (vip_configured(c, v, err, sizeof(err)) < 0) {
        log_errx("%s", err);
        return -1;
    }
    return 0;
}

/* The configured VIP on an interface that exists: EXIT_DONE, or the verb's exit code. */
static int vip_on_interface(const struct conf *c, const char *verb, struct vip *v)
{
    if (vip_or_fail(c, v) < 0)
        return EXIT_USAGE;
    if (!v->ifindex) {
        log_errx("%s: %s: interface '%s' does not exist", verb, v->text, v->ifname);
        return EXIT_FAILED;
    }
    return EXIT_DONE;
}

/* Where the VIP is on its interface: 0, or -1 logged. */
static int find_or_fail(const char *verb, const struct vip *v, struct vip_found *f)
{
    char err[512];
    if (vip_find(v, f, err, sizeof(err)) < 0) {
        log_errx("%s: %s", verb, err);
        return -1;
    }
    return 0;
}

/* Removes what the state file names if it is not the configured VIP. */
static int state_remove_old(const struct conf *c, const struct vip *now)
{
    struct vip ov;
    char err[512];
    if (!state_load(c, &ov) || !ov.ifindex)
        return 0;
    if (same_address(&ov, now))
        return 0; /* at most the netmask changed: vip_remove_ours(keep_exact) handles it */
    int removed = vip_remove_ours(&ov, 0, err, sizeof(err));
    if (removed < 0) {
        log_errx("%s", err);
        return -1;
    }
    if (removed > 0)
        log_info("removed the previous virtual IP %s from %s (no longer configured)", ov.text,
                 ov.ifname);
    return 0;
}

/* A spawned vipctl past its lease (lease.c) changes nothing more: logged, 1. */
static int lease_refuses(const struct conf *c, const char *what)
{
    char why[256];
    if (lease_check(c, why, sizeof(why)) != 0)
        return 0;
    log_errx("up: stopped before %s the address: %s", what, why);
    return 1;
}

/* The lease ended between adding the address and announcing it: a node without a lease
 * holds no address, so what this run may have added goes again (nothing half-done). */
static int take_back(const struct conf *c, const struct vip *v)
{
    char err[512];
    if (vip_remove_ours(v, 0, err, sizeof(err)) < 0) {
        log_errx("up: the lease ended and %s could not be removed again: %s", v->text, err);
        return EXIT_FAILED;
    }
    state_clear(c);
    log_errx("up: the lease ended before %s was announced; removed it again", v->text);
    return EXIT_REFUSED;
}

int vip_cmd_up(const struct conf *c)
{
    struct vip v;
    struct vip_found f;
    char err[512];
    int rc = vip_on_interface(c, "up", &v);
    if (rc != EXIT_DONE)
        return rc;
    if (state_remove_old(c, &v) < 0)
        return EXIT_FAILED;
    /* A marked copy with another prefix is what a netmask change leaves behind. */
    int stale = vip_remove_ours(&v, 1, err, sizeof(err));
    if (stale < 0) {
        log_errx("up: %s", err);
        return EXIT_FAILED;
    }
    if (stale > 0)
        log_info("up: removed %d old copy(ies) of %s with another netmask", stale, v.text);
    if (find_or_fail("up", &v, &f) < 0)
        return EXIT_FAILED;
    if (f.exact && !f.exact_ours) {
        log_warnx("up: %s is already on %s but was not added by hotstandby; using it as is "
                  "(down will leave it)", v.text, v.ifname);
    } else if (f.exact) {
        log_info("up: %s already on %s", v.text, v.ifname);
        state_save(c, &v);
    } else if (lease_refuses(c, "adding")) {
        return EXIT_REFUSED;
    } else if (vip_add(&v, err, sizeof(err)) < 0) {
        log_errx("up: %s", err);
        return EXIT_FAILED;
    } else {
        log_info("up: added %s on %s", v.text, v.ifname);
        state_save(c, &v); /* only what is ours: down trusts it on kernels without IFA_PROTO */
    }
    rc = announce_burst(c, &v);
    if (rc == LEASE_ENDED)
        return take_back(c, &v);
    return rc < 0 ? EXIT_FAILED : EXIT_DONE;
}

int vip_cmd_down(const struct conf *c)
{
    struct vip v;
    char err[512];
    if (vip_or_fail(c, &v) < 0)
        return EXIT_USAGE;
    announce_stop(c); /* no late announcement may pull clients back to us */
    if (state_remove_old(c, &v) < 0)
        return EXIT_FAILED;
    if (!v.ifindex) {
        log_warnx("down: interface '%s' does not exist; %s cannot be on it", v.ifname, v.text);
        state_clear(c);
        return EXIT_DONE;
    }
    int removed = vip_remove_ours(&v, 0, err, sizeof(err));
    if (removed < 0) {
        log_errx("down: %s", err);
        return EXIT_FAILED;
    }
    state_clear(c);
    struct vip_found f;
    if (removed)
        log_info("down: removed %s from %s", v.text, v.ifname);
    if (vip_find(&v, &f, err, sizeof(err)) == 0 && f.foreign)
        log_warnx("down: %s stays on %s: it was not added by hotstandby", v.text, v.ifname);
    else if (!removed)
        log_info("down: %s was not on %s", v.text, v.ifname);
    return EXIT_DONE;
}

int vip_cmd_garp(const struct conf *c)
{
    struct vip v;
    struct vip_found f;
    int rc = vip_on_interface(c, "garp", &v);
    if (rc != EXIT_DONE)
        return rc;
    if (find_or_fail("garp", &v, &f) < 0)
        return EXIT_FAILED;
    /* Announcing an address we do not hold would steal it from whoever does. */
    if (!f.exact && !f.foreign) {
        log_errx("garp: %s is not on %s; nothing to announce (vipctl up adds it)", v.text,
                 v.ifname);
        return EXIT_FAILED;
    }
    rc = announce_burst(c, &v);
    return rc == LEASE_ENDED ? EXIT_REFUSED : rc < 0 ? EXIT_FAILED : EXIT_DONE;
}

int vip_cmd_check(const struct conf *c)
{
    struct vip v;
    struct vip_found f;
    char err[512];
    if (vip_or_fail(c, &v) < 0)
        return EXIT_USAGE;
    if (v.ifindex && vip_find(&v, &f, err, sizeof(err)) == 0 && f.exact)
        return EXIT_DONE;
    log_warnx("check: %s is missing from %s (removed by someone else?); bringing it back",
              v.text, v.ifname);
    return vip_cmd_up(c);
}
