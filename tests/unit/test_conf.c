/*
 * test_conf.c: the strict INI parser (common/conf.c) against DESIGN §9.
 * Every key with a good value and its parsed result, every default, and every
 * error path with the exact "file:line: key: why" prefix an operator sees from -t.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "conf.h"

#define MS(n) ((int64_t)(n) * NS_PER_MS)
#define SEC(n) ((int64_t)(n) * NS_PER_SEC)

/* The smallest valid file: lines 1-4. Extra text appended starts on line 5. */
#define BASE "[cluster]\nname = c1\nnode = a\ndatabase = host=127.0.0.1 dbname=hs\n"

static char tmpdir[64];
static struct conf conf; /* large: keep it off the stack */
static char err[1024];

static int parse(const char *text)
{
    memset(err, 0, sizeof(err));
    return conf_parse("t.conf", text, strlen(text), &conf, err, sizeof(err));
}

static void parse_ok(const char *text)
{
    if (parse(text) != 0)
        fail_msg("expected success, got error '%s' for:\n%s", err, text);
}

/* Fails unless text is refused with an error that starts with want and contains why. */
static void parse_err(const char *text, const char *want, const char *why)
{
    if (parse(text) == 0)
        fail_msg("expected error '%s', parse succeeded for:\n%s", want, text);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("error '%s' does not start with '%s'", err, want);
    if (why && !strstr(err, why))
        fail_msg("error '%s' does not mention '%s'", err, why);
}

static const char *with_base(const char *extra)
{
    static char buf[16384];
    snprintf(buf, sizeof(buf), "%s%s", BASE, extra);
    return buf;
}

/* Writes a file into tmpdir with the given mode; returns its path (static buffer). */
static const char *write_file(const char *name, const char *content, mode_t mode)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    return path;
}

static int setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/hs-test_conf.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- defaults ---------------------------------------------------------------- */

static void test_defaults(void **state)
{
    parse_ok(BASE);
    assert_string_equal(conf.path, "t.conf");
    assert_string_equal(conf.cluster, "c1");
    assert_string_equal(conf.node, "a");
    assert_string_equal(conf.database, "host=127.0.0.1 dbname=hs");
    assert_int_equal(conf.connection, CONN_NONE);
    assert_string_equal(conf.run_dir, "/run/hotstandby");
    assert_string_equal(conf.state_dir, "/var/lib/hotstandby/c1");   /* persistent, per cluster */
    assert_int_equal(conf.sync_keep_setid, 0);                        /* setid bits stripped */
    assert_int_equal(conf.interval_ns, SEC(10));
    assert_int_equal(conf.takeover_timeout_ns, SEC(60));
    assert_int_equal(conf.fence_after_ns, SEC(30));
    assert_int_equal(conf.priority, 100);
    assert_int_equal(conf.vip_prefix, -1);
    assert_int_equal(conf.garp_count, 5);
    assert_int_equal(conf.garp_interval_ns, MS(200));
    assert_string_equal(conf.dns_type, "bind");
    assert_int_equal(conf.dns_ttl_ns, SEC(30));
    assert_string_equal(conf.tsig_algorithm, "hmac-sha256");
    assert_int_equal(conf.n_sync_paths, 0);
    assert_int_equal(conf.n_sync_exclude, 0);
    assert_int_equal(conf.n_sync_peers, 0);
    assert_string_equal(conf.sync_root, "/");
    assert_string_equal(conf.ssh_user, "root");
    assert_string_equal(conf.remote_command, "syncd --serve");
    assert_int_equal(conf.sync_delay_ns, MS(10));
    assert_int_equal(conf.reconcile_interval_ns, SEC(600));
    assert_int_equal(conf.starttls, 1);
    assert_int_equal(conf.max_clock_skew_ns, SEC(2));
    assert_int_equal(conf.pause_alert_after_ns, SEC(3600));
    assert_int_equal(conf.check_interval_ns, SEC(10)); /* = interval */
    assert_int_equal(conf.check_failures, 3);
    assert_int_equal(conf.hook_timeout_ns, SEC(30));
    assert_int_equal(conf.upgrade_auto, 0);
}

/* fence_after and check_interval follow the configured timings when not set. */
static void test_derived_defaults(void **state)
{
    parse_ok(with_base("[heartbeat]\ninterval = 1s\ntakeover_timeout = 3s\n"));
    assert_int_equal(conf.fence_after_ns, MS(1500));
    assert_int_equal(conf.check_interval_ns, SEC(1));

    parse_ok(with_base("[heartbeat]\ninterval = 50ms\ntakeover_timeout = 500ms\n"));
    assert_int_equal(conf.fence_after_ns, MS(250));
    assert_int_equal(conf.check_interval_ns, MS(50));

    /* stop_timeout: 3/4 of what takeover_timeout leaves after fence_after and address down */
    parse_ok(with_base("[heartbeat]\ninterval = 200ms\ntakeover_timeout = 1500ms\n"));
    assert_int_equal(conf.stop_timeout_ns, MS(562) + 500000);
    parse_ok(with_base("[heartbeat]\ninterval = 200ms\ntakeover_timeout = 1500ms\n"
                       "fence_after = 1400ms\n"));
    assert_int_equal(conf.stop_timeout_ns, MS(75));
    struct conf_timing t;
    conf_timing(&conf, &t);
    assert_int_equal(t.stop_timeout_ms, 75);

    parse_ok(with_base("[vip]\naddress = 192.0.2.10\ninterface = eth0\n"
                       "[cluster]\nconnection = vip\n"));
    assert_int_equal(conf.vip_prefix, 24);
    parse_ok(with_base("[vip]\naddress = 2001:db8::10\ninterface = eth0\n"
                       "[cluster]\nconnection = vip\n"));
    assert_int_equal(conf.vip_prefix, 64);
}

/* ---- every key of §9 with a good value ---------------------------------------- */

