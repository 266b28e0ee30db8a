/*
 * alertmail.c: the text of the self-monitoring's mails (DESIGN §7). Subject
 * "[hotstandby] CLUSTER: KIND on NODE" (the prefix is common/mail.c's); the body holds what
 * an operator woken at night needs without logging in: cluster, node and role, holder and
 * epoch, when (UTC and the node's zone), how long, the condition's numbers, what to do, and
 * the node's last events. Queued with notify_alert(): never waits for the server.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "notify.h"
#include "selfmon.h"
#include "watchd.h"

/* ---- time for people: UTC and the node's own zone ---- */

void fmt_time(int64_t wall, char *buf, size_t len)
{
    time_t t = (time_t)(wall / NS_PER_SEC);
    struct tm utc, loc;
    char a[32], b[48];
    gmtime_r(&t, &utc);
    localtime_r(&t, &loc);
    strftime(a, sizeof(a), "%Y-%m-%d %H:%M:%S", &utc);
    strftime(b, sizeof(b), "%Y-%m-%d %H:%M:%S %Z", &loc);
    snprintf(buf, len, "%s UTC (%s)", a, b);
}

void fmt_iso(int64_t wall, char *buf, size_t len)
{
    time_t t = (time_t)(wall / NS_PER_SEC);
    struct tm utc;
    gmtime_r(&t, &utc);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &utc);
}

/* ---- the mail ---- */

void text_append(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

void alert_mail(struct selfmon *sm, enum problem_kind k, const char *resolution)
{
    struct watchd *wd = sm->wd;
    const struct condition *c = &sm->c[k];
    const struct role *r = &wd->role;
    char subject[256], body[3500] = "", when[96];
    int64_t now = wall_ns();

    snprintf(subject, sizeof(subject), "%s on %s%s", problem_name(k), wd->conf.node,
             resolution ? " resolved" : "");
    const char *holder = role_holds_lease(r) ? wd->conf.node : r->row.holder;
    text_append(body, sizeof(body), "cluster:   %s\nnode:      %s (%s)\nalert:     %s, %s\n",
           wd->conf.cluster, wd->conf.node, role_public_name(r), problem_name(k),
           resolution ? "RESOLVED" : "RAISED");
    text_append(body, sizeof(body), "holder:    %s, epoch %" PRId64 "%s\n", *holder ? holder : "(none)",
           role_holds_lease(r) ? r->epoch : r->row.epoch,
           r->row.paused ? "\npaused:    YES: no takeover and no fencing until `vipctl resume`"
                         : "");
    fmt_time(c->raised_wall_ns, when, sizeof(when));
    text_append(body, sizeof(body), "raised:    %s\n", when);
    if (resolution) {
        fmt_time(now, when, sizeof(when));
        text_append(body, sizeof(body), "resolved:  %s\nlasted:    %.1f s\n", when,
               (double)(now - c->raised_wall_ns) / NS_PER_SEC);
    }
    text_append(body, sizeof(body), "detail:    %s\n", c->detail);
    if (resolution)
        text_append(body, sizeof(body), "now:       %s\n", resolution);
    text_append(body, sizeof(body), "\nWhat to do: %s\n",
           resolution ? "nothing; this mail closes the alert above." : problem_advice(k));
    text_append(body, sizeof(body), "\nLast events on %s:\n", wd->conf.node);
    for (int i = 0; i < sm->n_recent; i++) {
        const struct recent_event *e = &sm->recent[i];
        fmt_time(e->wall_ns, when, sizeof(when));
        text_append(body, sizeof(body), "  %s  %s (epoch %" PRId64 "): %s\n", when, e->kind,
               e->epoch, e->detail);
    }
    text_append(body, sizeof(body), "\nSee `vipctl status` and `vipctl events` on any node.\n");
    notify_alert(wd->notifier, problem_name(k), subject, body);
}

/* Events that are news without a condition behind them: one mail each (de-duplicated). */
void alert_mail_once(struct selfmon *sm, const char *kind, int64_t epoch, const char *detail)
{
    struct watchd *wd = sm->wd;
    char subject[256], body[1024];
    snprintf(subject, sizeof(subject), "%s on %s", kind, wd->conf.node);
    snprintf(body, sizeof(body),
             "cluster:   %s\nnode:      %s\nevent:     %s\nepoch:     %" PRId64
             "\ndetail:    %s\npaused:    %s\n\nSee `vipctl status` and `vipctl events`.\n",
             wd->conf.cluster, wd->conf.node, kind, epoch, detail,
             wd->role.row.paused ? "YES" : "no");
    notify_alert(wd->notifier, kind, subject, body);
}

