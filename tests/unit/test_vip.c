/*
 * test_vip.c: the pure parts of vipctl's address code: the VIP a config describes
 * (vipctl/vip.c: family, default prefix, limits) and the virtual hostname as an FQDN
 * (vipctl/dns.c). The kernel and DNS sides are tested in tests/integ/4*.t.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../vipctl/address.h"
#include "conf.h"

static struct conf conf; /* large: keep it off the stack */
static char err[512];

static void vip_conf(const char *addr, int prefix, const char *ifname)
{
    conf_defaults(&conf);
    conf.connection = CONN_VIP;
    snprintf(conf.vip_address, sizeof(conf.vip_address), "%s", addr);
    conf.vip_prefix = prefix;
    snprintf(conf.vip_interface, sizeof(conf.vip_interface), "%s", ifname);
}

static void test_vip_defaults(void **state)
{
    (void)state;
    struct vip v;
    vip_conf("192.0.2.10", -1, "lo");
    assert_int_equal(vip_from_conf(&conf, &v, err, sizeof(err)), 0);
    assert_int_equal(v.family, AF_INET);
    assert_int_equal(v.prefix, 24);
    assert_string_equal(v.text, "192.0.2.10/24");
    assert_true(v.ifindex > 0); /* lo exists in every namespace */

    vip_conf("2001:db8::10", -1, "lo");
    assert_int_equal(vip_from_conf(&conf, &v, err, sizeof(err)), 0);
    assert_int_equal(v.family, AF_INET6);
    assert_int_equal(v.prefix, 64);
    assert_string_equal(v.text, "2001:db8::10/64");
}

static void test_vip_prefixes(void **state)
{
    (void)state;
    struct vip v;
    vip_conf("192.0.2.10", 32, "lo");
    assert_int_equal(vip_from_conf(&conf, &v, err, sizeof(err)), 0);
    assert_string_equal(v.text, "192.0.2.10/32");
    vip_conf("2001:db8::10", 128, "lo");
    assert_int_equal(vip_from_conf(&conf, &v, err, sizeof(err)), 0);
    vip_conf("192.0.2.10", 33, "lo");
    assert_int_equal(vip_from_conf(&conf, &v, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too long"));
}

static void test_vip_bad_input(void **state)
{
    (void)state;
    struct vip v;
    vip_conf("192.0.2.300", -1, "lo");
    assert_int_equal(vip_from_conf(&conf, &v, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "192.0.2.300"));
    vip_conf("192.0.2.10", -1, "an-interface-name-too-long");
    assert_int_equal(vip_from_conf(&conf, &v, err, sizeof(err)), -1);
    /* A missing interface is not a config error: up reports it, down has nothing to do. */
    vip_conf("192.0.2.10", -1, "nosuch0");
    assert_int_equal(vip_from_conf(&conf, &v, err, sizeof(err)), 0);
    assert_int_equal(v.ifindex, 0);
}

static const char *fqdn_of(const char *host, const char *zone)
{
    static char out[CONF_STR + 2];
    conf_defaults(&conf);
    snprintf(conf.dns_hostname, sizeof(conf.dns_hostname), "%s", host);
    snprintf(conf.dns_zone, sizeof(conf.dns_zone), "%s", zone);
    return dns_fqdn(&conf, out, sizeof(out), err, sizeof(err)) == 0 ? out : NULL;
}

static void test_fqdn(void **state)
{
    (void)state;
    assert_string_equal(fqdn_of("app", "example.com"), "app.example.com.");
    assert_string_equal(fqdn_of("app", "example.com."), "app.example.com.");
    assert_string_equal(fqdn_of("app.example.com", "example.com"), "app.example.com.");
    assert_string_equal(fqdn_of("app.example.com.", "example.com"), "app.example.com.");
    assert_string_equal(fqdn_of("APP.Example.COM", "example.com"), "APP.Example.COM.");
    assert_string_equal(fqdn_of("example.com", "example.com"), "example.com.");
    assert_string_equal(fqdn_of("a.b", "example.com"), "a.b.example.com.");
    /* "xexample.com" is not inside example.com */
    assert_string_equal(fqdn_of("xexample.com", "example.com"), "xexample.com.example.com.");
    assert_null(fqdn_of("app.other.org.", "example.com"));
    assert_non_null(strstr(err, "not in zone"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vip_defaults),
        cmocka_unit_test(test_vip_prefixes),
        cmocka_unit_test(test_vip_bad_input),
        cmocka_unit_test(test_fqdn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
