#!/usr/bin/env bash
# connection = hostname against a real BIND named: RFC 2136 UPDATE signed with TSIG moves
# the name to the new holder (checked with dig); a wrong secret, a key the zone refuses,
# a dead server and a secret file others can read all fail clearly and change nothing.
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/named.sh"
need "$HS_BIN/vipctl" /usr/bin/python3

ZONE=hs.test
NAME=app.$ZONE
named_start $ZONE

# conf FILE NODE ADDRESS [server [key [secret_file]]]
conf() {
    cat >"$1" <<EOF
[cluster]
name = t42
node = $2
address = $3
database = host=/nonexistent
connection = hostname
[dns]
server = ${4:-$NAMED_SERVER}
zone = $ZONE
hostname = app
tsig_name = ${5:-$NAMED_KEY}
tsig_secret_file = ${6:-$NAMED_SECRET_FILE}
EOF
}
vipctl() { "$HS_BIN/vipctl" -c "$@" 2>"$T/err"; }
records() { { named_query $NAME A; named_query $NAME AAAA; } | paste -sd' '; }

conf "$T/a.conf" a 192.0.2.21
conf "$T/b.conf" b 192.0.2.22
conf "$T/b6.conf" b 2001:db8::22

# --- the name follows the holder ----------------------------------------------------------
vipctl "$T/a.conf" up --force
is $? 0 "a: up exits 0"
is "$(records)" "192.0.2.21" "dig: $NAME points at a"
is "$(dig +noall +answer -p "$NAMED_PORT" @127.0.0.1 $NAME A | awk '{print $2}')" 30 \
    "the record carries the default ttl (30 s)"
vipctl "$T/b.conf" up --force
is $? 0 "b: up (takeover) exits 0"
is "$(records)" "192.0.2.22" "dig: $NAME points at b only (a's record deleted)"
conf "$T/b-v6server.conf" b 192.0.2.22 "[::1]:$NAMED_PORT"
vipctl "$T/b-v6server.conf" up --force
is $? 0 "server given as [::1]:port: up exits 0"
is "$(records)" "192.0.2.22" "up twice (the second over IPv6): the same single record"
vipctl "$T/b6.conf" up --force
is $? 0 "b: up with an IPv6 node address exits 0"
is "$(records)" "2001:db8::22" "dig: AAAA at b, the A record is gone"
vipctl "$T/b.conf" up --force
is "$(records)" "192.0.2.22" "back to IPv4: the AAAA record is gone"
check "named logged a TSIG-signed update from our key" -- \
    grep -q "key $NAMED_KEY: updating zone '$ZONE/IN'" "$NAMED_DIR/named.log"
conf "$T/a512.conf" a 192.0.2.21 "$NAMED_SERVER" "$NAMED_KEY512" "$NAMED_SECRET512_FILE"
echo 'tsig_algorithm = hmac-sha512' >>"$T/a512.conf"
vipctl "$T/a512.conf" up --force
is $? 0 "hmac-sha512 key: up exits 0"
is "$(records)" "192.0.2.21" "hmac-sha512 key: the name points at a"
vipctl "$T/b.conf" up --force

# --- wrong secret ---------------------------------------------------------------------
(umask 077; echo 'd3JvbmctYnV0LXZhbGlkLWJhc2U2NA==' >"$T/wrong.secret")
conf "$T/wrong.conf" a 192.0.2.21 "$NAMED_SERVER" "$NAMED_KEY" "$T/wrong.secret"
vipctl "$T/wrong.conf" up --force
is $? 1 "wrong secret: exit 1"
check "wrong secret: the error names the TSIG failure" -- grep -q "NOTAUTH, TSIG error BADSIG" "$T/err"
is "$(records)" "192.0.2.22" "wrong secret: the record is unchanged"

# --- a key the zone does not allow --------------------------------------------------------
conf "$T/denied.conf" a 192.0.2.21 "$NAMED_SERVER" "$NAMED_DENIED_KEY" "$NAMED_DENIED_SECRET_FILE"
vipctl "$T/denied.conf" up --force
is $? 1 "key not allowed by the zone: exit 1"
check "key not allowed: the error says REFUSED and why" -- grep -q "answered REFUSED: .*allow-update" "$T/err"
is "$(records)" "192.0.2.22" "key not allowed: the record is unchanged"

