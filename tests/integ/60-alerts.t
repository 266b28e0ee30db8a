#!/usr/bin/env bash
# E-mail alerts (common/notify.c, DESIGN §7) against real SMTP sinks (aiosmtpd, with AUTH):
# delivery with the right envelope, headers and subject prefix; de-duplication with a count;
# the password read from a 0600 file and never logged; refusals that name the cause (0644
# password file, no STARTTLS, wrong login, untrusted certificate); retries against an
# unreachable server; a caller that never waits for SMTP; STARTTLS and smtps:// with the
# certificate verified. Driven by tests/tools/notify-send.c, built here.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/smtp.sh"
need cc pkg-config /usr/bin/python3 openssl unshare

# The tool, built like the binaries under test (with the sanitizers if libhs.a has them).
san=
nm "$HS_BIN/libhs.a" 2>/dev/null | grep -q __asan_ && san='-fsanitize=address,undefined'
[ -f "$HS_BIN/libhs.a" ] || bail "$HS_BIN/libhs.a missing: run make"
SEND=$T/notify-send
cc -std=c11 -D_GNU_SOURCE -g -Wall -Wextra -Werror -Wno-unused-parameter $san \
    -I"$HS_TOP/common" "$HS_TOP/tests/tools/notify-send.c" "$HS_BIN/libhs.a" \
    $(pkg-config --libs libcurl jansson libpq) -lpthread -o "$SEND" 2>"$T/cc.log"
ok $? "notify-send builds against $(basename "$HS_BIN")/libhs.a"
[ -x "$SEND" ] || bail "cannot build notify-send: $(head -n 5 "$T/cc.log")"

PASSWORD=pw-$RANDOM-$RANDOM-sekrit
printf '%s\n' "$PASSWORD" >"$T/smtp.password"
chmod 600 "$T/smtp.password"
smtp_start hsmail "$T/smtp.password"

# conf NAME [KEY=VALUE...]: a config for cluster t60 whose [notify] keys can be overridden.
conf() {
    local name=$1; shift
    local email='ops@example.test, oncall@example.test' url=$SMTP_URL starttls=no
    local user=hsmail pwfile=$T/smtp.password kv
    for kv in "$@"; do
        case $kv in
            email=*) email=${kv#*=} ;; url=*) url=${kv#*=} ;; starttls=*) starttls=${kv#*=} ;;
            user=*) user=${kv#*=} ;; password_file=*) pwfile=${kv#*=} ;;
        esac
    done
    cat >"$T/$name.conf" <<EOF
[cluster]
name = t60
node = node-a
database = host=127.0.0.1 dbname=unused
[notify]
email = $email
smtp_url = $url
from = Hotstandby t60 <hotstandby@example.test>
starttls = $starttls
user = $user
password_file = $pwfile
EOF
    echo "$T/$name.conf"
}
# send NAME ARGS...: runs notify-send, stdout to NAME.out, log (stderr) to NAME.log.
send() { local name=$1; shift; "$SEND" "$@" >"$T/$name.out" 2>"$T/$name.log"; }
field() { sed -n "s/^$1: //p" "$2" | tr -d '\r'; }
smtp_dir_env() { local m; m=$(smtp_message "$1"); echo "${m%.eml}.env"; }

# Unreachable server (nothing listens): started first, in the background, since its five
# attempts with backoff 1+2+4+8 s take ~15 s while the rest runs.
dead_port=$(free_port)
t_dead=$SECONDS
send dead -c "$(conf dead url=smtp://127.0.0.1:$dead_port)" -s 'unreachable' -i 60000 &
dead_pid=$!
at_exit "kill $dead_pid"
sleep 0.3
check "the password is not in the sender's argv or environment" -- \
    sh -c "! grep -qa -- '$PASSWORD' /proc/$dead_pid/cmdline /proc/$dead_pid/environ"

