#!/usr/bin/env bash
# Hostile input: garbage on the control sockets gets an error reply and the daemons keep
# running; bad configs make every binary's -t exit 2 naming file:line; sockets are 0600;
# READY=1 reaches a systemd notify socket.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
need jq /usr/bin/python3
CTL=$HS_TOP/tests/lib/ctlsend.py
pg_start
node_conf a 100

# sd_notify: a datagram socket standing in for systemd
/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); s.settimeout(20)
with open(sys.argv[2], "a") as f:
    while True:
        try: f.write(s.recv(4096).decode() + "\n"); f.flush()
        except socket.timeout: break
' "$T/notify.sock" "$T/notify.log" &
at_exit "kill $! 2>/dev/null"
wait_for 3 test -S "$T/notify.sock"
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=400000 node_start a
check "a active" -- wait_role a active 5
check "READY=1 sent to NOTIFY_SOCKET" -- wait_for 3 grep -q READY=1 "$T/notify.log"
check "WATCHDOG=1 pings sent" -- wait_for 3 grep -q WATCHDOG=1 "$T/notify.log"
check "watchd's STATUS= names its role and epoch" -- wait_for 3 grep -q "^STATUS=active, epoch [0-9]" "$T/notify.log"

for d in watchd heartbeatd; do
    sock=$T/a/run/$d.sock
    is "$(stat -c %a "$sock")" 600 "$d.sock is mode 0600"
    out=$($CTL "$sock" 'not json' '[1,2]' '{"id":1}' '{"id":"x","cmd":"status"}' \
        '{"id":2,"cmd":42}' '{"id":3,"cmd":"nosuchverb"}' '{"id":4,"cmd":"status","cmd":"x"}' \
        '@big:70000' '{"id":5,"cmd":"status"}')
    is "$(echo "$out" | grep -c '"ok": *false')" 8 "$d: 8 malformed or unknown messages get an error reply"
    check "$d: replies name the problem" -- sh -c "echo '$out' | grep -q 'malformed JSON' && echo '$out' | grep -q 'unknown command' && echo '$out' | grep -q 'exceeds'"
    check "$d: a valid status after the garbage is answered" -- sh -c "echo '$out' | tail -n 1 | jq -e '.ok == true and .id == 5' >/dev/null"
    $CTL "$sock" --hex 00ff00ff 7b227e >/dev/null
    check "$d still running" -- kill -0 "$(node_pid a $d)"
