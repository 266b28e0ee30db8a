/*
 * spawn.c: hooks and helper commands. Each child runs in its own process group (so a
 * timeout kills the whole hook, not just its shell), is watched through a pidfd in the
 * loop (no SIGCHLD handler, no global reaping), and has its output logged line by line.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "loop.h"
#include "spawn.h"

extern char **environ;

#define KILL_GRACE_NS NS_PER_SEC

struct child {
    struct loop *loop;
    char name[64];
    pid_t pid;
    int pidfd;
    int outfd;
    char line[1024];
    size_t line_len;
    int killed;                /* 1 after SIGTERM on timeout, 2 after SIGKILL */
    char record[300];          /* tracked: the file naming its process group, "" if not */
    struct loop_timer *timer;
    spawn_done_cb cb;
    void *arg;
};

static int n_running;

int spawn_running(void) { return n_running; }

static int pidfd_open_(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

/*
 * What a child sees (DESIGN §10): the variables its caller passes (HOTSTANDBY_*) plus
 * these few from our own environment. Nothing else: NOTIFY_SOCKET or WATCHDOG_* would let
 * a hook speak for the daemon to systemd, and whatever else the daemon was started with
 * is none of the hook's business. The sanitizer options only matter to the test builds.
 */
static const char *const inherited[] = {"PATH=", "LANG=", "LC_ALL=", "TZ=", "ASAN_OPTIONS=",
                                        "UBSAN_OPTIONS=", "LSAN_OPTIONS="};
#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static int is_inherited(const char *var, int *is_path)
{
    for (size_t i = 0; i < sizeof(inherited) / sizeof(inherited[0]); i++)
        if (strncmp(var, inherited[i], strlen(inherited[i])) == 0)
            return *is_path |= i == 0, 1;
    return 0;
}

/* The inherited variables plus extra. Caller frees the array only. */
static char **build_env(char *const extra[])
{
    size_t n = 0, m = 0, k = 0;
    while (environ[n])
        n++;
    while (extra && extra[m])
        m++;
    char **env = calloc(n + m + 2, sizeof(char *));
    if (env == NULL)
        return NULL;
    int have_path = 0;
    for (size_t i = 0; i < n; i++)
        if (is_inherited(environ[i], &have_path))
            env[k++] = environ[i];
    if (!have_path)
        env[k++] = DEFAULT_PATH;
    for (size_t j = 0; j < m; j++)
        env[k++] = extra[j];
    return env;
}

/* Appends the decimal v to buf at *n (async-signal-safe). */
static void put_num(char *buf, size_t *n, size_t cap, unsigned long long v)
{
    char digits[24];
    int nd = 0;
    do
        digits[nd++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (nd && *n + 1 < cap)
        buf[(*n)++] = digits[--nd];
    buf[*n] = '\0';
}

/*
 * Start time of a process (field 22 of /proc/PID/stat, clock ticks since boot): with
 * the pid it names one process for good, so a record never kills a recycled pid.
 * Async-signal-safe (used in the child before exec). Returns 0 if there is none.
 */
static unsigned long long proc_start_time(pid_t pid, int *pgrp, char *state)
{
    char path[64] = "/proc/", buf[1024];
    size_t n = 6;
    /* no snprintf here: this runs between fork and exec */
    put_num(path, &n, sizeof(path) - 6, (unsigned long long)pid);
    memcpy(path + n, "/stat", 6);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t len = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (len <= 0)
        return 0;
    buf[len] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return 0;
    p++;
    unsigned long long v = 0;
    for (int field = 3; field <= 22 && *p; field++) {
        while (*p == ' ')
            p++;
        if (field == 3 && state)
            *state = *p;
        if (field == 5 || field == 22) {
            v = 0;
            while (*p >= '0' && *p <= '9')
                v = v * 10 + (unsigned long long)(*p++ - '0');
            if (field == 5 && pgrp)
                *pgrp = (int)v;
        }
        while (*p && *p != ' ')
            p++;
    }
    return v;
}

/* In the child, before anything runs: dir/PID names our group and holds our start time,
 * so even a watchd killed right after the fork leaves a record behind. */
static void write_record(const char *dir)
{
    char path[300], out[24];
    size_t n = 0, m = 0;
    while (dir[n] && n < sizeof(path) - 26) {
        path[n] = dir[n];
        n++;
    }
    path[n++] = '/';
    put_num(path, &n, sizeof(path), (unsigned long long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return;
    put_num(out, &m, sizeof(out) - 1, proc_start_time(getpid(), NULL, NULL));
    out[m++] = '\n';
    ssize_t w = write(fd, out, m);
    (void)w;
    close(fd);
}

/* In the child: own process group, default signal mask, output to outfd, exec. */
static void child_exec(char *const argv[], char **env, int outfd, const char *record)
{
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int s = 1; s < 32; s++)
        signal(s, SIG_DFL);
    setpgid(0, 0);
    if (record)
        write_record(record);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, 0);
    if (outfd >= 0) {
        dup2(outfd, 1);
        dup2(outfd, 2);
    }
    close_range(3, ~0U, 0);
    execve(argv[0], argv, env);
    dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static pid_t fork_exec(char *const argv[], char *const env_extra[], int outfd,
                       const char *record)
{
    char **env = build_env(env_extra);
    if (env == NULL)
        return -1;
    pid_t pid = fork();
    if (pid == 0)
        child_exec(argv, env, outfd, record);
    free(env);
    if (pid > 0)
        setpgid(pid, pid);   /* also from the parent: no race with an early kill */
    return pid;
}

static void log_lines(struct child *c, int final)
{
    char *start = c->line, *nl;
    while ((nl = memchr(start, '\n', c->line_len - (size_t)(start - c->line))) != NULL) {
        *nl = '\0';
        log_info("%s: %s", c->name, start);
        start = nl + 1;
    }
    size_t rest = c->line_len - (size_t)(start - c->line);
    if (rest == sizeof(c->line) || (final && rest > 0)) {
        log_info("%s: %.*s", c->name, (int)rest, start);
        rest = 0;
    }
    memmove(c->line, start, rest);
    c->line_len = rest;
}

static void drain_output(struct child *c, int final)
{
    ssize_t n;
    while (c->outfd >= 0) {
        n = read(c->outfd, c->line + c->line_len, sizeof(c->line) - c->line_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        c->line_len += (size_t)n;
        log_lines(c, 0);
    }
    if (final)
        log_lines(c, 1);
}

static void on_output(void *arg, int fd, uint32_t events)
{
    struct child *c = arg;
    drain_output(c, 0);
    if (events & EPOLLHUP) {
        loop_del_fd(c->loop, c->outfd);
        close(c->outfd);
        c->outfd = -1;
    }
}

static void on_exit_(void *arg, int fd, uint32_t events)
{
    struct child *c = arg;
    int wstatus, status;

    if (waitpid(c->pid, &wstatus, WNOHANG) <= 0)
        return;
    if (c->killed)
        status = -1;
    else if (WIFEXITED(wstatus))
        status = WEXITSTATUS(wstatus);
    else
        status = 128 + WTERMSIG(wstatus);
    /* the group may still hold the pipe open (a background process); stop reading it */
    if (c->outfd >= 0) {
        drain_output(c, 1);
        loop_del_fd(c->loop, c->outfd);
        close(c->outfd);
    }
    if (c->killed)
        log_warnx("%s: killed after its timeout", c->name);
    else if (status != 0)
        log_warnx("%s: exited with status %d", c->name, status);
    kill(-c->pid, SIGKILL);   /* nothing of a finished hook outlives it */
    if (c->record[0])
        unlink(c->record);
    loop_del_fd(c->loop, c->pidfd);
    close(c->pidfd);
    loop_timer_free(c->timer);
    n_running--;
    spawn_done_cb cb = c->cb;
    void *cbarg = c->arg;
    free(c);
    if (cb)
        cb(cbarg, status);
}

static void on_timeout(void *arg)
{
    struct child *c = arg;
    if (c->killed == 0) {
        log_warnx("%s: still running after its timeout; terminating", c->name);
        kill(-c->pid, SIGTERM);
        c->killed = 1;
        loop_timer_after(c->timer, KILL_GRACE_NS);
    } else {
        kill(-c->pid, SIGKILL);
        c->killed = 2;
    }
}

static int start_child(struct loop *l, const char *track_dir, const char *name,
                       char *const argv[], char *const env_extra[], int64_t timeout_ns,
                       spawn_done_cb cb, void *arg)
{
    int pipefd[2];
    char record[300] = "";
    if (track_dir) {
        if (mkdir(track_dir, 0700) < 0 && errno != EEXIST) {
            log_warn("%s: %s", name, track_dir);
            return -1;   /* an untracked hook could outlive a stop: do not start it */
        }
    }
    if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0) {
        log_warn("%s: pipe", name);
        return -1;
    }
    pid_t pid = fork_exec(argv, env_extra, pipefd[1], track_dir);
    if (track_dir && pid > 0)
        snprintf(record, sizeof(record), "%s/%d", track_dir, (int)pid);
    close(pipefd[1]);
    if (pid < 0) {
        log_warn("%s: fork", name);
        close(pipefd[0]);
        return -1;
    }
    struct child *c = calloc(1, sizeof(*c));
    if (c == NULL)
        fatal("calloc");
    c->loop = l;
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->pid = pid;
    c->outfd = pipefd[0];
    c->cb = cb;
    c->arg = arg;
    snprintf(c->record, sizeof(c->record), "%s", record);
    c->pidfd = pidfd_open_(pid);
    if (c->pidfd < 0)
        fatal("pidfd_open");
    loop_add_fd(l, c->outfd, EPOLLIN, on_output, c);
    loop_add_fd(l, c->pidfd, EPOLLIN, on_exit_, c);
    c->timer = loop_timer_new(l, on_timeout, c);
    loop_timer_after(c->timer, timeout_ns);
    n_running++;
    log_debug("%s: started pid %d", name, (int)pid);
    return (int)pid;
}

int spawn_start(struct loop *l, const char *name, char *const argv[], char *const env_extra[],
                int64_t timeout_ns, spawn_done_cb cb, void *arg)
{
    return start_child(l, NULL, name, argv, env_extra, timeout_ns, cb, arg);
}

int spawn_tracked(struct loop *l, const char *track_dir, const char *name, char *const argv[],
                  char *const env_extra[], int64_t timeout_ns, spawn_done_cb cb, void *arg)
{
    return start_child(l, track_dir, name, argv, env_extra, timeout_ns, cb, arg);
}

int spawn_shell_tracked(struct loop *l, const char *track_dir, const char *name,
                        const char *cmd, char *const env_extra[], int64_t timeout_ns,
                        spawn_done_cb cb, void *arg)
{
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    return start_child(l, track_dir, name, argv, env_extra, timeout_ns, cb, arg);
}

/* Any process of group pgid still alive (not a zombie)? One pass over /proc. */
static int group_alive(int pgid)
{
    DIR *d = opendir("/proc");
    if (d == NULL)
        return kill(-pgid, 0) == 0;
    struct dirent *e;
    int alive = 0;
    while (!alive && (e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        int pgrp = -1;
        char state = '?';
        if (proc_start_time(atoi(e->d_name), &pgrp, &state) && pgrp == pgid && state != 'Z' &&
            state != 'X')
            alive = 1;
    }
    closedir(d);
    return alive;
}

/* SIGKILL to the group of one record, unless its pid now names another process. */
static int kill_record(const char *dir, const char *name, int *pgids, int n)
{
    char path[600], buf[32] = "";
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (!isdigit((unsigned char)name[0]))
        return n;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        ssize_t len = read(fd, buf, sizeof(buf) - 1);
        buf[len > 0 ? len : 0] = '\0';
        close(fd);
    }
    int pgid = atoi(name);
    unsigned long long now_start = proc_start_time(pgid, NULL, NULL);
    if (pgid <= 1 || (now_start && now_start != strtoull(buf, NULL, 10))) {
        unlink(path);   /* recycled pid: not ours */
        return n;
    }
    if (kill(-pgid, SIGKILL) == 0)
        log_warnx("killed hook process group %d before the stop", pgid);
    pgids[n++] = pgid;
    return n;
}

void hook_track_dir(const char *run_dir, char *buf, size_t len)
{
    snprintf(buf, len, "%s/hooks", run_dir);
}

int spawn_kill_tracked(const char *track_dir, int64_t timeout_ns)
{
    DIR *d = opendir(track_dir);
    if (d == NULL)
        return 0;
    int pgids[256], n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 256)
        if (e->d_name[0] != '.')
            n = kill_record(track_dir, e->d_name, pgids, n);
    closedir(d);
    /* wait until every process of those groups is gone (a zombie serves nobody) */
    int64_t deadline = now_ns() + timeout_ns;
    int left = n;
    while (left > 0) {
        left = 0;
        for (int i = 0; i < n; i++) {
            if (pgids[i] == 0)
                continue;
            if (group_alive(pgids[i])) {
                left++;
                continue;
            }
            char path[600];
            snprintf(path, sizeof(path), "%s/%d", track_dir, pgids[i]);
            unlink(path);
            pgids[i] = 0;
        }
        if (left == 0 || now_ns() >= deadline)
            break;
        usleep(5000);
    }
    if (left > 0)
        log_errx("%d hook process group(s) survived SIGKILL: the service may still come up",
                 left);
    return left > 0 ? -1 : n;
}

int spawn_shell(struct loop *l, const char *name, const char *cmd, char *const env_extra[],
                int64_t timeout_ns, spawn_done_cb cb, void *arg)
{
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    return start_child(l, NULL, name, argv, env_extra, timeout_ns, cb, arg);
}

int spawn_wait(const char *name, char *const argv[], char *const env_extra[], int64_t timeout_ns)
{
    pid_t pid = fork_exec(argv, env_extra, -1, NULL);
    if (pid < 0) {
        log_warn("%s: fork", name);
        return -1;
    }
    int pidfd = pidfd_open_(pid);
    int64_t deadline = now_ns() + timeout_ns;
    int killed = 0, wstatus;
    for (;;) {
        int64_t left = (deadline - now_ns()) / NS_PER_MS;
        struct pollfd p = {.fd = pidfd, .events = POLLIN};
        int rc = poll(&p, 1, left > 0 ? (int)left : 0);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc > 0)
            break;
        kill(-pid, killed ? SIGKILL : SIGTERM);
        log_warnx("%s: timed out; %s", name, killed ? "killed" : "terminating");
        killed++;
        deadline = now_ns() + KILL_GRACE_NS;
    }
    close(pidfd);
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
        ;
    if (killed)
        return -1;
    return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}

void hook_env_fill(struct hook_env *h, const char *cluster, const char *node, const char *role,
                   int64_t epoch)
{
    snprintf(h->buf[0], sizeof(h->buf[0]), "HOTSTANDBY_CLUSTER=%s", cluster);
    snprintf(h->buf[1], sizeof(h->buf[1]), "HOTSTANDBY_NODE=%s", node);
    snprintf(h->buf[2], sizeof(h->buf[2]), "HOTSTANDBY_ROLE=%s", role);
    snprintf(h->buf[3], sizeof(h->buf[3]), "HOTSTANDBY_EPOCH=%lld", (long long)epoch);
    for (int i = 0; i < 4; i++)
        h->env[i] = h->buf[i];
    h->env[4] = NULL;
}

void hook_env_deadline(struct hook_env *h, int64_t deadline_ns)
{
    snprintf(h->buf[4], sizeof(h->buf[4]), "HOTSTANDBY_DEADLINE_NS=%lld", (long long)deadline_ns);
    h->env[4] = h->buf[4];
    h->env[5] = NULL;
}

int self_dir(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    return 0;
}
