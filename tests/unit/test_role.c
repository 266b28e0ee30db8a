/*
 * test_role.c: the role state machine (watchd/role.c), driven without clocks or I/O.
 * Every transition of the table, then a randomized property test over long event
 * sequences that checks the safety invariants of DESIGN §3.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "../../watchd/role.h"

#define MS NS_PER_MS
#define INTERVAL (200 * MS)
#define TAKEOVER (1500 * MS)
#define FENCE (750 * MS)

static struct role_params params(const char *node, const char *primary)
{
    struct role_params p = {.interval_ns = INTERVAL, .takeover_timeout_ns = TAKEOVER,
                            .fence_after_ns = FENCE, .check_failures = 3};
    snprintf(p.node, sizeof(p.node), "%s", node);
    snprintf(p.primary, sizeof(p.primary), "%s", primary);
    return p;
}

static struct role_input row(const char *holder, int64_t epoch, int64_t hb)
{
    struct role_input in = {.event = EV_ROW};
    in.row.exists = 1;
    in.row.timing_ok = 1;
    snprintf(in.row.holder, sizeof(in.row.holder), "%s", holder);
    in.row.epoch = epoch;
    in.row.heartbeat = hb;
    return in;
}

static struct role_input ev(enum role_event e) { return (struct role_input){.event = e}; }

static int has(const struct role_actions *a, enum role_action_kind k)
{
    for (int i = 0; i < a->n; i++)
        if (a->a[i].kind == k)
            return 1;
    return 0;
}

static const struct role_action *find(const struct role_actions *a, enum role_action_kind k)
{
    for (int i = 0; i < a->n; i++)
        if (a->a[i].kind == k)
            return &a->a[i];
    return NULL;
}

static int has_event(const struct role_actions *a, const char *kind)
{
    for (int i = 0; i < a->n; i++)
        if (a->a[i].kind == ACT_EVENT && strcmp(a->a[i].kind_name, kind) == 0)
            return 1;
    return 0;
}

static void step(struct role *r, struct role_input in, int64_t now, struct role_actions *out)
{
    role_step(r, &in, now, out);
}

/* Brings r (node "a") to ACTIVE at epoch 1, time 1 s. */
static void make_active(struct role *r, struct role_actions *out)
{
    struct role_params p = params("a", "a");
    role_init(r, &p);
    step(r, row("", 0, 0), NS_PER_SEC, out);
    struct role_input cas = {.event = EV_CAS_RESULT, .won = 1, .epoch = 1, .sent_ns = NS_PER_SEC};
    step(r, cas, NS_PER_SEC + MS, out);
    struct role_input ren = {.event = EV_RENEWED, .epoch = 1, .sent_ns = NS_PER_SEC + 2 * MS};
    step(r, ren, NS_PER_SEC + 3 * MS, out);
    step(r, ev(EV_PROMOTED), NS_PER_SEC + 4 * MS, out);
    assert_int_equal(r->state, ST_ACTIVE);
}

static void test_bootstrap_primary_claims_at_once(void **state)
{
    struct role r;
    struct role_actions a;
    struct role_params p = params("a", "a");
    role_init(&r, &p);
    step(&r, row("", 0, 0), 5 * MS, &a);
    assert_int_equal(r.state, ST_CLAIMING);
    const struct role_action *cas = find(&a, ACT_CAS);
    assert_non_null(cas);
    assert_int_equal(cas->epoch, 0);
    assert_int_equal(cas->heartbeat, 0);
}

static void test_bootstrap_secondary_waits(void **state)
{
    struct role r;
    struct role_actions a;
    struct role_params p = params("b", "a");
    role_init(&r, &p);
    step(&r, row("", 0, 0), 0, &a);
    assert_int_equal(r.state, ST_STANDBY);
    assert_false(has(&a, ACT_CAS));
    assert_int_equal(role_next_deadline(&r), TAKEOVER);
    step(&r, ev(EV_TICK), TAKEOVER - 1, &a);
    assert_int_equal(r.state, ST_STANDBY);
    step(&r, ev(EV_TICK), TAKEOVER, &a);
    assert_int_equal(r.state, ST_CLAIMING);
    assert_true(has(&a, ACT_CAS));
}

static void test_nonpreemption(void **state)
{
    struct role r;
    struct role_actions a;
    struct role_params p = params("a", "a");   /* even the primary */
    role_init(&r, &p);
    step(&r, row("b", 4, 100), 0, &a);
    assert_int_equal(r.state, ST_STANDBY);
    for (int i = 1; i <= 20; i++) {   /* counter keeps moving: never claims */
        step(&r, row("b", 4, 100 + i), i * INTERVAL, &a);
        step(&r, ev(EV_TICK), i * INTERVAL + 1, &a);
        assert_int_equal(r.state, ST_STANDBY);
    }
}

static void test_staleness_resets_on_change(void **state)
{
    struct role r;
    struct role_actions a;
    struct role_params p = params("b", "a");
    role_init(&r, &p);
    step(&r, row("a", 1, 10), 0, &a);
    step(&r, row("a", 1, 10), TAKEOVER - 10 * MS, &a);
    step(&r, row("a", 1, 11), TAKEOVER - 5 * MS, &a);   /* moved just in time */
    step(&r, ev(EV_TICK), TAKEOVER, &a);
    assert_int_equal(r.state, ST_STANDBY);
    assert_int_equal(role_next_deadline(&r), 2 * TAKEOVER - 5 * MS);
    step(&r, ev(EV_TICK), 2 * TAKEOVER - 5 * MS, &a);
    assert_int_equal(r.state, ST_CLAIMING);
    assert_int_equal(find(&a, ACT_CAS)->heartbeat, 11);
}

static void test_rank_delay(void **state)
{
    struct role r;
    struct role_actions a;
    struct role_params p = params("c", "a");
    role_init(&r, &p);
    struct role_input in = row("a", 1, 10);
    in.row.rank = 2;
    step(&r, in, 0, &a);
    assert_int_equal(role_next_deadline(&r), TAKEOVER + 2 * INTERVAL);
    step(&r, ev(EV_TICK), TAKEOVER + INTERVAL, &a);
    assert_int_equal(r.state, ST_STANDBY);
    step(&r, ev(EV_TICK), TAKEOVER + 2 * INTERVAL, &a);
    assert_int_equal(r.state, ST_CLAIMING);
}

static void test_claim_lost(void **state)
{
    struct role r;
    struct role_actions a;
    struct role_params p = params("b", "a");
    role_init(&r, &p);
    step(&r, row("a", 1, 10), 0, &a);
    step(&r, ev(EV_TICK), TAKEOVER, &a);
    struct role_input res = {.event = EV_CAS_RESULT, .won = 0};
    step(&r, res, TAKEOVER + MS, &a);
    assert_int_equal(r.state, ST_STANDBY);
    assert_false(has(&a, ACT_LEAD));
    /* a fresh full timeout before it tries again */
    assert_int_equal(role_next_deadline(&r), TAKEOVER + MS + TAKEOVER);
}

