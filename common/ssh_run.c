/*
 * ssh_run.c: one command over SSH, blocking: the operator tools' use of common/ssh.c
 * (hotstandby-clone copies files and runs commands on a peer this way). The session is
 * the same one syncd uses, so the host key is verified the same way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ssh.h"

struct run {
    struct hs_ssh *s;
    LIBSSH2_CHANNEL *ch;
    const char *in;
    size_t inlen, sent;
    char *out;
    size_t outlen, outcap;
    char errline[256];
    size_t errlen;
};

static int append(struct run *r, const char *buf, size_t n)
{
    if (r->outlen + n + 1 > r->outcap) {
        size_t cap = (r->outlen + n + 1) * 2;
        char *nb = realloc(r->out, cap);
        if (!nb)
            return -1;
        r->out = nb;
        r->outcap = cap;
    }
    memcpy(r->out + r->outlen, buf, n);
    r->outlen += n;
    r->out[r->outlen] = '\0';
    return 0;
}

/*
 * After the connect, the session runs in blocking mode with libssh2's own timeout on
 * every call: stdin is written whole (the commands used this way read their input
 * before they write), then stdout and stderr are read to the end.
 */
static int exchange(struct run *r)
{
    char buf[65536];
    ssize_t n;
    while (r->sent < r->inlen) {
        n = libssh2_channel_write(r->ch, r->in + r->sent, r->inlen - r->sent);
        if (n < 0)
            return -1;
        r->sent += (size_t)n;
    }
    if (libssh2_channel_send_eof(r->ch) < 0)
        return -1;
    while ((n = libssh2_channel_read(r->ch, buf, sizeof(buf))) > 0)
        if (append(r, buf, (size_t)n) < 0)
            return -1;
    if (n < 0)
        return -1;
    while ((n = libssh2_channel_read_stderr(r->ch, buf, sizeof(buf))) > 0)
        for (ssize_t i = 0; i < n && r->errlen + 1 < sizeof(r->errline); i++)
            r->errline[r->errlen++] = buf[i] == '\n' ? ' ' : buf[i];
    if (n < 0)
        return -1;
    libssh2_channel_close(r->ch);
    libssh2_channel_wait_closed(r->ch);
    return 0;
}

int hs_ssh_run(const struct hs_ssh_opts *o, const void *in, size_t inlen, char **out,
               size_t *outlen, int timeout_ms, char *err, size_t errlen)
{
    struct run r = {.in = in, .inlen = in ? inlen : 0};
    r.s = hs_ssh_connect_wait(o, timeout_ms, err, errlen);
    if (!r.s)
        return -1;
    r.ch = hs_ssh_channel(r.s);
    LIBSSH2_SESSION *sess = hs_ssh_session(r.s);
    /* every wait for the peer is bounded by timeout_ms (a big file takes many waits) */
    libssh2_session_set_timeout(sess, timeout_ms);
    libssh2_session_set_blocking(sess, 1);
    int status = -1;
    if (exchange(&r) == 0) {
        status = libssh2_channel_get_exit_status(r.ch);
        snprintf(err, errlen, "%s", r.errline);
    } else {
        char *msg = NULL;
        libssh2_session_last_error(sess, &msg, NULL, 0);
        snprintf(err, errlen, "%s: %s (after %zu of %zu bytes of input): %.200s", o->host,
                 msg ? msg : "failed", r.sent, r.inlen, o->command);
    }
    hs_ssh_free(r.s);
    if (out && status >= 0) {
        *out = r.out ? r.out : strdup("");
        if (outlen)
            *outlen = r.outlen;
    } else {
        free(r.out);
    }
    return status;
}
