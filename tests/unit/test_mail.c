/*
 * test_mail.c: one alert mail (common/mail.c) without a server: the [notify] settings it
 * accepts and refuses, and the message text (headers, CRLF, no header injection, RFC 2047
 * subjects, line limits, the repeat count). Delivery itself is tests/integ/60-alerts.t.
 */
#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "conf.h"
#include "mail.h"

static struct conf conf;        /* large: keep it off the stack */
static struct mail_setup setup;
static struct mail mail;
static char err[1024];

static void base_conf(void)
{
    conf_defaults(&conf);
    snprintf(conf.cluster, sizeof(conf.cluster), "prod");
    snprintf(conf.node, sizeof(conf.node), "node-a");
    snprintf(conf.email, sizeof(conf.email), " ops@example.test ,oncall@example.test,");
    snprintf(conf.smtp_url, sizeof(conf.smtp_url), "smtp://mail.example.test:587");
    snprintf(conf.mail_from, sizeof(conf.mail_from), "HS <hs@example.test>");
}

static int setup_with(void)
{
    memset(err, 0, sizeof(err));
    return mail_setup_init(&setup, &conf, err, sizeof(err));
}

static void refused(const char *want)
{
    assert_int_equal(setup_with(), -1);
    if (!strstr(err, want))
        fail_msg("error '%s' does not contain '%s'", err, want);
}

static void test_setup_accepts(void **state)
{
    base_conf();
    assert_int_equal(setup_with(), 0);
    assert_string_equal(setup.rcpt_list, "ops@example.test, oncall@example.test");
    assert_string_equal(setup.from_addr, "hs@example.test");
    assert_string_equal(setup.server, "smtp://mail.example.test:587");
    assert_int_equal(setup.use_ssl, CURLUSESSL_ALL);       /* starttls defaults to yes */
    assert_non_null(setup.rcpt);
    assert_string_equal(setup.rcpt->data, "<ops@example.test>");
    assert_string_equal(setup.rcpt->next->data, "<oncall@example.test>");
    assert_null(setup.rcpt->next->next);
    mail_setup_clear(&setup);

    conf.starttls = 0;
    conf.mail_from[0] = '\0';
    assert_int_equal(setup_with(), 0);
    assert_int_equal(setup.use_ssl, CURLUSESSL_NONE);
    assert_true(!strncmp(setup.from, "hotstandby@", 11));
    mail_setup_clear(&setup);

    snprintf(conf.smtp_url, sizeof(conf.smtp_url), "smtps://mail.example.test");
    assert_int_equal(setup_with(), 0);
    assert_string_equal(setup.server, "smtps://mail.example.test:465");
    assert_int_equal(setup.use_ssl, CURLUSESSL_ALL);
    mail_setup_clear(&setup);
}

static void test_setup_refuses(void **state)
{
    base_conf();
    snprintf(conf.smtp_url, sizeof(conf.smtp_url), "http://mail.example.test");
    refused("[notify] smtp_url: 'http://mail.example.test' is not smtp://");
    base_conf();
    snprintf(conf.smtp_url, sizeof(conf.smtp_url), "smtp://u:pw@mail.example.test");
    refused("must not contain a password");
    base_conf();
    snprintf(conf.email, sizeof(conf.email), "ops@example.test, <evil>@x");
    refused("[notify] email: '<evil>@x' is not an e-mail address");
    base_conf();
    snprintf(conf.email, sizeof(conf.email), " , ");
    refused("[notify] email: no address");
    base_conf();
    snprintf(conf.mail_from, sizeof(conf.mail_from), "nobody");
    refused("[notify] from: 'nobody' is not an e-mail address");
    base_conf();
    snprintf(conf.password_file, sizeof(conf.password_file), "/nonexistent/pw");
    refused("[notify] password_file: set, but user is empty");
    snprintf(conf.smtp_user, sizeof(conf.smtp_user), "hs");
    refused("[notify] password_file: /nonexistent/pw: No such file");
}

