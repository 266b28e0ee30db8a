#!/usr/bin/env bash
# SIGSTOP of the active's daemons (a frozen VM): the standby takes over; on SIGCONT the
# old active fences before doing anything else and comes back as standby.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
need jq
start_pair
e=$(epoch)

node_kill a STOP
echo "$(now_ms) freeze a -" >>"$HOOKS_LOG"   # a frozen node serves nobody
check "b takes over while a is frozen" -- wait_role b active 8
is "$(epoch)" $((e + 1)) "epoch +1"
thaw=$(now_ms)
node_kill a CONT
check "a fences and becomes standby after SIGCONT" -- wait_role a standby 5
first_after=$(awk -v t="$thaw" '$1 >= t && $3 == "a" {print $2; exit}' "$HOOKS_LOG")
is "$first_after" "stop" "the first thing a's hooks do after waking is stop the service"
is "$(awk -v t="$thaw" '$1 >= t && $3 == "a" && $2 == "start"' "$HOOKS_LOG" | wc -l)" 0 \
    "a never starts its service after waking"
check "a's fence is in the event log" -- sh -c "'$HS_BIN/vipctl' -c '$T/a/hotstandby.conf' events -n 50 | grep -E ' a +epoch $e +fenced'"
is "$(grep -c 'leading at epoch' "$T/a/heartbeatd.log")" 1 \
    "a's watchd never re-granted the lead after waking (heartbeatd led once)"
sleep 2
is "$(holder)" b "b keeps the cluster"
is "$(node_role b)" active "b still active"
check "never two active nodes (hook log)" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || dump_logs
done_testing
