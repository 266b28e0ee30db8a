/* vipctl.h: verbs shared between vipctl's files. */
#ifndef HS_VIPCTL_H
#define HS_VIPCTL_H

#include <jansson.h>
#include <stddef.h>

#include "conf.h"

/* Exit codes (DESIGN §5). */
#define EXIT_DONE    0
#define EXIT_FAILED  1
#define EXIT_USAGE   2
#define EXIT_REFUSED 3

/* address.c: the virtual IP or virtual hostname (connection = vip | hostname). */
int cmd_up(const struct conf *c);     /* holder check already done by main.c */
int cmd_down(const struct conf *c);
int cmd_garp(const struct conf *c);
/* For the active's periodic re-check: silent and cheap when the address is in place (no
 * announcement); re-adds and re-announces the VIP, or re-sends the DNS update, when
 * someone removed or changed it (logged). Holder check is the caller's. */
int cmd_check(const struct conf *c);
/* Adds "address" facts to a status object: present/points_at_holder, details. */
void address_status(const struct conf *c, const char *holder, const char *holder_address,
                    json_t *out);

/* lease.c: for a vipctl spawned by watchd (HOTSTANDBY_DEADLINE_NS set): 1 while the
 * lease it acts under lasts, 0 once it has ended (why filled); -1 if run by hand. Asked
 * before every step that changes the world. */
int lease_check(const struct conf *c, char *why, size_t whylen);
/* What a step cut off by the lease returns (its caller exits EXIT_REFUSED). */
#define LEASE_ENDED (-3)

/* main.c: 1 if this node is the holder (asks watchd, else the database), 0 if not,
 * -1 if it cannot tell; why gets a sentence either way. */
int holder_check(const struct conf *c, char *why, size_t whylen);

/* cluster.c: the operator verbs that read or change the cluster row. */
int verb_status(const struct conf *c, int json);
int verb_switchover(const struct conf *c, const char *to);
int verb_pause(const struct conf *c, int pause, int force);
int verb_events(const struct conf *c, int n, int json);
int verb_set_timing(const struct conf *c);
int verb_forget(const struct conf *c, const char *node);

/* testmail.c: one mail through [notify]'s server; prints the server's answer. */
int verb_test_mail(const struct conf *c);

/* testdns.c: one signed query to [dns] server; prints whether it accepts the key. */
int verb_test_dns(const struct conf *c);

#endif
