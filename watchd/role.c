/*
 * role.c: the role state machine (DESIGN §3), after ospfd's nbr_fsm_tbl: one row per
 * current state, event and guard, naming the action and the resulting state. The
 * safety conditions are the guard functions below:
 *
 *   fence_due     an acting node stops no later than fence_after after the send time
 *                 of its last confirmed renewal (or of its claim);
 *   takeover_due  a standby claims only after the counter stood still for
 *                 takeover_timeout (+ rank * interval) on its own clock;
 *   granted       a node acts only at an epoch it won by compare-and-set or that a
 *                 switchover handed to it, and only after a renewal at that epoch
 *                 succeeded (first_renewal).
 */
#include <stdio.h>
#include <string.h>

#include "role.h"

#define STAY ST__COUNT

typedef int (*guard_fn)(const struct role *, const struct role_input *, int64_t now);
typedef void (*action_fn)(struct role *, const struct role_input *, int64_t now,
                          struct role_actions *);

struct transition {
    enum role_state state;
    enum role_event event;
    guard_fn guard;       /* NULL: always */
    action_fn action;     /* NULL: nothing */
    enum role_state next; /* STAY: unchanged */
};

/* ---- guards ---- */

static int is_me(const struct role *r, const char *name) { return strcmp(r->p.node, name) == 0; }

static int bootstrap(const struct role *r, const struct role_input *in, int64_t now)
{
    /* An unclaimed cluster is taken at once by the primary; others wait the timeout. */
    return in->row.holder[0] == '\0' && !in->row.paused && in->row.exists &&
           is_me(r, r->p.primary);
}

static int granted(const struct role *r, const struct role_input *in, int64_t now)
{
    /* A newer epoch naming us: a switchover target, or a claim whose reply was lost. */
    return is_me(r, in->row.holder) && in->row.epoch > r->seen_epoch;
}

static int takeover_due(const struct role *r, const struct role_input *in, int64_t now)
{
    if (!r->row_known || r->row.paused || !r->row.exists)
        return 0;
    int64_t wait = r->p.takeover_timeout_ns + (int64_t)r->row.rank * r->p.interval_ns;
    return now - r->observed_since_ns >= wait;
}

static int fence_due(const struct role *r, const struct role_input *in, int64_t now)
{
    if (r->row_known && r->row.paused)
        return 0;
    return now - r->lease_sent_ns >= r->p.fence_after_ns;
}

static int claim_won(const struct role *r, const struct role_input *in, int64_t now)
{
    return in->won && in->epoch > 0;
}

static int renewal_ours(const struct role *r, const struct role_input *in, int64_t now)
{
    return in->epoch == r->epoch;
}

static int first_renewal(const struct role *r, const struct role_input *in, int64_t now)
{
    return in->epoch == r->epoch && !r->renewal_confirmed;
}

static int lost_ours(const struct role *r, const struct role_input *in, int64_t now)
{
    return in->epoch == r->epoch;
}

static int not_holder(const struct role *r, const struct role_input *in, int64_t now)
{
    return in->row.exists && (!is_me(r, in->row.holder) || in->row.epoch != r->epoch);
}

static int handoff_requested(const struct role *r, const struct role_input *in, int64_t now)
{
    return in->row.handoff_to[0] != '\0' && !is_me(r, in->row.handoff_to) &&
           (strcmp(in->row.handoff_to, "*") != 0 || in->row.best_standby[0] != '\0');
}

static int health_exhausted(const struct role *r, const struct role_input *in, int64_t now)
{
    return !in->ok && r->health_failures + 1 >= r->p.check_failures && !r->row.paused &&
           r->row.best_standby[0] != '\0';
}

static int switchover_possible(const struct role *r, const struct role_input *in, int64_t now)
{
    return (in->target[0] != '\0' && !is_me(r, in->target)) || r->row.best_standby[0] != '\0';
}

/* ---- actions ---- */

static struct role_action *push(struct role_actions *out, enum role_action_kind kind)
{
    if (out->n >= ROLE_MAX_ACTIONS)
        return &out->a[ROLE_MAX_ACTIONS - 1];   /* never happens: the table emits at most 4 */
    struct role_action *a = &out->a[out->n++];
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    return a;
}

static void event(struct role *r, struct role_actions *out, const char *kind, const char *fmt,
                  const char *arg)
{
    struct role_action *a = push(out, ACT_EVENT);
    a->epoch = r->epoch;
    snprintf(a->kind_name, sizeof(a->kind_name), "%s", kind);
    snprintf(a->detail, sizeof(a->detail), fmt, arg);
}