static const char full_vip[] =
    "# every key, connection = vip\n"
    "[cluster]\n"
    "name = prod-1\n"
    "node = node_a.1\n"
    "address = 192.0.2.1\n"
    "primary = node_a.1\n"
    "connection = vip\n"
    "database = host=db1,db2 dbname=hs target_session_attrs=read-write\n"
    "run_dir = /run/hs-a\n"
    "user = hsuser\n"
    "\n"
    "[heartbeat]\n"
    "interval = 2s\n"
    "takeover_timeout = 1m\n"
    "fence_after = 20000ms\n"
    "priority = 250\n"
    "[vip]\n"
    "address = 192.0.2.100\n"
    "netmask = 255.255.255.128\n"
    "interface = veth0\n"
    "garp_count = 7\n"
    "garp_interval = 150ms\n"
    "[dns]\n"
    "type = bind\n"
    "server = 127.0.0.1:5353\n"
    "zone = example.test\n"
    "hostname = app.example.test\n"
    "ttl = 45\n"
    "tsig_name = hs-key\n"
    "tsig_secret_file = /etc/hotstandby/tsig.key\n"
    "tsig_algorithm = hmac-sha512\n"
    "[sync]\n"
    "paths = /var/lib/app, /etc/app\n"
    "root = /srv/node-a\n"
    "exclude = *.tmp, .git\n"
    "peers = b=192.0.2.2:2222, c=host-c\n"
    "ssh_user = hs\n"
    "ssh_key = /etc/hotstandby/id_ed25519\n"
    "known_hosts = /etc/hotstandby/known_hosts\n"
    "remote_command = /usr/local/sbin/syncd --serve -c /etc/hs.conf\n"
    "delay_ms = 25\n"
    "reconcile_interval = 5m\n"
    "[shared]\n"
    "folder = /mnt/shared\n"
    "[notify]\n"
    "email = ops@example.test, oncall@example.test\n"
    "smtp_url = smtps://mail.example.test:465\n"
    "from = hotstandby@example.test\n"
    "starttls = no\n"
    "user = mailer\n"
    "password_file = /etc/hotstandby/smtp.pw\n"
    "max_clock_skew = 500ms\n"
    "pause_alert_after = 2m\n"
    "[service]\n"
    "start = systemctl start app\n"
    "stop = systemctl stop app\n"
    "check = /usr/local/bin/app-check --quick\n"
    "check_interval = 5s\n"
    "check_failures = 4\n"
    "hook_timeout = 90s\n"
    "[upgrade]\n"
    "auto = no\n";

static void check_full_vip_sync(void)
{
    assert_int_equal(conf.n_sync_paths, 2);
    assert_string_equal(conf.sync_paths[0], "/var/lib/app");
    assert_string_equal(conf.sync_paths[1], "/etc/app");
    assert_string_equal(conf.sync_root, "/srv/node-a");
    assert_int_equal(conf.n_sync_exclude, 2);
    assert_string_equal(conf.sync_exclude[0], "*.tmp");
    assert_string_equal(conf.sync_exclude[1], ".git");
    assert_int_equal(conf.n_sync_peers, 2);
    assert_string_equal(conf.sync_peers[0].node, "b");
    assert_string_equal(conf.sync_peers[0].host, "192.0.2.2");
    assert_int_equal(conf.sync_peers[0].port, 2222);
    assert_string_equal(conf.sync_peers[1].node, "c");
    assert_string_equal(conf.sync_peers[1].host, "host-c");
    assert_int_equal(conf.sync_peers[1].port, 22);
    assert_string_equal(conf.ssh_user, "hs");
    assert_string_equal(conf.ssh_key, "/etc/hotstandby/id_ed25519");
    assert_string_equal(conf.known_hosts, "/etc/hotstandby/known_hosts");
    assert_string_equal(conf.remote_command, "/usr/local/sbin/syncd --serve -c /etc/hs.conf");
    assert_int_equal(conf.sync_delay_ns, MS(25));
    assert_int_equal(conf.reconcile_interval_ns, SEC(300));
}

static void check_full_vip_rest(void)
{
    assert_string_equal(conf.shared_folder, "/mnt/shared");
    assert_string_equal(conf.email, "ops@example.test, oncall@example.test");
    assert_string_equal(conf.smtp_url, "smtps://mail.example.test:465");
    assert_string_equal(conf.mail_from, "hotstandby@example.test");
    assert_int_equal(conf.starttls, 0);
    assert_string_equal(conf.smtp_user, "mailer");
    assert_string_equal(conf.password_file, "/etc/hotstandby/smtp.pw");
    assert_int_equal(conf.max_clock_skew_ns, MS(500));
    assert_int_equal(conf.pause_alert_after_ns, SEC(120));
    assert_string_equal(conf.service_start, "systemctl start app");
    assert_string_equal(conf.service_stop, "systemctl stop app");
    assert_string_equal(conf.service_check, "/usr/local/bin/app-check --quick");
    assert_int_equal(conf.check_interval_ns, SEC(5));
    assert_int_equal(conf.check_failures, 4);
    assert_int_equal(conf.hook_timeout_ns, SEC(90));
    assert_int_equal(conf.upgrade_auto, 0);
}

static void test_every_key(void **state)
{
    parse_ok(full_vip);
    assert_string_equal(conf.cluster, "prod-1");
    assert_string_equal(conf.node, "node_a.1");
    assert_string_equal(conf.address, "192.0.2.1");
    assert_string_equal(conf.primary, "node_a.1");
    assert_int_equal(conf.connection, CONN_VIP);
    assert_string_equal(conf.database,
                        "host=db1,db2 dbname=hs target_session_attrs=read-write");
    assert_string_equal(conf.run_dir, "/run/hs-a");
    assert_string_equal(conf.user, "hsuser");
    assert_int_equal(conf.interval_ns, SEC(2));
    assert_int_equal(conf.takeover_timeout_ns, SEC(60));
    assert_int_equal(conf.fence_after_ns, SEC(20));
    assert_int_equal(conf.priority, 250);
    assert_string_equal(conf.vip_address, "192.0.2.100");
    assert_int_equal(conf.vip_prefix, 25);
    assert_string_equal(conf.vip_interface, "veth0");
    assert_int_equal(conf.garp_count, 7);
    assert_int_equal(conf.garp_interval_ns, MS(150));
    assert_string_equal(conf.dns_type, "bind");
    assert_string_equal(conf.dns_server, "127.0.0.1:5353");
    assert_string_equal(conf.dns_zone, "example.test");
    assert_string_equal(conf.dns_hostname, "app.example.test");
    assert_int_equal(conf.dns_ttl_ns, SEC(45));
    assert_string_equal(conf.tsig_name, "hs-key");
    assert_string_equal(conf.tsig_secret_file, "/etc/hotstandby/tsig.key");
    assert_string_equal(conf.tsig_algorithm, "hmac-sha512");
    check_full_vip_sync();
    check_full_vip_rest();
}

static void test_hostname_connection(void **state)
{
    parse_ok("[cluster]\nname = c\nnode = b\naddress = 198.51.100.7\nconnection = hostname\n"
             "database = dbname=hs\n"
             "[dns]\nserver = 127.0.0.1\nzone = example.test\nhostname = app.example.test\n"
             "tsig_name = k\ntsig_secret_file = /etc/hs/tsig\n");
    assert_int_equal(conf.connection, CONN_HOSTNAME);
    assert_string_equal(conf.dns_hostname, "app.example.test");
    assert_string_equal(conf.address, "198.51.100.7");
    assert_int_equal(conf.vip_prefix, -1); /* not a VIP cluster */
    assert_string_equal(connection_name(CONN_HOSTNAME), "hostname");
    assert_string_equal(connection_name(CONN_VIP), "vip");
    assert_string_equal(connection_name(CONN_NONE), "none");
    parse_ok(with_base("[cluster]\nconnection = none\n"));
    assert_int_equal(conf.connection, CONN_NONE);
    /* through a pooler in transaction mode, or a session per connection (the default) */
    assert_int_equal(conf.database_pool_mode, POOL_SESSION);
    parse_ok(with_base("[cluster]\ndatabase_pool_mode = transaction\n"));
    assert_int_equal(conf.database_pool_mode, POOL_TRANSACTION);
    parse_ok(with_base("[cluster]\ndatabase_pool_mode = session\n"));
    assert_int_equal(conf.database_pool_mode, POOL_SESSION);
    parse_err(with_base("[cluster]\ndatabase_pool_mode = statement\n"),
              "t.conf:6: database_pool_mode: 'statement' is not session or transaction", NULL);
}

