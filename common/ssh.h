/*
 * ssh.h: one SSH session (libssh2) to a peer, driven step by step so that a daemon can
 * run it inside its event loop, and a blocking wrapper for commands. The host key is
 * always checked against a known_hosts file: an unknown or changed key ends the attempt
 * with an error naming the host and the file. Authentication is by key file only.
 */
#ifndef HS_SSH_H
#define HS_SSH_H

#include <stddef.h>
#include <stdint.h>
#include <libssh2.h>

struct hs_ssh_opts {
    const char *host;
    int port;
    const char *user;
    const char *key;          /* private key file (OpenSSH format, no passphrase) */
    const char *known_hosts;  /* mandatory */
    const char *command;      /* run in an exec channel once authenticated (may be NULL) */
};

enum { HS_SSH_DONE = 0, HS_SSH_AGAIN = 1, HS_SSH_ERROR = -1 };

struct hs_ssh;

/* Starts a nonblocking TCP connect. NULL with err filled on immediate failure. */
struct hs_ssh *hs_ssh_new(const struct hs_ssh_opts *o, char *err, size_t errlen);
/*
 * Advances connect -> handshake -> host key check -> auth -> channel -> exec.
 * Returns HS_SSH_AGAIN (wait for hs_ssh_events on hs_ssh_fd), HS_SSH_DONE, or
 * HS_SSH_ERROR with err filled.
 */
int hs_ssh_step(struct hs_ssh *s, char *err, size_t errlen);
int hs_ssh_fd(const struct hs_ssh *s);
/* EPOLLIN/EPOLLOUT the session waits for right now. */
uint32_t hs_ssh_events(const struct hs_ssh *s);
LIBSSH2_SESSION *hs_ssh_session(const struct hs_ssh *s);
LIBSSH2_CHANNEL *hs_ssh_channel(const struct hs_ssh *s);
void hs_ssh_free(struct hs_ssh *s);

/* The whole sequence, blocking, bounded by timeout_ms. NULL with err on failure. */
struct hs_ssh *hs_ssh_connect_wait(const struct hs_ssh_opts *o, int timeout_ms, char *err,
                                   size_t errlen);

/*
 * Runs o->command on the peer (blocking; the connect and then every wait for the peer are
 * bounded by timeout_ms): feeds it `in` (then EOF),
 * collects its stdout into *out (malloc'd, NUL-terminated; may be NULL) and the start of
 * its stderr (newlines as spaces) into err. Returns the command's exit status, or -1 with err filled
 * when the session failed (connect, host key, authentication, timeout).
 */
int hs_ssh_run(const struct hs_ssh_opts *o, const void *in, size_t inlen, char **out,
               size_t *outlen, int timeout_ms, char *err, size_t errlen);

#endif
