#!/usr/bin/env bash
# A database server that is slow to start sessions is given the time it needs. Each new
# session reaches the server 1 s after its connect, longer than the daemons' connect
# deadlines at these timings (watchd 375 ms, heartbeatd 750 ms). A connect that reached
# the server and timed out now waits twice as long the next time, so the node comes up;
# before, every attempt was abandoned at the same deadline, the server started a backend
# for each one for nothing, and the node never connected (with many nodes reconnecting at
# once, e.g. after a restart of the arbiter, that flood kept the fleet from ever
# reconnecting: bench-clusters).
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
. "$HS_TOP/tests/lib/proxy.sh"
need jq
pg_start
node_conf a 100
proxy_node a
proxy_slow_start a 1000
node_start a
check "a becomes active through a server that takes 1 s to start each session" -- \
    wait_role a active 30
check "the daemons' first connects did time out (the server was slow)" -- \
    grep -q "connect timed out" "$T/a/watchd.log" "$T/a/heartbeatd.log"
n=$(proxy_accepted a)
check "few connects were made while waiting ($n; each starts a backend)" -- test "$n" -le 20
before=$(heartbeat)
renewed() { [ "$(heartbeat)" -gt "$before" ]; }
check "a renews its lease" -- wait_for 10 renewed

# After a restart of the server, the sessions come back at once when it is fast again:
# the longer connect deadline was reset by the successful connect.
proxy_slow_start a 0
pg_restart
check "a reconnects after the database restarts and stays active" -- wait_for 30 bash -c \
    "grep -c 'database: connected to' '$T/a/heartbeatd.log' | grep -qv '^[01]$'"
check "a is active" -- wait_role a active 10
check "no hook overlap" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || dump_logs
done_testing
