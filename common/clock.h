/* clock.h: time inside hotstandby is int64_t nanoseconds of CLOCK_BOOTTIME. */
#ifndef HS_CLOCK_H
#define HS_CLOCK_H

#include <stdint.h>

#define NS_PER_MS  INT64_C(1000000)
#define NS_PER_SEC INT64_C(1000000000)

/* CLOCK_BOOTTIME: keeps counting through suspend, so a resumed node sees the gap. */
int64_t now_ns(void);
/* CLOCK_REALTIME, for display and for the database only. */
int64_t wall_ns(void);

#endif
