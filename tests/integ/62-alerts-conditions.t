#!/usr/bin/env bash
# Alerts for conditions (watchd/selfmon.c), each provoked for real, mailed to a real SMTP
# sink and followed by its resolved mail: a node with another version, other shared
# settings and a skewed clock (test-only overrides HOTSTANDBY_TEST_VERSION and
# HOTSTANDBY_TEST_CLOCK_OFFSET); the SMTP server down during a takeover (the takeover is
# not delayed; the mail goes out once the server is back); PostgreSQL stopped (database
# unreachable, resolved with the outage's facts once it is back). And the operator's side:
# `vipctl test-mail` prints the server's answer, refuses clear text when STARTTLS is
# required but not offered (no login attempted), and -t names the line of a bad address.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
HS_INTERVAL=300ms HS_TAKEOVER=3s     # margins for a loaded machine
. "$HS_TOP/tests/lib/cluster.sh"
. "$HS_TOP/tests/lib/smtp.sh"
. "$HS_TOP/tests/lib/alerts.sh"
need jq /usr/bin/python3

# A sink that wants a login and offers no STARTTLS: what a client must not log in to in clear.
printf 'pw-%s\n' "$RANDOM" >"$T/smtp.password"
chmod 600 "$T/smtp.password"
smtp_start hsmail "$T/smtp.password"
AUTH_URL=$SMTP_URL AUTH_DIR=$SMTP_DIR
smtp_start
pg_start
mapfile -t NOTIFY < <(notify_lines)
node_conf a 100 "${NOTIFY[@]}"
node_conf b 100 "${NOTIFY[@]}"

# 1. vipctl test-mail, STARTTLS, -t.
vipctl_node a test-mail >"$T/tm.out" 2>"$T/tm.err"
is "$?" 0 "vipctl test-mail exits 0"
check "... and prints the server's answer" -- grep -q '^server answered: 250 OK stored' "$T/tm.out"
check "... the test mail arrives" -- wait_mail 10 test-mail a
node_conf tls 100 "[notify]" "email = ops@example.test" "smtp_url = $AUTH_URL" "starttls = yes" \
    "user = hsmail" "password_file = $T/smtp.password"
vipctl_node tls test-mail >"$T/tls.out" 2>"$T/tls.err"
is "$?" 1 "STARTTLS required but not offered: test-mail fails"
check "... with a clear error" -- grep -q 'does not offer STARTTLS, refusing to send in clear text' "$T/tls.err"
check "... and no login was attempted in clear text" -- test ! -e "$AUTH_DIR/auth.log"
node_conf bad 100 "[notify]" "email = ops@example.test, ops.example.test" "smtp_url = $SMTP_URL"
line=$(grep -n '^email = ' "$T/bad/hotstandby.conf" | cut -d: -f1)
for prog in watchd vipctl; do
    "$HS_BIN/$prog" -t -c "$T/bad/hotstandby.conf" >/dev/null 2>"$T/bad-$prog.err"
    is "$?" 2 "$prog -t: a bad address in email is refused"
    check "... naming file, line $line and the address" -- \
        grep -q "$T/bad/hotstandby.conf:$line: email: 'ops.example.test' is not an e-mail address" "$T/bad-$prog.err"
done

# 2. b comes with another version, other shared settings and a clock 5 s ahead.
node_start a
check "a active" -- wait_role a active 30
echo "pause_alert_after = 120m" >>"$T/b/hotstandby.conf"
HOTSTANDBY_TEST_VERSION=9.9.9-test HOTSTANDBY_TEST_CLOCK_OFFSET=5s node_start b
check "b standby" -- wait_role b standby 30
check_mail version-mismatch a
check "... naming both versions" -- mail_has "$MAIL" "a has 0.1.0; b has 9.9.9-test"
check_mail config-mismatch a
check "... naming b's digest" -- mail_has "$MAIL" "b has "
check_mail clock-skew b
check "... with the offset and the limit" -- \
    sh -c "tr -d '\r' <'$MAIL' | grep -Eq 'the clock of b is ahead of the database clock by [45]\.[0-9]+ s .*max_clock_skew 2\.000 s'"
is "$(problem_kinds a)" "config-mismatch version-mismatch" "vipctl status on a lists the mismatches"
is "$(problem_kinds b)" "clock-skew" "vipctl status on b lists its clock"
check "hs_event: raised on a" -- event_has a problem "version-mismatch: a has 0.1.0; b has 9.9.9-test"
node_stop b
sed -i '/^pause_alert_after = 120m$/d' "$T/b/hotstandby.conf"
node_start b
check_mail version-mismatch a resolved
check "... because the versions agree" -- mail_has "$MAIL" "every live node runs the same version"
check_mail config-mismatch a resolved
check_mail clock-skew b resolved
check "hs_event: resolved on a" -- event_has a resolved "version-mismatch:"
check "b standby" -- wait_role b standby 30

# 3. The SMTP server is down when the active dies: the takeover is not held up by it, and
# its mail arrives once the server is back (on the same port).
kill "$SMTP_PID"; wait "$SMTP_PID" 2>/dev/null
t0=$(now_ms)
node_crash a
check "b takes over with the mail server down" -- wait_role b active 30
diag "crash -> b active with SMTP down: $(( $(now_ms) - t0 )) ms (takeover_timeout 3 s)"
sleep 1
SMTP_DIR=$T/smtp-back
mkdir -p "$SMTP_DIR"
"$SMTP_PYTHON" "$HS_TOP/tests/lib/smtp-sink.py" 127.0.0.1 "$SMTP_PORT" "$SMTP_DIR" >"$T/smtp-back.log" 2>&1 &
at_exit "kill $!"
check "the mail server is back" -- wait_for 15 test -e "$SMTP_DIR/ready"
check_mail takeover b
check "... sent after retries" -- grep -q 'alert mail sent to .* (after retries): takeover on b' "$T/b/watchd.log"
node_start a
check "a rejoins as standby" -- wait_role a standby 30
check_mail takeover b resolved

# 4. PostgreSQL stops: both nodes lose it (the active fences); back, each mails the outage.
pg_stop
check_mail database-unreachable a
check_mail database-unreachable b
check "... saying since when" -- mail_has "$MAIL" "no connection since"
check "status (from watchd) lists it while the database is away" -- \
    sh -c "'$HS_BIN/vipctl' -c '$T/b/hotstandby.conf' status --json 2>/dev/null | jq -e '[.problems[].kind] | index(\"database-unreachable\")' >/dev/null"
sleep 2
pg_ctl_start
check_mail database-unreachable b resolved
check "... with the outage's facts" -- mail_has "$MAIL" "connected again; no connection since"
check_mail database-unreachable a resolved
check "the outage's events reach hs_event once it is back" -- wait_for 10 event_has b resolved "database-unreachable:"
check "one node is active again" -- wait_for 20 sh -c "[ -n \"\$(runuser -u postgres -- '$PG_BINDIR/psql' -h '$PG_SOCK' -p '$PG_PORT' -U postgres -qAtX -c \"SELECT holder FROM hs_node n JOIN hs_cluster c USING (cluster) WHERE n.node = c.holder AND n.role = 'active'\" hs)\" ]"

check "never two active nodes (hook log)" -- hooks_no_overlap
if [ $_tap_failed -ne 0 ]; then
    dump_logs
    mail_subjects | sed 's/^/# mail: /' >&2
fi
done_testing
