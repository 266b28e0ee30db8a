/* test_loop.c: the event loop (common/loop.c) when a file outlives its registration.
 *
 * epoll keys a registration on the open file, not on the fd number: a socket closed by
 * libpq (moving to the next host of a multi-host conninfo) while a forked child still
 * holds a copy keeps its registration, and the new socket that takes the same number
 * gets a second one. After the loop forgets the fd, the old registration can still
 * report (a refused connect is EPOLLERR|EPOLLHUP at once). The drill found watchd
 * reading a freed registration that way at a database restart (seed 20261202, fault 8,
 * ASan heap-use-after-free in loop_once). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"

static int calls_a, calls_b;
static void on_a(void *arg, int fd, uint32_t events) { calls_a++; }
static void on_b(void *arg, int fd, uint32_t events) { calls_b++; }

/* The registration of a file that another holder keeps open outlives loop_del_fd. */
static void test_stale_registration_ignored(void **state)
{
    struct loop *l = loop_new();
    assert_non_null(l);
    int p1[2], p2[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p1), 0);
    int fd = p1[0];
    assert_int_equal(loop_add_fd(l, fd, EPOLLIN, on_a, NULL), 0);
    int child_copy = dup(fd);   /* what a forked, not yet exec'd child holds */
    close(fd);                  /* libpq drops the socket ... */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p2), 0);
    if (p2[0] != fd) {          /* ... and the next one takes the same number */
        assert_int_equal(dup2(p2[0], fd), fd);
        close(p2[0]);
    }
    assert_int_equal(loop_mod_fd(l, fd, EPOLLIN), 0);   /* re-added: now two registrations */
    loop_del_fd(l, fd);                                  /* the connection is dropped */
    assert_int_equal(loop_once(l, 0), 0);                /* the registration is freed */

    /* A new registration on the same number, then the old file becomes readable. */
    assert_int_equal(loop_add_fd(l, fd, EPOLLIN, on_b, NULL), 0);
    assert_int_equal(write(p1[1], "x", 1), 1);
    for (int i = 0; i < 3; i++)
        loop_once(l, 10);
    assert_int_equal(calls_a, 0);   /* the old callback is gone with its registration */
    assert_int_equal(calls_b, 0);   /* and the new one must not get the old file's events */

    assert_int_equal(write(p2[1], "y", 1), 1);   /* the new file's own event still arrives */
    loop_once(l, 100);
    assert_int_equal(calls_b, 1);

    loop_del_fd(l, fd);
    close(fd);
    close(child_copy);
    close(p1[1]);
    close(p2[1]);
    loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stale_registration_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
