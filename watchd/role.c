/*
 * role.c: the role state machine (DESIGN §3), after ospfd's nbr_fsm_tbl: one row per
 * current state, event and guard, naming the action and the resulting state. The
 * safety conditions are the guard functions below:
 *
 *   fence_due     a node holding the lease begins its fence no later than fence_after
 *                 after the send time of its last confirmed renewal (or of its claim);
 *                 while it stops (handoff, SIGTERM) it keeps renewing, so the deadline
 *                 stays armed until the service is down (DESIGN §3 "acting");
 *   paused_exempt a paused active does not fence, until it decides to commit a pending
 *                 resume (resume_ack, only with a fresh lease): from then on it fences as
 *                 usual, and only then does its renewal commit the resume (role_grant), so
 *                 no standby counts staleness against an active that has not learned of it;
 *   takeover_due  a standby claims only after the counter stood still for
 *                 takeover_timeout (+ rank * interval) on its own clock;
 *   timing_ok     a node whose timing differs from the cluster row's takes no part:
 *                 no claim, no grant taken, no resume committed;
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
           in->row.timing_ok && is_me(r, r->p.primary);
}

static int granted(const struct role *r, const struct role_input *in, int64_t now)
{
    /* A newer epoch naming us: a switchover target, or a claim whose reply was lost. */
    return is_me(r, in->row.holder) && in->row.epoch > r->seen_epoch && in->row.timing_ok;
}

static int takeover_due(const struct role *r, const struct role_input *in, int64_t now)
{
    if (!r->row_known || r->row.paused || !r->row.exists || !r->row.timing_ok)
        return 0;
    int64_t wait = r->p.takeover_timeout_ns + (int64_t)r->row.rank * r->p.interval_ns;
    return now - r->observed_since_ns >= wait;
}

static int paused_exempt(const struct role *r)
{
    return r->row_known && r->row.paused && !r->resume_ack;
}

static int fence_due(const struct role *r, const struct role_input *in, int64_t now)
{
    if (paused_exempt(r))
        return 0;
    return now - r->lease_sent_ns >= r->p.fence_after_ns;
}

/* The row still names us (we fenced or handed nothing over) and a resume waits for us:
 * we act no more, so nothing of ours can overlap whoever takes over after it. */
