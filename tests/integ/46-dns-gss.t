#!/usr/bin/env bash
# [dns] type = microsoft against a real Samba Active Directory domain controller (provisioned
# for this run in its own namespace): GSS-TSIG (TKEY + Kerberos) moves the name to the holder
# when watchd takes over, and back when someone changes it; a wrong password, an unknown or
# disabled user, a zone or a record the account may not change, a KDC that cannot be reached,
# a DC whose clock is off, a secret file others can read, a server that refuses non-GSS
# updates, and unsigned or forged answers all fail clearly and leave the record unchanged.
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/pg.sh"
source "$HS_TOP/tests/lib/netns.sh"
source "$HS_TOP/tests/lib/samba.sh"
need "$HS_BIN/vipctl" "$HS_BIN/watchd" "$HS_BIN/heartbeatd" jq /usr/bin/python3 dig

netns_lan_setup dc a b
A=$(netns_addr4 a)
B=$(netns_addr4 b)
ZONE=hs.test
NAME=app.$ZONE
t0=$(now_ms)
samba_provision dc HS.TEST
DC=$SAMBA_ADDR
PASS='Upd-'$RANDOM$RANDOM'-pw!'
samba_tool user create hsupdate "$PASS" >/dev/null || bail "samba-tool user create failed"
samba_tool user create hsoff "$PASS" >/dev/null && samba_tool user disable hsoff >/dev/null ||
    bail "cannot create the disabled user"
# The account may not touch the zone _msdcs.hs.test: a deny ACE on the zone object.
SID=$(samba_tool user show hsupdate --attributes=objectSid | awk '/^objectSid/ {print $2}')
samba_tool dsacl set -H "$SAMBA_DIR/private/sam.ldb" \
    --objectdn="DC=_msdcs.$ZONE,CN=MicrosoftDNS,DC=ForestDnsZones,DC=hs,DC=test" \
    --sddl="(D;CI;CCDCWPWDWOSD;;;$SID)" >/dev/null || bail "samba-tool dsacl set failed"
samba_start
diag "domain controller provisioned, accounts made and started in $(( $(now_ms) - t0 )) ms"
(umask 077
 echo "$PASS" >"$T/pass"
 echo 'not-the-password' >"$T/wrong.pass")

pg_start
DB="host=$PG_SOCK port=$PG_PORT dbname=hs user=postgres"

# conf FILE NODE ADDRESS [EXTRA [dns] LINES...]
conf() {
    local f=$1 node=$2 addr=$3
    shift 3
    mkdir -p "$T/run-$node"
    cat >"$f" <<EOF
[cluster]
name = t46
node = $node
address = $addr
primary = a
database = $DB
run_dir = $T/run-$node
connection = hostname
[heartbeat]
interval = 500ms
takeover_timeout = 4s
[dns]
type = microsoft
server = $DC
zone = $ZONE
hostname = app
EOF
    local l have_user=0 have_secret=0
    for l in "$@"; do
        printf '%s\n' "$l" >>"$f"
        case $l in user*) have_user=1 ;; password_file* | keytab*) have_secret=1 ;; esac
    done
    [ $have_user = 1 ] || echo "user = hsupdate" >>"$f"
    [ $have_secret = 1 ] || echo "password_file = $T/pass" >>"$f"
}
# vipctl NODE CONF verb...: runs vipctl in NODE's namespace; stderr in $T/err
vipctl() { local n=$1 c=$2; shift 2; netns_exec "$n" "$HS_BIN/vipctl" -c "$c" "$@" 2>"$T/err"; }
records() { { samba_dig "$1" A; samba_dig "$1" AAAA; } | paste -sd' '; }
says() { grep -q -- "$1" "$T/err" || { sed 's/^/#   /' "$T/err" >&2; return 1; }; }

conf "$T/a.conf" a "$A"
conf "$T/b.conf" b "$B"
check "the config is valid (vipctl -t)" -- "$HS_BIN/vipctl" -t -c "$T/a.conf"

