#!/usr/bin/env bash
# One daemon of the active dies:
#  heartbeatd alone -> no renewals -> watchd fences -> the standby takes over;
#  watchd alone -> its socket goes -> heartbeatd stops renewing and fences -> takeover.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
need jq
start_pair

e=$(epoch)
kill -9 "$(node_pid a heartbeatd)"
check "b takes over after a's heartbeatd died" -- wait_role b active 8
check "a fenced: its service stopped" -- grep -q " stop a $e" "$HOOKS_LOG"
check "a is standby (its watchd alive)" -- wait_role a standby 3
check "never two active nodes (hook log)" -- hooks_no_overlap

node_start_heartbeatd a
sleep 1
e=$(epoch)
h0=$(heartbeat)
kill -9 "$(node_pid b watchd)"
# heartbeatd stops renewing at once when watchd's socket goes (and fences); the counter
# then stands still until a takes over
b_following() { [ "$(psql_hs "SELECT state FROM hs_node WHERE cluster='$HS_CLUSTER' AND node='b'")" = following ]; }
check "b's heartbeatd stops renewing once its watchd is gone" -- wait_for 4 b_following
check "b's heartbeatd fenced b (service stop)" -- wait_for 3 grep -q " stop b $e" "$HOOKS_LOG"
check "a takes over" -- wait_role a active 8
is "$(epoch)" $((e + 1)) "epoch +1"
check "never two active nodes (hook log)" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || dump_logs
done_testing