# --- dead servers: a UDP sink that never answers, and a port nobody listens on -------------
sink_port=$(free_port)
/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[2] + ".ready", "w").close()
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        d, _ = s.recvfrom(65535)
        f.write("%d\n" % len(d))
' "$sink_port" "$T/sink" &
sink_pid=$!
at_exit "kill $sink_pid"
wait_for 10 test -e "$T/sink.ready" || bail "UDP sink did not start"

conf "$T/silent.conf" a 192.0.2.21 "127.0.0.1:$sink_port"
t0=$(now_ms)
vipctl "$T/silent.conf" up --force
rc=$?
t1=$(now_ms)
is $rc 1 "server that never answers: exit 1"
check "server that never answers: a timeout error naming the server" -- \
    grep -q "DNS server 127.0.0.1:$sink_port: no answer after 3 attempts" "$T/err"
diag "gave up after $((t1 - t0)) ms"
check "server that never answers: gives up within 5 s" -- test $((t1 - t0)) -lt 5000
is "$(wc -l <"$T/sink")" 3 "server that never answers: exactly 3 attempts were sent"

closed=$(free_port)
conf "$T/closed.conf" a 192.0.2.21 "127.0.0.1:$closed"
t0=$(now_ms)
vipctl "$T/closed.conf" up --force
rc=$?
t1=$(now_ms)
is $rc 1 "nothing listening: exit 1"
check "nothing listening: says so" -- grep -q "nothing listening" "$T/err"
check "nothing listening: gives up within 5 s" -- test $((t1 - t0)) -lt 5000

# --- an answer that does not prove it came from the key holder ----------------------------
# A forger that echoes every request back as a NOERROR answer: its TSIG is the request's,
# not a signature over the answer, so it must not verify.
forge_port=$(free_port)
/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[2], "w").close()
while True:
    d, peer = s.recvfrom(65535)
    s.sendto(d[:2] + bytes([d[2] | 0x80, d[3] & 0xf0]) + d[4:], peer)
' "$forge_port" "$T/forge.ready" &
forge_pid=$!
at_exit "kill $forge_pid"
wait_for 10 test -e "$T/forge.ready" || bail "forger did not start"
conf "$T/forged.conf" a 192.0.2.21 "127.0.0.1:$forge_port"
vipctl "$T/forged.conf" up --force
is $? 1 "forged NOERROR answer: exit 1"
check "forged NOERROR answer: the answer's TSIG does not verify" -- grep -q "TSIG does not verify" "$T/err"

# --- a secret others can read is refused before anything is sent ---------------------------
cp "$NAMED_SECRET_FILE" "$T/open.secret"
chmod 644 "$T/open.secret"
conf "$T/open.conf" a 192.0.2.21 "127.0.0.1:$sink_port" "$NAMED_KEY" "$T/open.secret"
: >"$T/sink"
vipctl "$T/open.conf" up --force
rc=$?
check "secret file readable by others: non-zero exit" -- test $rc -ne 0
check "secret file readable by others: the error says chmod 600" -- grep -q "chmod 600" "$T/err"
sleep 0.3
is "$(wc -l <"$T/sink")" 0 "secret file readable by others: nothing was sent"
check "the secret never appears in the error output" -- \
    bash -c "! grep -qF -- '$(cat "$NAMED_SECRET_FILE")' '$T/err'"

# --- a secret that is not base64 of 1..512 bytes ------------------------------------------
(umask 077; echo 'not base64!' >"$T/bad.secret")
conf "$T/bad.conf" a 192.0.2.21 "127.0.0.1:$sink_port" "$NAMED_KEY" "$T/bad.secret"
vipctl "$T/bad.conf" up --force
check "secret that is not base64: non-zero exit" -- test $? -ne 0
check "secret that is not base64: says so" -- grep -q "not base64" "$T/err"
is "$(wc -l <"$T/sink")" 0 "secret that is not base64: nothing was sent"

# --- down leaves the record (the next holder's up replaces it) ------------------------------
vipctl "$T/b.conf" down
is $? 0 "down exits 0"
is "$(records)" "192.0.2.22" "down leaves the record in place"

vipctl "$T/b.conf" garp
is $? 2 "garp with connection = hostname is a usage error (exit 2)"

done_testing
