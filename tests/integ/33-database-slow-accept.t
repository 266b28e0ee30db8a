#!/usr/bin/env bash
# A database server that is slow to start sessions is given the time it needs. Each new
# session reaches the server 1 s after its connect, longer than the daemons' connect
# deadlines at these timings (watchd 375 ms, heartbeatd 750 ms). A connect the server
# took is given at least 5 s to start its session (and one that still was not served
# waits twice as long the next time), so the node comes up with one connect per session;
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
# (watchd's one-time schema step has its own bounded blocking connect, which does time out
# once here and waits twice as long the next time: "connect timed out after 750 ms")
check "no session's connect was abandoned while the server started it" -- \
    sh -c "! grep -q 'database: connect timed out\$' '$T/a/watchd.log' '$T/a/heartbeatd.log'"
n=$(proxy_accepted a)
# the three sessions, the schema step's two tries, and vipctl status's reads
check "few connects were made while waiting ($n; each starts a backend)" -- test "$n" -le 12
before=$(heartbeat)
renewed() { [ "$(heartbeat)" -gt "$before" ]; }
check "a renews its lease" -- wait_for 10 renewed

# After a restart of the server, the sessions come back at once when it is fast again:
# the longer connect deadline was reset by the successful connect.
proxy_slow_start a 0
before=$(grep -c 'database: connected to' "$T/a/heartbeatd.log")
pg_restart
check "a reconnects after the database restarts and stays active" -- wait_for 30 bash -c \
    "test \$(grep -c 'database: connected to' '$T/a/heartbeatd.log') -gt $before"
check "a is active" -- wait_role a active 10
check "no hook overlap" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || dump_logs
done_testing
