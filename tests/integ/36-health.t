#!/usr/bin/env bash
# A failing [service] check on the active: after check_failures failures in a row the
# active hands the cluster to the standby (service stopped first).
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
need jq
# the check fails while $T/a/broken exists (only on a)
CONF_A=("check = test ! -e $T/a/broken" "check_interval = 200ms" "check_failures = 3")
CONF_B=("check = true" "check_interval = 200ms")
start_pair
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
