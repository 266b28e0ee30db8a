#!/usr/bin/env bash
# Issue 8, scenario 4: heartbeatd's backstop fence is timed from the last confirmed
# renewal's send time (an absolute CLOCK_BOOTTIME deadline computed by watchd), not
# from when the last grant arrived. The active's database path is cut, and its watchd
# freezes just before its own fence deadline: heartbeatd must fence by that deadline.
# On 673b09e it fenced fence_after after the last grant: ~2 x fence_after after the
# last renewal, well after the standby had taken over.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
HS_INTERVAL=200ms HS_TAKEOVER=3s
. "$HS_TOP/tests/lib/cluster.sh"
. "$HS_TOP/tests/lib/proxy.sh"
need jq
pg_start
node_conf a 100
node_conf b 100
for n in a b; do
    sed -i "s|^takeover_timeout = .*|&\nfence_after = 2400ms|" "$T/$n/hotstandby.conf"
done
proxy_node a
node_start a
check "a active" -- wait_role a active 5
node_start b
check "b standby" -- wait_role b standby 5
sleep 1

e=$(epoch)
t0=$(now_ms)
proxy_cut a                      # renewals and row reads of a stall from here
sleep 1.9
kill -STOP "$(node_pid a watchd)"   # frozen before its own deadline (>= t0 + 2.2 s)
check "b takes over" -- wait_role b active 10
check "a's heartbeatd fenced a (service stop)" -- wait_for 5 grep -q " stop a $e\$" "$HOOKS_LOG"
stop_a=$(awk -v e="$e" '$2=="stop" && $3=="a" && $4==e {print $1; exit}' "$HOOKS_LOG")
start_b=$(awk -v e="$((e + 1))" '$2=="start" && $3=="b" && $4==e {print $1; exit}' "$HOOKS_LOG")
diag "cut -> a stopped: $(( ${stop_a:-0} - t0 )) ms; cut -> b started: $(( ${start_b:-0} - t0 )) ms"
check "never two active nodes (hook log)" -- hooks_no_overlap
kill -CONT "$(node_pid a watchd)"
proxy_restore a
check "a standby after it wakes" -- wait_role a standby 10
is "$(holder)" b "b keeps the cluster"
check "never two active nodes (hook log)" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || { dump_logs; sed 's/^/# /' "$HOOKS_LOG" >&2; }
done_testing