static void test_promote_waits_for_first_renewal(void **state)
{
    struct role r;
    struct role_actions a;
    struct role_params p = params("a", "a");
    role_init(&r, &p);
    step(&r, row("", 0, 0), 0, &a);
    struct role_input cas = {.event = EV_CAS_RESULT, .won = 1, .epoch = 1, .sent_ns = 0};
    step(&r, cas, MS, &a);
    assert_int_equal(r.state, ST_PROMOTING);
    assert_true(has(&a, ACT_LEAD));
    assert_false(has(&a, ACT_PROMOTE));
    struct role_input stale = {.event = EV_RENEWED, .epoch = 0, .sent_ns = MS};
    step(&r, stale, 2 * MS, &a);
    assert_false(has(&a, ACT_PROMOTE));   /* a renewal at another epoch proves nothing */
    struct role_input ren = {.event = EV_RENEWED, .epoch = 1, .sent_ns = 2 * MS};
    step(&r, ren, 3 * MS, &a);
    assert_true(has(&a, ACT_PROMOTE));
    step(&r, ren, 4 * MS, &a);
    assert_false(has(&a, ACT_PROMOTE));   /* once */
    step(&r, ev(EV_PROMOTED), 5 * MS, &a);
    assert_int_equal(r.state, ST_ACTIVE);
    assert_true(has_event(&a, "active"));
}

static void test_promotion_without_renewal_fences(void **state)
{
    struct role r;
    struct role_actions a;
    struct role_params p = params("a", "a");
    role_init(&r, &p);
    step(&r, row("", 0, 0), 0, &a);
    struct role_input cas = {.event = EV_CAS_RESULT, .won = 1, .epoch = 1, .sent_ns = 0};
    step(&r, cas, MS, &a);
    assert_int_equal(role_next_deadline(&r), FENCE);
    step(&r, ev(EV_TICK), FENCE, &a);
    assert_int_equal(r.state, ST_FENCED);
    /* heartbeatd renews no more at once, but keeps its backstop until the stop is done */
    assert_false(has(&a, ACT_FOLLOW));
    assert_true(has(&a, ACT_LEAD));
    assert_true(has(&a, ACT_DEMOTE));
    struct role_grant g;
    role_grant(&r, FENCE, &g);
    assert_true(g.lead);
    assert_int_equal(g.renew_until_ns, 0);
    assert_int_equal(g.fence_at_ns, FENCE + r.p.stop_budget_ns);
    step(&r, ev(EV_DEMOTED), FENCE + 10 * MS, &a);
    assert_int_equal(r.state, ST_STANDBY);
    assert_true(has(&a, ACT_FOLLOW));
    role_grant(&r, FENCE + 10 * MS, &g);
    assert_false(g.lead);
}

static void test_promote_failed(void **state)
{
    struct role r;
    struct role_actions a;
    struct role_params p = params("a", "a");
    role_init(&r, &p);
    step(&r, row("", 0, 0), 0, &a);
    struct role_input cas = {.event = EV_CAS_RESULT, .won = 1, .epoch = 1, .sent_ns = 0};
    step(&r, cas, MS, &a);
    struct role_input ren = {.event = EV_RENEWED, .epoch = 1, .sent_ns = MS};
    step(&r, ren, 2 * MS, &a);
    struct role_input fail = {.event = EV_PROMOTE_FAILED};
    snprintf(fail.why, sizeof(fail.why), "vipctl up failed");
    step(&r, fail, 3 * MS, &a);
    assert_int_equal(r.state, ST_FENCED);
    assert_true(has(&a, ACT_DEMOTE));
    step(&r, ev(EV_DEMOTED), 4 * MS, &a);
    assert_int_equal(r.state, ST_STANDBY);
}

static void test_active_renewals_extend_lease(void **state)
{
    struct role r;
    struct role_actions a;
    make_active(&r, &a);
    int64_t t = NS_PER_SEC;
    for (int i = 0; i < 50; i++) {
        t += INTERVAL;
        struct role_input ren = {.event = EV_RENEWED, .epoch = 1, .sent_ns = t};
        step(&r, ren, t + MS, &a);
        step(&r, ev(EV_TICK), t + 2 * MS, &a);
        assert_int_equal(r.state, ST_ACTIVE);
    }
    assert_int_equal(role_next_deadline(&r), t + FENCE);
    step(&r, ev(EV_TICK), t + FENCE, &a);
    assert_int_equal(r.state, ST_FENCED);
    assert_true(has_event(&a, "fenced"));
}

/* The active reads the row when its renewal's answer says something its last read did
 * not, else once every ROLE_ACTIVE_READ_EVERY intervals; everyone else every interval. */
static void test_active_reads_on_renewal_news(void **state)
{
    struct role r, s;
    struct role_actions a;
    make_active(&r, &a);
    int64_t t = 2 * NS_PER_SEC;
    /* what the last read said (make_active's row: no handoff, not paused) */
    assert_false(role_renewal_news(&r, "", 0, 0));
    assert_true(role_renewal_news(&r, "b", 0, 0));
    assert_true(role_renewal_news(&r, "*", 0, 0));
    assert_true(role_renewal_news(&r, "", 1, 0));
    assert_true(role_renewal_news(&r, "", 0, 1));
    /* the read the news asked for makes it old news */
    struct role_input rd = row("a", 1, 5);
    rd.row.paused = 1;
    step(&r, rd, t, &a);
    assert_false(role_renewal_news(&r, "", 1, 0));
    assert_true(role_renewal_news(&r, "", 0, 0));   /* the resume committed */

    /* renewals that carry the row: the next read comes ROLE_ACTIVE_READ_EVERY intervals
     * after the last one, polled once per interval */
    int reads = 0;
    int64_t last_read = t;
    for (int i = 1; i <= 10 * ROLE_ACTIVE_READ_EVERY; i++) {
        int64_t now = t + i * INTERVAL;
        if (role_read_due(&r, now, last_read, now - INTERVAL / 3)) {
            reads++;
            last_read = now;
        }
    }
    assert_int_equal(reads, 10);
    /* no renewal answer with the row for two intervals (old schema, database trouble) */
    assert_true(role_read_due(&r, t + INTERVAL, t, t - 2 * INTERVAL - 1));
    assert_true(role_read_due(&r, t + INTERVAL, t, 0));
    assert_false(role_read_due(&r, t + INTERVAL, t, t));
    assert_true(role_read_due(&r, t + INTERVAL, 0, t));   /* never read */

    /* a standby and a fenced node read every time they poll */
    struct role_params p = params("b", "a");
    role_init(&s, &p);
    step(&s, row("a", 1, 5), t, &a);
    assert_int_equal(s.state, ST_STANDBY);
    assert_true(role_read_due(&s, t + INTERVAL, t, t + INTERVAL));
    struct role_input lost = {.event = EV_LOST, .epoch = 1};
    step(&r, lost, t + MS, &a);
    assert_int_equal(r.state, ST_FENCED);
    assert_true(role_read_due(&r, t + INTERVAL, t, t + INTERVAL));
}

