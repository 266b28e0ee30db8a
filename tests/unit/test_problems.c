/* test_problems.c: which self-monitoring conditions hold (watchd/problems.c), from views. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "../../watchd/problems.h"

static struct problem_view v;
static struct problem_verdict out;

static void node(const char *name, const char *version, const char *digest, const char *fsid,
                 const char *role, int64_t seen_ago_ns)
{
    struct problem_node *n = &v.nodes[v.n_nodes++];
    snprintf(n->name, sizeof(n->name), "%s", name);
    snprintf(n->version, sizeof(n->version), "%s", version);
    snprintf(n->digest, sizeof(n->digest), "%s", digest);
    snprintf(n->fsid, sizeof(n->fsid), "%s", fsid);
    snprintf(n->role, sizeof(n->role), "%s", role);
    n->seen_ago_ns = seen_ago_ns;
}

/* A healthy pair: a active and holder, b a live standby, everything alike. */
static int setup(void **state)
{
    memset(&v, 0, sizeof(v));
    v.me = "a";
    v.version = "1.0";
    v.digest = "d1";
    v.fsid = "nfs4 srv:/x /";
    v.active = 1;
    v.row_known = 1;
    snprintf(v.holder, sizeof(v.holder), "a");
    v.takeover_timeout_ns = 3 * NS_PER_SEC;
    v.max_clock_skew_ns = 2 * NS_PER_SEC;
    v.pause_alert_after_ns = 60 * NS_PER_SEC;
    node("a", "1.0", "d1", "nfs4 srv:/x /", "active", 0);
    node("b", "1.0", "d1", "nfs4 srv:/x /", "standby", NS_PER_SEC / 2);
    return 0;
}

static int holds(enum problem_kind k)
{
    problems_assess(&v, &out);
    return out.holds[k];
}

static void test_healthy(void **state)
{
    problems_assess(&v, &out);
    for (int k = 0; k < PK__COUNT; k++)
        assert_int_equal(out.holds[k], 0);
}

static void test_standby_missing(void **state)
{
    v.nodes[1].seen_ago_ns = 3 * NS_PER_SEC;   /* its row stopped moving a timeout ago */
    assert_true(holds(PK_STANDBY_MISSING));
    v.nodes[1].seen_ago_ns = 0;
    snprintf(v.nodes[1].role, sizeof(v.nodes[1].role), "stopped");
    assert_true(holds(PK_STANDBY_MISSING));
    /* only the holder reports cluster-wide conditions */
    v.active = 0;
    assert_false(holds(PK_STANDBY_MISSING));
}

static void test_mismatches(void **state)
{
    snprintf(v.nodes[1].version, sizeof(v.nodes[1].version), "2.0");
    assert_true(holds(PK_VERSION_MISMATCH));
    assert_non_null(strstr(out.detail[PK_VERSION_MISMATCH], "b has 2.0"));
    snprintf(v.nodes[1].digest, sizeof(v.nodes[1].digest), "d2");
    assert_true(holds(PK_CONFIG_MISMATCH));
    snprintf(v.nodes[1].fsid, sizeof(v.nodes[1].fsid), "tmpfs other /");
    assert_true(holds(PK_SHARED_MISMATCH));
    /* a node that is gone, or that publishes nothing yet, is not compared */
    v.nodes[1].seen_ago_ns = 10 * NS_PER_SEC;
    assert_false(holds(PK_VERSION_MISMATCH));
    v.nodes[1].seen_ago_ns = 0;
    v.nodes[1].digest[0] = '\0';
    assert_false(holds(PK_CONFIG_MISMATCH));
    /* our folder unusable: the folder alert says so; no comparison */
    v.fsid = "";
    assert_false(holds(PK_SHARED_MISMATCH));
}

static void test_older_standby(void **state)
{
    /* b's view: a is active with a newer version */
    v.me = "b";
    v.active = 0;
    snprintf(v.active_version, sizeof(v.active_version), "1.10");
    v.version = "1.9";
    assert_true(holds(PK_VERSION_MISMATCH));
    assert_non_null(strstr(out.detail[PK_VERSION_MISMATCH], "b has 1.9, older than 1.10 on the "
                                                            "active a: upgrade it"));
    v.auto_upgrade = 1;
    assert_true(holds(PK_VERSION_MISMATCH));
    assert_non_null(strstr(out.detail[PK_VERSION_MISMATCH], "upgrades itself"));
    /* newer or the same: nothing to say (the active reports differences) */
    v.version = "1.10";
    assert_false(holds(PK_VERSION_MISMATCH));
    v.version = "2.0";
    assert_false(holds(PK_VERSION_MISMATCH));
    /* the active itself never reports being older than itself */
    v.version = "1.0";
    v.me = "a";
    v.active = 1;
    assert_false(holds(PK_VERSION_MISMATCH));
    /* unknown active version, or no holder: nothing */
    v.me = "b";
    v.active = 0;
    v.active_version[0] = '\0';
    assert_false(holds(PK_VERSION_MISMATCH));
}

static void test_paused(void **state)
{
    v.paused = 1;
    v.paused_for_ns = 59 * NS_PER_SEC;
    assert_false(holds(PK_PAUSED));
    v.paused_for_ns = 60 * NS_PER_SEC;
    assert_true(holds(PK_PAUSED));
}

static void test_clock_skew(void **state)
{
    v.clock_known = 1;
    v.skew_ns = 2500 * NS_PER_MS;
    v.skew_error_ns = 100 * NS_PER_MS;
    assert_true(holds(PK_CLOCK_SKEW));
    assert_non_null(strstr(out.detail[PK_CLOCK_SKEW], "behind"));
    v.skew_ns = -2500 * NS_PER_MS;
    assert_true(holds(PK_CLOCK_SKEW));
    assert_non_null(strstr(out.detail[PK_CLOCK_SKEW], "ahead"));
    /* what a slow round trip could explain is not held against the clock */
    v.skew_error_ns = 600 * NS_PER_MS;
    assert_false(holds(PK_CLOCK_SKEW));
    /* a standby checks its own clock too */
    v.skew_error_ns = 0;
    v.active = 0;
    assert_true(holds(PK_CLOCK_SKEW));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_healthy, setup),
        cmocka_unit_test_setup(test_standby_missing, setup),
        cmocka_unit_test_setup(test_mismatches, setup),
        cmocka_unit_test_setup(test_older_standby, setup),
        cmocka_unit_test_setup(test_paused, setup),
        cmocka_unit_test_setup(test_clock_skew, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
