/*
 * watch.c: change detection. libinotifytools owns the recursive watches and the
 * wd -> path map but has no fd for epoll and keeps global state, so one reader thread
 * blocks in inotifytools_next_events and nothing else touches the library. The thread
 * turns events into records (kind, path, path2 relative to the sync root) on a pipe
 * that the main loop reads (DESIGN §6).
 */
#include <errno.h>
#include <fcntl.h>
#include <inotifytools/inotify.h>
#include <inotifytools/inotifytools.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "manifest.h"
#include "syncd.h"

#define WATCH_MASK (IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
                    IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

struct sync_watch {
    struct loop *loop;
    pthread_t thread;
    int pipe_r, pipe_w;
    _Atomic int stop;              /* set by the main thread, read by the reader */
    char root[CONF_STR];
    size_t root_len;
    const char (*paths)[CONF_STR];
    int npaths;
    const struct manifest_filter *filter;
    watch_cb cb;
    void *arg;
    struct proto_buf in;           /* main-thread side of the pipe */
    /* reader-thread side: the pending IN_MOVED_FROM */
    uint32_t move_cookie;
    char move_from[PROTO_PATH_MAX];
    int move_is_dir;
};

/* Reader thread: one record = u8 kind, u16 len, path, u16 len, path2. */
static void emit(struct sync_watch *w, enum watch_kind kind, const char *p1, const char *p2)
{
    uint8_t rec[3 + 2 * PROTO_PATH_MAX];
    size_t l1 = strlen(p1), l2 = p2 ? strlen(p2) : 0;
    if (l1 >= PROTO_PATH_MAX || l2 >= PROTO_PATH_MAX)
        return;
    size_t n = 0;
    rec[n++] = (uint8_t)kind;
    rec[n++] = (uint8_t)(l1 >> 8);
    rec[n++] = (uint8_t)l1;
    memcpy(rec + n, p1, l1);
    n += l1;
    rec[n++] = (uint8_t)(l2 >> 8);
    rec[n++] = (uint8_t)l2;
    memcpy(rec + n, p2 ? p2 : "", l2);
    n += l2;
    for (size_t off = 0; off < n;) {
        ssize_t wr = write(w->pipe_w, rec + off, n - off);
        if (wr < 0 && errno == EINTR)
            continue;
        if (wr < 0)
            return;
        off += (size_t)wr;
    }
}

/* "/root/data/x/" -> "data/x"; NULL if outside the root. */
static const char *rel(struct sync_watch *w, char *abs)
{
    size_t n = strlen(abs);
    while (n > 1 && abs[n - 1] == '/')
        abs[--n] = '\0';
    if (w->root_len <= 1)
        return abs[0] == '/' ? abs + 1 : abs;
    if (strncmp(abs, w->root, w->root_len) || (abs[w->root_len] != '/' && abs[w->root_len]))
        return NULL;
    return abs[w->root_len] ? abs + w->root_len + 1 : abs + w->root_len;
}

static void flush_move(struct sync_watch *w)
{
    if (!w->move_cookie)
        return;
    /* Moved out of the watched trees: gone, as far as the standby is concerned. */
    emit(w, W_DELETE, w->move_from, NULL);
    if (w->move_is_dir) {
        char abs[PROTO_PATH_MAX + CONF_STR];
        snprintf(abs, sizeof(abs), "%s/%s/", w->root_len > 1 ? w->root : "", w->move_from);
        int wd = inotifytools_wd_from_filename(abs);
        if (wd >= 0)
            inotifytools_remove_watch_by_wd(wd);
    }
    w->move_cookie = 0;
}

static void watch_new_dir(struct sync_watch *w, const char *abs, const char *relp)
{
    if (!inotifytools_watch_recursively(abs, WATCH_MASK))
        emit(w, W_RESCAN, relp, NULL);   /* watch failure: reconcile that tree */
    /* Files created before the watch existed: the scan after the watch catches them. */
    emit(w, W_DIR, relp, NULL);
}

