/*
 * test_ctl.c: the control protocol (common/ctl.c): message validation, and a real
 * server on a SOCK_SEQPACKET socket answering malformed, unknown and oversized input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "ctl.h"
#include "log.h"
#include "loop.h"

static json_t *parse(const char *s, char *err, size_t len) { return ctl_parse(s, strlen(s), err, len); }

static void test_parse_valid(void **state)
{
    char err[256];
    json_t *m = parse("{\"id\":1,\"cmd\":\"status\"}", err, sizeof(err));
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "cmd")), "status");
    json_decref(m);
    m = parse("{\"event\":\"renewed\",\"epoch\":7}", err, sizeof(err));
    assert_non_null(m);
    json_decref(m);
    m = parse("{\"id\":3,\"ok\":false,\"error\":\"x\"}", err, sizeof(err));   /* a reply */
    assert_non_null(m);
    json_decref(m);
}

static void test_parse_invalid(void **state)
{
    static const struct { const char *in, *why; } bad[] = {
        {"", "empty"},
        {"not json", "malformed JSON"},
        {"[1,2,3]", "not a JSON object"},
        {"\"str\"", "expected"},
        {"{}", "neither"},
        {"{\"id\":1}", "neither"},
        {"{\"cmd\":42}", "must be strings"},
        {"{\"event\":null}", "must be strings"},
        {"{\"id\":\"x\",\"cmd\":\"status\"}", "\"id\" must be an integer"},
        {"{\"cmd\":\"a\",\"cmd\":\"b\"}", "malformed JSON"},
        {"{\"cmd\":\"status\"", "malformed JSON"},
        {"{\"cmd\":\"st\\u0000atus\"}", "malformed JSON"},
    };
    char err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        json_t *m = parse(bad[i].in, err, sizeof(err));
        if (m != NULL)
            fail_msg("accepted: %s", bad[i].in);
        if (strstr(err, bad[i].why) == NULL)
            fail_msg("'%s': error '%s' lacks '%s'", bad[i].in, err, bad[i].why);
    }
}

static void test_parse_oversized(void **state)
{
    char err[256];
    size_t n = CTL_MAX_MSG + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    assert_null(ctl_parse(big, n, err, sizeof(err)));
    assert_non_null(strstr(err, "exceeds"));
    free(big);
}

/* ---- a live server ---- */

struct srv {
    int requests;
    char last_cmd[64];
};

static void on_request(void *arg, struct ctl_conn *c, json_t *req, const char *cmd)
{
    struct srv *s = arg;
    s->requests++;
    snprintf(s->last_cmd, sizeof(s->last_cmd), "%s", cmd);
    if (strcmp(cmd, "ping") == 0)
        ctl_reply(c, req, json_pack("{s:s}", "pong", "yes"));
    else
        ctl_error(c, req, "unknown command '%s'", cmd);
}

/* A control server on a fresh socket in a temp dir, with its loop (test_server, _limits). */
struct fixture {
    char dir[32], path[128];
    struct loop *l;
    struct srv s;
    struct ctl_handlers h;
    struct ctl_server *srv;
};

static void fixture_up(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/hs-ctl-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/t.sock", f->dir);
    f->l = loop_new();
    f->h = (struct ctl_handlers){.request = on_request, .arg = &f->s};
    f->srv = ctl_server_open(f->l, f->path, 0, &f->h);
    assert_non_null(f->srv);
}

static void fixture_down(struct fixture *f)
{
    loop_once(f->l, 10);
    ctl_server_close(f->srv);
    loop_free(f->l);
    rmdir(f->dir);
}

static json_t *roundtrip(struct loop *l, int fd, const void *buf, size_t len)
{
    assert_true(send(fd, buf, len, 0) == (ssize_t)len);
    for (int i = 0; i < 20; i++) {
        loop_once(l, 10);
        json_t *m = ctl_recv(fd, 0);
        if (m)
            return m;
    }
    return NULL;
}

