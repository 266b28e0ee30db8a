#!/usr/bin/env bash
# A failing [service] check on the active: after check_failures failures in a row the
# active hands the cluster to the standby (service stopped first).
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
need jq
pg_start
node_conf a 100
node_conf b 100
# the check fails while $T/a/broken exists (only on a)
node_conf_add a "check = test ! -e $T/a/broken" "check_interval = 200ms" "check_failures = 3"
node_conf_add b "check = true" "check_interval = 200ms"
node_start a
node_start b
check "a active" -- wait_role a active 5
check "b standby" -- wait_role b standby 5
sleep 1.5
is "$(node_role a)" active "a passing check keeps a active"
e=$(epoch)
touch "$T/a/broken"
t0=$(now_ms)
check "b becomes active after a's check fails" -- wait_role b active 8
diag "check broken -> b active: $(( $(now_ms) - t0 )) ms"
check "a is standby" -- wait_role a standby 3
check "a's health demotion is in the event log" -- sh -c "'$HS_BIN/vipctl' -c '$T/a/hotstandby.conf' events -n 50 | grep -q health-demotion"
check "never two active nodes (hook log)" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || dump_logs
done_testing
