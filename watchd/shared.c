/*
 * shared.c: is [shared] folder a mounted, writable filesystem, and which one? The identity
 * published for comparison with the other nodes is what both see alike for a network
 * filesystem: its type, its source (server:/export) and the root inside it, from
 * /proc/self/mountinfo. The checks run in one thread (see shared.h); the loop never blocks.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"
#include "shared.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] && r[3]) {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* The last mount whose mount point is exactly path (a later mount hides earlier ones).
 * Returns 1 and fills fsid and *ro, 0 if path is no mount point. */
static int find_mount(const char *path, char *fsid, size_t fsidlen, int *ro)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return 0;
    char line[4096];
    int found = 0;
    while (fgets(line, sizeof(line), f)) {
        char root[1024], mnt[1024], opts[256], type[64], source[1024];
        /* id parent maj:min root mountpoint options [optional...] - type source superopts */
        if (sscanf(line, "%*s %*s %*s %1023s %1023s %255s", root, mnt, opts) != 3)
            continue;
        char *dash = strstr(line, " - ");
        if (!dash || sscanf(dash + 3, "%63s %1023s", type, source) != 2)
            continue;
        unescape(mnt);
        if (strcmp(mnt, path) != 0)
            continue;
        unescape(root);
        unescape(source);
        snprintf(fsid, fsidlen, "%s %s %s", type, source, root);
        *ro = strncmp(opts, "ro", 2) == 0 && (opts[2] == ',' || opts[2] == '\0');
        found = 1;
    }
    fclose(f);
    return found;
}

/* A write that the permission bits alone would not reveal (a server exporting read-only). */
static int write_probe(const char *dir, const char *node, char *why, size_t whylen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/.hotstandby-probe.%s", dir, node);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(why, whylen, "%s is not writable: %s", dir, strerror(errno));
        return -1;
    }
    close(fd);
    unlink(path);
    return 0;
}

void shared_check(const char *folder, const char *node, struct shared_result *r)
{
    char real[PATH_MAX];
    int ro = 0;
    memset(r, 0, sizeof(*r));
    if (!realpath(folder, real)) {
        snprintf(r->why, sizeof(r->why), "%s is missing: %s", folder, strerror(errno));
        return;
    }
    if (!find_mount(real, r->fsid, sizeof(r->fsid), &ro)) {
        snprintf(r->why, sizeof(r->why), "%s is not a mount point (the shared filesystem "
                 "is not mounted)", folder);
        r->fsid[0] = '\0';
        return;
    }
    struct statvfs sv;
    if (ro || (statvfs(real, &sv) == 0 && (sv.f_flag & ST_RDONLY))) {
        snprintf(r->why, sizeof(r->why), "%s is mounted read-only", folder);
        return;
    }
    if (write_probe(real, node, r->why, sizeof(r->why)) < 0)
        return;
    r->ok = 1;
}

/* ---- the thread ---- */

struct shared_prober {
    char folder[PATH_MAX];
    char node[64];
    int ask[2];         /* loop -> thread: one byte per check */
    int answer[2];      /* thread -> loop: one struct shared_result per check */
    int busy;
    pthread_t thread;
};

static void *prober_main(void *arg)
{
    struct shared_prober *p = arg;
    char c;
    for (;;) {
        ssize_t n = read(p->ask[0], &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;      /* the loop closed its end: stop */
        struct shared_result r;
        shared_check(p->folder, p->node, &r);
        /* smaller than PIPE_BUF: written whole */
        if (write(p->answer[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
            break;
    }
    close(p->ask[0]);
    close(p->answer[1]);
    return NULL;
}

struct shared_prober *shared_prober_new(const char *folder, const char *node)
{
    _Static_assert(sizeof(struct shared_result) <= PIPE_BUF, "one atomic pipe write");
    struct shared_prober *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    snprintf(p->folder, sizeof(p->folder), "%s", folder);
    snprintf(p->node, sizeof(p->node), "%s", node);
    if (pipe2(p->ask, O_CLOEXEC) < 0) {
        free(p);
        return NULL;
    }
    if (pipe2(p->answer, O_CLOEXEC | O_NONBLOCK) < 0) {
        close(p->ask[0]);
        close(p->ask[1]);
        free(p);
        return NULL;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);   /* signals belong to the loop's signalfd */
    int rc = pthread_create(&p->thread, NULL, prober_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        for (int i = 0; i < 2; i++) {
            close(p->ask[i]);
            close(p->answer[i]);
        }
        free(p);
        return NULL;
    }
    return p;
}

int shared_prober_fd(const struct shared_prober *p)
{
    return p->answer[0];
}

int shared_prober_ask(struct shared_prober *p)
{
    if (p->busy)
        return -1;
    char c = 1;
    if (write(p->ask[1], &c, 1) != 1)
        return -1;
    p->busy = 1;
    return 0;
}

int shared_prober_read(struct shared_prober *p, struct shared_result *r)
{
    ssize_t n = read(p->answer[0], r, sizeof(*r));
    if (n != (ssize_t)sizeof(*r))
        return -1;
    p->busy = 0;
    return 0;
}

/* Closing our end of the ask pipe stops the thread. One stuck in a check (a hung mount)
 * cannot be joined: it is detached and keeps p until the process ends. */
void shared_prober_free(struct shared_prober *p)
{
    if (!p)
        return;
    close(p->ask[1]);
    if (p->busy) {
        pthread_detach(p->thread);
        return;
    }
    pthread_join(p->thread, NULL);
    close(p->answer[0]);
    free(p);
}
