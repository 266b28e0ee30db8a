#!/usr/bin/env bash
# Pause: no takeover while the active is dead; a resume waits for the active to commit
# it (it is dead: the cluster stays paused); resume --force: takeover follows.
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
vipctl_node b resume >/dev/null; rc=$?
is "$rc" 0 "vipctl resume exits 0"
# the resume is committed by the active's own renewal (DESIGN §3): a is down, so the
# cluster stays paused, loudly, until the operator says a is down for good
sleep 3
is "$(node_role b)" standby "b does not take over while the crashed active cannot commit the resume"
check "status says the resume waits for the active" -- sh -c "'$HS_BIN/vipctl' -c '$T/b/hotstandby.conf' status | grep -q 'resume requested'"
t0=$(now_ms)
vipctl_node b resume --force >/dev/null; rc=$?
is "$rc" 0 "vipctl resume --force exits 0"
check "b takes over after the forced resume" -- wait_role b active 8
diag "resume --force -> b active: $(( $(now_ms) - t0 )) ms (a full takeover_timeout after resume)"
check "the forced resume is in the event log" -- sh -c "'$HS_BIN/vipctl' -c '$T/b/hotstandby.conf' events -n 50 | grep -q forced-resume"
check "never two active nodes (hook log)" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || dump_logs
done_testing
