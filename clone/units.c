/*
 * units.c: `hotstandby-clone start | stop` — this node's daemons, the way the scripts and
 * an upgrade start and stop them: through systemd when it runs (the installed units), and
 * on a machine without systemd (containers) as detached processes with pid files in
 * run_dir and logs in /var/log/hotstandby. stop waits for watchd's demotion, then takes the
 * address down as the unit's ExecStopPost does.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "clone.h"

#define LOG_DIR "/var/log/hotstandby"

static const char *const daemons[] = {"heartbeatd", "watchd", "syncd"};
#define NDAEMONS 3

static int systemd_runs(void)
{
    struct stat st;
    return stat("/run/systemd/system", &st) == 0;
}

static int wait_status(pid_t pid)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static int run_argv(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    return pid < 0 ? -1 : wait_status(pid);
}

static int systemctl(const char *verb)
{
    char *argv[] = {"/bin/systemctl", (char *)verb, "hotstandby-heartbeatd.service",
                    "hotstandby-watchd.service", "hotstandby-syncd.service", NULL};
    return run_argv(argv) == 0 ? 0 : -1;
}

/* An upgrade runs inside watchd's unit: a restart that waited would be killed with it, so
 * systemd is only asked to queue the jobs. */
static int systemctl_no_block_restart(void)
{
    char *argv[] = {"/bin/systemctl", "--no-block", "restart", "hotstandby-heartbeatd.service",
                    "hotstandby-watchd.service", "hotstandby-syncd.service", NULL};
    return run_argv(argv) == 0 ? 0 : -1;
}

static void pid_path(const struct clone *cl, const char *d, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s.pid", cl->conf.run_dir, d);
}

static pid_t read_pid(const char *path)
{
    FILE *f = fopen(path, "re");
    long pid = 0;
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return pid > 1 && kill((pid_t)pid, 0) == 0 ? (pid_t)pid : 0;
}

static int start_detached(struct clone *cl, const char *d)
{
    char path[600], bin[300], logf[300];
    pid_path(cl, d, path, sizeof(path));
    if (read_pid(path))
        return 0;   /* already running */
    snprintf(bin, sizeof(bin), "%s/%s", HS_SBINDIR, d);
    snprintf(logf, sizeof(logf), "%s/%s.log", LOG_DIR, d);
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || null < 0)
            _exit(126);
        dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(bin, d, "-c", cl->conf_path, (char *)NULL);
        _exit(127);
    }
    if (pid < 0)
        return -1;
    char text[32], err[512];
    int n = snprintf(text, sizeof(text), "%d\n", (int)pid);
    if (write_local(path, text, (size_t)n, 0644, err, sizeof(err)) < 0) {
        fprintf(stderr, "hotstandby-clone: %s\n", err);
        return -1;
    }
    return 0;
}

int units_start(struct clone *cl)
{
    if (systemd_runs())
        return systemctl("start");
    mkdir(LOG_DIR, 0750);
    mkdir(cl->conf.run_dir, 0755);
    for (int i = 0; i < NDAEMONS; i++)
        if (start_detached(cl, daemons[i]) < 0)
            return -1;
    printf("started heartbeatd, watchd and syncd (no systemd: logs in %s)\n", LOG_DIR);
    return 0;
}

static int wait_gone(pid_t pid, int64_t timeout_ns)
{
    int64_t end = now_ns() + timeout_ns;
    while (kill(pid, 0) == 0) {
        if (now_ns() > end)
            return -1;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

int units_stop(struct clone *cl)
{
    if (systemd_runs())
        return systemctl("stop");
    /* watchd first: it demotes (service stop, address down) while heartbeatd still renews */
    static const char *const order[] = {"watchd", "syncd", "heartbeatd"};
    int rc = 0;
    for (int i = 0; i < NDAEMONS; i++) {
        char path[600];
        pid_path(cl, order[i], path, sizeof(path));
        pid_t pid = read_pid(path);
        if (!pid)
            continue;
        kill(pid, SIGTERM);
        if (wait_gone(pid, cl->conf.hook_timeout_ns * 2 + 5 * NS_PER_SEC) < 0) {
            fprintf(stderr, "hotstandby-clone: %s (pid %d) did not stop: killed\n", order[i],
                    (int)pid);
            kill(pid, SIGKILL);
            wait_gone(pid, 5 * NS_PER_SEC);
            rc = -1;
        }
        unlink(path);
        if (!strcmp(order[i], "watchd")) {
            char *argv[] = {HS_SBINDIR "/vipctl", "-c", (char *)cl->conf_path, "down", NULL};
            run_argv(argv);
        }
    }
    return rc;
}

/* 0 if watchd runs on this node (the service may be up), 1 if not. */
int units_running(struct clone *cl)
{
    if (systemd_runs()) {
        char *argv[] = {"/bin/systemctl", "is-active", "--quiet", "hotstandby-watchd.service",
                        NULL};
        return run_argv(argv) == 0 ? 0 : 1;
    }
    char path[600];
    pid_path(cl, "watchd", path, sizeof(path));
    return read_pid(path) ? 0 : 1;
}

int units_restart(struct clone *cl)
{
    if (systemd_runs())
        return systemctl_no_block_restart();
    int rc = units_stop(cl);
    return units_start(cl) < 0 ? -1 : rc;
}