/* Comments, blank lines, CRLF, spacing, '=' inside values, a section reopened. */
static void test_syntax(void **state)
{
    parse_ok("# comment\r\n; other comment\r\n\r\n  [ cluster ]  \r\n"
             "name=c1\r\n  node   =   a  \r\ndatabase = host=h user=u password=p=q\r\n"
             "[heartbeat]\npriority = 5\n[cluster]\nuser = x");
    assert_string_equal(conf.node, "a");
    assert_string_equal(conf.database, "host=h user=u password=p=q");
    assert_int_equal(conf.priority, 5);
    assert_string_equal(conf.user, "x"); /* last line without a newline */
    /* An empty string value means "unset". */
    parse_ok(with_base("[cluster]\nprimary =\n"));
    assert_string_equal(conf.primary, "");
    /* A line of exactly 4095 bytes is fine. */
    static char buf[8192];
    snprintf(buf, sizeof(buf), "%s#%4094d\n", BASE, 1);
    assert_int_equal(strlen(buf), strlen(BASE) + 4095 + 1);
    parse_ok(buf);
}

/* ---- value types -------------------------------------------------------------- */

static void test_durations(void **state)
{
    static const struct { const char *s; int64_t ns; } good[] = {
        {"10s", SEC(10)}, {"200ms", MS(200)}, {"2m", SEC(120)}, {"5", SEC(5)},
        {"0", 0},         {"0ms", 0},         {"1000000000", SEC(1000000000)},
        {"150000000m", SEC(60) * 150000000},
    };
    static const char *bad[] = {
        "", "s", "ms", "10 s", " 10s", "1.5s", "-1s", "+1s", "10h", "10sec", "10S", "10mss",
        "0x10", "1000000001", "99999999999999999999999", "200000000m", "1000000000m",
    };
    int64_t ns;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ns = -1;
        if (conf_parse_duration(good[i].s, &ns) != 0 || ns != good[i].ns)
            fail_msg("'%s': got rc/ns %lld, want %lld", good[i].s, (long long)ns,
                     (long long)good[i].ns);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (conf_parse_duration(bad[i], &ns) == 0)
            fail_msg("'%s' accepted as a duration (%lld ns)", bad[i], (long long)ns);
}

/* -t refuses a fence that cannot end before a standby may act (DESIGN §3 margin). */
static void test_stop_margin(void **state)
{
    parse_err(with_base("[heartbeat]\ninterval = 200ms\ntakeover_timeout = 1500ms\n"
                        "[service]\nstop_timeout = 800ms\n"),
              "t.conf:9: stop_timeout: fence_after 750 ms + stop_timeout 800 ms + address down "
              "0 ms must be shorter than takeover_timeout 1500 ms",
              NULL);
    parse_ok(with_base("[heartbeat]\ninterval = 200ms\ntakeover_timeout = 1500ms\n"
                       "[service]\nstop_timeout = 700ms\n"));
    assert_int_equal(conf.stop_timeout_ns, MS(700));
    struct conf_timing a = {200, 1500, 750, 700}, b = {250, 1500, 750, 700};
    char why[256];
    assert_int_equal(conf_timing_differs(&a, &a, why, sizeof(why)), 0);
    assert_int_equal(conf_timing_differs(&a, &b, why, sizeof(why)), 1);
    assert_string_equal(why, "interval: this file 200 ms, the cluster 250 ms");
}

static void test_duration_keys(void **state)
{
    parse_ok(with_base("[heartbeat]\ninterval = 500ms\ntakeover_timeout = 2\n"
                       "fence_after = 1500ms\n"));
    assert_int_equal(conf.interval_ns, MS(500));
    assert_int_equal(conf.takeover_timeout_ns, SEC(2));
    assert_int_equal(conf.fence_after_ns, MS(1500));
    parse_err(with_base("[heartbeat]\ninterval = 10\ntakeover_timeout = 1h\n"),
              "t.conf:7: takeover_timeout: '1h' is not a duration", NULL);
    parse_err(with_base("[heartbeat]\ninterval = 49ms\n"),
              "t.conf:6: interval: '49ms' out of range", "50 ms");
    parse_err(with_base("[heartbeat]\ntakeover_timeout = 499ms\n"),
              "t.conf:6: takeover_timeout: '499ms' out of range", NULL);
    parse_err(with_base("[dns]\nttl = 999ms\n"), "t.conf:6: ttl: '999ms' out of range", NULL);
    parse_err(with_base("[vip]\ngarp_interval = 0\n"),
              "t.conf:6: garp_interval: '0' out of range", NULL);
    parse_err(with_base("[service]\nhook_timeout = 2m30s\n"),
              "t.conf:6: hook_timeout: '2m30s' is not a duration", NULL);
    parse_err(with_base("[sync]\nreconcile_interval = 200000000m\n"),
              "t.conf:6: reconcile_interval: '200000000m'", NULL);
}

static void netmask_ok(const char *addr, const char *mask, int want)
{
    char text[512];
    snprintf(text, sizeof(text),
             BASE "connection = vip\n[vip]\naddress = %s\ninterface = eth0\nnetmask = %s\n",
             addr, mask);
    parse_ok(text);
    if (conf.vip_prefix != want)
        fail_msg("%s netmask %s: prefix %d, want %d", addr, mask, conf.vip_prefix, want);
}

static void test_netmask(void **state)
{
    netmask_ok("192.0.2.10", "255.255.255.0", 24);
    netmask_ok("192.0.2.10", "255.255.0.0", 16);
    netmask_ok("192.0.2.10", "255.255.255.252", 30);
    netmask_ok("192.0.2.10", "255.255.255.255", 32);
    netmask_ok("192.0.2.10", "0.0.0.0", 0);
    netmask_ok("192.0.2.10", "24", 24);
    netmask_ok("192.0.2.10", "/24", 24);
    netmask_ok("192.0.2.10", "/32", 32);
    netmask_ok("192.0.2.10", "32", 32);
    netmask_ok("2001:db8::10", "64", 64);
    netmask_ok("2001:db8::10", "/48", 48);
    netmask_ok("2001:db8::10", "/128", 128);
    netmask_ok("2001:db8::10", "/127", 127);

    static const char *bad[] = {"255.0.255.0", "255.255.255.1", "255.255.255.256", "1.2.3",
                                "abc",         "/",             "24x",             "-1",
                                "129",         "//24",          "2 4"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), BASE "[vip]\nnetmask = %s\n", bad[i]);
        parse_err(text, "t.conf:6: netmask: ", "not a netmask");
    }
    /* Valid as a prefix length, too long for the address family. */
    parse_err(BASE "connection = vip\n[vip]\naddress = 192.0.2.10\ninterface = eth0\n"
                   "netmask = /33\n",
              "t.conf:9: netmask: prefix /33 too long for IPv4", NULL);
}

