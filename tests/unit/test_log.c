/*
 * test_log.c: common/log.c. A peer's text cannot forge a line of its own (control
 * characters escaped), and a line repeated in a tight loop is rate-limited.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* Runs fn with stderr sent to a temporary file; returns what it wrote (caller frees). */
static char *capture(void (*fn)(void))
{
    char path[] = "/tmp/hs-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    int saved = dup(2);
    dup2(fd, 2);
    fn();
    dup2(saved, 2);
    close(saved);
    off_t len = lseek(fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)len + 1);
    assert_int_equal(pread(fd, buf, (size_t)len, 0), len);
    close(fd);
    return buf;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void forged(void)
{
    log_warnx("peer %s said: %s", "node\n<0>syncd: FORGED", "bad\r\x1b[31mred\x7f");
    errno = EACCES;
    log_warn("open %s", "/srv/x\n<0>syncd: FORGED2");
}

static void test_escape_forged_lines(void **state)
{
    char *out = capture(forged);
    assert_int_equal(count_lines(out), 2);   /* one line per message, never more */
    assert_null(strstr(out, "\n<0>"));
    assert_non_null(strstr(out, "node\\n<0>syncd: FORGED"));
    assert_non_null(strstr(out, "bad\\r\\x1b[31mred\\x7f"));
    assert_non_null(strstr(out, "FORGED2: Permission denied\n"));
    assert_int_equal(strncmp(out, "<4>test_log: peer ", 18), 0);
    free(out);
}

static void test_escape_bounds(void **state)
{
    char out[8];
    assert_int_equal(log_escape(out, sizeof(out), "ab\ncd\x01"), 6);
    assert_string_equal(out, "ab\\ncd");   /* \x01 would not fit whole: left out */
    assert_int_equal(log_escape(out, sizeof(out), "héllo"), 6);
    assert_string_equal(out, "héllo");   /* UTF-8 passes unchanged */
}

static void flood(void)
{
    for (int i = 0; i < 100000; i++)
        log_warnx("control: accept on /run/x.sock (attempt %d): Too many open files", i);
    log_info("a different line still gets through");
}

static void test_rate_limit(void **state)
{
    char *out = capture(flood);
    int lines = count_lines(out);
    if (lines > 20)
        fail_msg("%d lines written for 100000 repeats", lines);
    assert_non_null(strstr(out, "attempt 0)"));
    assert_non_null(strstr(out, "a different line still gets through"));
    free(out);
}

int main(void)
{
    log_init("test_log", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_forged_lines),
        cmocka_unit_test(test_escape_bounds),
        cmocka_unit_test(test_rate_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
