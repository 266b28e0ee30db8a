#!/usr/bin/env bash
# A cluster whose database is reached through pgbouncer in transaction mode
# ([cluster] database_pool_mode = transaction): two server sessions serve both nodes'
# daemons and vipctl, so each transaction of a daemon may run on another server session.
# Nothing may rely on a session: no prepared statement (a name prepared on one server
# session is unknown on the next), no LISTEN, no SET, no session advisory lock. The
# cluster starts, fails over, switches over, and a server whose own synchronous_commit is
# off is refused (no session of ours can set it there).
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
HS_CLUSTER=pooled.t
. "$HS_TOP/tests/lib/cluster.sh"
need pgbouncer

pg_start
psql_hs "ALTER SYSTEM SET log_line_prefix = '[%a] '" >/dev/null
psql_hs "ALTER SYSTEM SET log_min_error_statement = 'error'" >/dev/null
psql_hs "SELECT pg_reload_conf()" >/dev/null
PG_LOG=$PG_SOCK/postgres.log
pgb_start 2
DIRECT=$PG_CONNINFO
PG_CONNINFO=$PGB_CONNINFO
node_conf a 100 '[cluster]' 'database_pool_mode = transaction'
node_conf b 90 '[cluster]' 'database_pool_mode = transaction'
PG_CONNINFO=$DIRECT

out=$(vipctl_node a -t 2>&1); rc=$?
is "$rc" 0 "vipctl -t accepts database_pool_mode = transaction: $out"
node_start a
node_start b
check "a active through the pooler" -- wait_role a active 20
check "b standby through the pooler" -- wait_role b standby 10

# the pooler holds at most its two server sessions for the four daemons' sessions
servers=$(psql_hs "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'
                   AND datname = 'hs' AND pid <> pg_backend_pid()")
clients=$(runuser -u postgres -- "$PG_BINDIR/psql" -h 127.0.0.1 -p "$PGB_PORT" -U postgres -qAtX \
    -c 'SHOW CLIENTS' pgbouncer 2>/dev/null | grep -c '|hs|' || true)
diag "pooler: $clients client connections to hs, $servers server sessions"
check "the daemons' sessions share the pooler's two server sessions ($clients clients, $servers servers)" -- \
    test "$servers" -le 2 -a "$clients" -ge 4

h0=$(heartbeat)
sleep 2
h1=$(heartbeat)
check "a renews through the pooler ($h0 -> $h1)" -- test "$h1" -ge "$((h0 + 4))"
check "nothing was prepared on a server session (no 'prepared statement' error)" -- \
    sh -c "! grep -q 'prepared statement' '$PG_LOG' '$PGB_LOG'"
check "watchd knows it may not listen behind the pooler" -- \
    grep -q 'database_pool_mode = transaction: listening to no notification' "$T/b/watchd.log"
check "nobody listens on a server session" -- \
    test "$(psql_hs "SELECT count(*) FROM pg_listening_channels()")" -eq 0
check "no advisory lock is left held (the schema's lock is a transaction's)" -- \
    test "$(psql_hs "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" -eq 0
out=$(vipctl_node b status --json 2>&1)
check "vipctl status through the pooler: a holds it" -- \
    test "$(jq -r .holder <<<"$out" 2>/dev/null)" = a

# failover: a loses power, b takes over through the pooler
e0=$(epoch)
node_crash a
check "b takes over after a's power cut" -- wait_role b active 20
check "the epoch moved on ($e0 -> $(epoch))" -- test "$(epoch)" -gt "$e0"
node_start a
check "a comes back as standby" -- wait_role a standby 20

# switchover back to a, asked through the pooler
out=$(vipctl_node b switchover --to a 2>&1); rc=$?
is "$rc" 0 "switchover --to a through the pooler exits 0: $out"
check "a is active after the switchover" -- wait_role a active 20
check "b is standby after the switchover" -- wait_role b standby 20
check "never two active (hook log)" -- hooks_no_overlap

# A server whose synchronous_commit is off for our role: no session of ours can fix that
# behind the pooler, so it is refused.
node_stop b
psql_hs "ALTER ROLE postgres SET synchronous_commit = off" >/dev/null
psql_hs "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()" >/dev/null
beat_b() { psql_hs "SELECT beat FROM hs_node WHERE cluster = '$HS_CLUSTER' AND node = 'b'"; }
before=$(beat_b)
out=$(vipctl_node b status 2>&1); rc=$?
diag "vipctl status with synchronous_commit off: rc $rc: $out"
check "vipctl refuses the server: it says why" -- \
    grep -q "synchronous_commit is 'off'" <<<"$out"
node_start b
refused() { grep -q "synchronous_commit is 'off' on the server" "$T/b/heartbeatd.log" &&
            grep -q "synchronous_commit is 'off' on the server" "$T/b/watchd.log"; }
check "b's daemons refuse the server and say why" -- wait_for 20 refused
sleep 1
check "b wrote nothing meanwhile (its node row stands still)" -- test "$(beat_b)" = "$before"
psql_hs "ALTER ROLE postgres RESET synchronous_commit" >/dev/null
psql_hs "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()" >/dev/null
check "with it on again, b is back as standby" -- wait_role b standby 30
check "a is still active" -- wait_role a active 5

# a bad value is refused with its place
sed -i 's/^database_pool_mode = transaction$/database_pool_mode = statement/' "$T/b/hotstandby.conf"
out=$(vipctl_node b -t 2>&1); rc=$?
is "$rc" 2 "database_pool_mode = statement is refused (exit 2)"
check "the error gives file:line:key and the choices: $out" -- \
    grep -q "hotstandby.conf:[0-9]*: database_pool_mode: 'statement' is not session or transaction" <<<"$out"
done_testing