static void test_peers(void **state)
{
    parse_ok(with_base("[sync]\npeers = a=host:2200, b=host , c=[2001:db8::2]:2022, "
                       "d=[2001:db8::3], e=192.0.2.5\n"));
    assert_int_equal(conf.n_sync_peers, 5);
    static const struct { const char *node, *host; int port; } want[] = {
        {"a", "host", 2200},         {"b", "host", 22}, {"c", "2001:db8::2", 2022},
        {"d", "2001:db8::3", 22},    {"e", "192.0.2.5", 22},
    };
    for (int i = 0; i < 5; i++) {
        assert_string_equal(conf.sync_peers[i].node, want[i].node);
        assert_string_equal(conf.sync_peers[i].host, want[i].host);
        assert_int_equal(conf.sync_peers[i].port, want[i].port);
    }
    static const char *bad[] = {
        "a",          "=host",       "a=",         "a=host:",   "a=host:0", "a=host:65536",
        "a=host:22x", "a=[::1",      "a=[::1]x",   "a=[::1]:",  "a=::1",    "a=:22",
        "a=[]:22",    "a=h, b",
        "a123456789b123456789c123456789d123456789e123456789f123456789g1234=h",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), BASE "[sync]\n\npeers = %s\n", bad[i]);
        if (parse(text) == 0)
            fail_msg("peers = %s accepted", bad[i]);
        if (strncmp(err, "t.conf:7: peers: ", 17) != 0)
            fail_msg("peers = %s: error '%s'", bad[i], err);
    }
}

static void test_lists(void **state)
{
    parse_ok(with_base("[sync]\npaths = /var/lib/app ,, /etc/app,/srv/x y,\n"
                       "exclude = *.swp\n"));
    assert_int_equal(conf.n_sync_paths, 3);
    assert_string_equal(conf.sync_paths[0], "/var/lib/app");
    assert_string_equal(conf.sync_paths[1], "/etc/app");
    assert_string_equal(conf.sync_paths[2], "/srv/x y");
    assert_int_equal(conf.n_sync_exclude, 1);
    assert_string_equal(conf.sync_exclude[0], "*.swp");

    static char text[16384], list[12000];
    size_t n = 0;
    for (int i = 0; i < CONF_MAX_LIST; i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "/p%d,", i);
    snprintf(text, sizeof(text), BASE "[sync]\npaths = %s\n", list);
    parse_ok(text);
    assert_int_equal(conf.n_sync_paths, CONF_MAX_LIST);
    assert_string_equal(conf.sync_paths[CONF_MAX_LIST - 1], "/p31");
    snprintf(text, sizeof(text), BASE "[sync]\npaths = %s/one-too-many\n", list);
    parse_err(text, "t.conf:6: paths: more than 32 entries", NULL);

    char longentry[300];
    memset(longentry, 'x', sizeof(longentry) - 1);
    longentry[0] = '/';
    longentry[sizeof(longentry) - 1] = '\0';
    snprintf(text, sizeof(text), BASE "[sync]\nexclude = a, %s\n", longentry);
    parse_err(text, "t.conf:6: exclude: entry longer than 255 bytes", NULL);
}

static void test_bools(void **state)
{
    static const char *yes[] = {"yes", "true", "on", "1"}, *no[] = {"no", "false", "off", "0"};
    char text[256];
    for (int i = 0; i < 4; i++) {
        snprintf(text, sizeof(text), BASE "[notify]\nstarttls = %s\n", no[i]);
        parse_ok(text);
        assert_int_equal(conf.starttls, 0);
        snprintf(text, sizeof(text), BASE "[upgrade]\nauto = %s\n[notify]\nstarttls = %s\n",
                 no[i], yes[i]);
        parse_ok(text);
        assert_int_equal(conf.upgrade_auto, 0);
        assert_int_equal(conf.starttls, 1);
        /* without the sync key there is nothing to fetch the files with */
        snprintf(text, sizeof(text), BASE "[upgrade]\nauto = %s\n", yes[i]);
        parse_err(text, "t.conf:6: auto: needs [sync] ssh_key and known_hosts", NULL);
        snprintf(text, sizeof(text),
                 BASE "[sync]\nssh_key = /k\nknown_hosts = /kh\n[upgrade]\nauto = %s\n"
                      "restart = /bin/true\n",
                 yes[i]);
        parse_ok(text);
        assert_int_equal(conf.upgrade_auto, 1);
        assert_string_equal(conf.upgrade_restart, "/bin/true");
    }
    parse_err(with_base("[upgrade]\nauto = maybe\n"), "t.conf:6: auto: 'maybe' is not yes or no",
              NULL);
    parse_err(with_base("[notify]\nstarttls = 2\n"), "t.conf:6: starttls: '2' is not yes or no",
              NULL);
    parse_err(with_base("[notify]\nstarttls =\n"), "t.conf:6: starttls: empty value", NULL);
}

static void test_integers(void **state)
{
    parse_ok(with_base("[heartbeat]\npriority = 0\n[vip]\ngarp_count = 0\n"
                       "[sync]\ndelay_ms = 0\n[service]\ncheck_failures = 1\n"));
    assert_int_equal(conf.priority, 0);
    assert_int_equal(conf.garp_count, 0);
    assert_int_equal(conf.sync_delay_ns, 0);
    assert_int_equal(conf.check_failures, 1);
    parse_ok(with_base("[heartbeat]\npriority = 1000000\n[vip]\ngarp_count = 100\n"
                       "[sync]\ndelay_ms = 60000\n[service]\ncheck_failures = 1000\n"));
    assert_int_equal(conf.priority, 1000000);
    assert_int_equal(conf.garp_count, 100);
    assert_int_equal(conf.sync_delay_ns, MS(60000));
    assert_int_equal(conf.check_failures, 1000);

    parse_err(with_base("[heartbeat]\npriority = -1\n"), "t.conf:6: priority: -1 out of range",
              NULL);
    parse_err(with_base("[heartbeat]\npriority = high\n"),
              "t.conf:6: priority: 'high' is not an integer", NULL);
    parse_err(with_base("[heartbeat]\npriority = 10x\n"),
              "t.conf:6: priority: '10x' is not an integer", NULL);
    parse_err(with_base("[heartbeat]\npriority = 99999999999999999999\n"),
              "t.conf:6: priority: ", NULL);
    parse_err(with_base("[vip]\ngarp_count = 101\n"), "t.conf:6: garp_count: 101 out of range",
              NULL);
    parse_err(with_base("[service]\ncheck_failures = 0\n"),
              "t.conf:6: check_failures: 0 out of range", NULL);
    parse_err(with_base("[sync]\ndelay_ms = 10ms\n"),
              "t.conf:6: delay_ms: '10ms' is not an integer", NULL);
    parse_err(with_base("[sync]\ndelay_ms = 60001\n"), "t.conf:6: delay_ms: 60001 out of range",
              NULL);
}