# --- by hand: the update, signed with GSS-TSIG, and the answer's signature checked ----------
t1=$(now_ms)
vipctl a "$T/a.conf" -d up --force
is $? 0 "a: up exits 0"
diag "one GSS-TSIG update at the DC (login, ticket, TKEY, UPDATE): $(( $(now_ms) - t1 )) ms"
is "$(records $NAME)" "$A" "the DC answers $NAME with a's address"
check "the TKEY answer and the update's answer were both verified (gss_verify_mic)" -- \
    test "$(grep -c "answer's TSIG verified" "$T/err")" = 2
check "Samba's answer signature (request MAC without its length) is recognised" -- \
    says "Samba's layout"
check "the password never appears in the output" -- bash -c "! grep -qF -- '$PASS' '$T/err'"

# --- the name follows the holder, driven by watchd -------------------------------------------
# daemon NODE NAME: starts it in NODE's namespace; its own pid (not a wrapper's) in a file.
daemon() {
    netns_exec "$1" sh -c 'echo $$ >"$0"; exec "$@"' "$T/$2-$1.pid" "$HS_BIN/$2" -c "$T/$1.conf" \
        >>"$T/$2-$1.log" 2>&1 &
    wait_for 5 test -s "$T/$2-$1.pid"
    at_exit "kill -9 $(cat "$T/$2-$1.pid") 2>/dev/null"
}
for n in a b; do
    daemon $n watchd
    daemon $n heartbeatd
done
role() { netns_exec "$1" "$HS_BIN/vipctl" -c "$T/$1.conf" status --json 2>/dev/null | jq -r '.watchd.role // "stopped"'; }
role_is() { [ "$(role "$1")" = "$2" ]; }
points_at() { [ "$(records $NAME)" = "$1" ]; }
check "a active" -- wait_for 60 role_is a active
check "b standby" -- wait_for 60 role_is b standby
check "the name points at a" -- wait_for 30 points_at "$A"

