/*
 * alert.c: syncd's notifier (DESIGN §7 "sync failure or lag"). It detects, per standby, what
 * an operator must hear about, from facts send.c keeps across reconnects: the standby has
 * been unreachable for sync_lag_alert, it refused a push within the last sync_lag_alert, or
 * data written on the active is still unacknowledged after sync_lag_alert. The list goes
 * out with the status verb; watchd's self-monitoring, which asks every few seconds, raises
 * and resolves them (one mail each way, hs_event rows), so all of a node's alerts come
 * from one place with one de-duplication.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>

#include "clock.h"
#include "syncd.h"

static void add(json_t *list, const char *kind, const struct peer *p, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add(json_t *list, const char *kind, const struct peer *p, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "kind", kind, "peer", p->cp.node,
                                          "detail", detail));
}

static double secs(int64_t ns)
{
    return (double)ns / NS_PER_SEC;
}

json_t *sync_alert_problems(const struct syncd *sd, int64_t now)
{
    json_t *list = json_array();
    int64_t limit = sd->conf.sync_lag_alert_ns;
    if (!sd->active)
        return list;    /* a receiver has nothing to push */
    for (int i = 0; i < sd->npeers; i++) {
        const struct peer *p = sd->peers[i];
        if (p->down_since_ns && now - p->down_since_ns >= limit)
            add(list, "sync-failure", p, "%s (%s:%d) unreachable for %.0f s: %s", p->cp.node,
                p->cp.host, p->cp.port, secs(now - p->down_since_ns),
                p->last_error[0] ? p->last_error : "not connected");
        if (p->refused_ns && now - p->refused_ns < limit)
            add(list, "sync-failure", p, "%s refused a push %.0f s ago (%llu in all): %s",
                p->cp.node, secs(now - p->refused_ns), (unsigned long long)p->refused_count,
                p->refused);
        if (p->unacked_since_ns && now - p->unacked_since_ns >= limit)
            add(list, "sync-lag", p, "%s has not acknowledged data written %.0f s ago "
                "(sync_lag_alert %.0f s; %zu change(s) queued)", p->cp.node,
                secs(now - p->unacked_since_ns), secs(limit), sync_peer_queue_len(p));
    }
    return list;
}
