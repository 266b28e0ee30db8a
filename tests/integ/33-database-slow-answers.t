#!/usr/bin/env bash
# A database server that answers after the query deadline keeps its sessions. The query's
# owner hears of the timeout at its deadline as before, but the session waits for the late
# answer; only a server silent for three deadlines (at least 5 s) is dropped. Before, every
# timed-out query dropped its session, and the reconnect made the server start a new
# backend for each late answer: under load (bench-clusters, 100 clusters on one server)
# that churn was most of the server's work and it never caught up.
# Timings here: watchd's query deadline 375 ms, heartbeatd's 750 ms.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
. "$HS_TOP/tests/lib/proxy.sh"
need jq
start_proxied_pair
sleep 1
n0=$(proxy_accepted a)

# 1 s: past both deadlines, inside the silence both accept (5 s). Queries time out
# and their owners say so; the sessions stay. (One query at a time per session, so the node
# cannot renew often enough and may fence: that is the fence doing its job.)
proxy_slow_reply a 1000
sleep 5
check "watchd's queries timed out" -- grep -q "query timed out" "$T/a/watchd.log"
check "watchd says it keeps the session" -- grep -q "answers after the query deadline.*keeping the session" "$T/a/watchd.log"
check "heartbeatd says it keeps the session" -- grep -q "answers after the query deadline.*keeping the session" "$T/a/heartbeatd.log"
n1=$(proxy_accepted a)
is "$n1" "$n0" "no new session was started while the server answered late ($n0 -> $n1 connects)"
proxy_slow_reply a 0
live() { [ -n "$(holder)" ] && h=$(heartbeat) && sleep 0.5 && [ "$(heartbeat)" -gt "$h" ]; }
check "the cluster has a renewing active once the server is fast again" -- wait_for 15 live
check "a's watchd says its session answers in time again" -- \
    wait_for 10 grep -q "answers within the deadline again" "$T/a/watchd.log"
is "$(proxy_accepted a)" "$n0" "a's sessions all survived the slow spell"
check "no session was dropped" -- bash -c "! grep -q 'no answer from the server' '$T/a/watchd.log' '$T/a/heartbeatd.log'"
# Events whose write timed out wait in watchd's memory; with the session kept there is no
# reconnect to send them again: the next poll does.
logged() { grep -cE '^<5>watchd: [a-z-]+: .*\(epoch [0-9]+\)$' "$T/a/watchd.log"; }
stored() { psql_hs "SELECT count(*) FROM hs_event WHERE cluster='$HS_CLUSTER' AND node='a'"; }
all_stored() { [ "$(stored)" -ge "$(logged)" ]; }
check "a's watchd logged events to compare ($(logged))" -- test "$(logged)" -gt 0
check "every event a's watchd logged is in hs_event" -- wait_for 10 all_stored
diag "a's events: $(logged) logged, $(stored) stored"

# 7 s: longer than the silence either daemon accepts: both drop their sessions and
# reconnect; the cluster carries on with one active node.
proxy_slow_reply a 7000
check "a silent server is dropped" -- wait_for 25 grep -q "no answer from the server for" "$T/a/watchd.log"
proxy_slow_reply a 0
reconnected() { [ "$(proxy_accepted a)" -gt "$n0" ]; }
check "a reconnected" -- wait_for 15 reconnected
check "one node is active and renews" -- wait_for 20 live
roles() { [ "$(node_role a)$(node_role b)" = activestandby ] || [ "$(node_role a)$(node_role b)" = standbyactive ]; }
check "a and b settle as one active, one standby" -- wait_for 20 roles
check "never two active nodes (hook log)" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || dump_logs
done_testing