static void test_active_lost_and_row_change_fence(void **state)
{
    struct role r;
    struct role_actions a;
    make_active(&r, &a);
    struct role_input lost = {.event = EV_LOST, .epoch = 1};
    step(&r, lost, NS_PER_SEC + 10 * MS, &a);
    assert_int_equal(r.state, ST_FENCED);
    assert_true(has(&a, ACT_DEMOTE));

    make_active(&r, &a);
    struct role_input other = {.event = EV_LOST, .epoch = 7};   /* not our epoch */
    step(&r, other, NS_PER_SEC + 10 * MS, &a);
    assert_int_equal(r.state, ST_ACTIVE);
    step(&r, row("b", 2, 50), NS_PER_SEC + 20 * MS, &a);
    assert_int_equal(r.state, ST_FENCED);
}

static void test_paused(void **state)
{
    struct role r;
    struct role_actions a;
    struct role_params p = params("b", "a");
    role_init(&r, &p);
    struct role_input pr = row("a", 1, 10);
    pr.row.paused = 1;
    step(&r, pr, 0, &a);
    assert_int_equal(role_next_deadline(&r), INT64_MAX);
    step(&r, ev(EV_TICK), 10 * TAKEOVER, &a);
    assert_int_equal(r.state, ST_STANDBY);
    step(&r, pr, 10 * TAKEOVER, &a);
    step(&r, row("a", 1, 10), 11 * TAKEOVER, &a);   /* resumed, counter still */
    step(&r, ev(EV_TICK), 11 * TAKEOVER + TAKEOVER / 2, &a);
    assert_int_equal(r.state, ST_STANDBY);            /* a full timeout after the resume */
    step(&r, ev(EV_TICK), 12 * TAKEOVER, &a);
    assert_int_equal(r.state, ST_CLAIMING);

    /* a paused active does not fence */
    make_active(&r, &a);
    struct role_input ap = row("a", 1, 20);
    ap.row.paused = 1;
    step(&r, ap, NS_PER_SEC + 10 * MS, &a);
    step(&r, ev(EV_TICK), 100 * NS_PER_SEC, &a);
    assert_int_equal(r.state, ST_ACTIVE);
}

/* A node whose timing differs from the row's takes no part (DESIGN §3: one fact). */
static void test_timing_mismatch(void **state)
{
    struct role r;
    struct role_actions a;
    struct role_params p = params("a", "a");
    role_init(&r, &p);
    struct role_input boot = row("", 0, 0);
    boot.row.timing_ok = 0;
    step(&r, boot, 0, &a);
    assert_int_equal(r.state, ST_STANDBY);            /* the primary does not bootstrap */
    assert_false(has(&a, ACT_CAS));
    struct role_input stale = row("b", 1, 5);
    stale.row.timing_ok = 0;
    step(&r, stale, MS, &a);
    step(&r, ev(EV_TICK), 10 * TAKEOVER, &a);
    assert_int_equal(r.state, ST_STANDBY);            /* no takeover however long it stands */
    assert_int_equal(role_next_deadline(&r), INT64_MAX);
    struct role_input handed = row("a", 2, 5);
    handed.row.timing_ok = 0;
    step(&r, handed, 10 * TAKEOVER, &a);
    assert_int_equal(r.state, ST_STANDBY);            /* nor a handed-over row */
}

/* A claim reported failed at its deadline can commit late (the session keeps waiting for
 * the answer). Read while a second claim is in flight, the row naming us at the new epoch
 * is our grant; before, observing it there made it "seen" and the node never took it: the
 * row named an idle node until the others' takeover_timeout ran out again. */
static void test_late_claim_seen_while_claiming(void **state)
{
    struct role r;
    struct role_actions a;
    struct role_params p = params("b", "a");
    role_init(&r, &p);
    step(&r, row("a", 3, 10), 0, &a);
    step(&r, ev(EV_TICK), TAKEOVER, &a);
    assert_int_equal(r.state, ST_CLAIMING);
    struct role_input timed_out = {.event = EV_CAS_RESULT, .won = 0};
    step(&r, timed_out, TAKEOVER + 400 * MS, &a);
    assert_int_equal(r.state, ST_STANDBY);
    step(&r, ev(EV_TICK), 2 * TAKEOVER + 400 * MS, &a);
    assert_int_equal(r.state, ST_CLAIMING);            /* the second claim, at epoch 3 */
    step(&r, row("b", 4, 10), 2 * TAKEOVER + 500 * MS, &a);   /* the first one committed */
    assert_int_equal(r.state, ST_PROMOTING);
    assert_int_equal(find(&a, ACT_LEAD)->epoch, 4);
    assert_true(has_event(&a, "granted"));
    struct role_input lost = {.event = EV_CAS_RESULT, .won = 0};
    step(&r, lost, 2 * TAKEOVER + 600 * MS, &a);        /* the second finds the row moved */
    assert_int_equal(r.state, ST_PROMOTING);
    assert_int_equal(a.n, 0);

    /* someone else's epoch while claiming is no grant */
    role_init(&r, &p);
    step(&r, row("a", 3, 10), 0, &a);
    step(&r, ev(EV_TICK), TAKEOVER, &a);
    step(&r, row("c", 4, 10), TAKEOVER + 10 * MS, &a);
    assert_int_equal(r.state, ST_CLAIMING);
}

static void test_granted_by_handoff(void **state)
{
    struct role r;
    struct role_actions a;
    struct role_params p = params("b", "a");
    role_init(&r, &p);
    step(&r, row("a", 3, 10), 0, &a);
    step(&r, row("b", 4, 10), 100 * MS, &a);
    assert_int_equal(r.state, ST_PROMOTING);
    assert_int_equal(find(&a, ACT_LEAD)->epoch, 4);
    assert_true(has_event(&a, "granted"));

    /* our own stale lease from before a fence is not a grant */
    role_init(&r, &p);
    step(&r, row("b", 4, 10), 0, &a);
    assert_int_equal(r.state, ST_STANDBY);
    step(&r, row("b", 4, 10), 100 * MS, &a);
    assert_int_equal(r.state, ST_STANDBY);
}

