#!/usr/bin/env bash
# Planned switchover both directions, initiated on either node; the old node's service
# stops before the new node's starts; refusals exit 3; SIGTERM of an active demotes.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
need jq
start_pair
sleep 0.5   # let both node rows be seen as live

# stop of OLD must come before start of NEW in the hook log
stop_before_start() {
    local old=$1 new=$2 e=$3
    local s n
    s=$(awk -v n="$old" '$2=="stop" && $3==n {t=$1} END {printf "%d\n", t}' "$HOOKS_LOG")
    n=$(awk -v n="$new" -v e="$e" '$2=="start" && $3==n && $4==e {print $1; exit}' "$HOOKS_LOG")
    [ -n "$n" ] && [ "$s" -gt 0 ] && [ "$s" -le "$n" ]
}

e=$(epoch)
out=$(vipctl_node a switchover 2>&1); rc=$?
is "$rc" 0 "switchover started on the active (a) exits 0"
diag "$out"
is "$(holder)" b "b holds the cluster"
is "$(epoch)" $((e + 1)) "epoch +1"
check "b active" -- wait_role b active 5
check "a standby" -- wait_role a standby 5
check "a's service stopped before b's started" -- stop_before_start a b $((e + 1))

sleep 0.3
e=$(epoch)
out=$(vipctl_node b switchover --to a 2>&1); rc=$?
is "$rc" 0 "switchover --to a started on the active (b) exits 0"
check "a active again" -- wait_role a active 5
check "b's service stopped before a's started" -- stop_before_start b a $((e + 1))

sleep 0.3
e=$(epoch)
out=$(vipctl_node b switchover 2>&1); rc=$?
is "$rc" 0 "switchover started on the standby (b) exits 0"
diag "$out"
check "b active after a switchover asked for on b" -- wait_role b active 5
check "a standby" -- wait_role a standby 5
check "a's service stopped before b's started" -- stop_before_start a b $((e + 1))

e=$(epoch)
vipctl_node a switchover --to nosuchnode >/dev/null 2>&1; rc=$?
is "$rc" 3 "switchover to an unknown node is refused (exit 3)"
vipctl_node a switchover --to b >/dev/null 2>&1; rc=$?
is "$rc" 3 "switchover to the current holder is refused (exit 3)"
is "$(epoch)" "$e" "refusals changed nothing"
vipctl_node a pause >/dev/null
vipctl_node a switchover >/dev/null 2>&1; rc=$?
is "$rc" 3 "switchover while paused is refused (exit 3)"
vipctl_node a resume >/dev/null
# A resume is committed by the active's own renewal (README "Pause"): wait for it, or the
# SIGTERM below could leave the cluster paused, as designed, and nobody would take over.
_resumed() { [ "$(psql_hs "SELECT paused FROM hs_cluster WHERE cluster='$HS_CLUSTER'")" = f ]; }
check "the active commits the resume" -- wait_for 10 _resumed
vipctl_node a bogus >/dev/null 2>&1; rc=$?
is "$rc" 2 "unknown verb exits 2"

# SIGTERM of the active: clean demotion (service stop), then the standby takes over
e=$(epoch)
kill -TERM "$(node_pid b watchd)"
check "watchd on b exits after SIGTERM" -- _wait_gone "$(node_pid b watchd)"
check "b's service was stopped on SIGTERM" -- sh -c "awk '\$2==\"stop\" && \$3==\"b\" && \$4==$e' '$HOOKS_LOG' | grep -q ."
check "a takes over after b's watchd stopped" -- wait_role a active 6
check "never two active nodes (hook log)" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || dump_logs
done_testing