# 1. One alert: envelope, headers, body, login.
body=$'node-a took over from node-b at epoch 7\nVIP 192.0.2.10 is up on node-a\n.a line starting with a dot'
send one -c "$(conf one)" -k takeover -s 'takeover by node-a' -b "$body" -i 10000
ok $? "one alert: notify-send exits 0 after the queue drained"
check "one mail arrives" -- smtp_wait_messages 1 10
m=$(smtp_message 1)
is "$(field Subject "$m")" "[hotstandby] t60: takeover by node-a" "Subject has the cluster prefix"
is "$(field From "$m")" "Hotstandby t60 <hotstandby@example.test>" "From header as configured"
is "$(field To "$m")" "ops@example.test, oncall@example.test" "To header lists both recipients"
check "Date header in RFC 5322 form" -- \
    grep -Eq '^Date: [A-Z][a-z]{2}, [0-9]{1,2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} [+-][0-9]{4}' "$m"
check "Message-ID header" -- grep -Eq '^Message-ID: <[^ >]+@[^ >]+>' "$m"
check "X-Hotstandby-Kind: takeover" -- grep -q '^X-Hotstandby-Kind: takeover' "$m"
check "body lines arrive intact (dot-stuffing undone by the server)" -- sh -c "
    tr -d '\r' <'$m' | grep -qx 'node-a took over from node-b at epoch 7' &&
    tr -d '\r' <'$m' | grep -qx 'VIP 192.0.2.10 is up on node-a' &&
    tr -d '\r' <'$m' | grep -qx '.a line starting with a dot'"
env1=${m%.eml}.env
check "envelope: sender hotstandby@example.test, both recipients" -- /usr/bin/python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))
assert e["from"] == "hotstandby@example.test", e
assert e["to"] == ["ops@example.test", "oncall@example.test"], e
assert e["login"] == "hsmail", e' "$env1"
check "the server accepted the login from password_file" -- grep -q 'hsmail ok' "$SMTP_DIR/auth.log"
check "the send result is logged" -- grep -q 'alert mail sent to ops@example.test, oncall@example.test via smtp://127.0.0.1' "$T/one.log"

# 2. De-duplication: three identical alerts within the window -> one mail.
send dup -c "$(conf dup)" -k fence -s 'node-a fenced itself' -n 3 -i 10000
ok $? "three identical alerts: notify-send exits 0"
sleep 0.5
is "$(smtp_messages)" 2 "three identical alerts within 60 s: one mail"
check "the repeats are logged, not lost" -- grep -q 'repeated 2 more time(s), not mailed' "$T/dup.log"

# ... and with a 1 s window, the repeats go out as one mail with the count when it ends.
send dupw -c "$(conf dupw)" -k fence -s 'flapping' -n 3 -w 1000 -p 1500 -i 10000
ok $? "a 1 s window: notify-send exits 0"
check "two mails: the first, then one with the count" -- smtp_wait_messages 4 5
is "$(field Subject "$(smtp_message 3)")" "[hotstandby] t60: flapping" "the first mail as raised"
is "$(field Subject "$(smtp_message 4)")" "[hotstandby] t60: flapping (repeated 2x)" "the window's mail counts the repeats"
check "its body says how often" -- grep -q 'raised 2 more time(s)' "$(smtp_message 4)"

# ... also when the repeat comes while the worker is idle (it must wake for the window's end).
# notify-send stays up 8 s after raising, so the mail must come from the window's end.
send dupidle -c "$(conf dupidle)" -k demotion -s 'idle repeat' -n 2 -g 300 -w 1000 -p 8000 -i 10000 &
idle_pid=$!
check "a repeat raised while the worker idles is mailed when its window ends (1 s)" -- smtp_wait_messages 6 6
# a mail sent only as notify-send exits (8 s after raising) would also have arrived by now
check "... while notify-send still runs (the window's end sent it, not the exit)" -- kill -0 "$idle_pid"
wait "$idle_pid"
is "$(field Subject "$(smtp_message 6)")" "[hotstandby] t60: idle repeat (repeated 1x)" "... with its count"