static void test_switchover(void **state)
{
    struct role r;
    struct role_actions a;
    make_active(&r, &a);
    struct role_input so = ev(EV_SWITCHOVER);
    step(&r, so, NS_PER_SEC + 100 * MS, &a);
    assert_int_equal(r.state, ST_ACTIVE);   /* no live standby known */
    assert_true(has_event(&a, "switchover-refused"));

    struct role_input rw = row("a", 1, 30);
    snprintf(rw.row.best_standby, sizeof(rw.row.best_standby), "b");
    step(&r, rw, NS_PER_SEC + 100 * MS, &a);
    step(&r, so, NS_PER_SEC + 101 * MS, &a);
    assert_int_equal(r.state, ST_HANDOFF);
    /* still leading while the service stops: no standby may take over meanwhile */
    assert_false(has(&a, ACT_FOLLOW));
    assert_true(role_is_acting(&r));
    assert_string_equal(find(&a, ACT_HANDOFF)->target, "b");
    struct role_input ren = {.event = EV_RENEWED, .epoch = 1, .sent_ns = NS_PER_SEC + 500 * MS};
    step(&r, ren, NS_PER_SEC + 510 * MS, &a);
    assert_int_equal(role_next_deadline(&r), NS_PER_SEC + 500 * MS + FENCE);
    step(&r, ev(EV_DEMOTED), NS_PER_SEC + 600 * MS, &a);   /* stopped, address down */
    assert_int_equal(r.state, ST_HANDOVER);
    assert_false(role_is_acting(&r));
    assert_false(has(&a, ACT_FOLLOW));
    assert_string_equal(find(&a, ACT_HAND_ROW)->target, "b");
    step(&r, ev(EV_TICK), 10 * NS_PER_SEC, &a);   /* nothing up: nothing to fence */
    assert_int_equal(r.state, ST_HANDOVER);
    step(&r, ev(EV_HANDED_OFF), 10 * NS_PER_SEC, &a);
    assert_int_equal(r.state, ST_STANDBY);
    assert_true(has(&a, ACT_FOLLOW));

    /* a handoff whose renewals stop fences: kill hooks, stop, address down again */
    make_active(&r, &a);
    step(&r, rw, NS_PER_SEC + 100 * MS, &a);
    step(&r, so, NS_PER_SEC + 101 * MS, &a);
    assert_int_equal(r.state, ST_HANDOFF);
    step(&r, ev(EV_TICK), NS_PER_SEC + 2 * MS + FENCE, &a);
    assert_int_equal(r.state, ST_FENCED);
    assert_true(has(&a, ACT_DEMOTE));

    /* requested through the row (from another node), with a named target */
    make_active(&r, &a);
    struct role_input req = row("a", 1, 30);
    snprintf(req.row.handoff_to, sizeof(req.row.handoff_to), "c");
    step(&r, req, NS_PER_SEC + 100 * MS, &a);
    assert_int_equal(r.state, ST_HANDOFF);
    assert_string_equal(find(&a, ACT_HANDOFF)->target, "c");
}

static void test_health(void **state)
{
    struct role r;
    struct role_actions a;
    make_active(&r, &a);
    struct role_input bad = {.event = EV_HEALTH, .ok = 0};
    struct role_input good = {.event = EV_HEALTH, .ok = 1};
    int64_t t = NS_PER_SEC + 10 * MS;
    step(&r, bad, t, &a);
    step(&r, bad, t, &a);
    step(&r, good, t, &a);   /* resets the count */
    step(&r, bad, t, &a);
    step(&r, bad, t, &a);
    assert_int_equal(r.state, ST_ACTIVE);
    step(&r, bad, t, &a);    /* third in a row, but no standby */
    assert_int_equal(r.state, ST_ACTIVE);
    assert_true(has_event(&a, "health-failing"));
    struct role_input rw = row("a", 1, 30);
    snprintf(rw.row.best_standby, sizeof(rw.row.best_standby), "b");
    step(&r, rw, t, &a);
    step(&r, bad, t, &a);
    assert_int_equal(r.state, ST_HANDOFF);
    assert_true(has_event(&a, "health-demotion"));
}

static void test_term(void **state)
{
    struct role r;
    struct role_actions a;
    make_active(&r, &a);
    int64_t t = NS_PER_SEC + 100 * MS;
    step(&r, ev(EV_TERM), t, &a);
    assert_int_equal(r.state, ST_STOPPING);
    assert_true(has(&a, ACT_DEMOTE));
    assert_false(has(&a, ACT_FOLLOW));   /* keeps renewing until the service is down */
    assert_false(has(&a, ACT_EXIT));
    step(&r, ev(EV_DEMOTED), t + 10 * MS, &a);
    assert_true(has(&a, ACT_FOLLOW));
    assert_true(has(&a, ACT_EXIT));
    assert_int_equal(r.state, ST_STOPPED);

    /* a stop that outlives the lease turns into a fence, and still exits after it */
    make_active(&r, &a);
    step(&r, ev(EV_TERM), t, &a);
    step(&r, ev(EV_TICK), NS_PER_SEC + 2 * MS + FENCE, &a);
    assert_int_equal(r.state, ST_FENCED);
    step(&r, ev(EV_DEMOTED), 3 * NS_PER_SEC, &a);
    assert_true(has(&a, ACT_EXIT));

    struct role_params p = params("b", "a");
    role_init(&r, &p);
    step(&r, row("a", 1, 1), 0, &a);
    step(&r, ev(EV_TERM), MS, &a);
    assert_true(has(&a, ACT_EXIT));

    make_active(&r, &a);
    step(&r, ev(EV_TICK), 10 * NS_PER_SEC, &a);   /* fenced */
    step(&r, ev(EV_TERM), 10 * NS_PER_SEC, &a);
    assert_false(has(&a, ACT_EXIT));              /* finishes the demotion first */
    step(&r, ev(EV_DEMOTED), 10 * NS_PER_SEC, &a);
    assert_true(has(&a, ACT_EXIT));
}

static void test_names(void **state)
{
    for (int s = 0; s < ST__COUNT; s++)
        assert_string_not_equal(role_state_name(s), "?");
    for (int e = 0; e < EV__COUNT; e++)
        assert_string_not_equal(role_event_name(e), "?");
    assert_string_equal(role_state_name(ST__COUNT + 3), "?");
}

/* ---- randomized property test ---- */

struct world {
    struct role r;
    int64_t now;
    /* what the driver knows independently of the machine */
    int64_t row_epoch, row_hb;
    int row_paused;
    int64_t value_since;        /* when the current (epoch, hb) was first fed */
    int64_t legit[64];          /* epochs won by CAS or handed over by the row */
    int nlegit;
    int64_t lease_epoch, lease_sent;
    int64_t confirmed_epoch;    /* epoch of a fed renewal */
    int64_t cas_sent;
    int cas_current;
    int64_t lease_start;
    long n_claims, n_promotions, n_fences;        /* when the current lease began (claim sent or grant) */            /* the last claim named the row's current value */
};

static unsigned rnd(unsigned *seed, unsigned n) { return (unsigned)rand_r(seed) % n; }

static int legit(const struct world *w, int64_t e)
{
    for (int i = 0; i < w->nlegit; i++)
        if (w->legit[i] == e)
            return 1;
    return 0;
}

static void add_legit(struct world *w, int64_t e)
{
    if (w->nlegit < 64)
        w->legit[w->nlegit++] = e;
}