/* ---- syntax and structure errors ------------------------------------------------ */

static void test_structure_errors(void **state)
{
    parse_err(with_base("[bogus]\nx = 1\n"), "t.conf:5: unknown section [bogus]", NULL);
    parse_err(with_base("\n[cluster\n"), "t.conf:6: malformed section header", NULL);
    parse_err(with_base("[vip] # trailing\n"), "t.conf:5: malformed section header", NULL);
    parse_err(with_base("[cluster]\nnam = x\n"), "t.conf:6: nam: unknown key in [cluster]",
              NULL);
    /* A key of another section is unknown here. */
    parse_err(with_base("[vip]\nname = x\n"), "t.conf:6: name: unknown key in [vip]", NULL);
    parse_err(with_base("[heartbeat]\nInterval = 1s\n"),
              "t.conf:6: Interval: unknown key in [heartbeat]", NULL);
    parse_err(with_base("[cluster]\njust some words\n"), "t.conf:6: expected 'key = value'",
              NULL);
    parse_err("name = c1\n[cluster]\n", "t.conf:1: name: key outside of any [section]", NULL);
    parse_err("# header comes late\n\nnode = a\n", "t.conf:3: node: key outside of any [section]",
              NULL);
    parse_err(with_base("[cluster]\nnode = b\n"),
              "t.conf:6: node: duplicate key (first set on line 3)", NULL);
    parse_err(with_base("[heartbeat]\npriority = 1\n\n[heartbeat]\npriority = 2\n"),
              "t.conf:9: priority: duplicate key (first set on line 6)", NULL);
    parse_err(with_base("[heartbeat]\npriority =\n"), "t.conf:6: priority: empty value", NULL);

    static char text[8192];
    snprintf(text, sizeof(text), "%s[service]\nstart = %04090d\n", BASE, 0); /* 4098 bytes */
    parse_err(text, "t.conf:6: line longer than 4095 bytes", NULL);
    static const char nul[] = BASE "[cluster]\nuser = a\0b\n";
    assert_int_equal(conf_parse("t.conf", nul, sizeof(nul) - 1, &conf, err, sizeof(err)), -1);
    assert_string_equal(err, "t.conf:6: NUL byte in line");
}

static void test_string_errors(void **state)
{
    char text[1024], name[80];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    snprintf(text, sizeof(text), "[cluster]\nname = %s\nnode = a\ndatabase = x\n", name);
    parse_err(text, "t.conf:2: name: value longer than 63 bytes", NULL);
    parse_err("[cluster]\nname = my cluster\nnode = a\ndatabase = x\n",
              "t.conf:2: name: use letters, digits", NULL);
    parse_err("[cluster]\nname = c\nnode = a/b\ndatabase = x\n", "t.conf:3: node: use letters",
              NULL);
    parse_err(with_base("[cluster]\nconnection = VIP\n"),
              "t.conf:6: connection: 'VIP' is not vip, hostname or none", NULL);
    parse_err(with_base("[cluster]\nconnection = dns\n"), "t.conf:6: connection: ", NULL);
    parse_err(with_base("[cluster]\nrun_dir = run/hs\n"),
              "t.conf:6: run_dir: 'run/hs' is not an absolute path", NULL);
    parse_err(with_base("[sync]\nroot = srv\n"), "t.conf:6: root: 'srv' is not an absolute",
              NULL);
    parse_err(with_base("[sync]\nssh_key = ~/.ssh/id\n"), "t.conf:6: ssh_key: ", "absolute");
    parse_err(with_base("[sync]\nknown_hosts = kh\n"), "t.conf:6: known_hosts: ", "absolute");
    parse_err(with_base("[shared]\nfolder = mnt\n"), "t.conf:6: folder: ", "absolute");
    parse_err(with_base("[notify]\npassword_file = pw\n"), "t.conf:6: password_file: ",
              "absolute");
    parse_err(with_base("[dns]\ntsig_secret_file = k\n"), "t.conf:6: tsig_secret_file: ",
              "absolute");
}

/* ---- cross-key validation ------------------------------------------------------- */

static void test_required(void **state)
{
    parse_err("[cluster]\nnode = a\ndatabase = x\n", "t.conf: name: required", NULL);
    parse_err("[cluster]\nname = c\ndatabase = x\n", "t.conf: node: required", NULL);
    parse_err("[cluster]\nname = c\nnode = a\n", "t.conf: database: required", NULL);
    parse_err("[cluster]\nname =\nnode = a\ndatabase = x\n", "t.conf:2: name: required", NULL);
    parse_err("", "t.conf: name: required", NULL);
    parse_err(with_base("[notify]\nemail = ops@example.test\n"),
              "t.conf: smtp_url: required when email is set", NULL);
    /* A bad address is named with its line, so -t points at it. */
    parse_err(with_base("[notify]\nsmtp_url = smtp://x\nemail = ops@example.test, oncall\n"),
              "t.conf:7: email: 'oncall' is not an e-mail address", NULL);
}

static void test_sync_lag_alert(void **state)
{
    assert_int_equal(parse(BASE), 0);
    assert_int_equal(conf.sync_lag_alert_ns, 60 * NS_PER_SEC);
    assert_int_equal(parse(with_base("[notify]\nsync_lag_alert = 5s\n")), 0);
    assert_int_equal(conf.sync_lag_alert_ns, 5 * NS_PER_SEC);
}

static void test_timing_rules(void **state)
{
    parse_err(with_base("[heartbeat]\nfence_after = 60s\n"),
              "t.conf:6: fence_after: must be shorter than takeover_timeout", NULL);
    parse_err(with_base("[heartbeat]\nfence_after = 2m\ntakeover_timeout = 1m\n"),
              "t.conf:6: fence_after: must be shorter than takeover_timeout", NULL);
    parse_err(with_base("[heartbeat]\ntakeover_timeout = 3s\n\ninterval = 3s\n"),
              "t.conf:8: interval: must be shorter than takeover_timeout", NULL);
    parse_err(with_base("[heartbeat]\ninterval = 90s\n"),
              "t.conf:6: interval: must be shorter than takeover_timeout", NULL);
    parse_err(with_base("[heartbeat]\ninterval = 5s\nfence_after = 5s\n"),
              "t.conf:7: fence_after: must be longer than interval", NULL);
    /* Derived fence_after (takeover/2) too short for the interval: no line to name. */
    parse_err(with_base("[heartbeat]\ninterval = 1s\ntakeover_timeout = 2s\n"),
              "t.conf: fence_after: must be longer than interval", NULL);
    parse_ok(with_base("[heartbeat]\ninterval = 1s\ntakeover_timeout = 2s\nfence_after = 1500ms\n"));
}