# notify_retire (for a reload) returns at once; the worker still delivers what was queued.
send retire -c "$(conf retire)" -k test -s 'queued before a reload' -R
ok $? "notify_retire: notify-send exits 0"
retire_ms=$(sed -n 's/^retired in \([0-9]*\).*/\1/p' "$T/retire.out")
check "notify_retire returns at once (${retire_ms:-?} ms)" -- test -n "$retire_ms" -a "${retire_ms:-9999}" -lt 500
check "... and the mail queued before it is delivered" -- smtp_wait_messages 7 5
is "$(field Subject "$(smtp_message 7)")" "[hotstandby] t60: queued before a reload" "... the right one"

# A recipient the server refuses does not keep the alert from the others.
send rcpt -c "$(conf rcpt 'email=rejected@example.test, ops@example.test')" -s 'one bad recipient' -i 10000
check "one recipient refused (550): the mail still reaches the other" -- smtp_wait_messages 8 5
check "... and only the other" -- /usr/bin/python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))
assert e["to"] == ["ops@example.test"], e' "$(smtp_dir_env 8)"
check "... and the refused one is logged" -- \
    grep -q 'alert mail sent to rejected@example.test, ops@example.test via .*, but refused by the server: rejected@example.test: one bad recipient' "$T/rcpt.log"

# 3. Refusals, each with a clear message and nothing delivered.
before=$(smtp_messages)
printf '%s\n' "$PASSWORD" >"$T/open.password"
chmod 644 "$T/open.password"
send open -c "$(conf open password_file=$T/open.password)" -s 'never'
is "$?" 2 "a 0644 password file is refused (exit 2)"
check "... naming the key, the file and the mode" -- \
    grep -q "\[notify\] password_file: $T/open.password: secret file is accessible by group or others (mode 0644)" "$T/open.log"
send opencheck -c "$T/open.conf" -t
is "$?" 2 "notify_check (for -t) refuses it too"
send goodcheck -c "$T/one.conf" -t
is "$?" 0 "notify_check accepts a good [notify]"

send tls -c "$(conf tls starttls=yes)" -s 'never in clear text' -i 10000
check "starttls = yes against a server without STARTTLS: logged refusal" -- \
    grep -q 'does not offer STARTTLS, refusing to send in clear text' "$T/tls.log"
check "... not retried" -- grep -q 'not sent (1 attempt)' "$T/tls.log"

printf 'wrong-password\n' >"$T/wrong.password"
chmod 600 "$T/wrong.password"
send wrong -c "$(conf wrong password_file=$T/wrong.password)" -s 'wrong login' -i 10000
check "a refused login is logged with the user, not retried" -- \
    grep -q "not sent (1 attempt): wrong login: .* refused the login of user 'hsmail'" "$T/wrong.log"

send badrcpt -c "$(conf badrcpt 'email=ops@example.test, not an address')" -s never
is "$?" 2 "a malformed recipient is refused (exit 2)"
check "... naming it with its file and line" -- grep -q "badrcpt.conf:[0-9]*: email: 'not an address' is not an e-mail address" "$T/badrcpt.log"

send norcpt -c "$(conf norcpt email=rejected@example.test)" -s 'nobody' -i 10000
check "every recipient refused: the 550 is logged, not retried" -- \
    grep -q 'not sent (1 attempt): nobody: .*550' "$T/norcpt.log"

send urlpw -c "$(conf urlpw url=smtp://u:secret@127.0.0.1:$SMTP_PORT)" -s never
is "$?" 2 "a password inside smtp_url is refused (exit 2)"

send noemail -c "$(conf noemail email=)" -s 'only logged' -i 1000
ok $? "no [notify] email: alerts are only logged (exit 0)"
check "... and say so" -- grep -q 'alerts are only logged' "$T/noemail.log"
sleep 0.5
is "$(smtp_messages)" "$before" "nothing delivered by any refused configuration"

# 4. The caller never waits: 100 alerts while the worker is stuck retrying a dead server.
t0=$(now_ms)
send burst -c "$(conf burst url=smtp://127.0.0.1:$dead_port)" -s burst -u -n 100
t_burst=$(($(now_ms) - t0))
raise_ms=$(sed -n 's/^raised 100 alert(s) in \([0-9]*\).*/\1/p' "$T/burst.out")
diag "100 alerts raised in ${raise_ms:-?} ms; notify-send ran ${t_burst} ms in all"
check "100 alerts are queued in under 1 s" -- test -n "$raise_ms" -a "${raise_ms:-9999}" -lt 1000
check "the full queue is logged once and the drops counted" -- sh -c "
    [ \$(grep -c 'alert mail queue full' '$T/burst.log') = 1 ] && grep -q 'dropped while the queue was full' '$T/burst.log'"
