/* mail.h: one alert mail: its text (RFC 5322) and its transfer over libcurl SMTP.
 * Used by notify.c's worker thread; nothing here keeps state between mails. */
#ifndef HS_MAIL_H
#define HS_MAIL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define MAIL_KIND_LEN    32
#define MAIL_SUBJECT_LEN 256
#define MAIL_BODY_LEN    4096

struct curl_slist;

/* What [notify] says, checked once: where to, from whom, how. */
struct mail_setup {
    char cluster[64];
    char node[64];
    char url[CONF_STR];
    char server[CONF_STR];          /* scheme://host:port, for logs: never credentials */
    const char *tls_note;           /* how the connection is protected, for the log */
    long use_ssl;                   /* CURLUSESSL_* */
    char from[CONF_STR];            /* the From header */
    char from_addr[CONF_STR];       /* the envelope sender */
    char rcpt_list[CONF_LONGSTR];   /* "a@x, b@y": the To header and the logs */
    struct curl_slist *rcpt;
    char user[CONF_STR];
    char password[CONF_STR];        /* from password_file; never logged */
    char domain[256];               /* for Message-ID */
};

struct mail {
    char kind[MAIL_KIND_LEN];
    char subject[MAIL_SUBJECT_LEN];
    char body[MAIL_BODY_LEN];
    unsigned repeats;               /* repeats of this alert that were not mailed */
    int64_t repeats_over_ns;        /* ... within this long */
    int64_t raised_wall_ns;         /* CLOCK_REALTIME: the Date header */
    unsigned seq;                   /* makes the Message-ID unique within the process */
};

/* Returns -1 with "[notify] key: why" in err on a bad address, URL or password file. */
int mail_setup_init(struct mail_setup *s, const struct conf *c, char *err, size_t errlen);
void mail_setup_clear(struct mail_setup *s);

void mail_fill(struct mail *m, const char *kind, const char *subject, const char *body,
               unsigned repeats, int64_t repeats_over_ns);

/* The message as sent: CRLF lines, headers, body, signature. Returns a malloc'd string. */
char *mail_format(const struct mail_setup *s, const struct mail *m, size_t *len);

/* One SMTP transfer, bounded by the timeouts and aborted once *give_up_at_ns (CLOCK_BOOTTIME)
 * has passed. Returns 0 if the server accepted the mail for at least one recipient (why then
 * names any it refused, else is ""); else -1 with the reason in why and *permanent set when
 * retrying cannot help (login refused, no STARTTLS, untrusted certificate, 5xx reply). */
int mail_send(const struct mail_setup *s, const struct mail *m, long connect_timeout_ms,
              long timeout_ms, const _Atomic int64_t *give_up_at_ns, char *why, size_t whylen,
              int *permanent);
/* The same, also giving the server's last reply line (the answer to the message) in answer:
 * for `vipctl test-mail`. */
int mail_send_answer(const struct mail_setup *s, const struct mail *m, long connect_timeout_ms,
                     long timeout_ms, const _Atomic int64_t *give_up_at_ns, char *answer,
                     size_t answerlen, char *why, size_t whylen, int *permanent);

#endif