static void observe(struct role *r, const struct role_input *in, int64_t now,
                    struct role_actions *out)
{
    const struct role_row *row = &in->row;
    if (!r->row_known || row->epoch != r->row.epoch || row->heartbeat != r->row.heartbeat ||
        row->paused || row->paused != r->row.paused)
        r->observed_since_ns = now;   /* while paused the clock restarts: resume gives a full timeout */
    r->row = *row;
    r->row_known = 1;
    if (row->epoch > r->seen_epoch)
        r->seen_epoch = row->epoch;
}

static void claim(struct role *r, const struct role_input *in, int64_t now,
                  struct role_actions *out)
{
    if (in->event == EV_ROW)
        observe(r, in, now, out);
    struct role_action *a = push(out, ACT_CAS);
    a->epoch = r->row.epoch;
    a->heartbeat = r->row.heartbeat;
}

static void start_lease(struct role *r, int64_t epoch, int64_t since, struct role_actions *out)
{
    r->epoch = epoch;
    r->renewal_confirmed = 0;
    r->lease_sent_ns = since;
    r->health_failures = 0;
    if (epoch > r->seen_epoch)
        r->seen_epoch = epoch;
    push(out, ACT_LEAD)->epoch = epoch;
}

static void won(struct role *r, const struct role_input *in, int64_t now,
                struct role_actions *out)
{
    start_lease(r, in->epoch, in->sent_ns, out);
    /* what the claim wrote: our name at the next epoch, the counter unchanged */
    r->row.epoch = in->epoch;
    snprintf(r->row.holder, sizeof(r->row.holder), "%s", r->p.node);
    event(r, out, "claimed", "compare-and-set won%s", "");
}

static void lost_claim(struct role *r, const struct role_input *in, int64_t now,
                       struct role_actions *out)
{
    r->observed_since_ns = now;   /* someone else moved the row: watch it afresh */
}

static void take_grant(struct role *r, const struct role_input *in, int64_t now,
                       struct role_actions *out)
{
    observe(r, in, now, out);
    start_lease(r, in->row.epoch, now, out);
    event(r, out, "granted", "row hands the cluster to %s", r->p.node);
}

static void confirm_and_promote(struct role *r, const struct role_input *in, int64_t now,
                                struct role_actions *out)
{
    r->renewal_confirmed = 1;
    if (in->sent_ns > r->lease_sent_ns)
        r->lease_sent_ns = in->sent_ns;
    event(r, out, "renewal-confirmed", "first renewal at the new epoch%s", "");
    push(out, ACT_PROMOTE)->epoch = r->epoch;
}

static void renewed(struct role *r, const struct role_input *in, int64_t now,
                    struct role_actions *out)
{
    if (in->sent_ns > r->lease_sent_ns)
        r->lease_sent_ns = in->sent_ns;
}

static void promoted(struct role *r, const struct role_input *in, int64_t now,
                     struct role_actions *out)
{
    event(r, out, "active", "%s is active", r->p.node);
}

static void demote(struct role *r, struct role_actions *out, const char *kind, const char *why)
{
    push(out, ACT_FOLLOW)->epoch = r->epoch;
    push(out, ACT_DEMOTE)->epoch = r->epoch;
    event(r, out, kind, "%s", why);
}

static void fence(struct role *r, const struct role_input *in, int64_t now,
                  struct role_actions *out)
{
    char why[160];
    switch (in->event) {
    case EV_LOST: snprintf(why, sizeof(why), "renewal matched no row: leadership lost"); break;
    case EV_TICK: snprintf(why, sizeof(why), "no confirmed renewal within fence_after"); break;
    case EV_PROMOTE_FAILED: snprintf(why, sizeof(why), "promotion failed: %s", in->why); break;
    default:
        snprintf(why, sizeof(why), "the row names %s at epoch %lld",
                 in->row.holder[0] ? in->row.holder : "no holder", (long long)in->row.epoch);
        observe(r, in, now, out);
        break;
    }
    demote(r, out, "fenced", why);
}

static void stop(struct role *r, const struct role_input *in, int64_t now,
                 struct role_actions *out)
{
    demote(r, out, "stopping", "SIGTERM: clean demotion");
}

static void stop_later(struct role *r, const struct role_input *in, int64_t now,
                       struct role_actions *out)
{
    r->stop_after_demote = 1;
}

static void demoted(struct role *r, const struct role_input *in, int64_t now,
                    struct role_actions *out)
{
    event(r, out, "standby", "%s is standby", r->p.node);   /* at the epoch it leaves */
    r->epoch = 0;
    r->renewal_confirmed = 0;
    r->observed_since_ns = now;
    if (r->stop_after_demote) {
        push(out, ACT_EXIT);
        r->state = ST_STOPPED;
    }
}