static void test_sync_paths(void **state)
{
    parse_err(with_base("[sync]\nroot = /srv\npaths = /a, var/b\n"),
              "t.conf:7: paths: 'var/b' must be absolute and without '..'", NULL);
    parse_err(with_base("[sync]\npaths = /var/lib/../../etc\n"),
              "t.conf:6: paths: '/var/lib/../../etc' must be absolute", NULL);
    parse_err(with_base("[sync]\npaths = /var/..\n"), "t.conf:6: paths: '/var/..'", NULL);
    parse_err(with_base("[sync]\npaths = /..\n"), "t.conf:6: paths: '/..'", NULL);
    parse_ok(with_base("[sync]\npaths = /var/..app/x, /var/app../y, /a/.../b\n"));
    assert_int_equal(conf.n_sync_paths, 3);
}

static void test_connection_rules(void **state)
{
    parse_err(BASE "connection = vip\n[vip]\ninterface = eth0\n",
              "t.conf: address: required when connection = vip", NULL);
    parse_err(BASE "connection = vip\n[vip]\naddress = 192.0.2.1\n",
              "t.conf: interface: required when connection = vip", NULL);
    parse_err(BASE "connection = vip\n[vip]\ninterface = eth0\naddress = 192.0.2.300\n",
              "t.conf:8: address: '192.0.2.300' is not an IPv4 or IPv6 address", NULL);
    parse_err(BASE "connection = vip\n[vip]\ninterface = eth0\naddress = vip.example\n",
              "t.conf:8: address: ", NULL);

    static const char *dns[] = {"server = 127.0.0.1", "zone = example.test",
                                "hostname = app.example.test", "tsig_name = k",
                                "tsig_secret_file = /k"};
    static const char *names[] = {"server", "zone", "hostname", "tsig_name", "tsig_secret_file"};
    for (int skip = 0; skip < 5; skip++) {
        char text[1024], want[128];
        int n = snprintf(text, sizeof(text),
                         BASE "address = 192.0.2.1\nconnection = hostname\n[dns]\n");
        for (int i = 0; i < 5; i++)
            if (i != skip)
                n += snprintf(text + n, sizeof(text) - (size_t)n, "%s\n", dns[i]);
        snprintf(want, sizeof(want), "t.conf: %s: required when connection = hostname",
                 names[skip]);
        parse_err(text, want, NULL);
    }
    parse_err(BASE "connection = hostname\n[dns]\nserver = s\nzone = z\nhostname = h\n"
                   "tsig_name = k\ntsig_secret_file = /k\n",
              "t.conf: address: required when connection = hostname", NULL);
    parse_err(BASE "address = 192.0.2.1\nconnection = hostname\n[dns]\ntype = msdns\n"
                   "server = s\nzone = z\nhostname = h\ntsig_name = k\ntsig_secret_file = /k\n",
              "t.conf:8: type: 'msdns' is not bind or microsoft", NULL);
}

/* [dns] type = microsoft: GSS-TSIG keys; each type refuses the other's keys. */
#define MS_BASE BASE "address = 192.0.2.1\nconnection = hostname\n[dns]\ntype = microsoft\n" \
                "server = 192.0.2.53\nzone = ad.example.test.\nhostname = app\n"

static void test_microsoft_keys(void **state)
{
    parse_ok(MS_BASE "user = hs-dns\npassword_file = /etc/hs/ad.pw\n");
    assert_string_equal(conf.dns_type, "microsoft");
    assert_string_equal(conf.dns_user, "hs-dns");
    assert_string_equal(conf.dns_password_file, "/etc/hs/ad.pw");
    assert_string_equal(conf.dns_realm, "AD.EXAMPLE.TEST"); /* the zone in capitals */
    assert_string_equal(conf.dns_kdc, "");
    parse_ok(MS_BASE "user = hs-dns@OTHER.TEST\nkeytab = /etc/hs/ad.keytab\nrealm = OTHER.TEST\n"
                     "kdc = [2001:db8::88]:8888\n");
    assert_string_equal(conf.dns_keytab, "/etc/hs/ad.keytab");
    assert_string_equal(conf.dns_realm, "OTHER.TEST");
    assert_string_equal(conf.dns_kdc, "[2001:db8::88]:8888");

    parse_err(MS_BASE "password_file = /p\n", "t.conf: user: required when type = microsoft",
              NULL);
    parse_err(MS_BASE "user = u\n", "t.conf: password_file: type = microsoft needs "
              "password_file or keytab", NULL);
    parse_err(MS_BASE "user = u\npassword_file = /p\nkeytab = /k\n",
              "t.conf:14: keytab: set password_file or keytab, not both", NULL);
    parse_err(MS_BASE "user = u\npassword_file = p\n",
              "t.conf:13: password_file: 'p' is not an absolute path", NULL);
    parse_err(MS_BASE "user = AD\\u\npassword_file = /p\n",
              "t.conf:12: user: 'AD\\u': give the account as user or user@REALM", NULL);
    parse_err(MS_BASE "user = u\npassword_file = /p\nrealm = A B\n",
              "t.conf:14: realm: 'A B' is not a Kerberos realm", NULL);
    parse_err(MS_BASE "user = u\npassword_file = /p\ntsig_name = k\n",
              "t.conf:14: tsig_name: only for type = bind", NULL);
    parse_err(BASE "address = 192.0.2.1\nconnection = hostname\n[dns]\nserver = s\nzone = z\n"
                   "hostname = h\ntsig_name = k\ntsig_secret_file = /k\nuser = u\n",
              "t.conf:13: user: only for type = microsoft", NULL);
}

/* ---- secrets -------------------------------------------------------------------- */

static void test_read_secret(void **state)
{
    char buf[64];
    const char *path = write_file("s0644", "s3cret\n", 0644);
    assert_int_equal(conf_read_secret(path, buf, sizeof(buf), err, sizeof(err)), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "mode 0644"));
    assert_non_null(strstr(err, "chmod 600"));

    path = write_file("s0640", "s3cret\n", 0640);
    assert_int_equal(conf_read_secret(path, buf, sizeof(buf), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "mode 0640"));
    path = write_file("s0604", "s3cret\n", 0604);
    assert_int_equal(conf_read_secret(path, buf, sizeof(buf), err, sizeof(err)), -1);
    path = write_file("s0601", "s3cret\n", 0601);
    assert_int_equal(conf_read_secret(path, buf, sizeof(buf), err, sizeof(err)), -1);

    path = write_file("s0600", "s3cret \r\n", 0600);
    assert_int_equal(conf_read_secret(path, buf, sizeof(buf), err, sizeof(err)), 6);
    assert_string_equal(buf, "s3cret");
    path = write_file("s0400", "k=v", 0400);
    assert_int_equal(conf_read_secret(path, buf, sizeof(buf), err, sizeof(err)), 3);
    assert_string_equal(buf, "k=v");
    path = write_file("empty", "", 0600);
    assert_int_equal(conf_read_secret(path, buf, sizeof(buf), err, sizeof(err)), 0);
    assert_string_equal(buf, "");
}