static void test_server(void **state)
{
    struct fixture f;
    fixture_up(&f);
    struct loop *l = f.l;
    const char *path = f.path;
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    int fd = ctl_connect(path);
    assert_true(fd >= 0);
    loop_once(l, 10);   /* accept */

    json_t *r = roundtrip(l, fd, "garbage", 7);
    assert_non_null(r);
    assert_true(json_is_false(json_object_get(r, "ok")));
    json_decref(r);

    r = roundtrip(l, fd, "{\"id\":5,\"cmd\":\"nope\"}", 21);
    assert_non_null(r);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 5);
    assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "unknown command"));
    json_decref(r);

    size_t n = CTL_MAX_MSG + 100;
    char *big = calloc(1, n);
    memset(big, 'x', n);
    r = roundtrip(l, fd, big, n);
    free(big);
    assert_non_null(r);
    assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "exceeds"));
    json_decref(r);

    r = roundtrip(l, fd, "{\"id\":6,\"cmd\":\"ping\"}", 21);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_string_equal(json_string_value(json_object_get(r, "pong")), "yes");
    json_decref(r);
    assert_int_equal(f.s.requests, 2);   /* malformed input never reached the handler */

    /* a second server on a live socket is refused; the first keeps it */
    assert_null(ctl_server_open(l, path, 0, &f.h));
    close(fd);
    fixture_down(&f);
    assert_int_equal(access(path, F_OK), -1);   /* removed on close */
}

/* A listener that never accepts (a stopped daemon) with its backlog filled. */
static int stopped_peer(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 1), 0);
    for (int i = 0; i < 64; i++) {
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            assert_int_equal(errno, EAGAIN);   /* backlog full */
            close(fd);
            return lfd;
        }
        /* left open on purpose: they fill the backlog (closed with the process) */
    }
    fail_msg("backlog never filled");
    return -1;
}

static void on_alarm(int sig) { (void)sig; }

static void async_cb(void *arg, json_t *reply, const char *err) { *(int *)arg = 1; }

static void test_stopped_peer(void **state)
{
    char dir[] = "/tmp/hs-ctl-XXXXXX", path[128], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/stopped.sock", dir);
    int lfd = stopped_peer(path);
    /* the old blocking connect hung here for ever: the alarm turns that into a failure */
    struct sigaction sa_alarm = {.sa_handler = on_alarm};   /* no SA_RESTART */
    sigaction(SIGALRM, &sa_alarm, NULL);
    alarm(5);
    int64_t t0 = now_ns();
    json_t *status = json_pack("{s:s}", "cmd", "status");
    json_t *r = ctl_call(path, status, 300, err, sizeof(err));
    int64_t took = now_ns() - t0;
    json_decref(status);
    assert_null(r);
    if (took > 3 * NS_PER_SEC)
        fail_msg("ctl_call with a 300 ms timeout took %lld ms", (long long)(took / NS_PER_MS));
    assert_non_null(strstr(err, "timed out"));
    /* on an event loop nothing waits at all: the call fails at once */
    struct loop *l = loop_new();
    int called = 0;
    t0 = now_ns();
    json_t *req = json_pack("{s:s}", "cmd", "role");
    assert_int_equal(ctl_call_async(l, path, req, NS_PER_SEC, async_cb, &called), -1);
    json_decref(req);
    assert_true(now_ns() - t0 < NS_PER_SEC);
    alarm(0);
    loop_free(l);
    close(lfd);
    unlink(path);
    rmdir(dir);
}

/* At most max_conns connections; one that stays silent is closed after the idle timeout. */
static void test_server_limits(void **state)
{
    struct fixture f;
    fixture_up(&f);
    struct loop *l = f.l;
    const char *path = f.path;
    ctl_server_limits(f.srv, 3, 200 * NS_PER_MS);
    int fds[5];
    for (int i = 0; i < 5; i++) {
        fds[i] = ctl_connect(path);
        assert_true(fds[i] >= 0);
        loop_once(l, 10);
    }
    for (int i = 0; i < 5; i++) {
        char c;
        ssize_t n = recv(fds[i], &c, 1, MSG_DONTWAIT);
        if (i < 3)
            assert_true(n < 0 && errno == EAGAIN);   /* held */
        else
            assert_int_equal(n, 0);                   /* closed at once: over the cap */
    }
    /* fds[0] talks every ~20 ms for 0.6 s, the others stay silent */
    int64_t until = now_ns() + 600 * NS_PER_MS;
    while (now_ns() < until) {
        json_t *r = roundtrip(l, fds[0], "{\"id\":1,\"cmd\":\"ping\"}", 21);
        assert_non_null(r);   /* active within the timeout: still served */
        json_decref(r);
        loop_once(l, 20);
    }
    char c;
    assert_int_equal(recv(fds[1], &c, 1, MSG_DONTWAIT), 0);   /* idle: closed */
    assert_int_equal(recv(fds[2], &c, 1, MSG_DONTWAIT), 0);
    for (int i = 0; i < 5; i++)
        close(fds[i]);
    fixture_down(&f);
}

int main(void)
{
    log_init("test_ctl", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_parse_oversized),
        cmocka_unit_test(test_server),
        cmocka_unit_test(test_stopped_peer),
        cmocka_unit_test(test_server_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
