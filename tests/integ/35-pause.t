#!/usr/bin/env bash
# Pause: no takeover while the active is dead; resume: takeover follows.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
need jq
start_pair
out=$(vipctl_node b pause); rc=$?
is "$rc" 0 "vipctl pause exits 0"
is "$(psql_hs "SELECT paused FROM hs_cluster WHERE cluster='$HS_CLUSTER'")" t "the row says paused"
check "status --json shows paused" -- sh -c "'$HS_BIN/vipctl' -c '$T/b/hotstandby.conf' status --json | jq -e '.paused == true' >/dev/null"
check "status table says PAUSED loudly" -- sh -c "'$HS_BIN/vipctl' -c '$T/b/hotstandby.conf' status | grep -q PAUSED"
e=$(epoch)
node_crash a
sleep 4
is "$(holder)" a "no takeover while paused (4 s > takeover_timeout)"
is "$(epoch)" "$e" "epoch unchanged while paused"
is "$(node_role b)" standby "b stays standby"
t0=$(now_ms)
vipctl_node b resume >/dev/null; rc=$?
is "$rc" 0 "vipctl resume exits 0"
check "b takes over after resume" -- wait_role b active 8
diag "resume -> b active: $(( $(now_ms) - t0 )) ms (a full takeover_timeout after resume)"
check "never two active nodes (hook log)" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || dump_logs
done_testing