static void on_event(struct sync_watch *w, struct inotify_event *ev)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        emit(w, W_RESCAN, "", NULL);
        return;
    }
    if (ev->mask & IN_IGNORED)
        return;
    const char *dir = inotifytools_filename_from_wd(ev->wd);
    if (!dir)
        return;
    char abs[PROTO_PATH_MAX + CONF_STR];
    if (ev->len && ev->name[0])
        snprintf(abs, sizeof(abs), "%s%s", dir, ev->name);
    else
        snprintf(abs, sizeof(abs), "%s", dir);
    const char *r = rel(w, abs);
    if (r && (ev->mask & IN_CREATE) && ev->len &&
        !strncmp(ev->name, SYNC_FLUSH_PREFIX, strlen(SYNC_FLUSH_PREFIX))) {
        /* flush barrier: every event before it has been delivered (one ordered queue) */
        emit(w, W_BARRIER, ev->name + strlen(SYNC_FLUSH_PREFIX), NULL);
        return;
    }
    if (!r || !*r || manifest_excluded(w->filter, r))
        return;
    int is_dir = (ev->mask & IN_ISDIR) != 0;

    if (!(ev->mask & IN_MOVED_TO))
        flush_move(w);
    if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF))
        return;   /* reported by the parent's IN_DELETE / IN_MOVED_FROM */
    if (ev->mask & IN_MOVED_FROM) {
        w->move_cookie = ev->cookie ? ev->cookie : 1;
        snprintf(w->move_from, sizeof(w->move_from), "%s", r);
        w->move_is_dir = is_dir;
        return;
    }
    if (ev->mask & IN_MOVED_TO) {
        if (w->move_cookie && w->move_cookie == ev->cookie) {
            if (w->move_is_dir) {
                /* Keep the library's wd -> path map right (as inotifywait does). */
                char from[PROTO_PATH_MAX + CONF_STR], to[PROTO_PATH_MAX + CONF_STR];
                snprintf(from, sizeof(from), "%s/%s/", w->root_len > 1 ? w->root : "",
                         w->move_from);
                snprintf(to, sizeof(to), "%s/", abs);
                inotifytools_replace_filename(from, to);
                /* and re-add the subtree under its new name, which resets the name of
                 * every wd below it: events inside the moved directory must not keep
                 * reporting the old path */
                inotifytools_watch_recursively(abs, WATCH_MASK);
            }
            emit(w, W_RENAME, w->move_from, r);
            if (w->move_is_dir)
                emit(w, W_DIR, r, NULL);   /* re-check what changed inside meanwhile */
            w->move_cookie = 0;
        } else {
            flush_move(w);
            if (is_dir)
                watch_new_dir(w, abs, r);
            else
                emit(w, W_CHANGE, r, NULL);
        }
        return;
    }
    if ((ev->mask & IN_CREATE) && is_dir) {
        watch_new_dir(w, abs, r);
        return;
    }
    if (ev->mask & IN_CREATE) {
        /* A new regular file is sent on IN_CLOSE_WRITE, never half-written; links,
         * symlinks and hard links have no close, so they go now. */
        struct stat st;
        if (lstat(abs, &st) == 0 && (S_ISLNK(st.st_mode) || (S_ISREG(st.st_mode) &&
                                                            st.st_nlink > 1)))
            emit(w, W_CHANGE, r, NULL);
        return;
    }
    if (ev->mask & IN_DELETE) {
        emit(w, W_DELETE, r, NULL);
        return;
    }
    emit(w, W_CHANGE, r, NULL);   /* IN_CLOSE_WRITE, IN_ATTRIB */
}

