/*
 * gsstsig.c: the Kerberos half of GSS-TSIG (RFC 3645) through the system's MIT Kerberos
 * GSS-API. It owns the credentials of [dns] user and one security context with the DNS
 * server; dns_gss.c owns the DNS messages that carry the tokens and MICs.
 *
 * Nothing here reads the machine's Kerberos setup: this process gets a private profile
 * (KRB5_CONFIG, set for vipctl alone, pointing at a memfd) that names the realm and the KDC
 * and turns off DNS look-ups of KDCs and realms, so a stray /etc/krb5.conf or a spoofed
 * SRV record cannot send the password elsewhere. The initial credentials live in a memory
 * credentials cache that is destroyed after the call and dies with the process anyway; the
 * password never leaves this file except as the argument of krb5_init_creds_set_password.
 * The library builds the Kerberos requests and reads the answers (the krb5_*_creds_step
 * API); kdc.c carries them, so a silent KDC costs a known, short time.
 */
#include <errno.h>
#include <fcntl.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5/krb5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gsstsig.h"
#include "kdc.h"

#define MAX_PASSWORD 1024

/* SPNEGO (RFC 4178), what Windows and Samba expect inside TKEY; Kerberos underneath. */
static gss_OID_desc spnego_oid = {6, "\x2b\x06\x01\x05\x05\x02"};

struct gsstsig_login {
    krb5_context k;
    krb5_ccache cc;                     /* MEMORY: destroyed at free, dies with the process */
    krb5_principal client;
    gss_cred_id_t cred;                 /* over cc, once it holds the server's ticket */
    char principal[CONF_STR * 2];
    char realm[CONF_STR];
    char kdc_text[CONF_STR];
    struct kdc kdc;
    int from_keytab;
    int profile_fd;
    int keytab_fd;
};

struct gsstsig_session {
    gss_ctx_id_t ctx;
    gss_name_t target;
    const struct gsstsig_login *login;
    char target_text[CONF_STR * 2];
};

void gsstsig_token_free(struct gsstsig_token *t)
{
    OM_uint32 minor;
    gss_buffer_desc b = {t->len, t->data};
    if (t->data)
        gss_release_buffer(&minor, &b);
    t->data = NULL;
    t->len = 0;
}

/* The host of "host", "host:port", "[v6]:port" (without the port: the KDC has its own). */
static void server_host(const char *server, char *out, size_t len)
{
    const char *colon = strrchr(server, ':');
    if (server[0] == '[') {
        const char *close = strchr(server, ']');
        snprintf(out, len, "%.*s", close ? (int)(close - server + 1) : 0, server);
    } else if (colon && strchr(server, ':') == colon) {
        snprintf(out, len, "%.*s", (int)(colon - server), server);
    } else if (colon) {
        snprintf(out, len, "[%s]", server); /* a bare IPv6 literal */
    } else {
        snprintf(out, len, "%s", server);
    }
}