done
check "watchd ignores events from a peer that is not heartbeatd" -- sh -c "
    $CTL '$T/a/run/watchd.sock' '{\"event\":\"lost\",\"epoch\":1}' >/dev/null;
    sleep 0.5; [ \"\$('$HS_BIN/vipctl' -c '$T/a/hotstandby.conf' status --json | jq -r .watchd.role)\" = active ]"
check "switchover with a bad target type is refused" -- sh -c "$CTL '$T/a/run/watchd.sock' '{\"id\":9,\"cmd\":\"switchover\",\"to\":7}' | grep -q '\"ok\": *false'"
check "a peer that is not root cannot even reach the 0600 socket" -- sh -c "! runuser -u nobody -- /usr/bin/python3 $CTL '$T/a/run/watchd.sock' '{\"id\":1,\"cmd\":\"status\"}' 2>/dev/null | grep -q '\"ok\": *true'"
# with the file mode opened up, SO_PEERCRED still turns the peer away
chmod 666 "$T/a/run/watchd.sock"
out=$(runuser -u nobody -- /usr/bin/python3 $CTL "$T/a/run/watchd.sock" '{"id":1,"cmd":"status"}' 2>&1)
chmod 600 "$T/a/run/watchd.sock"
check "a non-root peer on a world-writable socket gets no answer" -- sh -c "! echo '$out' | grep -q '\"ok\": *true'"
check "and watchd logs the refusal with its uid" -- grep -q "refused pid [0-9]* uid [0-9]*" "$T/a/watchd.log"
is "$(node_role a)" active "a still active after all that"

# -t: every binary checks a config and names the line
bad=$T/bad.conf
good=$T/a/hotstandby.conf
for b in watchd heartbeatd vipctl; do
    "$HS_BIN/$b" -t -c "$good" >/dev/null 2>&1; rc=$?
    is "$rc" 0 "$b -t on a good config exits 0"
done
printf '[cluster]\nname = t\nnode = a\ndatabase = x\n[heartbeat]\ninterval = 10 parsecs\n' >"$bad"
for b in watchd heartbeatd vipctl; do
    err=$("$HS_BIN/$b" -t -c "$bad" 2>&1 >/dev/null); rc=$?
    is "$rc" 2 "$b -t on a bad duration exits 2"
    check "$b names file:line:key" -- sh -c "echo '$err' | grep -q '$bad:6: interval'"
done
printf '[cluster]\nname = t\nnode = a\ndatabase = x\nbogus = 1\n' >"$bad"
err=$("$HS_BIN/watchd" -t -c "$bad" 2>&1); rc=$?
is "$rc" 2 "unknown key exits 2"
check "unknown key named with its line" -- sh -c "echo '$err' | grep -q '$bad:5: bogus'"
printf '[cluster]\nname = t\nnode = a\ndatabase = x\n[heartbeat]\ninterval = 1s\ntakeover_timeout = 2s\nfence_after = 3s\n' >"$bad"
err=$("$HS_BIN/watchd" -t -c "$bad" 2>&1); rc=$?
is "$rc" 2 "fence_after >= takeover_timeout exits 2"
check "the message names fence_after" -- sh -c "echo '$err' | grep -q 'fence_after'"
printf 'host=127.0.0.1\n' >"$T/db.secret"; chmod 644 "$T/db.secret"
printf '[cluster]\nname = t\nnode = a\ndatabase_file = %s\n' "$T/db.secret" >"$bad"
err=$("$HS_BIN/watchd" -t -c "$bad" 2>&1); rc=$?
is "$rc" 2 "a world-readable database_file is refused (exit 2)"
check "and the message says why" -- sh -c "echo '$err' | grep -q 'group or others'"
check "the secret's contents are not echoed" -- sh -c "! echo '$err' | grep -q 'host=127'"
printf 'pw\n' >"$T/smtp.pw"; chmod 644 "$T/smtp.pw"
printf '[cluster]\nname = t\nnode = a\ndatabase = x\n[notify]\nemail = a@example.test\nsmtp_url = smtp://127.0.0.1:25\nfrom = hs@example.test\nuser = u\npassword_file = %s\n' "$T/smtp.pw" >"$bad"
err=$("$HS_BIN/watchd" -t -c "$bad" 2>&1); rc=$?
is "$rc" 2 "watchd -t refuses a world-readable SMTP password file (exit 2)"
check "naming [notify] password_file" -- sh -c "echo '$err' | grep -q 'password_file'"
"$HS_BIN/watchd" -c "$T/nonexistent.conf" >/dev/null 2>&1; rc=$?
is "$rc" 2 "a missing config file exits 2"
"$HS_BIN/watchd" --bogus >/dev/null 2>&1; rc=$?
is "$rc" 2 "an unknown option exits 2"
check "-V prints the version" -- sh -c "'$HS_BIN/watchd' -V | grep -q '^watchd [0-9]'"

# SIGHUP with a broken config keeps the running one
cp "$good" "$T/good.bak"
echo "garbage line" >>"$good"
kill -HUP "$(node_pid a watchd)"
sleep 0.5
check "SIGHUP with a broken config: watchd keeps running" -- kill -0 "$(node_pid a watchd)"
check "and says the reload was refused" -- grep -q "reload refused" "$T/a/watchd.log"
cp "$T/good.bak" "$good"
is "$(node_role a)" active "a still active"
[ $_tap_failed -eq 0 ] || dump_logs
done_testing