static void test_password_file(void **state)
{
    char path[] = "/tmp/test_mail.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cret\n", 7), 7);
    close(fd);
    base_conf();
    snprintf(conf.smtp_user, sizeof(conf.smtp_user), "hs");
    snprintf(conf.password_file, sizeof(conf.password_file), "%s", path);
    assert_int_equal(setup_with(), 0);           /* mkstemp makes it 0600 */
    assert_string_equal(setup.password, "s3cret");
    mail_setup_clear(&setup);
    assert_string_equal(setup.password, "");     /* wiped */
    chmod(path, 0640);
    refused("accessible by group or others (mode 0640)");
    unlink(path);
}

/* The formatted message of the current `mail` with the base settings. */
static char *format(void)
{
    base_conf();
    assert_int_equal(setup_with(), 0);
    size_t len = 0;
    char *text = mail_format(&setup, &mail, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    mail_setup_clear(&setup);
    return text;
}

/* Every line ends in CRLF and is within SMTP's 1000-octet limit. */
static void assert_smtp_lines(const char *text)
{
    const char *line = text;
    for (const char *p = text; *p; p++) {
        if (*p == '\n') {
            assert_true(p > text && p[-1] == '\r');
            assert_true(p - line + 1 <= 1000);
            line = p + 1;
        }
    }
    assert_true(*line == '\0');
}

static void test_format(void **state)
{
    mail_fill(&mail, "takeover", "takeover by node-a", "line 1\nline 2\n", 0, 0);
    mail.seq = 7;
    char *t = format();
    assert_smtp_lines(t);
    assert_non_null(strstr(t, "\r\nSubject: [hotstandby] prod: takeover by node-a\r\n"));
    assert_non_null(strstr(t, "\r\nFrom: HS <hs@example.test>\r\n"));
    assert_non_null(strstr(t, "\r\nTo: ops@example.test, oncall@example.test\r\n"));
    assert_true(!strncmp(t, "Date: ", 6));
    assert_non_null(strstr(t, "\r\nMessage-ID: <"));
    assert_non_null(strstr(t, ".7.hotstandby@"));
    assert_non_null(strstr(t, "\r\nX-Hotstandby-Kind: takeover\r\n"));
    assert_non_null(strstr(t, "\r\n\r\nline 1\r\nline 2\r\n"));
    assert_non_null(strstr(t, "node node-a, cluster prod"));
    free(t);
}

static void test_no_header_injection(void **state)
{
    mail_fill(&mail, "kind\r\nBcc: x@evil", "subject\r\nBcc: victim@example.test", "b", 0, 0);
    char *t = format();
    assert_smtp_lines(t);
    assert_null(strstr(t, "\r\nBcc:"));
    assert_non_null(strstr(t, "Subject: [hotstandby] prod: subject  Bcc: victim@example.test\r\n"));
    free(t);
}

static void test_utf8_subject(void **state)
{
    mail_fill(&mail, "k", "Übernahme durch Knoten ä — ein sehr langer Betreff, der gefaltet wird",
              "b", 0, 0);
    char *t = format();
    assert_smtp_lines(t);
    char *s = strstr(t, "\r\nSubject: =?UTF-8?B?");
    assert_non_null(s);
    /* Folded into encoded words of at most 75 octets, continuation lines start with a space. */
    char *end = strstr(s + 2, "\r\n");
    assert_true(end - (s + 2) <= 76 + 9);
    assert_true(end[2] == ' ');
    free(t);
}

static void test_long_line_and_repeats(void **state)
{
    char body[3000];
    memset(body, 'x', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    mail_fill(&mail, "k", "flapping", body, 4, 59 * NS_PER_SEC);
    char *t = format();
    assert_smtp_lines(t);
    assert_non_null(strstr(t, "Subject: [hotstandby] prod: flapping (repeated 4x)\r\n"));
    assert_non_null(strstr(t, "raised 4 more time(s) in the last 59 s"));
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_accepts),
        cmocka_unit_test(test_setup_refuses),
        cmocka_unit_test(test_password_file),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_no_header_injection),
        cmocka_unit_test(test_utf8_subject),
        cmocka_unit_test(test_long_line_and_repeats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