static void test_read_secret_refusals(void **state)
{
    char buf[8], path[128], link[128];
    /* Exactly buflen-1 bytes fit; one more is refused rather than truncated. */
    const char *p = write_file("seven", "1234567", 0600);
    assert_int_equal(conf_read_secret(p, buf, sizeof(buf), err, sizeof(err)), 7);
    assert_string_equal(buf, "1234567");
    p = write_file("long", "12345678", 0600);
    assert_int_equal(conf_read_secret(p, buf, sizeof(buf), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "secret longer than 7 bytes"));

    snprintf(path, sizeof(path), "%s/missing", tmpdir);
    assert_int_equal(conf_read_secret(path, buf, sizeof(buf), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(conf_read_secret(tmpdir, buf, sizeof(buf), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a regular file"));

    /* A symlink could be swapped for another file: not followed. */
    snprintf(link, sizeof(link), "%s/link", tmpdir);
    assert_int_equal(symlink(write_file("target", "x", 0600), link), 0);
    assert_int_equal(conf_read_secret(link, buf, sizeof(buf), err, sizeof(err)), -1);

    /* A FIFO must be refused at once, not block the config check forever. */
    snprintf(path, sizeof(path), "%s/fifo", tmpdir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(conf_read_secret(path, buf, sizeof(buf), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a regular file"));
}

static void test_database_file(void **state)
{
    char text[1024];
    const char *path = write_file("db-ok", "host=127.0.0.1 dbname=hs password=pw\n", 0600);
    snprintf(text, sizeof(text), "[cluster]\nname = c\nnode = a\n\ndatabase_file = %s\n", path);
    parse_ok(text);
    assert_string_equal(conf.database, "host=127.0.0.1 dbname=hs password=pw");

    path = write_file("db-open", "host=127.0.0.1 password=pw\n", 0644);
    snprintf(text, sizeof(text), "[cluster]\nname = c\nnode = a\n\ndatabase_file = %s\n", path);
    char want[256];
    snprintf(want, sizeof(want), "t.conf:5: database_file: %s: secret file is accessible", path);
    parse_err(text, want, "chmod 600");

    parse_err("[cluster]\nname = c\nnode = a\ndatabase_file = db.conf\n",
              "t.conf:4: database_file: 'db.conf' is not an absolute path", NULL);
    snprintf(text, sizeof(text), "[cluster]\nname = c\nnode = a\ndatabase_file = %s/nope\n",
             tmpdir);
    parse_err(text, "t.conf:4: database_file: ", "No such file");

    path = write_file("db-ok", "dbname=hs\n", 0600);
    snprintf(text, sizeof(text), BASE "database_file = %s\n", path);
    parse_err(text, "t.conf:5: database_file: set database or database_file, not both", NULL);
}

/* A password in the conninfo only in a file others cannot read (issue 9, point 12). */
static void test_database_password(void **state)
{
    char text[1024], path[256];
    static const char *with_pw[] = {
        "host=127.0.0.1 dbname=hs password=s3cret",
        "host=127.0.0.1 dbname=hs password = 's3cret'",
        "postgresql://hs:s3cret@127.0.0.1/hs",
    };
    for (size_t i = 0; i < sizeof(with_pw) / sizeof(with_pw[0]); i++) {
        snprintf(text, sizeof(text), "[cluster]\nname = c\nnode = a\ndatabase = %s\n", with_pw[i]);
        snprintf(path, sizeof(path), "%s", write_file("pw.conf", text, 0644));
        assert_int_equal(conf_load(path, &conf, err, sizeof(err)), -1);
        char want[512];
        snprintf(want, sizeof(want), "%s:4: database: holds a password but %s is readable", path,
                 path);
        if (strstr(err, want) == NULL)
            fail_msg("%s: got '%s'", with_pw[i], err);
        assert_null(strstr(err, "s3cret"));   /* the error never shows the secret */
        chmod(path, 0600);
        assert_int_equal(conf_load(path, &conf, err, sizeof(err)), 0);
    }
    /* without a password a world-readable file is fine */
    snprintf(path, sizeof(path), "%s",
             write_file("nopw.conf", BASE, 0644));
    assert_int_equal(conf_load(path, &conf, err, sizeof(err)), 0);

    /* a passfile must be absolute, exist and be private, as libpq itself wants it */
    const char *pass = write_file("pgpass", "*:*:*:*:s3cret\n", 0644);
    snprintf(text, sizeof(text), "[cluster]\nname = c\nnode = a\ndatabase = dbname=hs passfile=%s\n",
             pass);
    char want[512];
    snprintf(want, sizeof(want), "t.conf:4: database: passfile %s is accessible by group or "
             "others (mode 0644)", pass);
    parse_err(text, want, NULL);
    chmod(pass, 0600);
    parse_ok(text);
    parse_err("[cluster]\nname = c\nnode = a\ndatabase = dbname=hs passfile=pgpass\n",
              "t.conf:4: database: passfile 'pgpass' is not an absolute path", NULL);
    parse_err("[cluster]\nname = c\nnode = a\ndatabase = host=h nosuchkey=1\n",
              "t.conf:4: database: not a libpq conninfo: invalid connection option", NULL);
}

/* ---- conf_load and helpers ------------------------------------------------------ */

static void test_load(void **state)
{
    const char *path = write_file("hs.conf", BASE "[heartbeat]\npriority = 7\n", 0644);
    char saved[128];
    snprintf(saved, sizeof(saved), "%s", path);
    assert_int_equal(conf_load(saved, &conf, err, sizeof(err)), 0);
    assert_string_equal(conf.path, saved);
    assert_int_equal(conf.priority, 7);

    write_file("hs.conf", BASE "[heartbeat]\npriority = x\n", 0644);
    assert_int_equal(conf_load(saved, &conf, err, sizeof(err)), -1);
    char want[256];
    snprintf(want, sizeof(want), "%s:6: priority: ", saved);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("error '%s' does not start with '%s'", err, want);

    snprintf(saved, sizeof(saved), "%s/absent.conf", tmpdir);
    assert_int_equal(conf_load(saved, &conf, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "No such file"));

    char sock[CONF_LONGSTR];
    parse_ok(with_base("[cluster]\nrun_dir = /tmp/hs-n1\n"));
    conf_sock_path(&conf, "watchd", sock, sizeof(sock));
    assert_string_equal(sock, "/tmp/hs-n1/watchd.sock");
}

/* load_err FILE WANT: conf_load fails with an error starting with $tmpdir/WANT. */
static void load_err(const char *path, const char *want)
{
    char full[256];
    assert_int_equal(conf_load(path, &conf, err, sizeof(err)), -1);
    snprintf(full, sizeof(full), "%s/%s", tmpdir, want);
    if (strncmp(err, full, strlen(full)) != 0)
        fail_msg("error '%s' does not start with '%s'", err, full);
}

#define SHARED "include = node.conf\n[cluster]\nname = c1\ndatabase = host=db dbname=hs\n" \
               "primary = a\n[heartbeat]\ninterval = 1s\ntakeover_timeout = 3s\n"

/* One cluster config: the shared file includes the node's part; each key has one place. */
static void test_include_node_file(void **state)
{
    char shared[128], digest_a[65];
    snprintf(shared, sizeof(shared), "%s", write_file("hs.conf", SHARED, 0644));
    write_file("node.conf", "[cluster]\nnode = a\naddress = 192.0.2.1\n[heartbeat]\npriority = 7\n", 0644);
    assert_int_equal(conf_load(shared, &conf, err, sizeof(err)), 0);
    assert_string_equal(conf.node, "a");
    assert_string_equal(conf.address, "192.0.2.1");
    assert_int_equal(conf.priority, 7);
    assert_int_equal(conf.interval_ns, SEC(1));
    assert_non_null(strstr(conf.node_file, "/node.conf"));
    assert_int_equal(strlen(conf.config_digest), 64);
    snprintf(digest_a, sizeof(digest_a), "%s", conf.config_digest);

    /* another node: same shared digest */
    write_file("node.conf", "[cluster]\nnode = b\n[vip]\ninterface = eth1\n[sync]\nroot = /srv/b\n", 0644);
    assert_int_equal(conf_load(shared, &conf, err, sizeof(err)), 0);
    assert_string_equal(conf.node, "b");
    assert_string_equal(conf.config_digest, digest_a);

    /* one file with the same shared settings, other order and comments: same digest */
    char single[128];
    snprintf(single, sizeof(single), "%s", write_file("single.conf",
        "# one file\n[heartbeat]\ntakeover_timeout = 3s\ninterval = 1s\npriority = 5\n"
        "[cluster]\nnode = z\nprimary = a\ndatabase = host=db dbname=hs\n\nname = c1\n", 0644));
    assert_int_equal(conf_load(single, &conf, err, sizeof(err)), 0);
    assert_string_equal(conf.config_digest, digest_a);
    assert_string_equal(conf.node_file, "");

    /* a shared value that differs changes the digest */
    write_file("single.conf", "[heartbeat]\ntakeover_timeout = 4s\ninterval = 1s\n"
        "[cluster]\nnode = z\nprimary = a\ndatabase = host=db dbname=hs\nname = c1\n", 0644);
    assert_int_equal(conf_load(single, &conf, err, sizeof(err)), 0);
    assert_string_not_equal(conf.config_digest, digest_a);
}

static void test_include_errors(void **state)
{
    char shared[128];
    snprintf(shared, sizeof(shared), "%s", write_file("hs.conf", SHARED, 0644));
    /* a shared key in the node file, named there */
    write_file("node.conf", "[cluster]\nnode = a\n[heartbeat]\ninterval = 2s\n", 0644);
    load_err(shared, "node.conf:4: interval: [heartbeat] interval is the same on every node");
    /* a per-node key in the shared file that includes a node file */
    write_file("node.conf", "[cluster]\nnode = a\n", 0644);
    write_file("hs.conf", SHARED "priority = 3\n", 0644);
    load_err(shared, "hs.conf:9: priority: per-node key: set it in ");
    /* a key in both */
    write_file("hs.conf", SHARED, 0644);
    write_file("node.conf", "[cluster]\nnode = a\nnode = b\n", 0644);
    load_err(shared, "node.conf:3: node: duplicate key (first set on line 2)");
    /* validation of a per-node key names the node file */
    write_file("node.conf", "[cluster]\nnode = a b\n", 0644);
    load_err(shared, "node.conf:2: node: use letters");
    /* missing include: the shared file's line */
    unlink(strcat(strcpy((char[160]){0}, tmpdir), "/node.conf"));
    load_err(shared, "hs.conf:1: include: ");
    assert_non_null(strstr(err, "No such file"));
    /* an included file cannot include; a buffer cannot include */
    write_file("node.conf", "include = other.conf\n[cluster]\nnode = a\n", 0644);
    load_err(shared, "node.conf:1: include: only the configuration file itself may include");
    parse_err("include = node.conf\n" BASE, "t.conf:1: include: only the configuration file", NULL);
    /* include inside a section is an unknown key */
    write_file("hs.conf", "[cluster]\ninclude = node.conf\n", 0644);
    load_err(shared, "hs.conf:2: include: unknown key in [cluster]");
}

/* A small error buffer truncates the message but never overflows. */
static void test_small_err_buffer(void **state)
{
    char small[12];
    memset(small, 'Z', sizeof(small));
    assert_int_equal(conf_parse("t.conf", "x", 1, &conf, small, 8), -1);
    assert_int_equal(strlen(small), 7);
    assert_int_equal(small[8], 'Z');
}

/* A peer from hs_node (through watchd): printable words within conf_peer's sizes. */
static void test_peer_make(void **state)
{
    struct conf_peer p;
    char why[160], long_node[80], long_host[300];
    assert_int_equal(conf_peer_make(&p, "b", "192.0.2.2", why, sizeof(why)), 0);
    assert_string_equal(p.node, "b");
    assert_string_equal(p.host, "192.0.2.2");
    assert_int_equal(p.port, 22);
    assert_int_equal(conf_peer_make(&p, "c", "2001:db8::3", why, sizeof(why)), 0);
    memset(long_node, 'n', sizeof(long_node) - 1);
    long_node[sizeof(long_node) - 1] = '\0';
    memset(long_host, 'h', sizeof(long_host) - 1);
    long_host[sizeof(long_host) - 1] = '\0';
    const char *bad[][2] = {{"", "192.0.2.2"}, {"b", ""},          {"x y", "192.0.2.2"},
                            {"b", "a\"b"},    {"b", "a\\b"},      {"b", "192.0.2.2\n"},
                            {"b\x7f", "h"},   {long_node, "h"},    {"b", long_host}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        assert_int_equal(conf_peer_make(&p, bad[i][0], bad[i][1], why, sizeof(why)), -1);
        assert_true(why[0] != '\0');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_derived_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_hostname_connection),
        cmocka_unit_test(test_microsoft_keys),
        cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_duration_keys),
        cmocka_unit_test(test_stop_margin),
        cmocka_unit_test(test_netmask),
        cmocka_unit_test(test_peers),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_bools),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_string_errors),
        cmocka_unit_test(test_required),
        cmocka_unit_test(test_sync_lag_alert),
        cmocka_unit_test(test_timing_rules),
        cmocka_unit_test(test_sync_paths),
        cmocka_unit_test(test_connection_rules),
        cmocka_unit_test(test_read_secret),
        cmocka_unit_test(test_read_secret_refusals),
        cmocka_unit_test(test_database_file),
        cmocka_unit_test(test_database_password),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_small_err_buffer),
        cmocka_unit_test(test_include_node_file),
        cmocka_unit_test(test_include_errors),
        cmocka_unit_test(test_peer_make),
    };
    return cmocka_run_group_tests_name("conf", tests, setup, teardown);
}
