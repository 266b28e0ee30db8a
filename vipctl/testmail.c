/*
 * testmail.c: `vipctl test-mail`, the first thing to run after filling in [notify]: one
 * message through the configured server, in the foreground, and the server's own answer
 * (or why it refused) on the terminal. Same settings and transfer as the daemons' alerts
 * (common/mail.c), so what works here works for them.
 */
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "mail.h"
#include "vipctl.h"

int verb_test_mail(const struct conf *c)
{
    char err[1024], why[CURL_ERROR_SIZE + 512] = "", answer[512] = "", body[1024], when[64];
    if (!*c->email) {
        fprintf(stderr, "vipctl: %s: [notify] email is not set: alerts are only logged\n",
                c->path);
        return EXIT_USAGE;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "vipctl: test-mail: libcurl initialisation failed\n");
        return EXIT_FAILED;
    }
    static struct mail_setup s;
    static struct mail m;
    if (mail_setup_init(&s, c, err, sizeof(err)) < 0) {
        fprintf(stderr, "vipctl: %s: %s\n", c->path, err);
        curl_global_cleanup();
        return EXIT_USAGE;
    }
    time_t t = time(NULL);
    struct tm tm;
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
    snprintf(body, sizeof(body),
             "This is a test of the alert mail of cluster %s, sent by `vipctl test-mail` on "
             "node %s at %s.\nIf you read this, hotstandby's alerts reach you.\n",
             c->cluster, c->node, when);
    char subject[200];
    snprintf(subject, sizeof(subject), "test-mail on %s", c->node);
    mail_fill(&m, "test-mail", subject, body, 0, 0);
    printf("sending a test mail to %s via %s%s\n", s.rcpt_list, s.server, s.tls_note);
    fflush(stdout);
    _Atomic int64_t never = INT64_MAX;
    int permanent = 0;
    int rc = mail_send_answer(&s, &m, 5000, 20000, &never, answer, sizeof(answer), why,
                              sizeof(why), &permanent);
    if (rc == 0) {
        printf("server answered: %s\n", *answer ? answer : "(nothing)");
        if (*why)
            printf("but: %s\n", why);
    } else {
        fprintf(stderr, "vipctl: test-mail: not sent: %s\n", why);
        if (*answer)
            fprintf(stderr, "vipctl: test-mail: the server's last reply: %s\n", answer);
    }
    mail_setup_clear(&s);
    curl_global_cleanup();
    return rc == 0 ? EXIT_DONE : EXIT_FAILED;
}