static int idle_holder_resume(const struct role *r, const struct role_input *in, int64_t now)
{
    return is_me(r, in->row.holder) && in->row.paused && in->row.resume_requested &&
           in->row.timing_ok;
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
    return !in->ok && r->health_failures + 1 >= r->p.check_failures && !paused_exempt(r) &&
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
    /* A pending resume is acknowledged (our exemption ends, then our renewal commits it)
     * only while our renewals work: an active that just got its database back would
     * otherwise fence at once. Until then the cluster stays paused. */
    if (!row->paused || !row->resume_requested)
        r->resume_ack = 0;
    else if (role_holds_lease(r) && row->timing_ok &&
             now - r->lease_sent_ns < r->p.fence_after_ns - r->p.interval_ns)
        r->resume_ack = 1;
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
    r->resume_ack = 0;
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

static void commit_resume(struct role *r, const struct role_input *in, int64_t now,
                          struct role_actions *out)
{
    observe(r, in, now, out);
    push(out, ACT_COMMIT_RESUME)->epoch = in->row.epoch;
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
    push(out, ACT_LEAD)->epoch = r->epoch;   /* heartbeatd's deadline moves with ours */
    event(r, out, "renewal-confirmed", "first renewal at the new epoch%s", "");
    push(out, ACT_PROMOTE)->epoch = r->epoch;
}

static void renewed(struct role *r, const struct role_input *in, int64_t now,
                    struct role_actions *out)
{
    if (in->sent_ns > r->lease_sent_ns)
        r->lease_sent_ns = in->sent_ns;
    push(out, ACT_LEAD)->epoch = r->epoch;   /* heartbeatd's deadline moves with ours */
}

static void promoted(struct role *r, const struct role_input *in, int64_t now,
                     struct role_actions *out)
{
    event(r, out, "active", "%s is active", r->p.node);
}

/* heartbeatd keeps its grant (and its backstop) until the demotion is done: ACT_FOLLOW
 * comes only with EV_DEMOTED / EV_HANDED_OFF. */
static void demote(struct role *r, struct role_actions *out, const char *kind, const char *why)
{
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
    r->fenced_at_ns = now;
    /* heartbeatd stops renewing at once (role_grant in FENCED); its backstop stays
     * armed until EV_DEMOTED */
    push(out, ACT_LEAD)->epoch = r->epoch;
    demote(r, out, "fenced", why);
}

static void stop(struct role *r, const struct role_input *in, int64_t now,
                 struct role_actions *out)
{
    r->stop_after_demote = 1;
    demote(r, out, "stopping", "SIGTERM: clean demotion");
}

static void stopped(struct role *r, const struct role_input *in, int64_t now,
                    struct role_actions *out)
{
    push(out, ACT_FOLLOW)->epoch = r->epoch;
    push(out, ACT_EXIT);
}

static void stop_later(struct role *r, const struct role_input *in, int64_t now,
                       struct role_actions *out)
{
    r->stop_after_demote = 1;
}

static void demoted(struct role *r, const struct role_input *in, int64_t now,
                    struct role_actions *out)
{
    push(out, ACT_FOLLOW)->epoch = r->epoch;
    event(r, out, "standby", "%s is standby", r->p.node);   /* at the epoch it leaves */
    r->epoch = 0;
    r->resume_ack = 0;
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
    snprintf(r->handoff_target, sizeof(r->handoff_target), "%s", target);
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

/* Service down and address gone: now the row may name the target (still leading). */
static void hand_row(struct role *r, const struct role_input *in, int64_t now,
                     struct role_actions *out)
{
    struct role_action *a = push(out, ACT_HAND_ROW);
    a->epoch = r->epoch;
    snprintf(a->target, sizeof(a->target), "%s", r->handoff_target);
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
    {ST_STANDBY,   EV_ROW,            idle_holder_resume,  commit_resume,       STAY},
    {ST_STANDBY,   EV_ROW,            NULL,                observe,             STAY},
    {ST_STANDBY,   EV_TICK,           takeover_due,        claim,               ST_CLAIMING},
    {ST_STANDBY,   EV_TERM,           NULL,                exit_now,            ST_STOPPED},

    /* an earlier claim reported failed at its deadline, committed after all, read while
     * a second one is in flight (which will find the row moved): the row is our grant */
    {ST_CLAIMING,  EV_ROW,            granted,             take_grant,          ST_PROMOTING},
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

    {ST_HANDOFF,   EV_RENEWED,        renewal_ours,        renewed,             STAY},
    {ST_HANDOFF,   EV_LOST,           lost_ours,           fence,               ST_FENCED},
    {ST_HANDOFF,   EV_TICK,           fence_due,           fence,               ST_FENCED},
    {ST_HANDOFF,   EV_ROW,            not_holder,          fence,               ST_FENCED},
    {ST_HANDOFF,   EV_ROW,            NULL,                observe,             STAY},
    {ST_HANDOFF,   EV_DEMOTED,        NULL,                hand_row,            ST_HANDOVER},
    {ST_HANDOFF,   EV_TERM,           NULL,                stop_later,          STAY},

    {ST_HANDOVER,  EV_RENEWED,        renewal_ours,        renewed,             STAY},
    {ST_HANDOVER,  EV_HANDED_OFF,     NULL,                handed_off,          ST_STANDBY},
    {ST_HANDOVER,  EV_ROW,            NULL,                observe,             STAY},
    {ST_HANDOVER,  EV_TERM,           NULL,                stop_later,          STAY},

    {ST_FENCED,    EV_DEMOTED,        NULL,                demoted,             ST_STANDBY},
    {ST_FENCED,    EV_ROW,            NULL,                observe,             STAY},
    {ST_FENCED,    EV_TERM,           NULL,                stop_later,          STAY},

    {ST_STOPPING,  EV_RENEWED,        renewal_ours,        renewed,             STAY},
    {ST_STOPPING,  EV_LOST,           lost_ours,           fence,               ST_FENCED},
    {ST_STOPPING,  EV_TICK,           fence_due,           fence,               ST_FENCED},
    {ST_STOPPING,  EV_ROW,            not_holder,          fence,               ST_FENCED},
    {ST_STOPPING,  EV_ROW,            NULL,                observe,             STAY},
    {ST_STOPPING,  EV_DEMOTED,        NULL,                stopped,             ST_STOPPED},
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
    if (role_holds_lease(r) && r->state != ST_HANDOVER && fence_due(r, in, now)) {
        struct role_input tick = {.event = EV_TICK};
        dispatch(r, &tick, now, out);
    }
}

int64_t role_next_deadline(const struct role *r)
{
    switch (r->state) {
    case ST_STANDBY:
        if (!r->row_known || r->row.paused || !r->row.exists || !r->row.timing_ok)
            return INT64_MAX;
        return r->observed_since_ns + r->p.takeover_timeout_ns +
               (int64_t)r->row.rank * r->p.interval_ns;
    case ST_PROMOTING:
    case ST_ACTIVE:
    case ST_HANDOFF:
    case ST_STOPPING:
        if (paused_exempt(r))
            return INT64_MAX;
        return r->lease_sent_ns + r->p.fence_after_ns;
    default:
        return INT64_MAX;
    }
}

int role_is_acting(const struct role *r)
{
    switch (r->state) {
    case ST_PROMOTING:
    case ST_ACTIVE:
    case ST_HANDOFF:
    case ST_FENCED:
    case ST_STOPPING: return 1;
    default: return 0;
    }
}

int role_holds_lease(const struct role *r)
{
    switch (r->state) {
    case ST_PROMOTING:
    case ST_ACTIVE:
    case ST_HANDOFF:
    case ST_HANDOVER:
    case ST_STOPPING: return 1;
    default: return 0;
    }
}

int64_t role_lease_deadline(const struct role *r, int64_t now)
{
    if (!role_holds_lease(r))
        return 0;
    if (paused_exempt(r))   /* a hung watchd still stops everything fence_after from now */
        return now + r->p.fence_after_ns;
    return r->lease_sent_ns + r->p.fence_after_ns;
}

void role_grant(const struct role *r, int64_t now, struct role_grant *g)
{
    memset(g, 0, sizeof(*g));
    g->epoch = r->epoch;
    if (role_holds_lease(r)) {
        g->lead = 1;
        g->renew_until_ns = role_lease_deadline(r, now);
        g->fence_at_ns = g->renew_until_ns;
        g->commit_resume = r->resume_ack;
    } else if (r->state == ST_FENCED) {
        /* renew no more; if watchd's own fence stalls, heartbeatd finishes it */
        g->lead = 1;
        g->fence_at_ns = r->fenced_at_ns + r->p.stop_budget_ns;
    }
}

int role_renewal_news(const struct role *r, const char *handoff_to, int paused,
                      int resume_requested)
{
    /* compared as far as a read keeps it (role_row.handoff_to) */
    size_t kept = sizeof(r->row.handoff_to) - 1;
    return !r->row_known || strncmp(handoff_to, r->row.handoff_to, kept) != 0 ||
           !paused != !r->row.paused || !resume_requested != !r->row.resume_requested;
}

int role_read_due(const struct role *r, int64_t now, int64_t last_read_ns,
                  int64_t renewal_row_ns)
{
    int64_t i = r->p.interval_ns;
    if (!role_holds_lease(r) || renewal_row_ns == 0 || now - renewal_row_ns > 2 * i)
        return 1;   /* not the active, or its renewals do not tell it (old schema, no answer) */
    /* half an interval early, so a read every ROLE_ACTIVE_READ_EVERY polls stays one */
    return last_read_ns == 0 || now - last_read_ns >= ROLE_ACTIVE_READ_EVERY * i - i / 2;
}

static const char *const state_names[] = {
    [ST_STARTING] = "starting", [ST_STANDBY] = "standby",   [ST_CLAIMING] = "claiming",
    [ST_PROMOTING] = "promoting", [ST_ACTIVE] = "active",   [ST_HANDOFF] = "handoff",
    [ST_HANDOVER] = "handover",
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