/* The profile is text we write: a value must not be able to open a section or relation. */
static int profile_safe(const char *s)
{
    for (; *s; s++)
        if (!(*s == '.' || *s == '-' || *s == '_' || *s == ':' || *s == '[' || *s == ']' ||
              (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
            return 0;
    return 1;
}

/*
 * kdc_timesync = 0: a clock that differs from the KDC's by more than the allowed skew is
 * an error the operator must see (the product model's "same time on every server"), not
 * something the library quietly works around for the ticket while the DNS server, checking
 * with its own clock, refuses the update later.
 */
static int private_profile(struct gsstsig_login *l, const struct conf *c, char *err,
                           size_t errlen)
{
    if (*c->dns_kdc)
        snprintf(l->kdc_text, sizeof(l->kdc_text), "%s", c->dns_kdc);
    else
        server_host(c->dns_server, l->kdc_text, sizeof(l->kdc_text));
    if (!profile_safe(l->kdc_text)) {
        snprintf(err, errlen, "[dns] %s '%s': not a host[:port]", *c->dns_kdc ? "kdc" : "server",
                 l->kdc_text);
        return -1;
    }
    char text[2048];
    int n = snprintf(text, sizeof(text),
                     "[libdefaults]\n default_realm = %s\n dns_lookup_kdc = false\n"
                     " dns_lookup_realm = false\n dns_canonicalize_hostname = false\n"
                     " rdns = false\n kdc_timesync = 0\n default_ccache_name = MEMORY:vipctl\n"
                     "[realms]\n %s = {\n  kdc = %s\n }\n",
                     c->dns_realm, c->dns_realm, l->kdc_text);
    int fd = memfd_create("vipctl-krb5.conf", MFD_CLOEXEC);
    if (fd < 0 || write(fd, text, (size_t)n) != n) {
        snprintf(err, errlen, "private Kerberos profile: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    /* Only this process reads it: vipctl runs no programs. */
    setenv("KRB5_CONFIG", path, 1);
    l->profile_fd = fd;
    return 0;
}

static int import_name(const char *text, gss_name_t *out)
{
    OM_uint32 minor;
    gss_buffer_desc b = {strlen(text), (void *)text};
    return gss_import_name(&minor, &b, (gss_OID)GSS_KRB5_NT_PRINCIPAL_NAME, out) ==
                   GSS_S_COMPLETE ? 0 : -1;
}

static const char *krb5_hint(const struct gsstsig_login *l, krb5_error_code code)
{
    switch (code) {
    case KRB5KDC_ERR_PREAUTH_FAILED:
    case KRB5KRB_AP_ERR_BAD_INTEGRITY:
        return l->from_keytab ? "the keytab does not hold the account's current key "
                                "(KDC_ERR_PREAUTH_FAILED): export it again"
                              : "wrong password (KDC_ERR_PREAUTH_FAILED): check [dns] "
                                "password_file";
    case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
        return "the KDC does not know this user (KDC_ERR_C_PRINCIPAL_UNKNOWN): check [dns] "
               "user and realm";
    case KRB5KDC_ERR_CLIENT_REVOKED:
        return "the account is disabled, locked out or expired (KDC_ERR_CLIENT_REVOKED)";
    case KRB5KDC_ERR_KEY_EXP:
        return "the account's password has expired (KDC_ERR_KEY_EXPIRED): set a new one";
    case KRB5KRB_AP_ERR_SKEW:
        return "clock skew: this machine's clock and the domain controller's differ by more "
               "than Kerberos allows (KRB5KRB_AP_ERR_SKEW); both must show the same time, "
               "synchronise them (NTP against the domain controller)";
    case KRB5_REALM_UNKNOWN:
    case KRB5_REALM_CANT_RESOLVE:
    case KRB5KDC_ERR_WRONG_REALM:
        return "the KDC does not serve this realm: check [dns] realm";
    case KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN:
        return "the KDC does not know the DNS server's service principal "
               "(KDC_ERR_S_PRINCIPAL_UNKNOWN): is [dns] server a domain controller of this "
               "realm?";
    case KRB5KDC_ERR_ETYPE_NOSUPP:
        return "the KDC and this machine share no encryption type (KDC_ERR_ETYPE_NOSUPP)";
    }
    return NULL;
}

/* "what: hint" for the Kerberos errors an operator can fix, else the library's words. */
static void report_krb5(const struct gsstsig_login *l, const char *what, krb5_error_code code,
                        char *err, size_t errlen)
{
    const char *hint = krb5_hint(l, code);
    if (hint) {
        snprintf(err, errlen, "%s: %s", what, hint);
        return;
    }
    const char *text = krb5_get_error_message(l->k, code);
    snprintf(err, errlen, "%s: %s", what, text);
    krb5_free_error_message(l->k, text);
}

static void report_gss(const char *what, OM_uint32 major, OM_uint32 minor, char *err,
                       size_t errlen)
{
    char text[512] = "";
    size_t used = 0;
    OM_uint32 ctx = 0, m;
    gss_buffer_desc b;
    int type = minor ? GSS_C_MECH_CODE : GSS_C_GSS_CODE;
    do {
        if (gss_display_status(&m, minor ? minor : major, type, GSS_C_NO_OID, &ctx, &b) !=
            GSS_S_COMPLETE)
            break;
        used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%.*s", used ? "; " : "",
                                 (int)b.length, (char *)b.value);
        gss_release_buffer(&m, &b);
    } while (ctx != 0 && used < sizeof(text));
    snprintf(err, errlen, "%s: %s", what, text[0] ? text : "GSS-API failure");
}

/* Opens the keytab once, checks it there, and hands Kerberos that same open file. */
static int open_keytab(struct gsstsig_login *l, const char *path, krb5_keytab *kt, char *err,
                       size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "[dns] keytab %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO))) {
        snprintf(err, errlen, "[dns] keytab %s: %s (mode %04o)", path,
                 S_ISREG(st.st_mode) ? "accessible by group or others; chmod 600 it"
                                     : "not a regular file", (unsigned)(st.st_mode & 07777));
        close(fd);
        return -1;
    }
    l->keytab_fd = fd;
    char name[64];
    snprintf(name, sizeof(name), "FILE:/proc/self/fd/%d", fd);
    if (krb5_kt_resolve(l->k, name, kt) != 0) {
        snprintf(err, errlen, "[dns] keytab %s: not usable", path);
        return -1;
    }
    return 0;
}

/* Our own failures, already described in err; Kerberos codes are other (negative) numbers. */
#define REPORTED (-1)

typedef krb5_error_code (*step_fn)(krb5_context, void *, krb5_data *, krb5_data *, krb5_data *,
                                   unsigned int *);

static krb5_error_code as_step(krb5_context k, void *c, krb5_data *in, krb5_data *out,
                               krb5_data *realm, unsigned int *flags)
{
    return krb5_init_creds_step(k, c, in, out, realm, flags);
}

static krb5_error_code tgs_step(krb5_context k, void *c, krb5_data *in, krb5_data *out,
                                krb5_data *realm, unsigned int *flags)
{
    return krb5_tkt_creds_step(k, c, in, out, realm, flags);
}

/* Runs an exchange to its end: 0, a Kerberos error code, or REPORTED with err (KDC
 * unreachable, a referral elsewhere). */
static krb5_error_code run_steps(struct gsstsig_login *l, step_fn step, void *ctx, char *err,
                                 size_t errlen)
{
    krb5_data in = {0}, out = {0}, realm = {0};
    krb5_error_code code = 0;
    for (int round = 0; round < 8; round++) {
        unsigned int flags = 0;
        code = step(l->k, ctx, &in, &out, &realm, &flags);
        free(in.data);
        in = (krb5_data){0};
        if (code || !(flags & KRB5_INIT_CREDS_STEP_FLAG_CONTINUE))
            break;
        if (realm.length != strlen(l->realm) || memcmp(realm.data, l->realm, realm.length)) {
            snprintf(err, errlen, "the KDC refers us to realm %.*s; only %s is configured",
                     (int)realm.length, realm.data, l->realm);
            code = REPORTED;
            break;
        }
        void *rep;
        size_t replen;
        if (kdc_exchange(&l->kdc, out.data, out.length, &rep, &replen, err, errlen) < 0) {
            code = REPORTED;
            break;
        }
        in.data = rep;
        in.length = (unsigned int)replen;
        krb5_free_data_contents(l->k, &out);
        krb5_free_data_contents(l->k, &realm);
    }
    free(in.data);
    krb5_free_data_contents(l->k, &out);
    krb5_free_data_contents(l->k, &realm);
    return code;
}

static krb5_error_code set_password(struct gsstsig_login *l, const struct conf *c,
                                    krb5_init_creds_context icc, char *err, size_t errlen)
{
    char why[512], *password = malloc(MAX_PASSWORD);
    /* conf_read_secret refuses a file that group or others can read. */
    int n = password ? conf_read_secret(c->dns_password_file, password, MAX_PASSWORD, why,
                                        sizeof(why))
                     : -1;
    krb5_error_code code = REPORTED;
    if (n <= 0)
        snprintf(err, errlen, "[dns] password_file: %s", n == 0 ? "the file is empty" : why);
    else
        code = krb5_init_creds_set_password(l->k, icc, password); /* copies it */
    if (password) {
        explicit_bzero(password, MAX_PASSWORD);
        free(password);
    }
    return code;
}

/* AS exchange with the password or keytab; the TGT goes into our memory ccache. */
static int initial_creds(struct gsstsig_login *l, const struct conf *c, char *err, size_t errlen)
{
    krb5_init_creds_context icc = NULL;
    krb5_keytab kt = NULL;
    /* the keytab is checked before any Kerberos state exists: a refused one costs nothing */
    if (l->from_keytab && open_keytab(l, c->dns_keytab, &kt, err, errlen) < 0) {
        if (kt)
            krb5_kt_close(l->k, kt);
        return -1;
    }
    krb5_error_code code = krb5_init_creds_init(l->k, l->client, NULL, NULL, 0, NULL, &icc);
    if (!code && l->from_keytab)
        code = krb5_init_creds_set_keytab(l->k, icc, kt);
    else if (!code)
        code = set_password(l, c, icc, err, errlen);
    if (!code)
        code = run_steps(l, as_step, icc, err, errlen);
    krb5_creds creds;
    if (!code && (code = krb5_init_creds_get_creds(l->k, icc, &creds)) == 0) {
        code = krb5_cc_initialize(l->k, l->cc, l->client);
        if (!code)
            code = krb5_cc_store_cred(l->k, l->cc, &creds);
        krb5_free_cred_contents(l->k, &creds);
    }
    if (code && code != REPORTED)
        report_krb5(l, "Kerberos login", code, err, errlen);
    krb5_init_creds_free(l->k, icc);
    if (kt)
        krb5_kt_close(l->k, kt);
    return code ? -1 : 0;
}

struct gsstsig_login *gsstsig_login(const struct conf *c, char *err, size_t errlen)
{
    struct gsstsig_login *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->profile_fd = l->keytab_fd = -1;
    l->cred = GSS_C_NO_CREDENTIAL;
    l->from_keytab = *c->dns_keytab != '\0';
    snprintf(l->realm, sizeof(l->realm), "%s", c->dns_realm);
    if (strchr(c->dns_user, '@'))
        snprintf(l->principal, sizeof(l->principal), "%s", c->dns_user);
    else
        snprintf(l->principal, sizeof(l->principal), "%s@%s", c->dns_user, c->dns_realm);
    int rc = private_profile(l, c, err, errlen);
    if (rc == 0)
        rc = kdc_resolve(&l->kdc, l->kdc_text, err, errlen);
    if (rc == 0 && krb5_init_context(&l->k) != 0) {
        snprintf(err, errlen, "Kerberos: cannot initialise the library");
        rc = -1;
    }
    if (rc == 0 && (krb5_parse_name(l->k, l->principal, &l->client) != 0 ||
                    krb5_cc_new_unique(l->k, "MEMORY", NULL, &l->cc) != 0)) {
        snprintf(err, errlen, "[dns] user '%s': not a Kerberos principal name", c->dns_user);
        rc = -1;
    }
    if (rc == 0)
        rc = initial_creds(l, c, err, errlen);
    if (rc < 0) {
        size_t used = strlen(err);
        snprintf(err + used, errlen - used, " (user %s, KDC %s)", l->principal, l->kdc_text);
        gsstsig_login_free(l);
        return NULL;
    }
    return l;
}

/* The GSS-API credential over our ccache. SPNEGO: MIT's SPNEGO takes no bare Kerberos
 * credential (it then has no mechanism to offer). */
static int acquire_gss_cred(struct gsstsig_login *l, char *err, size_t errlen)
{
    char ccname[128];
    snprintf(ccname, sizeof(ccname), "MEMORY:%s", krb5_cc_get_name(l->k, l->cc));
    gss_key_value_element_desc el = {"ccache", ccname};
    gss_key_value_set_desc store = {1, &el};
    gss_OID_set_desc spnego_only = {1, &spnego_oid};
    gss_name_t name = GSS_C_NO_NAME;
    OM_uint32 minor, major;
    if (import_name(l->principal, &name) < 0) {
        snprintf(err, errlen, "'%s' is not a principal name", l->principal);
        return -1;
    }
    major = gss_acquire_cred_from(&minor, name, 0, &spnego_only, GSS_C_INITIATE, &store,
                                  &l->cred, NULL, NULL);
    gss_release_name(&minor, &name);
    if (major != GSS_S_COMPLETE) {
        report_gss("GSS-API credential", major, minor, err, errlen);
        return -1;
    }
    return 0;
}

/* TGS exchange for the DNS server's principal, into our ccache where GSS-API finds it
 * (so that the library never talks to the KDC by itself). */
static int service_ticket(struct gsstsig_login *l, const char *target, char *err, size_t errlen)
{
    krb5_creds in = {0};
    krb5_tkt_creds_context tcc = NULL;
    in.client = l->client;
    krb5_error_code code = krb5_parse_name(l->k, target, &in.server);
    if (!code)
        code = krb5_tkt_creds_init(l->k, l->cc, &in, 0, &tcc);
    if (!code)
        code = run_steps(l, tgs_step, tcc, err, errlen);
    if (code && code != REPORTED) {
        char what[CONF_STR * 3];
        snprintf(what, sizeof(what), "Kerberos ticket for %s", target);
        report_krb5(l, what, code, err, errlen);
    }
    krb5_tkt_creds_free(l->k, tcc);
    krb5_free_principal(l->k, in.server);
    return code ? -1 : acquire_gss_cred(l, err, errlen);
}

void gsstsig_login_free(struct gsstsig_login *l)
{
    if (!l)
        return;
    OM_uint32 minor;
    if (l->cred != GSS_C_NO_CREDENTIAL)
        gss_release_cred(&minor, &l->cred);
    if (l->k) {
        if (l->cc)
            krb5_cc_destroy(l->k, l->cc); /* the tickets go with it */
        krb5_free_principal(l->k, l->client);
        krb5_free_context(l->k);
    }
    if (l->keytab_fd >= 0)
        close(l->keytab_fd);
    if (l->profile_fd >= 0)
        close(l->profile_fd);
    free(l);
}

/* Mutual authentication proves the server's identity; integrity gives us MICs. */
static const OM_uint32 WANT_FLAGS = GSS_C_MUTUAL_FLAG | GSS_C_REPLAY_FLAG | GSS_C_INTEG_FLAG;

static int context_step(struct gsstsig_session *s, gss_buffer_t in, struct gsstsig_token *out,
                     char *err, size_t errlen)
{
    OM_uint32 minor, flags = 0;
    gss_buffer_desc o = GSS_C_EMPTY_BUFFER;
    OM_uint32 major = gss_init_sec_context(&minor, s->login->cred, &s->ctx, s->target,
                                           &spnego_oid, WANT_FLAGS, 0, GSS_C_NO_CHANNEL_BINDINGS,
                                           in, NULL, &o, &flags, NULL);
    out->data = o.value;
    out->len = o.length;
    if (GSS_ERROR(major)) {
        char what[CONF_STR * 3];
        snprintf(what, sizeof(what), "Kerberos ticket for %s", s->target_text);
        report_gss(what, major, minor, err, errlen);
        gsstsig_token_free(out);
        return -1;
    }
    if (major & GSS_S_CONTINUE_NEEDED)
        return 0;
    if ((flags & (GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG)) !=
        (GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG)) {
        snprintf(err, errlen, "%s: the security context lacks mutual authentication or "
                 "integrity", s->target_text);
        gsstsig_token_free(out);
        return -1;
    }
    return 1;
}

struct gsstsig_session *gsstsig_start(struct gsstsig_login *l, const char *target,
                                      struct gsstsig_token *out, char *err, size_t errlen)
{
    struct gsstsig_session *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->ctx = GSS_C_NO_CONTEXT;
    s->login = l;
    snprintf(s->target_text, sizeof(s->target_text), "%s", target);
    if (l->cred == GSS_C_NO_CREDENTIAL && service_ticket(l, target, err, errlen) < 0) {
        free(s);
        return NULL;
    }
    if (import_name(target, &s->target) < 0) {
        snprintf(err, errlen, "'%s' is not a Kerberos principal name", target);
        free(s);
        return NULL;
    }
    /* The first token never completes a context that asks for mutual authentication. */
    if (context_step(s, GSS_C_NO_BUFFER, out, err, errlen) != 0) {
        gsstsig_free(s);
        return NULL;
    }
    return s;
}

int gsstsig_step(struct gsstsig_session *s, const void *in, size_t inlen,
                 struct gsstsig_token *out, char *err, size_t errlen)
{
    gss_buffer_desc b = {inlen, (void *)in};
    return context_step(s, &b, out, err, errlen);
}

int gsstsig_sign(struct gsstsig_session *s, const void *buf, size_t len,
                 struct gsstsig_token *mic)
{
    OM_uint32 minor;
    gss_buffer_desc msg = {len, (void *)buf}, m = GSS_C_EMPTY_BUFFER;
    if (gss_get_mic(&minor, s->ctx, GSS_C_QOP_DEFAULT, &msg, &m) != GSS_S_COMPLETE)
        return -1;
    mic->data = m.value;
    mic->len = m.length;
    return 0;
}

int gsstsig_verify(struct gsstsig_session *s, const void *buf, size_t len, const void *mic,
                   size_t miclen)
{
    OM_uint32 minor;
    gss_buffer_desc msg = {len, (void *)buf}, m = {miclen, (void *)mic};
    /* Supplementary bits (a gap in sequence numbers after a lost datagram) are no forgery. */
    return GSS_ERROR(gss_verify_mic(&minor, s->ctx, &msg, &m, NULL)) ? -1 : 0;
}

void gsstsig_free(struct gsstsig_session *s)
{
    if (!s)
        return;
    OM_uint32 minor;
    if (s->ctx != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&minor, &s->ctx, GSS_C_NO_BUFFER);
    if (s->target != GSS_C_NO_NAME)
        gss_release_name(&minor, &s->target);
    free(s);
}
