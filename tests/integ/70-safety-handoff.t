#!/usr/bin/env bash
# Issue 8, scenario 1: a planned switchover and a SIGTERM keep the old active leading
# (heartbeat moving, fence deadline armed) until its service is down, so a stop hook
# slower than takeover_timeout makes the handover slower, never overlapping.
# On 673b09e heartbeatd was told "follow" first: the standby won the ordinary
# compare-and-set while the old service was still stopping.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
need jq

slow_stop() {   # NAME: its stop hook takes 2.5 s (> takeover_timeout 1.5 s)
    sed -i "s|^stop = |stop = sleep 2.5; |" "$T/$1/hotstandby.conf"
}
pg_start
node_conf a 100
node_conf b 100
slow_stop a
slow_stop b
node_start a
check "a active" -- wait_role a active 10
node_start b
check "b standby" -- wait_role b standby 10
sleep 0.5   # both node rows seen as live

e=$(epoch)
t0=$(now_ms)
out=$(vipctl_node a switchover --to b 2>&1); rc=$?
is "$rc" 0 "switchover a -> b exits 0"
check "b active after the switchover" -- wait_role b active 10
diag "switchover with a 2.5 s stop hook took $(( $(now_ms) - t0 )) ms"
is "$(epoch)" $((e + 1)) "exactly one change of holder (the handover, no takeover race)"
check "the row was handed over, not taken" -- sh -c "'$HS_BIN/vipctl' -c '$T/a/hotstandby.conf' events -n 50 | grep -q handed-off"
check "no overlap during the switchover (hook log)" -- hooks_no_overlap

# SIGTERM of the active with the same slow stop: a keeps renewing until it is down
check "a standby" -- wait_role a standby 5
sleep 0.5
e=$(epoch)
kill -TERM "$(node_pid b watchd)"
check "a takes over after b's watchd stopped" -- wait_role a active 12
check "b's watchd exited" -- _wait_gone "$(node_pid b watchd)"
stop_b=$(awk -v e="$e" '$2=="stop" && $3=="b" && $4==e {print $1}' "$HOOKS_LOG" | tail -n 1)
start_a=$(awk -v e="$((e + 1))" '$2=="start" && $3=="a" && $4==e {print $1; exit}' "$HOOKS_LOG")
check "b's service stopped before a's started (SIGTERM)" -- test -n "$stop_b" -a -n "$start_a" -a "${stop_b:-0}" -le "${start_a:-0}"
check "never two active nodes (hook log)" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || { dump_logs; cat "$HOOKS_LOG" | sed 's/^/# /' >&2; }
done_testing
