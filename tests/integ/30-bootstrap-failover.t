#!/usr/bin/env bash
# Bootstrap with the secondary started first; kill -9 of the active's daemons -> the
# standby takes over at epoch + 1; the old active comes back as standby (no preemption).
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
. "$HS_TOP/tests/lib/smtp.sh"
need jq
pg_start
smtp_start
alerts=("[notify]" "email = ops@example.test" "smtp_url = $SMTP_URL" "from = hs@example.test" "starttls = no")
node_conf a 100 "${alerts[@]}"
node_conf b 100 "${alerts[@]}"

node_start b
sleep 0.5
is "$(holder)" "" "secondary started first does not claim an unclaimed cluster at once"
node_start a
check "primary a claims the cluster" -- wait_holder a 5
check "a becomes active" -- wait_role a active 5
check "b is standby" -- wait_role b standby 5
e1=$(epoch)
check "a's service was started" -- wait_for 3 grep -q " start a $e1" "$HOOKS_LOG"
h1=$(heartbeat); sleep 0.6
check "the counter moves while a is active" -- test "$(heartbeat)" -gt "$h1"

t0=$(now_ms)
node_crash a
check "b takes over after a's crash" -- wait_holder b 10
check "b becomes active" -- wait_role b active 5
t1=$(now_ms)
diag "kill -> b active: $((t1 - t0)) ms (takeover_timeout $HS_TAKEOVER)"
is "$(epoch)" "$((e1 + 1))" "epoch went up by one"
check "b's service started at the new epoch" -- grep -q " start b $((e1 + 1))" "$HOOKS_LOG"
takeover_mail() { grep -l "^Subject: \[hotstandby\] t: takeover on b" "$SMTP_DIR"/*.eml &&
                  grep -q "b took over from a at epoch $((e1 + 1))" "$SMTP_DIR"/*.eml; }
check "a takeover alert for b reached the SMTP sink" -- wait_for 10 takeover_mail
check "the alert went to the configured recipient" -- sh -c "grep -l 'ops@example.test' \$(ls '$SMTP_DIR'/*.env) >/dev/null"

node_start a
check "a comes back as standby" -- wait_role a standby 5
node_row_role() { psql_hs "SELECT role FROM hs_node WHERE cluster='$HS_CLUSTER' AND node='$1'"; }
_row_role_is() { [ "$(node_row_role "$1")" = "$2" ]; }
check "a's node row says standby (what vipctl status shows)" -- wait_for 3 _row_role_is a standby
check "b's node row says active" -- wait_for 3 _row_role_is b active
sleep 3
is "$(holder)" "b" "no preemption: b still holds the cluster after 2 timeouts"
is "$(node_role b)" "active" "b still active"
check "never two active nodes (hook log)" -- hooks_no_overlap
check "vipctl events shows the takeover" -- sh -c "'$HS_BIN/vipctl' -c '$T/a/hotstandby.conf' events -n 50 | grep -q 'claimed'"
vipctl_node a status >"$T/status.txt"; rc=$?
is "$rc" 0 "vipctl status exits 0"
check "status table lists both nodes" -- sh -c "grep -q '^a ' '$T/status.txt' && grep -q '^b ' '$T/status.txt'"
json=$(vipctl_node a status --json)
for k in cluster node role holder epoch heartbeat paused nodes; do
    check "status --json has $k" -- sh -c "echo '$json' | jq -e 'has(\"$k\")' >/dev/null"
done
[ $_tap_failed -eq 0 ] || dump_logs
done_testing