static void check_actions(struct world *w, const struct role_actions *a, const struct role *before)
{
    for (int i = 0; i < a->n; i++) {
        const struct role_action *x = &a->a[i];
        if (x->kind == ACT_CAS) {
            /* a standby never acts before takeover_timeout on its own clock,
             * except the primary's claim of an unclaimed cluster */
            int bootstrap = before->row.holder[0] == '\0' && before->state != ST_STANDBY;
            int boot_row = w->r.row.holder[0] == '\0' && !strcmp(w->r.p.node, w->r.p.primary);
            /* Only a claim on the current value can win in the database; one on an older
             * value (the machine has not re-read the row yet) fails there harmlessly. */
            int current = x->epoch == w->row_epoch && x->heartbeat == w->row_hb;
            if (current && !(bootstrap || boot_row) && w->now - w->value_since < TAKEOVER)
                fprintf(stderr, "# early claim: state %s->%s now %lld since %lld machine since %lld row %lld/%lld holder '%s'\n",
                        role_state_name(before->state), role_state_name(w->r.state),
                        (long long)w->now, (long long)w->value_since,
                        (long long)w->r.observed_since_ns, (long long)x->epoch, (long long)x->heartbeat, w->r.row.holder);
            if (current && !(bootstrap || boot_row))
                assert_true(w->now - w->value_since >= TAKEOVER);
            if (current)
                assert_false(w->row_paused);
            w->cas_sent = w->now;
            w->cas_current = current;
            w->n_claims++;
        }
        if (x->kind == ACT_PROMOTE) {
            /* promotion only after a renewal at the held epoch was confirmed */
            assert_int_equal(w->confirmed_epoch, w->r.epoch);
            assert_true(legit(w, x->epoch));
            w->n_promotions++;
        }
        if (x->kind == ACT_DEMOTE)
            w->n_fences++;
    }
    if (role_holds_lease(&w->r) && w->r.state != ST_HANDOVER) {
        /* never acting without a won CAS (or a grant) at that epoch */
        assert_true(legit(w, w->r.epoch));
        /* the active fences no later than fence_after after its last confirmed send */
        if (!w->row_paused && w->lease_epoch == w->r.epoch && w->now >= w->lease_sent + FENCE)
            fprintf(stderr, "# state %s epoch %lld now %lld driver lease %lld machine lease %lld paused %d/%d\n",
                    role_state_name(w->r.state), (long long)w->r.epoch, (long long)w->now,
                    (long long)w->lease_sent, (long long)w->r.lease_sent_ns, w->row_paused, w->r.row.paused);
        if (!w->row_paused && w->lease_epoch == w->r.epoch)
            assert_true(w->now < w->lease_sent + FENCE);
    }
}

/* As watchd does: an overdue deadline is handled before any other input. */
static void pretick(struct world *w)
{
    struct role_actions a;
    if (w->now >= role_next_deadline(&w->r)) {
        struct role_input tick = ev(EV_TICK);
        struct role before = w->r;
        role_step(&w->r, &tick, w->now, &a);
        check_actions(w, &a, &before);
    }
}

static void feed(struct world *w, struct role_input in)
{
    struct role_actions a;
    if (in.event != EV_TICK)
        pretick(w);
    struct role before = w->r;
    role_step(&w->r, &in, w->now, &a);
    check_actions(w, &a, &before);
}

static void random_row(struct world *w, unsigned *seed)
{
    pretick(w);   /* before the driver's idea of the row changes */
    struct role_input in = {.event = EV_ROW};
    in.row.exists = 1;
    in.row.timing_ok = 1;
    unsigned k = rnd(seed, 10);
    int64_t epoch = w->row_epoch, hb = w->row_hb;
    const char *holder = w->r.row.holder;
    char h[64];
    snprintf(h, sizeof(h), "%s", holder);
    if (k < 4) {
        hb++;                                   /* the active renews */
    } else if (k < 5) {
        epoch++;                                /* someone else took over */
        snprintf(h, sizeof(h), "%s", rnd(seed, 2) ? "b" : "c");
    } else if (k < 6 && role_is_acting(&w->r) && !strcmp(holder, "a")) {
        hb++;
    } else if (k < 7 && rnd(seed, 4) == 0) {
        epoch++;                                /* handed to us */
        snprintf(h, sizeof(h), "a");
    }
    /* while we hold the row, its epoch/holder only change through us */
    if (role_is_acting(&w->r) && k >= 4 && k < 7 && strcmp(h, "a") != 0) {
        epoch = w->r.epoch;
        snprintf(h, sizeof(h), "a");
    }
    if (rnd(seed, 30) == 0)
        w->row_paused = !w->row_paused;
    if (epoch != w->row_epoch || hb != w->row_hb || w->row_paused)
        w->value_since = w->now;
    if (!strcmp(h, "a") && epoch > w->r.seen_epoch) {
        add_legit(w, epoch);
        if (w->r.state == ST_STANDBY || w->r.state == ST_CLAIMING) {   /* taken as a grant */
            w->lease_epoch = epoch;
            w->lease_sent = w->lease_start = w->now;
        }
    }
    w->row_epoch = epoch;
    w->row_hb = hb;
    snprintf(in.row.holder, sizeof(in.row.holder), "%s", h);
    in.row.epoch = epoch;
    in.row.heartbeat = hb;
    in.row.paused = w->row_paused;
    in.row.rank = (int)rnd(seed, 2);
    if (rnd(seed, 3) == 0)
        snprintf(in.row.best_standby, sizeof(in.row.best_standby), "b");
    if (rnd(seed, 20) == 0)
        snprintf(in.row.handoff_to, sizeof(in.row.handoff_to), "*");
    feed(w, in);
}

static void random_event(struct world *w, unsigned *seed)
{
    unsigned k = rnd(seed, 14);
    struct role_input in = {0};
    switch (k) {
    case 0: case 1: case 2:
        random_row(w, seed);
        return;
    case 3:
        feed(w, ev(EV_TICK));
        return;
    case 4:
        if (w->r.state == ST_CLAIMING) {
            in.event = EV_CAS_RESULT;
            in.won = w->cas_current && rnd(seed, 2);   /* the database decides */
            in.sent_ns = w->cas_sent;
            if (in.won) {
                in.epoch = w->row_epoch + 1;
                w->row_epoch = in.epoch;
                w->value_since = w->now;
                add_legit(w, in.epoch);
                w->lease_epoch = in.epoch;
                w->lease_sent = w->lease_start = w->cas_sent;
            }
            feed(w, in);
        }
        return;
    case 5: case 6: {
        /* a renewal report: sent some time ago, but after the lease began (heartbeatd
         * only leads once granted) and never in the future */
        int64_t sent = w->now - (int64_t)rnd(seed, 300) * MS;
        if (sent < w->lease_start)
            sent = w->lease_start;
        in.event = EV_RENEWED;
        in.epoch = rnd(seed, 5) ? w->r.epoch : w->r.epoch + 1;
        in.sent_ns = sent;
        if (in.epoch == w->r.epoch && role_is_acting(&w->r)) {
            w->confirmed_epoch = in.epoch;
            if (w->lease_epoch != in.epoch) {
                w->lease_epoch = in.epoch;
                w->lease_sent = sent;
            } else if (sent > w->lease_sent) {
                w->lease_sent = sent;
            }
        }
        feed(w, in);
        return;
    }
    case 7: in.event = EV_LOST; in.epoch = w->r.epoch; break;
    case 8: in.event = rnd(seed, 4) ? EV_PROMOTED : EV_PROMOTE_FAILED; break;
    case 9: in.event = EV_DEMOTED; break;
    case 10: in.event = EV_HANDED_OFF; break;
    case 11: in.event = EV_HEALTH; in.ok = (int)rnd(seed, 2); break;
    case 12: in.event = EV_SWITCHOVER; break;
    case 13:
        if (rnd(seed, 50) == 0)
            in.event = EV_TERM;
        else
            return;
        break;
    }
    if (in.event == EV_PROMOTED && w->r.state != ST_PROMOTING)
        return;   /* only the promote sequence reports that */
    feed(w, in);
}