static void exit_now(struct role *r, const struct role_input *in, int64_t now,
                     struct role_actions *out)
{
    push(out, ACT_EXIT);
}

static void handoff(struct role *r, const struct role_input *in, int64_t now,
                    struct role_actions *out)
{
    const char *target = r->row.best_standby;
    if (in->event == EV_SWITCHOVER && in->target[0])
        target = in->target;
    else if (in->event == EV_ROW && strcmp(in->row.handoff_to, "*") != 0)
        target = in->row.handoff_to;
    if (in->event == EV_ROW)
        observe(r, in, now, out);
    push(out, ACT_FOLLOW)->epoch = r->epoch;
    struct role_action *a = push(out, ACT_HANDOFF);
    a->epoch = r->epoch;
    snprintf(a->target, sizeof(a->target), "%s", target);
    event(r, out, in->event == EV_HEALTH ? "health-demotion" : "switchover",
          "handing the cluster to %s", target);
}

static void refuse_switchover(struct role *r, const struct role_input *in, int64_t now,
                              struct role_actions *out)
{
    event(r, out, "switchover-refused", "no live standby to hand the cluster to%s", "");
}

static void health(struct role *r, const struct role_input *in, int64_t now,
                   struct role_actions *out)
{
    if (in->ok) {
        r->health_failures = 0;
        return;
    }
    r->health_failures++;
    if (r->health_failures == r->p.check_failures)
        event(r, out, "health-failing", "%s",
              r->row.paused ? "service check failing; paused: staying active"
                            : "service check failing; no live standby: staying active");
}

static void handed_off(struct role *r, const struct role_input *in, int64_t now,
                       struct role_actions *out)
{
    demoted(r, in, now, out);
}

/* ---- the table ---- */

static const struct transition table[] = {
    {ST_STARTING,  EV_ROW,            bootstrap,           claim,               ST_CLAIMING},
    {ST_STARTING,  EV_ROW,            NULL,                observe,             ST_STANDBY},
    {ST_STARTING,  EV_TERM,           NULL,                exit_now,            ST_STOPPED},

    {ST_STANDBY,   EV_ROW,            granted,             take_grant,          ST_PROMOTING},
    {ST_STANDBY,   EV_ROW,            bootstrap,           claim,               ST_CLAIMING},
    {ST_STANDBY,   EV_ROW,            NULL,                observe,             STAY},
    {ST_STANDBY,   EV_TICK,           takeover_due,        claim,               ST_CLAIMING},
    {ST_STANDBY,   EV_TERM,           NULL,                exit_now,            ST_STOPPED},

    {ST_CLAIMING,  EV_CAS_RESULT,     claim_won,           won,                 ST_PROMOTING},
    {ST_CLAIMING,  EV_CAS_RESULT,     NULL,                lost_claim,          ST_STANDBY},
    {ST_CLAIMING,  EV_ROW,            NULL,                observe,             STAY},
    {ST_CLAIMING,  EV_TERM,           NULL,                exit_now,            ST_STOPPED},

    {ST_PROMOTING, EV_RENEWED,        first_renewal,       confirm_and_promote, STAY},
    {ST_PROMOTING, EV_RENEWED,        renewal_ours,        renewed,             STAY},
    {ST_PROMOTING, EV_PROMOTED,       NULL,                promoted,            ST_ACTIVE},
    {ST_PROMOTING, EV_PROMOTE_FAILED, NULL,                fence,               ST_FENCED},
    {ST_PROMOTING, EV_LOST,           lost_ours,           fence,               ST_FENCED},
    {ST_PROMOTING, EV_TICK,           fence_due,           fence,               ST_FENCED},
    {ST_PROMOTING, EV_ROW,            not_holder,          fence,               ST_FENCED},
    {ST_PROMOTING, EV_ROW,            NULL,                observe,             STAY},
    {ST_PROMOTING, EV_TERM,           NULL,                stop,                ST_STOPPING},

    {ST_ACTIVE,    EV_RENEWED,        renewal_ours,        renewed,             STAY},
    {ST_ACTIVE,    EV_LOST,           lost_ours,           fence,               ST_FENCED},
    {ST_ACTIVE,    EV_TICK,           fence_due,           fence,               ST_FENCED},
    {ST_ACTIVE,    EV_ROW,            not_holder,          fence,               ST_FENCED},
    {ST_ACTIVE,    EV_ROW,            handoff_requested,   handoff,             ST_HANDOFF},
    {ST_ACTIVE,    EV_ROW,            NULL,                observe,             STAY},
    {ST_ACTIVE,    EV_HEALTH,         health_exhausted,    handoff,             ST_HANDOFF},
    {ST_ACTIVE,    EV_HEALTH,         NULL,                health,              STAY},
    {ST_ACTIVE,    EV_SWITCHOVER,     switchover_possible, handoff,             ST_HANDOFF},
    {ST_ACTIVE,    EV_SWITCHOVER,     NULL,                refuse_switchover,   STAY},
    {ST_ACTIVE,    EV_TERM,           NULL,                stop,                ST_STOPPING},

    {ST_HANDOFF,   EV_HANDED_OFF,     NULL,                handed_off,          ST_STANDBY},
    {ST_HANDOFF,   EV_ROW,            NULL,                observe,             STAY},
    {ST_HANDOFF,   EV_TERM,           NULL,                stop_later,          STAY},

    {ST_FENCED,    EV_DEMOTED,        NULL,                demoted,             ST_STANDBY},
    {ST_FENCED,    EV_ROW,            NULL,                observe,             STAY},
    {ST_FENCED,    EV_TERM,           NULL,                stop_later,          STAY},

    {ST_STOPPING,  EV_DEMOTED,        NULL,                exit_now,            ST_STOPPED},
};

