#!/usr/bin/env bash
# Issue 8, point 6: the cluster's timing is one fact, held in the row. A node whose file
# disagrees (a half-done rollout) takes no part and says so with both values; the timing
# changes for the whole cluster with `vipctl set-timing`, only while paused.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
need jq
pg_start
node_conf a 100
node_conf b 100
node_conf c 200      # c would rank first among the standbys
sed -i "s|^takeover_timeout = .*|takeover_timeout = 1s|" "$T/c/hotstandby.conf"
node_start a
check "a active" -- wait_role a active 20
node_start b
node_start c
check "b standby" -- wait_role b standby 20
row_timing() { psql_hs "SELECT interval_ms, takeover_timeout_ms, fence_after_ms, stop_timeout_ms FROM hs_cluster WHERE cluster='$HS_CLUSTER'"; }
is "$(row_timing)" "200|1500|750|562" "the row holds the first node's timing"
c_refuses() { vipctl_node c status 2>/dev/null | grep -q "TIMING .*takeover_timeout: this file 1000 ms, the cluster 1500 ms"; }
check "c's status names both values" -- wait_for 5 c_refuses
check "c's log names both values" -- grep -q "takeover_timeout: this file 1000 ms, the cluster 1500 ms" "$T/c/watchd.log"
check "an hs_event timing-mismatch names both values" -- sh -c "'$HS_BIN/vipctl' -c '$T/a/hotstandby.conf' events -n 50 | grep 'timing-mismatch' | grep -q 'fence_after: this file 500 ms, the cluster 750 ms'"

e=$(epoch)
node_crash a
check "b, not c, takes over" -- wait_role b active 20
sleep 1
is "$(node_role c)" standby "c took no part"
is "$(holder)" b "b holds the cluster"
c_claimed() { psql_hs "SELECT count(*) FROM hs_event WHERE cluster='$HS_CLUSTER' AND node='c' AND kind IN ('claimed','granted')"; }
is "$(c_claimed)" 0 "c never claimed nor took a grant"

vipctl_node b set-timing >/dev/null 2>&1; rc=$?
is "$rc" 3 "set-timing while not paused is refused (exit 3)"
is "$(row_timing)" "200|1500|750|562" "and changes nothing"
vipctl_node b pause >/dev/null
for n in b c; do
    sed -i "s|^interval = .*|interval = 250ms|; s|^takeover_timeout = .*|takeover_timeout = 2s|" "$T/$n/hotstandby.conf"
    kill -HUP "$(node_pid $n watchd)" "$(node_pid $n heartbeatd)"
done
sleep 0.5
out=$(vipctl_node b set-timing 2>&1); rc=$?
is "$rc" 0 "set-timing while paused exits 0"
diag "$out"
is "$(row_timing)" "250|2000|1000|750" "the row holds the new timing"
c_agrees() { ! vipctl_node c status 2>/dev/null | grep -q TIMING; }
check "c agrees now" -- wait_for 5 c_agrees
vipctl_node b resume >/dev/null
paused_is() { [ "$(psql_hs "SELECT paused FROM hs_cluster WHERE cluster='$HS_CLUSTER'")" = "$1" ]; }
check "the active commits the resume" -- wait_for 5 paused_is f
check "the timing change is in the event log" -- sh -c "'$HS_BIN/vipctl' -c '$T/b/hotstandby.conf' events -n 50 | grep -q timing-set"
e=$(epoch)
node_crash b
check "c takes over now that it agrees" -- wait_role c active 20
check "never two active nodes (hook log)" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || { dump_logs; sed 's/^/# /' "$HOOKS_LOG" >&2; }
done_testing
