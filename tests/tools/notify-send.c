/* tests/tools/notify-send.c: drives common/notify.c without watchd (tests/integ/60-alerts.t
 * compiles it against libhs.a). Loads a config, raises alerts, waits for the worker, frees.
 *
 *   notify-send -c CONF [-k KIND] [-s SUBJECT] [-b BODY] [-n COUNT] [-u] [-g GAP_MS]
 *               [-w WINDOW_MS] [-p PAUSE_MS] [-i IDLE_TIMEOUT_MS] [-R] [-t] [-d]
 *
 * -n raises the alert COUNT times (-u: subjects made unique with " #i"; -g: sleeping GAP_MS
 * between them, the time spent raising is then not printed), -w shortens the
 * de-duplication window, -p sleeps after raising, -i waits up to that long for the queue to
 * empty before notify_free. -R uses notify_retire instead and then waits 3 s for the
 * worker to flush and free on its own. -t only runs notify_check. Prints how long raising
 * and freeing took. Exit 2 if the config or notify_new is refused, 3 if the queue did not
 * empty within -i. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "conf.h"
#include "log.h"
#include "notify.h"

static void sleep_ms(long ms)
{
    if (ms > 0)
        nanosleep(&(struct timespec){ms / 1000, ms % 1000 * 1000000L}, NULL);
}

int main(int argc, char **argv)
{
    const char *path = NULL, *kind = "test", *subject = "test alert", *body = "test body";
    long count = 1, gap_ms = 0, window_ms = -1, pause_ms = 0, idle_ms = -1;
    int unique = 0, debug = 0, retire = 0, check_only = 0, opt;
    while ((opt = getopt(argc, argv, "c:k:s:b:n:ug:w:p:i:Rtd")) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'k': kind = optarg; break;
        case 's': subject = optarg; break;
        case 'b': body = optarg; break;
        case 'n': count = atol(optarg); break;
        case 'u': unique = 1; break;
        case 'g': gap_ms = atol(optarg); break;
        case 'w': window_ms = atol(optarg); break;
        case 'p': pause_ms = atol(optarg); break;
        case 'i': idle_ms = atol(optarg); break;
        case 'R': retire = 1; break;
        case 't': check_only = 1; break;
        case 'd': debug = 1; break;
        default: return 2;
        }
    }
    log_init("notify-send", debug);
    static struct conf c;
    char err[1024];
    if (!path || conf_load(path, &c, err, sizeof(err)) < 0) {
        log_errx("%s", path ? err : "-c CONF is required");
        return 2;
    }
    if (check_only) {
        if (notify_check(&c, err, sizeof(err)) < 0) {
            log_errx("%s", err);
            return 2;
        }
        return 0;
    }
    struct notifier *n = notify_new(&c, err, sizeof(err));
    if (!n) {
        log_errx("%s", err);
        return 2;
    }
    if (window_ms >= 0)
        notify_set_dedup_window(n, window_ms * NS_PER_MS);

    int64_t t0 = now_ns();
    for (long i = 1; i <= count; i++) {
        char s[512];
        snprintf(s, sizeof(s), unique ? "%s #%ld" : "%s", subject, i);
        if (i > 1)
            sleep_ms(gap_ms);
        notify_alert(n, kind, s, body);
    }
    printf("raised %ld alert(s) in %.3f ms\n", count, (double)(now_ns() - t0) / NS_PER_MS);
    fflush(stdout);

    sleep_ms(pause_ms);
    int rc = 0;
    if (idle_ms >= 0 && notify_wait_idle(n, idle_ms * NS_PER_MS) < 0) {
        printf("queue not empty after %ld ms\n", idle_ms);
        rc = 3;
    }
    int64_t t1 = now_ns();
    if (retire)
        notify_retire(n);
    else
        notify_free(n);
    printf("%s in %.3f ms\n", retire ? "retired" : "freed", (double)(now_ns() - t1) / NS_PER_MS);
    fflush(stdout);
    if (retire)
        sleep_ms(3000);
    return rc;
}