static void test_property_random_sequences(void **state)
{
    long claims = 0, promotions = 0, fences = 0;
    for (unsigned run = 0; run < 300; run++) {
        unsigned seed = 0x5eed0000u + run;
        struct world w;
        memset(&w, 0, sizeof(w));
        struct role_params p = params("a", run % 2 ? "a" : "b");
        role_init(&w.r, &p);
        w.now = NS_PER_SEC;
        w.value_since = w.now;
        struct role_input first = row("", 0, 0);
        if (run % 3 == 0) {
            snprintf(first.row.holder, sizeof(first.row.holder), "b");
            first.row.epoch = w.row_epoch = 1;
        }
        feed(&w, first);
        for (int i = 0; i < 3000 && w.r.state != ST_STOPPED; i++) {
            /* time moves: mostly small steps, sometimes a freeze */
            int64_t dt = rnd(&seed, 20) == 0 ? (int64_t)rnd(&seed, 3000) * MS
                                              : (int64_t)rnd(&seed, 120) * MS;
            int64_t deadline = role_next_deadline(&w.r);
            if (deadline != INT64_MAX && deadline <= w.now + dt && rnd(&seed, 2)) {
                w.now = deadline > w.now ? deadline : w.now;   /* the timer fires on time */
                feed(&w, ev(EV_TICK));
            } else {
                w.now += dt;
            }
            random_event(&w, &seed);
        }
        claims += w.n_claims;
        promotions += w.n_promotions;
        fences += w.n_fences;
    }
    /* the sequences must actually exercise the dangerous paths */
    fprintf(stderr, "# property: 300 runs, %ld claims, %ld promotions, %ld demotions\n", claims,
            promotions, fences);
    assert_true(claims > 1000);
    assert_true(promotions > 300);
    assert_true(fences > 300);
}


/* ---- whole-cluster simulation: hooks, heartbeatd's backstop, freezes ----
 *
 * Three nodes, each a role machine driven as watchd drives it, a heartbeatd that obeys
 * role_grant() (renews until renew_until_ns, fences itself at fence_at_ns unless told
 * "follow"), hooks that take time (start up to 1.5 s, a fence's stop within its budget,
 * a planned stop up to 3 s) and one shared row with the database's compare-and-set
 * semantics. Daemons freeze one at a time (a frozen daemon is not a frozen node: its
 * hooks and service keep running), a node's database path is cut at times, operators
 * ask for switchovers, pauses and resumes. The service is "possibly up" from the spawn
 * of a start hook until a stop hook ends with no start hook left alive; the invariant:
 * at no instant is it possibly up on two nodes.
 */

#define SIM_NODES 3
#define SIM_STEP (5 * MS)
#define SIM_Q 64
#define SIM_RUNS 120

struct sim_msg {
    int64_t at;
    struct role_input in;      /* to watchd */
    struct role_grant g;       /* to heartbeatd */
};

struct sim_queue {
    struct sim_msg m[SIM_Q];
    int n;
};

struct sim_row {
    char holder[8];
    int64_t epoch, heartbeat;
    int paused, resume_requested;
};

enum sim_seq { SQ_NONE, SQ_PROMOTE, SQ_DEMOTE, SQ_HAND_ROW };

struct sim_node {
    struct role r;
    int exited;
    int64_t wd_frozen_until, hb_frozen_until, db_cut_until;
    int64_t wd_freeze_at, wd_freeze_len;   /* a freeze scheduled after a cut */
    int64_t db_cut_at, db_cut_len;         /* a cut scheduled after a resume */
    struct sim_queue to_wd, to_hb;
    /* watchd */
    int64_t next_poll, next_grant;
    int grant_on;
    enum sim_seq seq;
    int64_t seq_epoch;
    char seq_target[8];
    /* heartbeatd */
    struct role_grant hb;
    int64_t hb_next_beat;
    /* hooks and the service */
    int start_alive;
    int64_t start_done_at;
    int stop_running;
    int64_t stop_done_at;
    int stop_for_seq;          /* the running stop belongs to watchd's sequence */
    int svc_up;
};

struct sim {
    struct sim_node n[SIM_NODES];
    struct sim_row row;
    int64_t now;
    unsigned seed;
    long promotions, overlaps_checked;
};

static const char *sim_name(int i) { return (const char *[]){"a", "b", "c"}[i]; }

static void q_push(struct sim_queue *q, int64_t at, const struct sim_msg *m)
{
    if (q->n == SIM_Q) {   /* a full socket: the oldest state message is superseded */
        memmove(&q->m[0], &q->m[1], sizeof(q->m[0]) * (SIM_Q - 1));
        q->n--;
    }
    q->m[q->n] = *m;
    q->m[q->n].at = at;
    q->n++;
}

static int q_pop(struct sim_queue *q, int64_t now, struct sim_msg *m)
{
    if (q->n == 0 || q->m[0].at > now)
        return 0;
    *m = q->m[0];
    memmove(&q->m[0], &q->m[1], sizeof(q->m[0]) * (size_t)(q->n - 1));
    q->n--;
    return 1;
}

static int64_t sim_latency(struct sim *s) { return (int64_t)rnd(&s->seed, 30) * MS; }
static int db_ok(struct sim *s, int i) { return s->now >= s->n[i].db_cut_until; }

static void to_watchd(struct sim *s, int i, struct role_input in, int64_t delay)
{
    struct sim_msg m = {.in = in};
    q_push(&s->n[i].to_wd, s->now + delay, &m);
}

static void send_grant(struct sim *s, int i)
{
    struct sim_msg m = {0};
    role_grant(&s->n[i].r, s->now, &m.g);
    q_push(&s->n[i].to_hb, s->now, &m);
}

static void kill_starts(struct sim_node *n) { n->start_alive = 0; }

static void run_stop(struct sim *s, int i, int64_t max_ms, int for_seq)
{
    struct sim_node *n = &s->n[i];
    kill_starts(n);   /* DESIGN §3: before any stop, the start hooks are killed and reaped */
    /* the service is down once any stop begun after the kill has ended: a fence's stop
     * keeps to its budget even while a slow planned stop is still running */
    int64_t done = s->now + (int64_t)rnd(&s->seed, (unsigned)max_ms + 1) * MS;
    if (!n->stop_running || done < n->stop_done_at)
        n->stop_done_at = done;
    n->stop_running = 1;
    n->stop_for_seq |= for_seq;
}

