/*
 * testdns.c: `vipctl test-dns`, the first thing to run after filling in [dns], and what
 * `hotstandby-clone preflight` runs for connection = hostname: one harmless signed
 * exchange with [dns] server through the same code as the update (dns.c, dns_gss.c) — a
 * query for the zone's SOA signed with the TSIG key, or for type = microsoft the Kerberos
 * login and the GSS-TSIG key negotiation — and the server's verdict on the key. Nothing
 * on the server changes.
 */
#include <stdio.h>
#include <string.h>

#include "address.h"
#include "vipctl.h"

int verb_test_dns(const struct conf *c)
{
    if (c->connection != CONN_HOSTNAME) {
        fprintf(stderr, "vipctl: %s: connection = %s: no DNS server to test\n", c->path,
                connection_name(c->connection));
        return EXIT_USAGE;
    }
    char msg[1024];
    int rc = !strcmp(c->dns_type, "microsoft") ? dns_gss_check(c, msg, sizeof(msg))
                                               : dns_check(c, msg, sizeof(msg));
    if (rc == 0) {
        printf("%s\n", msg);
        return EXIT_DONE;
    }
    fprintf(stderr, "vipctl: %s\n", msg);
    return EXIT_FAILED;
}