# a loses power: its daemons and anything they had started (a vipctl check) die with it.
netns_power_cut a
check "b takes over" -- wait_for 30 role_is b active
check "the name follows the holder to b" -- wait_for 30 points_at "$B"
answered=$(now_ms)
claimed=$(psql_hs "SELECT (extract(epoch FROM at)*1000)::bigint FROM hs_event
                   WHERE cluster='t46' AND node='b' AND kind='claimed' ORDER BY id DESC LIMIT 1")
ev_ms() { psql_hs "SELECT (extract(epoch FROM at)*1000)::bigint FROM hs_event
                   WHERE cluster='t46' AND node='b' AND kind='$1' ORDER BY id DESC LIMIT 1"; }
confirmed=$(ev_ms renewal-confirmed)
up_done=$(ev_ms vip-up)
[ -n "$claimed" ] && [ -n "$confirmed" ] && [ -n "$up_done" ] &&
    diag "from b's claim to the name answering b at the DC: $((answered - claimed)) ms (polled every 50 ms): first renewal $((confirmed - claimed)) ms, vipctl up done $((up_done - claimed)) ms"
check "b's watchd logged the DNS step of the promotion" -- grep -q "vipctl up" "$T/watchd-b.log"
ip -n "$(netns_ns a)" link set eth0 up   # a is back (without its daemons) for what follows
st=$(netns_exec b "$HS_BIN/vipctl" -c "$T/b.conf" status --json 2>/dev/null)
is "$(jq -r '.address.points_at_holder' <<<"$st")" true "vipctl status resolves the name at the DC: it points at the holder"

# Someone points the name elsewhere: the active's re-check (vipctl check) puts it back.
conf "$T/intruder.conf" a 192.0.2.99
noticed() { [ "$(grep -c "does not point at $B only" "$T/watchd-b.log")" -gt "$1" ]; }
before=$(grep -c "does not point at $B only" "$T/watchd-b.log")
vipctl a "$T/intruder.conf" up --force
is $? 0 "someone points the name elsewhere"
check "the active's vipctl check notices" -- wait_for 30 noticed "$before"
check "and puts the name back" -- wait_for 30 points_at "$B"
vipctl a "$T/a.conf" check
is $? 3 "vipctl check on a node that is not the holder is refused (exit 3)"
is "$(records $NAME)" "$B" "and changes nothing"
# The failures below leave the name where watchd put it; stop watchd so nothing repairs it.
kill -9 "$(cat "$T/watchd-b.pid")" "$(cat "$T/heartbeatd-b.pid")"

# fails DESCRIPTION CONF EXPECTED-TEXT: vipctl up from a fails with exit 1, says the
# expected text, and the record is unchanged.
fails() {
    local d=$1 c=$2 want=$3
    vipctl a "$c" up --force
    is $? 1 "$d: exit 1"
    check "$d: the error says '$want'" -- says "$want"
    is "$(records $NAME)" "$B" "$d: the record is unchanged"
}

conf "$T/wrong.conf" a "$A" "password_file = $T/wrong.pass"
fails "wrong password" "$T/wrong.conf" "wrong password (KDC_ERR_PREAUTH_FAILED)"
conf "$T/nouser.conf" a "$A" "user = nobody-here"
fails "unknown user" "$T/nouser.conf" "does not know this user (KDC_ERR_C_PRINCIPAL_UNKNOWN)"
conf "$T/disabled.conf" a "$A" "user = hsoff"
fails "disabled user" "$T/disabled.conf" "disabled, locked out or expired (KDC_ERR_CLIENT_REVOKED)"

# A zone the account may not change (deny ACE): Samba answers SERVFAIL where Windows
# answers REFUSED; either way the message names the missing right.
conf "$T/zone.conf" a "$A" "realm = HS.TEST"
sed -i "s/^zone = .*/zone = _msdcs.$ZONE/" "$T/zone.conf"
vipctl a "$T/zone.conf" up --force
is $? 1 "zone the account may not change: exit 1"
check "zone the account may not change: says so" -- says "SERVFAIL to the update of app._msdcs.$ZONE.*may not change"
is "$(records app._msdcs.$ZONE)" "" "zone the account may not change: no record was added"

# A record another account (the Administrator) made: ours may not replace it.
conf "$T/admin.conf" a 192.0.2.77 "user = Administrator" "password_file = $SAMBA_ADMIN_PASS_FILE"
sed -i "s/^hostname = .*/hostname = owned/" "$T/admin.conf"
vipctl a "$T/admin.conf" up --force
is $? 0 "the Administrator creates owned.$ZONE"
conf "$T/owned.conf" a "$A"
sed -i "s/^hostname = .*/hostname = owned/" "$T/owned.conf"
vipctl a "$T/owned.conf" up --force
is $? 1 "a record another account owns: exit 1"
check "a record another account owns: says the account may not change it" -- says "may not change"
is "$(records owned.$ZONE)" "192.0.2.77" "a record another account owns: unchanged"

# The KDC: a port where nothing listens, and an address where no host answers.
conf "$T/kdc-closed.conf" a "$A" "kdc = $DC:$(free_port)"
t1=$(now_ms)
fails "KDC port closed" "$T/kdc-closed.conf" "cannot reach the KDC.*after 3 attempts"
diag "KDC port closed: gave up after $(( $(now_ms) - t1 )) ms"
check "KDC port closed: gives up (no hang: well inside hook_timeout)" -- test $(( $(now_ms) - t1 )) -lt 30000
conf "$T/kdc-gone.conf" a "$A" "kdc = 192.0.2.200"
t1=$(now_ms)
fails "KDC host gone" "$T/kdc-gone.conf" "cannot reach the KDC at 192.0.2.200.*after 3 attempts"
diag "KDC host gone: gave up after $(( $(now_ms) - t1 )) ms"
check "KDC host gone: gives up (no hang: well inside hook_timeout)" -- test $(( $(now_ms) - t1 )) -lt 30000

# Secrets others can read are refused before anything is sent.
cp "$T/pass" "$T/open.pass"
chmod 644 "$T/open.pass"
conf "$T/open.conf" a "$A" "password_file = $T/open.pass"
fails "password file readable by others" "$T/open.conf" "chmod 600"

# A keytab instead of a password (samba-tool domain exportkeytab), and one others can read.
samba_tool domain exportkeytab "$T/hsupdate.keytab" --principal="hsupdate@HS.TEST" >/dev/null ||
    bail "exportkeytab failed"
chmod 600 "$T/hsupdate.keytab"
conf "$T/kt.conf" a "$A" "keytab = $T/hsupdate.keytab"
chmod 644 "$T/hsupdate.keytab"
fails "keytab readable by others" "$T/kt.conf" "chmod 600"
chmod 600 "$T/hsupdate.keytab"
vipctl a "$T/kt.conf" up --force
is $? 0 "keytab: up exits 0"
is "$(records $NAME)" "$A" "keytab: the name points at a"
netns_exec b "$HS_BIN/vipctl" -c "$T/b.conf" up --force 2>/dev/null
is "$(records $NAME)" "$B" "(back at b for the next cases)"

# type = bind against the DC: it refuses updates not signed with GSS-TSIG.
(umask 077; echo 'c2VjcmV0LXNlY3JldC1zZWNyZXQ=' >"$T/tsig.secret")
cat >"$T/bind.conf" <<EOF
[cluster]
name = t46
node = a
address = $A
database = $DB
connection = hostname
[dns]
server = $DC
zone = $ZONE
hostname = app
tsig_name = hs-key
tsig_secret_file = $T/tsig.secret
EOF
fails "HMAC TSIG (type = bind) to the DC" "$T/bind.conf" "type = microsoft"

# --- answers that do not prove they come from the DC -----------------------------------------
# A proxy in front of the DC (DNS over TCP, as vipctl speaks GSS-TSIG) passes the key
# negotiation through but answers every UPDATE itself, without passing it on: unsigned, or
# with the request's own TSIG echoed back.
proxy() {
    netns_exec dc /usr/bin/python3 -c '
import socket, sys
mode, port, dc, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def recvn(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            raise EOFError
        b += d
    return b
def recv_msg(c):
    return recvn(c, int.from_bytes(recvn(c, 2), "big"))
def send_msg(c, m):
    c.sendall(len(m).to_bytes(2, "big") + m)
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((dc, port))
srv.listen(16)
open(ready, "w").close()
while True:
    c, _ = srv.accept()
    c.settimeout(10)
    try:
        d = recv_msg(c)
        if (d[2] >> 3) & 15 == 5:          # UPDATE: never reaches the DC
            flags = bytes([d[2] | 0x80, d[3] & 0xf0])
            if mode == "unsigned":         # the zone section only: no TSIG
                p = 12
                while d[p] != 0:
                    p += 1 + d[p]
                send_msg(c, d[:2] + flags + bytes([0, 1, 0, 0, 0, 0, 0, 0]) + d[12:p + 5])
            else:                          # the request echoed: its TSIG signs the request
                send_msg(c, d[:2] + flags + d[4:])
        else:
            up = socket.create_connection((dc, 53), 10)
            send_msg(up, d)
            send_msg(c, recv_msg(up))
            up.close()
    except Exception:
        pass
    c.close()
' "$1" "$2" "$DC" "$3" >/dev/null 2>&1 &
    at_exit "kill $! 2>/dev/null"
    wait_for 10 test -e "$3" || bail "proxy did not start"
}
for mode in unsigned forged; do
    port=$(free_port)
    proxy $mode "$port" "$T/proxy-$mode.ready"
    conf "$T/$mode.conf" a "$A"
    sed -i "s/^server = .*/server = $DC:$port/" "$T/$mode.conf"
    echo "kdc = $DC" >>"$T/$mode.conf"
    want="answer's TSIG does not verify"
    [ $mode = unsigned ] && want="answer's TSIG is missing"
    fails "$mode NOERROR answer to the update" "$T/$mode.conf" "$want"
done

# --- the DC's clock ten minutes ahead (libfaketime on the DC): Kerberos says so ----------------
samba_stop
samba_start +10m
fails "DC clock 10 minutes ahead" "$T/a.conf" "clock skew.*KRB5KRB_AP_ERR_SKEW"

[ $_tap_failed -eq 0 ] || { tail -n 20 "$T/watchd-b.log" | sed 's/^/# /' >&2; }
done_testing
