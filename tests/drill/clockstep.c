/* clockstep.so: an LD_PRELOAD shim that shifts CLOCK_REALTIME for one node of the drill.
 * A time namespace cannot shift CLOCK_REALTIME, so the daemons of a node (and the vipctl
 * and hooks they spawn, which inherit the environment) see the wall clock through this:
 * clock_gettime(CLOCK_REALTIME*), gettimeofday() and time() return the real time plus the
 * offset in the file named by HS_CLOCK_FILE ("<milliseconds>\n", signed; absent = 0). The
 * file is looked at on every call (a stat), so a step the nemesis makes (writing a new
 * file and renaming it over the old one) takes effect at once, mid-run. Every other clock
 * (CLOCK_BOOTTIME, CLOCK_MONOTONIC) is left alone: that is what the step must not move. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static clock_gettime_fn real_clock_gettime(void)
{
    static clock_gettime_fn fn;
    clock_gettime_fn f = __atomic_load_n(&fn, __ATOMIC_ACQUIRE);
    if (!f) {
        f = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
        __atomic_store_n(&fn, f, __ATOMIC_RELEASE);
    }
    return f;
}

/* The file's identity when last read, and the offset it held (racing readers compute the
 * same value, so plain atomics are enough). */
static int64_t seen_ino, seen_mtime_ns, offset_ns;

static int64_t current_offset_ns(void)
{
    const char *path = getenv("HS_CLOCK_FILE");
    struct stat st;
    if (!path || stat(path, &st) != 0)
        return 0;
    int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if ((int64_t)st.st_ino == __atomic_load_n(&seen_ino, __ATOMIC_ACQUIRE) &&
        mt == __atomic_load_n(&seen_mtime_ns, __ATOMIC_ACQUIRE))
        return __atomic_load_n(&offset_ns, __ATOMIC_ACQUIRE);
    char buf[32] = "";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    int64_t off = n > 0 ? strtoll(buf, NULL, 10) * 1000000 : 0;
    __atomic_store_n(&offset_ns, off, __ATOMIC_RELEASE);
    __atomic_store_n(&seen_mtime_ns, mt, __ATOMIC_RELEASE);
    __atomic_store_n(&seen_ino, (int64_t)st.st_ino, __ATOMIC_RELEASE);
    return off;
}

static void shift(struct timespec *ts)
{
    int64_t ns = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec + current_offset_ns();
    ts->tv_sec = ns / 1000000000;
    ts->tv_nsec = ns % 1000000000;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    int rc = real_clock_gettime()(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        shift(ts);
    return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    (void)tz;
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return -1;
    tv->tv_sec = ts.tv_sec;   /* declared nonnull by glibc */
    tv->tv_usec = ts.tv_nsec / 1000;
    return 0;
}

time_t time(time_t *t)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (time_t)-1;
    if (t)
        *t = ts.tv_sec;
    return ts.tv_sec;
}
