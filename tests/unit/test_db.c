/*
 * test_db.c: the pure parts of common/db.c behind the read-only arbiter rules (issue 8,
 * point 7): which conninfo gets target_session_attrs=read-write, which errors make us
 * leave a server, and when the arbiter's replication is reported as a risk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "db.h"
#include "db_internal.h"
#include "log.h"
#include "sql.h"

static void test_read_write_added(void **state)
{
    assert_true(db_wants_read_write("host=db1,db2 dbname=hs"));
    assert_true(db_wants_read_write("host=127.0.0.1,127.0.0.1 port=5433,5432 dbname=hs"));
    assert_true(db_wants_read_write("hostaddr=192.0.2.1,192.0.2.2 dbname=hs"));
    assert_true(db_wants_read_write("postgresql://db1:5432,db2:5432/hs"));
    assert_false(db_wants_read_write("host=db1,db2 dbname=hs target_session_attrs=any"));
    assert_false(db_wants_read_write("host=db1,db2 target_session_attrs=read-write"));
    assert_false(db_wants_read_write("postgresql://db1,db2/hs?target_session_attrs=any"));
    assert_false(db_wants_read_write("host=db1 dbname=hs"));
    assert_false(db_wants_read_write("hs"));   /* a bare database name */
    assert_false(db_wants_read_write("host=db1 nosuchkey=1"));
}

static void test_reconnect_errors(void **state)
{
    static const char *leave[] = {"25006", "25P02", "25000", "57P01", "57P02", "57P03",
                                  "57P04", "08006", "08003"};
    static const char *stay[] = {"23505", "42P01", "40001", "57014", "42501", "", "2500",
                                 "250066"};
    for (size_t i = 0; i < sizeof(leave) / sizeof(leave[0]); i++)
        if (!db_error_means_reconnect(leave[i]))
            fail_msg("%s should make us reconnect", leave[i]);
    for (size_t i = 0; i < sizeof(stay) / sizeof(stay[0]); i++)
        if (db_error_means_reconnect(stay[i]))
            fail_msg("%s should not make us reconnect", stay[i]);
    assert_false(db_error_means_reconnect(NULL));
}

/* A result as pg_stat_replication would give it: replicas, synchronous ones, names. */
static PGresult *replication_row(const char *replicas, const char *sync, const char *names)
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc cols[3] = {{.name = "count", .format = 0}, {.name = "count", .format = 0},
                            {.name = "current_setting", .format = 0}};
    assert_true(PQsetResultAttrs(r, 3, cols));
    const char *v[] = {replicas, sync, names};
    for (int i = 0; i < 3; i++)
        assert_true(PQsetvalue(r, 0, i, (char *)v[i], (int)strlen(v[i])));
    return r;
}

/* The crowd count stops one row past DB_CROWD_MAX_CLUSTERS (as the schema's
 * hs_few_clusters() does): enough to tell few from many, never a scan of every row. */
static void test_crowd_count_bound(void **state)
{
    (void)state;
    char limit[32];
    snprintf(limit, sizeof(limit), "LIMIT %d)", DB_CROWD_MAX_CLUSTERS + 1);
    assert_non_null(strstr(SQL_CLUSTER_COUNT, limit));
}

/* The node row's refresh (node_row_due): the oldest a row gets before it is written again,
 * with ticks a little late as timers are, never reaches takeover_timeout minus the margin. */
static int64_t oldest_row(int64_t interval, int64_t takeover, int64_t late)
{
    int64_t written = 1, oldest = 0, t = 1;
    for (int tick = 0; tick < 200; tick++) {
        t += interval + late;
        if (t - written > oldest)
            oldest = t - written;
        if (node_row_due(t, written, interval, takeover))
            written = t;
    }
    return oldest;
}

static void test_node_row_due(void **state)
{
    (void)state;
    const int64_t ms = 1000000, s = 1000 * ms;
    assert_true(node_row_due(5 * s, 0, s, 3 * s));         /* never written */
    assert_true(node_row_due(5 * s, 6 * s, s, 3 * s));      /* clock before the write */
    assert_false(node_row_due(5 * s + ms, 4 * s, s, 3 * s));   /* 1 s old at 1 s / 3 s */
    assert_true(node_row_due(6 * s + ms, 4 * s, s, 3 * s));    /* 2 s old */
    /* every 2 intervals at 1 s / 3 s and 200 ms / 700 ms, every 4 at 10 s / 60 s */
    assert_int_equal(oldest_row(s, 3 * s, ms), 2 * s + 2 * ms);
    assert_int_equal(oldest_row(200 * ms, 700 * ms, ms), 400 * ms + 2 * ms);
    assert_int_equal(oldest_row(10 * s, 60 * s, ms), 40 * s + 4 * ms);
    /* an interval of half the timeout or more: every interval, as before */
    assert_int_equal(oldest_row(s, 2 * s, ms), s + ms);
    /* whatever the timing, a row is refreshed at least one margin (the larger of half an
     * interval and a quarter of the timeout) before it stops counting as live */
    for (int64_t iv = 100 * ms; iv <= 30 * s; iv += 100 * ms)
        for (int64_t to = 2 * iv; to <= 20 * iv && to <= 600 * s; to += iv / 2 + 1) {
            int64_t margin = iv / 2 > to / 4 ? iv / 2 : to / 4, oldest = oldest_row(iv, to, 0);
            assert_true(oldest <= to - margin || oldest <= iv);
        }
}

static void test_replication_verdict(void **state)
{
    char why[256];
    PGresult *r = replication_row("0", "0", "");
    assert_int_equal(db_replication_verdict(r, why, sizeof(why)), 0);   /* no replica */
    PQclear(r);
    r = replication_row("1", "0", "");
    assert_int_equal(db_replication_verdict(r, why, sizeof(why)), 1);
    assert_non_null(strstr(why, "replicates asynchronously to 1 replica "));
    PQclear(r);
    r = replication_row("2", "0", "FIRST 1 (r1)");
    assert_int_equal(db_replication_verdict(r, why, sizeof(why)), 1);
    assert_non_null(strstr(why, "none of the arbiter's 2 replicas is synchronous"));
    PQclear(r);
    r = replication_row("2", "1", "FIRST 1 (r1)");
    assert_int_equal(db_replication_verdict(r, why, sizeof(why)), 0);
    assert_string_equal(why, "");
    PQclear(r);
    r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_int_equal(db_replication_verdict(r, why, sizeof(why)), -1);
    PQclear(r);
}

int main(void)
{
    log_init("test_db", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_write_added),
        cmocka_unit_test(test_reconnect_errors),
        cmocka_unit_test(test_replication_verdict),
        cmocka_unit_test(test_crowd_count_bound),
        cmocka_unit_test(test_node_row_due),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
