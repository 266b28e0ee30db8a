/* hsclock: prints CLOCK_BOOTTIME in nanoseconds. The drill stamps every record with it
 * (hooks, nemesis, client, writer): one clock for all nodes of the machine, unaffected by
 * steps of CLOCK_REALTIME. A shell would need a fork of date(1) for realtime only. */
#include <stdio.h>
#include <time.h>

int main(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_BOOTTIME, &ts) != 0)
        return 1;
    printf("%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    return 0;
}