void role_init(struct role *r, const struct role_params *p)
{
    memset(r, 0, sizeof(*r));
    r->p = *p;
    r->state = ST_STARTING;
}

static void dispatch(struct role *r, const struct role_input *in, int64_t now,
                     struct role_actions *out)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        const struct transition *t = &table[i];
        if (t->state != r->state || t->event != in->event)
            continue;
        if (t->guard && !t->guard(r, in, now))
            continue;
        enum role_state before = r->state;
        if (t->action)
            t->action(r, in, now, out);
        /* an action may have finished the machine (exit after a demotion) */
        if (r->state == before && t->next != STAY)
            r->state = t->next;
        return;
    }
    /* No row: the event means nothing in this state (a late renewal report, say). */
}

void role_step(struct role *r, const struct role_input *in, int64_t now, struct role_actions *out)
{
    out->n = 0;
    dispatch(r, in, now, out);
    /* A lease can be over the moment it begins (a claim whose answer came late): the
     * same step fences, so no input ever leaves an expired lease acting. */
    if (role_is_acting(r) && fence_due(r, in, now)) {
        struct role_input tick = {.event = EV_TICK};
        dispatch(r, &tick, now, out);
    }
}

int64_t role_next_deadline(const struct role *r)
{
    switch (r->state) {
    case ST_STANDBY:
        if (!r->row_known || r->row.paused || !r->row.exists)
            return INT64_MAX;
        return r->observed_since_ns + r->p.takeover_timeout_ns +
               (int64_t)r->row.rank * r->p.interval_ns;
    case ST_PROMOTING:
    case ST_ACTIVE:
        if (r->row_known && r->row.paused)
            return INT64_MAX;
        return r->lease_sent_ns + r->p.fence_after_ns;
    default:
        return INT64_MAX;
    }
}

int role_is_acting(const struct role *r)
{
    return r->state == ST_PROMOTING || r->state == ST_ACTIVE;
}

static const char *const state_names[] = {
    [ST_STARTING] = "starting", [ST_STANDBY] = "standby",   [ST_CLAIMING] = "claiming",
    [ST_PROMOTING] = "promoting", [ST_ACTIVE] = "active",   [ST_HANDOFF] = "handoff",
    [ST_FENCED] = "fenced",     [ST_STOPPING] = "stopping", [ST_STOPPED] = "stopped",
};

static const char *const event_names[] = {
    [EV_ROW] = "row",           [EV_TICK] = "tick",         [EV_CAS_RESULT] = "cas-result",
    [EV_RENEWED] = "renewed",   [EV_LOST] = "lost",         [EV_PROMOTED] = "promoted",
    [EV_PROMOTE_FAILED] = "promote-failed", [EV_DEMOTED] = "demoted",
    [EV_HANDED_OFF] = "handed-off", [EV_HEALTH] = "health", [EV_SWITCHOVER] = "switchover",
    [EV_TERM] = "term",
};

const char *role_state_name(enum role_state s) { return s < ST__COUNT ? state_names[s] : "?"; }
const char *role_event_name(enum role_event e) { return e < EV__COUNT ? event_names[e] : "?"; }

const char *role_public_name(const struct role *r) { return role_state_name(r->state); }
