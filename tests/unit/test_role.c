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
    assert_true(has(&a, ACT_FOLLOW));
    assert_true(has(&a, ACT_DEMOTE));
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
    assert_true(has(&a, ACT_FOLLOW));
    assert_string_equal(find(&a, ACT_HANDOFF)->target, "b");
    step(&r, ev(EV_TICK), 10 * NS_PER_SEC, &a);   /* no second demotion meanwhile */
    assert_int_equal(r.state, ST_HANDOFF);
    step(&r, ev(EV_HANDED_OFF), 10 * NS_PER_SEC, &a);
    assert_int_equal(r.state, ST_STANDBY);

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
    step(&r, ev(EV_TERM), 2 * NS_PER_SEC, &a);
    assert_int_equal(r.state, ST_STOPPING);
    assert_true(has(&a, ACT_DEMOTE));
    assert_false(has(&a, ACT_EXIT));
    step(&r, ev(EV_DEMOTED), 2 * NS_PER_SEC, &a);
    assert_true(has(&a, ACT_EXIT));
    assert_int_equal(r.state, ST_STOPPED);

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
    if (role_is_acting(&w->r)) {
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
        if (w->r.state == ST_STANDBY) {   /* the machine takes this as a grant */
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
        cmocka_unit_test(test_active_lost_and_row_change_fence),
        cmocka_unit_test(test_paused),
        cmocka_unit_test(test_granted_by_handoff),
        cmocka_unit_test(test_switchover),
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_term),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_property_random_sequences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
