/*
 * address.c: the address verbs (up, down, garp, check, status) for connection = vip |
 * hostname, as vipctl-full runs them: the virtual IP's in vipaddr.c, the virtual
 * hostname's here. main.c has already loaded the config and, for `up` and `check`, checked
 * that this node is the holder. Everything here is idempotent: running a verb twice has
 * the effect of once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "log.h"
#include "vipctl.h"

static int hostname_up(const struct conf *c);

static int hostname_check(const struct conf *c)
{
    char addrs[16][64], err[512];
    int n = dns_resolve(c, addrs, 16, err, sizeof(err));
    if (n < 0) {
        log_errx("check: %s", err);
        return EXIT_FAILED;
    }
    if (n == 1 && !strcmp(addrs[0], c->address))
        return EXIT_DONE;
    log_warnx("check: %s does not point at %s only (%d record(s)); updating it",
              c->dns_hostname, c->address, n);
    return hostname_up(c);
}

int cmd_check(const struct conf *c)
{
    if (c->connection == CONN_VIP)
        return vip_cmd_check(c);
    if (c->connection == CONN_HOSTNAME)
        return hostname_check(c);
    return EXIT_DONE;
}

static int hostname_up(const struct conf *c)
{
    char err[512];
    int microsoft = !strcmp(c->dns_type, "microsoft");
    int rc = microsoft ? dns_gss_update(c, err, sizeof(err)) : dns_update(c, err, sizeof(err));
    if (rc < 0) {
        log_errx("up: %s", err);
        return rc == LEASE_ENDED ? EXIT_REFUSED : EXIT_FAILED;
    }
    log_info("up: %s now points at %s", c->dns_hostname, c->address);
    return EXIT_DONE;
}

int cmd_up(const struct conf *c)
{
    switch (c->connection) {
    case CONN_VIP:
        return vip_cmd_up(c);
    case CONN_HOSTNAME:
        return hostname_up(c);
    case CONN_NONE:
        break;
    }
    log_info("up: connection = none: no address to bring up");
    return EXIT_DONE;
}

/* For a hostname, down changes nothing: the record keeps pointing at this node until the
 * next holder's `up` replaces it (deleting it would turn a slow failover into an outage). */
int cmd_down(const struct conf *c)
{
    if (c->connection == CONN_VIP)
        return vip_cmd_down(c);
    if (c->connection == CONN_HOSTNAME)
        log_info("down: %s left in DNS; the next holder's up replaces it", c->dns_hostname);
    return EXIT_DONE;
}

int cmd_garp(const struct conf *c)
{
    if (c->connection == CONN_VIP)
        return vip_cmd_garp(c);
    log_errx("garp: only for connection = vip (this config has connection = %s)",
             connection_name(c->connection));
    return EXIT_USAGE;
}

static void vip_status(const struct conf *c, const char *holder, json_t *out)
{
    struct vip v;
    struct vip_found f;
    char err[512];
    json_t *a = json_object();
    json_object_set_new(a, "type", json_string("vip"));
    if (vip_configured(c, &v, err, sizeof(err)) < 0) {
        json_object_set_new(a, "error", json_string(err));
        json_object_set_new(out, "address", a);
        return;
    }
    json_object_set_new(a, "address", json_string(v.text));
    json_object_set_new(a, "interface", json_string(v.ifname));
    if (!v.ifindex) {
        json_object_set_new(a, "error", json_string("interface does not exist"));
    } else if (vip_find(&v, &f, err, sizeof(err)) < 0) {
        json_object_set_new(a, "error", json_string(err));
    } else {
        int present = f.exact || f.foreign || f.stale_ours;
        json_object_set_new(a, "present", json_boolean(present));
        json_object_set_new(a, "added_by_hotstandby", json_boolean(f.exact_ours));
        json_object_set_new(a, "tentative", json_boolean(f.tentative));
        if (holder) {
            /* The VIP belongs on the holder and nowhere else. */
            int should = !strcmp(holder, c->node);
            json_object_set_new(a, "expected", json_boolean(should));
            json_object_set_new(a, "ok", json_boolean(should == present));
        }
    }
    json_object_set_new(out, "address", a);
}

static void hostname_status(const struct conf *c, const char *holder_address, json_t *out)
{
    char addrs[16][64], err[512];
    json_t *a = json_object();
    json_object_set_new(a, "type", json_string("hostname"));
    json_object_set_new(a, "name", json_string(c->dns_hostname));
    json_object_set_new(a, "server", json_string(c->dns_server));
    int n = dns_resolve(c, addrs, 16, err, sizeof(err));
    if (n < 0) {
        json_object_set_new(a, "error", json_string(err));
    } else {
        json_t *list = json_array();
        int match = 0;
        for (int i = 0; i < n; i++) {
            json_array_append_new(list, json_string(addrs[i]));
            if (holder_address && !strcmp(addrs[i], holder_address))
                match = 1;
        }
        json_object_set_new(a, "records", list);
        if (holder_address) {
            /* Pointing at the holder means: only at the holder. */
            json_object_set_new(a, "points_at_holder", json_boolean(match && n == 1));
            json_object_set_new(a, "ok", json_boolean(match && n == 1));
        }
    }
    json_object_set_new(out, "address", a);
}

void address_status(const struct conf *c, const char *holder, const char *holder_address,
                    json_t *out)
{
    if (c->connection == CONN_VIP)
        vip_status(c, holder, out);
    else if (c->connection == CONN_HOSTNAME)
        hostname_status(c, holder_address, out);
    else {
        json_t *a = json_object();
        json_object_set_new(a, "type", json_string("none"));
        json_object_set_new(out, "address", a);
    }
}
