#!/usr/bin/env bash
# Issue 8, scenario 2: before any stop runs, the node's running start hook is killed
# (its whole process group) and reaped, so a start that was still running can never
# complete after the stop on a node that another node has replaced. Three ways a
# promotion is cut short while the 1.5 s start hook runs:
#   - its heartbeatd freezes (watchd fences),
#   - its watchd gets SIGTERM,
#   - its watchd is killed with -9 (heartbeatd's backstop fences).
# On 673b09e the start hook ran on and wrote "start" after the "stop": two active nodes.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
need jq

cat >"$T/slow-start.sh" <<SH
echo "\$(date +%s%3N) starting \$HOTSTANDBY_NODE \$HOTSTANDBY_EPOCH" >> $HOOKS_LOG
sleep 1.5
echo "\$(date +%s%3N) start \$HOTSTANDBY_NODE \$HOTSTANDBY_EPOCH" >> $HOOKS_LOG
SH
pg_start
for n in a:100 b:90 c:80; do
    node_conf "${n%:*}" "${n#*:}"
    sed -i "s|^start = .*|start = sh $T/slow-start.sh|" "$T/${n%:*}/hotstandby.conf"
done
node_start a
check "a active" -- wait_role a active 8
node_start b
node_start c
check "b standby" -- wait_role b standby 10
check "c standby" -- wait_role c standby 10
sleep 0.5

starting() { grep -q " starting $1 $2\$" "$HOOKS_LOG"; }
never_started() {   # NAME EPOCH, after the hook would have finished
    sleep 2
    ! grep -q " start $1 $2\$" "$HOOKS_LOG"
}

# 1. b promotes; its heartbeatd freezes mid-start: b's watchd fences, c takes over
e=$(epoch)
node_crash a
check "b begins to start its service" -- wait_for 10 starting b $((e + 1))
kill -STOP "$(node_pid b heartbeatd)"
check "c takes over from b" -- wait_role c active 10
check "b's start hook was killed before b's stop (no late start)" -- never_started b $((e + 1))
kill -CONT "$(node_pid b heartbeatd)"
check "b standby" -- wait_role b standby 10
check "no overlap so far (hook log)" -- hooks_no_overlap

# 2. a promotes; its watchd gets SIGTERM mid-start: b takes over
node_start a
check "a standby" -- wait_role a standby 10
sleep 0.5
e=$(epoch)
node_crash c
check "a begins to start its service" -- wait_for 10 starting a $((e + 1))
kill -TERM "$(node_pid a watchd)"
check "b takes over from a" -- wait_role b active 10
check "a's start hook was killed on SIGTERM (no late start)" -- never_started a $((e + 1))
check "no overlap so far (hook log)" -- hooks_no_overlap

# 3. a promotes again; its watchd is killed with -9 mid-start: c takes over
check "a's watchd exited after SIGTERM" -- _wait_gone "$(node_pid a watchd)"
node_start_watchd a
node_start c
check "a standby" -- wait_role a standby 10
check "c standby" -- wait_role c standby 10
sleep 0.5
e=$(epoch)
node_crash b
check "a begins to start its service" -- wait_for 10 starting a $((e + 1))
kill -9 "$(node_pid a watchd)"
check "c takes over from a" -- wait_role c active 10
check "a's start hook was killed by heartbeatd's backstop (no late start)" -- never_started a $((e + 1))
check "a's hook records are gone" -- sh -c "[ -z \"\$(ls '$T/a/run/hooks' 2>/dev/null)\" ]"
check "never two active nodes (hook log)" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || { dump_logs; sed 's/^/# /' "$HOOKS_LOG" >&2; }
done_testing
