/*
 * spawn.c: hooks and helper commands. Each child runs in its own process group (so a
 * timeout kills the whole hook, not just its shell), is watched through a pidfd in the
 * loop (no SIGCHLD handler, no global reaping), and has its output logged line by line.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* In the child: own process group, default signal mask, output to outfd, exec. */
static void child_exec(char *const argv[], char **env, int outfd)
{
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int s = 1; s < 32; s++)
        signal(s, SIG_DFL);
    setpgid(0, 0);
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

static pid_t fork_exec(char *const argv[], char *const env_extra[], int outfd)
{
    char **env = build_env(env_extra);
    if (env == NULL)
        return -1;
    pid_t pid = fork();
    if (pid == 0)
        child_exec(argv, env, outfd);
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

int spawn_start(struct loop *l, const char *name, char *const argv[], char *const env_extra[],
                int64_t timeout_ns, spawn_done_cb cb, void *arg)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0) {
        log_warn("%s: pipe", name);
        return -1;
    }
    pid_t pid = fork_exec(argv, env_extra, pipefd[1]);
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

int spawn_shell(struct loop *l, const char *name, const char *cmd, char *const env_extra[],
                int64_t timeout_ns, spawn_done_cb cb, void *arg)
{
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    return spawn_start(l, name, argv, env_extra, timeout_ns, cb, arg);
}

int spawn_wait(const char *name, char *const argv[], char *const env_extra[], int64_t timeout_ns)
{
    pid_t pid = fork_exec(argv, env_extra, -1);
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
