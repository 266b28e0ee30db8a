#!/usr/bin/env bash
# A spoofed DNS answer (issue 9, point 13): an unsigned REFUSED with the right id that
# races the real server's answer is ignored; vipctl keeps waiting, takes the real, signed
# answer and the name moves.
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/named.sh"
need "$HS_BIN/vipctl" /usr/bin/python3 dig

ZONE=hs.test
NAME=app.$ZONE
named_start $ZONE
race_port=$(free_port)
/usr/bin/python3 "$HS_TOP/tests/lib/dns-race.py" "$race_port" "$NAMED_PORT" "$T/race.ready" &
at_exit "kill $!"
wait_for 10 test -e "$T/race.ready" || bail "racing responder did not start"

cat >"$T/a.conf" <<EOF
[cluster]
name = t48
node = a
address = 192.0.2.48
database = host=/nonexistent
connection = hostname
[dns]
server = 127.0.0.1:$race_port
zone = $ZONE
hostname = app
tsig_name = $NAMED_KEY
tsig_secret_file = $NAMED_SECRET_FILE
EOF
"$HS_BIN/vipctl" -c "$T/a.conf" up --force 2>"$T/err"
rc=$?
diag "$(cat "$T/err")"
is "$rc" 0 "vipctl up succeeds although a forged REFUSED arrived first"
is "$(dig +short -p "$NAMED_PORT" @127.0.0.1 $NAME A)" 192.0.2.48 "the name points at a"
check "the forged answer was logged as ignored" -- grep -q "ignored an answer whose TSIG is missing: answered REFUSED" "$T/err"
check "named applied the update" -- grep -q "key $NAMED_KEY: updating zone '$ZONE/IN'" "$NAMED_DIR/named.log"
done_testing
