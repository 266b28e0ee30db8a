#!/usr/bin/env bash
# [dns] type = microsoft against the other real GSS-TSIG server: BIND named with
# tkey-gssapi-keytab and an MIT Kerberos KDC, on 127.0.0.1. BIND signs its answers as
# RFC 8945 says (request MAC with its length), the layout Samba does not use: this test is
# what proves vipctl verifies that one too. Also: a principal update-policy does not grant
# is REFUSED, a wrong password is named, and a server whose principal has no key in the
# KDC is named; the record is unchanged each time. `vipctl test-dns` logs in and negotiates
# a key, nothing more.
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/mitkdc.sh"
need "$HS_BIN/vipctl"

ZONE=example.test
REALM=EXAMPLE.TEST
mitkdc_start $REALM
PASS="Upd-$RANDOM$RANDOM"
mitkdc_addprinc hsupdate "$PASS"
mitkdc_addprinc intruder "$PASS"
mitkdc_addprinc DNS/ns.$ZONE
mitkdc_ktadd "$T/dns.keytab" DNS/ns.$ZONE
named_gss_start $ZONE DNS/ns.$ZONE "$T/dns.keytab" "hsupdate@$REALM"
(umask 077
 echo "$PASS" >"$T/pass"
 echo "not-$PASS" >"$T/wrong.pass")

# conf FILE ADDRESS [EXTRA [dns] LINES...]
conf() {
    local f=$1 addr=$2 l
    shift 2
    cat >"$f" <<EOF
[cluster]
name = t47
node = a
address = $addr
database = host=/nonexistent
connection = hostname
[dns]
type = microsoft
server = $GSSNAMED_SERVER
zone = $ZONE
hostname = app
kdc = $MITKDC_ADDR
EOF
    for l in "$@"; do printf '%s\n' "$l" >>"$f"; done
}
vipctl() { "$HS_BIN/vipctl" -c "$@" 2>"$T/err"; }
records() { { gssnamed_query app.$ZONE A; gssnamed_query app.$ZONE AAAA; } | paste -sd' '; }
says() { grep -q -- "$1" "$T/err" || { sed 's/^/#   /' "$T/err" >&2; return 1; }; }

conf "$T/a.conf" 192.0.2.21 "user = hsupdate" "password_file = $T/pass"
vipctl "$T/a.conf" -d up --force
is $? 0 "up exits 0"
is "$(records)" "192.0.2.21" "named answers app.$ZONE with the address"
check "the update's answer verified in the RFC 8945 layout" -- says "verified (RFC 8945 layout)"
check "named logged the update under the Kerberos principal" -- \
    grep -q "key hsupdate.@$REALM: updating zone '$ZONE/IN'" "$GSSNAMED_DIR/named.log"
conf "$T/a6.conf" 2001:db8::21 "user = hsupdate@$REALM" "password_file = $T/pass"
vipctl "$T/a6.conf" up --force
is $? 0 "user given as user@REALM, IPv6 address: up exits 0"
is "$(records)" "2001:db8::21" "the A record is replaced by the AAAA record"
t0=$(now_ms)
vipctl "$T/a.conf" up --force
diag "one GSS-TSIG update (login, ticket, TKEY, UPDATE): $(( $(now_ms) - t0 )) ms"
is "$(records)" "192.0.2.21" "back to IPv4"

vipctl "$T/a.conf" test-dns >"$T/out"
is $? 0 "test-dns: the Kerberos login and the key negotiation succeed"
check "and it says so" -- grep -q "accepts the Kerberos login of hsupdate (GSS-TSIG key negotiated)" "$T/out"

fails() {
    local d=$1 c=$2 want=$3
    vipctl "$c" up --force
    is $? 1 "$d: exit 1"
    check "$d: the error says '$want'" -- says "$want"
    is "$(records)" "192.0.2.21" "$d: the record is unchanged"
}
conf "$T/intruder.conf" 192.0.2.66 "user = intruder" "password_file = $T/pass"
fails "a principal update-policy does not grant" "$T/intruder.conf" "answered REFUSED.*may not change this name"
conf "$T/wrong.conf" 192.0.2.66 "user = hsupdate" "password_file = $T/wrong.pass"
fails "wrong password" "$T/wrong.conf" "wrong password (KDC_ERR_PREAUTH_FAILED)"
vipctl "$T/wrong.conf" test-dns >/dev/null
is $? 1 "test-dns with a wrong password: exit 1"
check "naming it" -- says "wrong password (KDC_ERR_PREAUTH_FAILED)"
conf "$T/noprinc.conf" 192.0.2.66 "user = hsupdate" "password_file = $T/pass"
# server given by a name: the principal is DNS/localhost, which the KDC does not know
sed -i "s/^server = .*/server = localhost:$GSSNAMED_PORT/" "$T/noprinc.conf"
fails "a server without a principal in the KDC" "$T/noprinc.conf" "KDC_ERR_S_PRINCIPAL_UNKNOWN"

done_testing
