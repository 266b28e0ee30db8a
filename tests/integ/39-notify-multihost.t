#!/usr/bin/env bash
# LISTEN/NOTIFY is the fast path: with a 10 s poll interval a switchover asked for on the
# standby still completes in well under a second, and again after a database restart
# (watchd re-LISTENs on reconnect). The conninfo is a libpq multi-host string whose
# first host is dead (target_session_attrs=read-write).
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
HS_INTERVAL=10s HS_TAKEOVER=40s
. "$HS_TOP/tests/lib/cluster.sh"
need jq
pg_start
dead=$(free_port)
PG_CONNINFO="host=127.0.0.1,127.0.0.1 port=$dead,$PG_PORT dbname=hs user=postgres target_session_attrs=read-write"
node_conf a 100
node_conf b 100
node_start a
node_start b
check "a active through a multi-host conninfo with a dead first host" -- wait_role a active 8
check "b standby" -- wait_role b standby 8
wait_for 12 sh -c "[ \$(runuser -u postgres -- '$PG_BINDIR/psql' -h '$PG_SOCK' -p '$PG_PORT' -U postgres -qAtX -c \"SELECT count(*) FROM hs_node WHERE seen_at > now() - interval '20 s'\" hs) = 2 ]"

switch_from_b() {
    local t0 t1
    t0=$(now_ms)
    vipctl_node b switchover >/dev/null 2>&1 || return 1
    t1=$(now_ms)
    echo $((t1 - t0))
}
ms=$(switch_from_b)
check "switchover asked for on the standby completed" -- test -n "$ms"
diag "switchover (poll interval 10 s): ${ms} ms"
check "it took less than half the 10 s poll interval (NOTIFY woke the active)" -- test "${ms:-99999}" -lt 5000
check "b active" -- wait_role b active 3

pg_restart
sleep 1.5   # both watchds reconnect (backoff starts at 100 ms)
t0=$(now_ms)
vipctl_node a switchover >/dev/null 2>&1; rc=$?
t1=$(now_ms)
is "$rc" 0 "switchover after a database restart exits 0"
diag "switchover after the restart: $((t1 - t0)) ms"
check "still under half the poll interval (LISTEN renewed after reconnect)" -- test $((t1 - t0)) -lt 5000
check "a active" -- wait_role a active 3
check "never two active nodes (hook log)" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || dump_logs
done_testing
