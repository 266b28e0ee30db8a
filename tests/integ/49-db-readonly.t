#!/usr/bin/env bash
# A read-only arbiter (issue 8, point 7). A hot standby replica first in a multi-host
# conninfo is passed over (target_session_attrs=read-write is added); every session runs
# with synchronous_commit = on; the asynchronous replica is reported as a risk in status;
# and when a failover manager promotes the replica and makes the old primary read-only,
# the renewal's read-only error drops the connection, the daemons move to the new primary
# and the cluster keeps an active.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
need jq "$PG_BINDIR/pg_basebackup"
pg_start
psql_hs "ALTER SYSTEM SET log_statement = 'all'" >/dev/null
psql_hs "SELECT pg_reload_conf()" >/dev/null

# the replica: a base backup of the primary, streaming from it (-R), own port and socket
R_DATA=$T/replica
R_SOCK=$T/replsock
R_PORT=$(free_port)
mkdir -p "$R_SOCK" "$R_DATA"
chown postgres: "$R_SOCK" "$R_DATA"
chmod 700 "$R_DATA"
runuser -u postgres -- "$PG_BINDIR/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" -U postgres \
    -D "$R_DATA" -R -X stream -c fast >"$T/basebackup.log" 2>&1 || bail "pg_basebackup: $(tail -n 3 "$T/basebackup.log")"
printf "port = %s\nunix_socket_directories = '%s'\nhot_standby = on\n" "$R_PORT" "$R_SOCK" \
    >>"$R_DATA/postgresql.conf"
at_exit "runuser -u postgres -- '$PG_BINDIR/pg_ctl' -D '$R_DATA' -m immediate -w stop"
runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$R_DATA" -l "$R_SOCK/postgres.log" -w -t 30 start \
    >/dev/null || bail "replica did not start: $(tail -n 5 "$R_SOCK/postgres.log")"
psql_r() {
    runuser -u postgres -- "$PG_BINDIR/psql" -h "$R_SOCK" -p "$R_PORT" -U postgres -qAtX \
        -v ON_ERROR_STOP=1 -c "$1" hs
}
is "$(psql_r 'SELECT pg_is_in_recovery()')" t "the replica is a hot standby"

# the replica first: libpq would stay on it without target_session_attrs
PG_CONNINFO="host=127.0.0.1,127.0.0.1 port=$R_PORT,$PG_PORT dbname=hs user=postgres connect_timeout=2"
node_conf a 100
node_conf b 100
node_start a
node_start b
one_active() { _role_is a active || _role_is b active; }
check "with a replica first in the conninfo, a node becomes active" -- wait_for 30 one_active
act=a; _role_is a active || act=b
is "$(psql_hs "SELECT holder FROM hs_cluster WHERE cluster='t'")" "$act" "the primary's row names it ($act)"
n=$(grep -c "statement: SET synchronous_commit = on" "$PG_SOCK/postgres.log")
check "every hotstandby session sets synchronous_commit = on ($n sessions)" -- test "$n" -ge 4
risk=$(vipctl_node $act status --json | jq -r '.watchd.arbiter_risk // empty')
diag "arbiter_risk: $risk"
check "status reports the asynchronous replica as a risk" -- sh -c "echo '$risk' | grep -q 'replicates asynchronously to 1 replica'"
check "and watchd logged it" -- grep -q "the arbiter replicates asynchronously" "$T/$act/watchd.log"

# a failover manager promotes the replica and makes the old primary read-only
hb0=$(psql_r "SELECT heartbeat FROM hs_cluster WHERE cluster='t'")
runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$R_DATA" -w promote >/dev/null
psql_hs "ALTER SYSTEM SET default_transaction_read_only = on" >/dev/null
psql_hs "SELECT pg_reload_conf()" >/dev/null
echo "$(now_ms) failover of the database" >>"$T/timeline"
renewing_on_new() {
    local h1 h2
    h1=$(psql_r "SELECT heartbeat FROM hs_cluster WHERE cluster='t'")
    sleep 1
    h2=$(psql_r "SELECT heartbeat FROM hs_cluster WHERE cluster='t'")
    [ -n "$h1" ] && [ "$h2" -gt "$h1" ] && [ "$h1" -ge "$hb0" ]
}
check "the heartbeat moves on the new primary" -- wait_for 20 renewing_on_new
h=$(psql_r "SELECT holder FROM hs_cluster WHERE cluster='t'")
check "the new primary's row names a holder ($h)" -- test -n "$h"
check "that node is active" -- wait_role "${h:-none}" active 15
check "the read-only error made a daemon reconnect" -- grep -q "read-only transaction (SQLSTATE 25006); reconnecting" "$T"/a/*.log "$T"/b/*.log
check "no two nodes were ever active at once" -- hooks_no_overlap
done_testing