static void sim_row_input(struct sim *s, int i, struct role_input *in)
{
    in->event = EV_ROW;
    in->row.exists = 1;
    in->row.timing_ok = 1;
    snprintf(in->row.holder, sizeof(in->row.holder), "%s", s->row.holder);
    in->row.epoch = s->row.epoch;
    in->row.heartbeat = s->row.heartbeat;
    in->row.paused = s->row.paused;
    in->row.resume_requested = s->row.resume_requested;
    int rank = 0;
    for (int k = 0; k < i; k++)
        if (!s->n[k].exited && strcmp(sim_name(k), s->row.holder) != 0)
            rank++;
    in->row.rank = rank;
    for (int k = 0; k < SIM_NODES; k++)
        if (k != i && !s->n[k].exited && strcmp(sim_name(k), s->row.holder) != 0) {
            snprintf(in->row.best_standby, sizeof(in->row.best_standby), "%s", sim_name(k));
            break;
        }
}

static void sim_actions(struct sim *s, int i, const struct role_actions *a)
{
    struct sim_node *n = &s->n[i];
    for (int k = 0; k < a->n; k++) {
        const struct role_action *x = &a->a[k];
        struct role_input res = {0};
        switch (x->kind) {
        case ACT_CAS:
            res.event = EV_CAS_RESULT;
            res.sent_ns = s->now;
            if (db_ok(s, i) && s->row.epoch == x->epoch && s->row.heartbeat == x->heartbeat &&
                !s->row.paused) {
                snprintf(s->row.holder, sizeof(s->row.holder), "%s", sim_name(i));
                s->row.epoch++;
                res.won = 1;
                res.epoch = s->row.epoch;
            }
            to_watchd(s, i, res, sim_latency(s));
            break;
        case ACT_LEAD:
            send_grant(s, i);
            n->grant_on = 1;
            n->next_grant = s->now + INTERVAL;
            break;
        case ACT_FOLLOW: {
            struct sim_msg m = {0};   /* g.lead = 0 */
            q_push(&n->to_hb, s->now, &m);
            n->grant_on = 0;
            break;
        }
        case ACT_PROMOTE:
            n->seq = SQ_PROMOTE;
            n->seq_epoch = x->epoch;
            n->start_alive = 1;
            n->start_done_at = s->now + (int64_t)rnd(&s->seed, 1501) * MS;
            s->promotions++;
            break;
        case ACT_DEMOTE:
            n->seq = SQ_DEMOTE;
            run_stop(s, i, 600, 1);   /* a fence's stop keeps to its budget */
            break;
        case ACT_HANDOFF:
            n->seq = SQ_DEMOTE;
            run_stop(s, i, 3000, 1);  /* a planned stop: only hook_timeout bounds it */
            break;
        case ACT_HAND_ROW:
            n->seq = SQ_NONE;
            if (db_ok(s, i) && !strcmp(s->row.holder, sim_name(i)) && s->row.epoch == x->epoch &&
                x->target[0]) {
                snprintf(s->row.holder, sizeof(s->row.holder), "%s", x->target);
                s->row.epoch++;
            }
            res.event = EV_HANDED_OFF;
            to_watchd(s, i, res, sim_latency(s));
            break;
        case ACT_COMMIT_RESUME:
            if (db_ok(s, i) && !strcmp(s->row.holder, sim_name(i)) && s->row.epoch == x->epoch &&
                s->row.resume_requested)
                s->row.paused = s->row.resume_requested = 0;
            break;
        case ACT_EXIT:
            n->exited = 1;
            break;
        case ACT_EVENT:
            break;
        }
    }
}

static void sim_feed(struct sim *s, int i, struct role_input in)
{
    struct sim_node *n = &s->n[i];
    struct role_actions a;
    if (n->exited)
        return;
    if (in.event != EV_TICK && s->now >= role_next_deadline(&n->r)) {
        struct role_input tick = ev(EV_TICK);
        role_step(&n->r, &tick, s->now, &a);
        sim_actions(s, i, &a);
    }
    enum role_state before = n->r.state;
    role_step(&n->r, &in, s->now, &a);
    if (getenv("SIM_TRACE") && (before != n->r.state || in.event != EV_ROW))
        fprintf(stderr, "# %lld %s: %s %s -> %s (epoch %lld, lease %lld) row %s/%lld/%lld p%d r%d\n",
                (long long)(s->now / MS), sim_name(i), role_event_name(in.event),
                role_state_name(before), role_state_name(n->r.state), (long long)n->r.epoch,
                (long long)(n->r.lease_sent_ns / MS), s->row.holder, (long long)s->row.epoch,
                (long long)s->row.heartbeat, s->row.paused, s->row.resume_requested);
    sim_actions(s, i, &a);
}

static void sim_hooks(struct sim *s, int i)
{
    struct sim_node *n = &s->n[i];
    if (n->start_alive && s->now >= n->start_done_at) {
        n->start_alive = 0;
        n->svc_up = 1;
        if (n->seq == SQ_PROMOTE) {
            n->seq = SQ_NONE;
            to_watchd(s, i, ev(rnd(&s->seed, 20) ? EV_PROMOTED : EV_PROMOTE_FAILED), 0);
        }
    }
    if (n->stop_running && s->now >= n->stop_done_at) {
        n->stop_running = 0;
        if (!n->start_alive)
            n->svc_up = 0;
        if (n->stop_for_seq && n->seq == SQ_DEMOTE) {
            n->seq = SQ_NONE;
            to_watchd(s, i, ev(EV_DEMOTED), 0);
        }
        n->stop_for_seq = 0;
    }
}

static void sim_heartbeatd(struct sim *s, int i)
{
    struct sim_node *n = &s->n[i];
    struct sim_msg m;
    if (s->now < n->hb_frozen_until)
        return;
    while (q_pop(&n->to_hb, s->now, &m))
        n->hb = m.g;
    if (n->exited && n->hb.lead)   /* watchd's socket went away */
        n->hb.fence_at_ns = s->now;
    if (n->hb.lead && s->now >= n->hb.fence_at_ns) {
        run_stop(s, i, 600, 0);   /* the backstop: kill hooks, stop, address down */
        n->hb.lead = 0;
        return;
    }
    if (!n->hb.lead || s->now < n->hb_next_beat || s->now >= n->hb.renew_until_ns)
        return;
    n->hb_next_beat = s->now + INTERVAL;
    if (!db_ok(s, i))
        return;
    struct role_input rep = {.epoch = n->hb.epoch, .sent_ns = s->now};
    if (!strcmp(s->row.holder, sim_name(i)) && s->row.epoch == n->hb.epoch) {
        s->row.heartbeat++;
        if (n->hb.commit_resume && s->row.resume_requested)
            s->row.paused = 0;
        if (n->hb.commit_resume)
            s->row.resume_requested = 0;
        rep.event = EV_RENEWED;
    } else {
        rep.event = EV_LOST;
        n->hb.renew_until_ns = 0;
    }
    to_watchd(s, i, rep, sim_latency(s));
}