check "notify_free gives up after its ~2 s budget" -- test "$t_burst" -lt 5000

# A server that accepts the connection and never answers: notify_free still returns.
black_port=$(free_port)
/usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); time.sleep(120)' "$black_port" &
black_pid=$!
at_exit "kill $black_pid"
wait_for 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$black_port"
send black -c "$(conf black url=smtp://127.0.0.1:$black_port)" -s 'silent server' -p 300
free_ms=$(sed -n 's/^freed in \([0-9]*\).*/\1/p' "$T/black.out")
check "a silent server: notify_free returns within its budget (${free_ms:-?} ms)" -- \
    test -n "$free_ms" -a "${free_ms:-99999}" -lt 4000
check "... and the abandoned mail is logged" -- \
    grep -q 'not sent (1 attempt): silent server: .*shutting down' "$T/black.log"

# 5. The unreachable server: failure logged once, after the retries.
wait "$dead_pid"
ok $? "unreachable server: notify-send waited for the worker and exited 0"
t_dead=$((SECONDS - t_dead))
check "failure logged after 5 attempts, naming the server" -- \
    grep -q "not sent (5 attempts): unreachable: smtp://127.0.0.1:$dead_port: .*connect" "$T/dead.log"
check "... once" -- test "$(grep -c 'not sent' "$T/dead.log")" = 1
check "... after backing off (1+2+4+8 s), took ${t_dead} s" -- test "$t_dead" -ge 14

# 6. TLS, with the certificate verified against a CA made for this test: in a private mount
# namespace the system CA bundle is that CA alone (smtp_with_test_ca).
send_ca() { local name=$1; shift; smtp_with_test_ca "$SEND" "$@" >"$T/$name.out" 2>"$T/$name.log"; }
envelope_has_tls_login() { /usr/bin/python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))
assert e["tls"] is True and e["login"] == "hsmail", e' "${1%.eml}.env"; }

smtp_start --starttls hsmail "$T/smtp.password"
send_ca starttls -c "$(conf starttls starttls=yes)" -k takeover -s 'over STARTTLS' -i 10000
ok $? "STARTTLS: notify-send exits 0"
check "STARTTLS: the mail arrives" -- smtp_wait_messages 1 10
check "... over TLS, after the login" -- envelope_has_tls_login "$(smtp_message 1)"
is "$(field Subject "$(smtp_message 1)")" "[hotstandby] t60: over STARTTLS" "... with its subject"
send untrusted -c "$(conf untrusted starttls=yes)" -s 'untrusted' -i 10000
check "a certificate from an unknown CA is refused, not retried" -- \
    grep -q 'not sent (1 attempt): untrusted: .*TLS certificate not accepted' "$T/untrusted.log"
send clear -c "$(conf clear starttls=no)" -s 'clear' -i 10000
check "starttls = no against a server that requires STARTTLS: its 530 is logged, not retried" -- \
    grep -q 'not sent (1 attempt): clear: .*530' "$T/clear.log"
sleep 0.5
is "$(smtp_messages)" 1 "only the verified STARTTLS mail was delivered"

smtp_start --smtps hsmail "$T/smtp.password"
send_ca smtps -c "$(conf smtps)" -k switchover -s 'over smtps' -i 10000
ok $? "smtps://: notify-send exits 0"
check "smtps://: the mail arrives" -- smtp_wait_messages 1 10
check "... over TLS, after the login" -- envelope_has_tls_login "$(smtp_message 1)"

# The password appears in no log of any run, nor in what the sinks received.
check "the password is in no log and no mail" -- \
    sh -c "! grep -rqa -- '$PASSWORD' $T/*.log $T/*.out $T/smtp*/*.eml"
check "no sanitizer report" -- sh -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' $T/*.log"

done_testing
