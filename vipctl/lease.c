/*
 * lease.c: the authority a vipctl spawned by watchd acts on (DESIGN §3). watchd passes
 * HOTSTANDBY_EPOCH and HOTSTANDBY_DEADLINE_NS (CLOCK_BOOTTIME ns) and, while it lives,
 * publishes the lease's current deadline in RUN_DIR/lease (common/lease.h). Every step
 * that changes the world (adding the address, an announcement, a DNS message) asks
 * lease_check() first, so a long step goes on while watchd renews and stops at the
 * deadline once nobody renews: a frozen or dead watchd never extends it.
 */
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "lease.h"
#include "vipctl.h"

/* The deadline that holds now: watchd's latest word for our epoch, else the one we got. */
static int64_t current_deadline(const struct conf *c, int64_t epoch, int64_t given)
{
    int64_t file_epoch, file_deadline;
    if (lease_file_read(c->run_dir, &file_epoch, &file_deadline) < 0 || file_epoch < epoch)
        return given;   /* no newer word (watchd wrote before it spawned us) */
    if (file_epoch > epoch)
        return 0;       /* this node holds a later lease: ours has ended */
    return file_deadline;   /* later while renewals succeed, 0 after a fence */
}

int lease_check(const struct conf *c, char *why, size_t whylen)
{
    const char *d = getenv("HOTSTANDBY_DEADLINE_NS"), *e = getenv("HOTSTANDBY_EPOCH");
    if (d == NULL || d[0] == '\0')
        return -1;
    char *dend, *eend = "";
    long long given = strtoll(d, &dend, 10);
    long long epoch = e ? strtoll(e, &eend, 10) : -1;
    int64_t deadline = 0;
    if (*dend == '\0' && given > 0 && e && e[0] && *eend == '\0')
        deadline = current_deadline(c, epoch, given);
    int64_t now = now_ns();
    if (now < deadline)
        return 1;
    snprintf(why, whylen, "the lease of epoch %s ended %lld ms ago (HOTSTANDBY_DEADLINE_NS)",
             e && e[0] ? e : "?", deadline > 0 ? (long long)(now - deadline) / 1000000 : -1LL);
    return 0;
}