static void *reader(void *arg)
{
    struct sync_watch *w = arg;
    if (!inotifytools_initialize()) {
        log_warnx("inotify: cannot initialise: %s", strerror(inotifytools_error()));
        emit(w, W_FAILED, "", NULL);
        return NULL;
    }
    for (int i = 0; i < w->npaths; i++) {
        char abs[2 * CONF_STR];
        snprintf(abs, sizeof(abs), "%s%s", w->root_len > 1 ? w->root : "", w->paths[i]);
        mkdir(abs, 0755);   /* a sync path that does not exist yet is created empty */
        if (!inotifytools_watch_recursively(abs, WATCH_MASK)) {
            int e = inotifytools_error();
            log_warnx("inotify: %s: %s%s", abs, strerror(e),
                      e == ENOSPC ? " (raise fs.inotify.max_user_watches)" : "");
            emit(w, W_FAILED, "", NULL);
        }
    }
    emit(w, W_READY, "", NULL);
    while (!w->stop) {
        struct inotify_event *ev = inotifytools_next_events(1, 1);
        if (!ev) {
            flush_move(w);   /* a lone IN_MOVED_FROM: the file left the tree */
            continue;
        }
        on_event(w, ev);
    }
    inotifytools_cleanup();
    return NULL;
}

/* Main thread: records from the pipe. */
static void on_pipe(void *arg, int fd, uint32_t events)
{
    struct sync_watch *w = arg;
    for (;;) {
        if (proto_buf_reserve(&w->in, 65536) < 0)
            return;
        ssize_t n = read(fd, w->in.data + w->in.len, w->in.cap - w->in.len);
        if (n <= 0)
            break;
        w->in.len += (size_t)n;
    }
    for (;;) {
        size_t avail = proto_buf_used(&w->in);
        const uint8_t *p = w->in.data + w->in.off;
        if (avail < 5)
            break;
        size_t l1 = (size_t)p[1] << 8 | p[2];
        if (avail < 3 + l1 + 2)
            break;
        size_t l2 = (size_t)p[3 + l1] << 8 | p[4 + l1];
        if (avail < 5 + l1 + l2)
            break;
        char p1[PROTO_PATH_MAX], p2[PROTO_PATH_MAX];
        memcpy(p1, p + 3, l1);
        p1[l1] = '\0';
        memcpy(p2, p + 5 + l1, l2);
        p2[l2] = '\0';
        enum watch_kind kind = p[0];
        proto_buf_consume(&w->in, 5 + l1 + l2);
        w->cb(w->arg, kind, p1, l2 ? p2 : NULL);
    }
    if (!proto_buf_used(&w->in) && w->in.cap > 65536)
        proto_buf_free(&w->in);   /* a burst grew it: give it back */
}

void sync_watch_drain(struct sync_watch *w)
{
    if (w)
        on_pipe(w, w->pipe_r, 0);
}

struct sync_watch *sync_watch_start(struct loop *l, const struct conf *c,
                                    const struct manifest_filter *f, watch_cb cb, void *arg)
{
    struct sync_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        free(w);
        return NULL;
    }
    w->pipe_r = p[0];
    w->pipe_w = p[1];
    fcntl(w->pipe_r, F_SETFL, O_NONBLOCK);
    fcntl(w->pipe_w, F_SETPIPE_SZ, 1024 * 1024);
    w->loop = l;
    snprintf(w->root, sizeof(w->root), "%s", c->sync_root);
    w->root_len = strlen(w->root);
    while (w->root_len > 1 && w->root[w->root_len - 1] == '/')
        w->root[--w->root_len] = '\0';
    w->paths = c->sync_paths;
    w->npaths = c->n_sync_paths;
    w->filter = f;
    w->cb = cb;
    w->arg = arg;
    loop_add_fd(l, w->pipe_r, EPOLLIN, on_pipe, w);
    if (pthread_create(&w->thread, NULL, reader, w) != 0) {
        loop_del_fd(l, w->pipe_r);
        close(p[0]);
        close(p[1]);
        free(w);
        return NULL;
    }
    return w;
}

void sync_watch_stop(struct sync_watch *w)
{
    if (!w)
        return;
    w->stop = 1;
    /* The reader may be blocked on a full pipe: keep draining until it has exited. */
    while (pthread_tryjoin_np(w->thread, NULL) == EBUSY) {
        char buf[65536];
        if (read(w->pipe_r, buf, sizeof(buf)) <= 0)
            usleep(10000);
    }
    loop_del_fd(w->loop, w->pipe_r);
    close(w->pipe_r);
    close(w->pipe_w);
    proto_buf_free(&w->in);
    free(w);
}
