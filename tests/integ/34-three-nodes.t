#!/usr/bin/env bash
# Three nodes: when the active dies, the highest-priority live standby wins and the
# other stays standby (the rank delay keeps it from even trying first).
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
need jq
pg_start
node_conf a 100
node_conf b 50
node_conf c 200
node_start a
node_start b
node_start c
check "a (primary) active" -- wait_role a active 5
check "b standby" -- wait_role b standby 5
check "c standby" -- wait_role c standby 5
is "$(node_role c)" standby "c, though of higher priority, does not preempt a"
sleep 0.5
e=$(epoch)
node_crash a
check "c (priority 200) takes over" -- wait_holder c 10
check "c active" -- wait_role c active 5
is "$(epoch)" $((e + 1)) "one takeover: epoch +1"
sleep 1
is "$(node_role b)" standby "b (priority 50) stays standby"
is "$(psql_hs "SELECT count(*) FROM hs_event WHERE cluster='$HS_CLUSTER' AND node='b' AND kind='claimed'")" 0 \
    "b never won a claim"
node_crash c
check "b takes over when c dies too" -- wait_holder b 10
check "b active" -- wait_role b active 5
check "never two active nodes (hook log)" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || dump_logs
done_testing