static void sim_watchd(struct sim *s, int i)
{
    struct sim_node *n = &s->n[i];
    struct sim_msg m;
    if (n->db_cut_at && s->now >= n->db_cut_at) {
        n->db_cut_until = s->now + n->db_cut_len;
        n->db_cut_at = 0;
    }
    if (n->wd_freeze_at && s->now >= n->wd_freeze_at) {
        if (s->now >= n->hb_frozen_until)
            n->wd_frozen_until = s->now + n->wd_freeze_len;
        n->wd_freeze_at = 0;
    }
    if (n->exited || s->now < n->wd_frozen_until)
        return;
    if (s->now >= role_next_deadline(&n->r))
        sim_feed(s, i, ev(EV_TICK));
    while (q_pop(&n->to_wd, s->now, &m))
        sim_feed(s, i, m.in);
    if (s->now >= n->next_poll) {
        n->next_poll = s->now + (role_holds_lease(&n->r) ? INTERVAL : INTERVAL / 4);
        if (db_ok(s, i)) {
            struct role_input in = {0};
            sim_row_input(s, i, &in);
            sim_feed(s, i, in);
        }
    }
    if (n->grant_on && s->now >= n->next_grant) {
        struct role_grant g;
        role_grant(&n->r, s->now, &g);
        n->next_grant = s->now + INTERVAL;
        if (g.lead)
            send_grant(s, i);
        else
            n->grant_on = 0;
    }
}

static int sim_possibly_up(const struct sim_node *n) { return n->start_alive || n->svc_up; }

static int any_frozen_node(const struct sim_node *n, int64_t now)
{
    return now < n->wd_frozen_until || now < n->hb_frozen_until;
}

static void sim_disturb(struct sim *s)
{
    int i = (int)rnd(&s->seed, SIM_NODES);
    struct sim_node *n = &s->n[i];
    unsigned k = rnd(&s->seed, 4000);
    if (k >= 18 && k < 30 && !any_frozen_node(n, s->now)) {
        /* the worst case for heartbeatd's backstop: the path to the database is cut,
         * then watchd freezes just before its own deadline */
        n->db_cut_until = s->now + (int64_t)rnd(&s->seed, 4000) * MS;
        n->wd_freeze_at = s->now + (int64_t)rnd(&s->seed, 750) * MS;
        n->wd_freeze_len = 500 * MS + (int64_t)rnd(&s->seed, 3000) * MS;
        return;
    }
    k = k >= 30 ? k - 12 : k;
    int64_t len = (int64_t)rnd(&s->seed, 4000) * MS;
    int any_frozen = s->now < n->wd_frozen_until || s->now < n->hb_frozen_until;
    if (k < 6 && !any_frozen)
        n->wd_frozen_until = s->now + len;          /* one daemon at a time */
    else if (k < 12 && !any_frozen)
        n->hb_frozen_until = s->now + len;
    else if (k < 18)
        n->db_cut_until = s->now + len;

    else if (k < 21 && !n->exited && n->r.state == ST_ACTIVE) {
        struct role_input so = ev(EV_SWITCHOVER);
        snprintf(so.target, sizeof(so.target), "%s", sim_name((i + 1 + (int)rnd(&s->seed, 2)) % SIM_NODES));
        sim_feed(s, i, so);
    } else if (k < 23) {
        s->row.paused = 1;                          /* vipctl pause */
        s->row.resume_requested = 0;
    } else if (k < 26 && s->row.paused) {
        int h = s->row.holder[0] ? s->row.holder[0] - 'a' : -1;
        /* vipctl resume; --force only for a holder the operator knows is down */
        int force = h < 0 || (s->n[h].exited && !sim_possibly_up(&s->n[h]));
        s->row.resume_requested = !force;
        s->row.paused = !force;
        if (h >= 0 && rnd(&s->seed, 2)) {   /* scenario 3: then the active loses its path */
            s->n[h].db_cut_at = s->now + (int64_t)rnd(&s->seed, 400) * MS;
            s->n[h].db_cut_len = (int64_t)rnd(&s->seed, 5000) * MS;
        }
    } else if (k < 27 && !n->exited && s->now > 20 * NS_PER_SEC && rnd(&s->seed, 8) == 0) {
        sim_feed(s, i, ev(EV_TERM));
    } else if (k < 29 && !n->exited && n->r.state == ST_ACTIVE) {
        struct role_input h = {.event = EV_HEALTH, .ok = 0};
        sim_feed(s, i, h);
    }
}

static void sim_run(unsigned seed, long *promotions)
{
    static struct sim s;
    memset(&s, 0, sizeof(s));
    s.seed = seed;
    s.now = NS_PER_SEC;
    for (int i = 0; i < SIM_NODES; i++) {
        struct role_params p = params(sim_name(i), "a");
        p.stop_budget_ns = 700 * MS;
        role_init(&s.n[i].r, &p);
    }
    int64_t end = s.now + 120 * NS_PER_SEC;
    for (; s.now < end; s.now += SIM_STEP) {
        sim_disturb(&s);
        for (int i = 0; i < SIM_NODES; i++) {
            sim_hooks(&s, i);
            sim_heartbeatd(&s, i);
            sim_watchd(&s, i);
        }
        int up = 0;
        for (int i = 0; i < SIM_NODES; i++)
            up += sim_possibly_up(&s.n[i]);
        if (up > 1) {
            fprintf(stderr, "# seed %u at %lld ms: service possibly up on", seed,
                    (long long)(s.now / MS));
            for (int i = 0; i < SIM_NODES; i++)
                fprintf(stderr, " %s=%s%s", sim_name(i), role_state_name(s.n[i].r.state),
                        sim_possibly_up(&s.n[i]) ? "(UP)" : "");
            fprintf(stderr, "\n");
        }
        assert_true(up <= 1);
    }
    *promotions += s.promotions;
}

static void test_property_cluster_never_two_up(void **state)
{
    long promotions = 0;
    for (unsigned run = 0; run < SIM_RUNS; run++)
        sim_run(0xc105e000u + run, &promotions);
    fprintf(stderr, "# cluster: %d runs of 120 s, %ld promotions\n", SIM_RUNS, promotions);
    assert_true(promotions > SIM_RUNS * 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bootstrap_primary_claims_at_once),
        cmocka_unit_test(test_bootstrap_secondary_waits),
        cmocka_unit_test(test_nonpreemption),
        cmocka_unit_test(test_staleness_resets_on_change),
        cmocka_unit_test(test_rank_delay),
        cmocka_unit_test(test_claim_lost),
        cmocka_unit_test(test_promote_waits_for_first_renewal),
        cmocka_unit_test(test_promotion_without_renewal_fences),
        cmocka_unit_test(test_promote_failed),
        cmocka_unit_test(test_active_renewals_extend_lease),
        cmocka_unit_test(test_active_reads_on_renewal_news),
        cmocka_unit_test(test_active_lost_and_row_change_fence),
        cmocka_unit_test(test_paused),
        cmocka_unit_test(test_timing_mismatch),
        cmocka_unit_test(test_granted_by_handoff),
        cmocka_unit_test(test_late_claim_seen_while_claiming),
        cmocka_unit_test(test_switchover),
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_term),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_property_random_sequences),
        cmocka_unit_test(test_property_cluster_never_two_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
