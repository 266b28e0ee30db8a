#!/usr/bin/env bash
# A cluster whose database is reached through pgbouncer in transaction mode
# ([cluster] database_pool_mode = transaction): two server sessions serve both nodes'
# daemons and vipctl, so each transaction of a daemon may run on another server session.
# Nothing may rely on a session: no prepared statement (a name prepared on one server
# session is unknown on the next), no LISTEN, no SET, no session advisory lock. The
# cluster starts, fails over, switches over, pauses and resumes (asked on the standby: the
# active hears of them in its renewal's answer and reads the row itself only every fifth
# interval, counted per node from the server's log), the schema's functions
# that stand in for the prepared statements answer as the statements do, and a server whose
# own synchronous_commit is off is refused (no session of ours can set it there).
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
HS_CLUSTER=pooled.t
. "$HS_TOP/tests/lib/cluster.sh"
need pgbouncer

pg_start
psql_hs "ALTER SYSTEM SET log_line_prefix = '[%a] '" >/dev/null
psql_hs "ALTER SYSTEM SET log_min_error_statement = 'error'" >/dev/null
psql_hs "ALTER SYSTEM SET log_statement = 'all'" >/dev/null
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
# Nobody listens behind the pooler, so the active hears of a switchover, a pause or a resume
# in its renewal's answer; it reads the row itself once every 5 intervals, the standby once
# per interval. Counted per node from the server's statement log (each call's parameters
# name the node).
from=$(stat -c %s "$PG_LOG")
sleep 6
calls() {   # calls FUNCTION NODE: calls since $from
    tail -c +$((from + 1)) "$PG_LOG" | grep -A1 "FROM $1(" | grep -c "\$2 = '$2'" || true
}
renews=$(calls hs_renew a) reads_a=$(calls hs_cluster_read a) reads_b=$(calls hs_cluster_read b)
diag "in 6 s at 200 ms: a renewed $renews times and read the row $reads_a times, b read it $reads_b times"
check "the renewals went on ($renews in 6 s)" -- test "$renews" -ge 15
check "the standby (b) reads the row every interval ($reads_b)" -- test "$reads_b" -ge 15
check "the active (a) reads it every fifth interval ($reads_a against b's $reads_b)" -- \
    test "$((reads_a * 3))" -le "$reads_b" -a "$reads_a" -ge 2
check "watchd knows it may not listen behind the pooler" -- \
    grep -q 'database_pool_mode = transaction: listening to no notification' "$T/b/watchd.log"
# from the server's statement log (direct, 34-database-prepared and 46-standby-notify see
# these statements in it)
check "no statement ran by name on a server session (nothing prepared)" -- \
    sh -c "! grep -qE 'execute hs[0-9]+:' '$PG_LOG'"
check "no LISTEN and no SET synchronous_commit reached a server session" -- \
    sh -c "! grep -qE 'statement: (LISTEN|SET synchronous_commit)' '$PG_LOG'"
check "no advisory lock is left held (the schema's lock is a transaction's)" -- \
    test "$(psql_hs "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" -eq 0
out=$(vipctl_node b status --json 2>&1)
check "vipctl status through the pooler: a holds it" -- \
    test "$(jq -r .holder <<<"$out" 2>/dev/null)" = a

# Behind the pooler the three statements of every interval are the schema's functions
# (nothing can be prepared there): each answers as its statement in common/sql.h does.
# The statements' text comes from sql.h itself, through the C preprocessor.
sql_of() {
    printf '#include "sql.h"\n%s\n' "$1" | cc -E -P -I"$HS_TOP/common" - |
        tr '\n' ' ' | sed 's/" *"//g; s/^ *"//; s/" *$//'
}
stmt() {   # stmt NAME TYPES ARGS: the statement, prepared with those types and run
    psql_hs "PREPARE s($2) AS $(sql_of "$1"); EXECUTE s($3)"
}
psql_hs "INSERT INTO hs_cluster (cluster, holder, epoch, paused, resume_requested)
         VALUES ('cmp.s', 'x', 7, true, true), ('cmp.f', 'x', 7, true, true)" >/dev/null
row() { psql_hs "SELECT heartbeat, paused, resume_requested FROM hs_cluster WHERE cluster = '$1'"; }
is "$(stmt SQL_RENEW 'text,text,bigint,boolean,boolean' "'cmp.s','x',7,false,false")" \
   "$(psql_hs "SELECT * FROM hs_renew('cmp.f','x',7,false,false)")" "hs_renew answers as SQL_RENEW"
is "$(stmt SQL_RENEW 'text,text,bigint,boolean,boolean' "'cmp.s','x',6,true,false")" \
   "$(psql_hs "SELECT * FROM hs_renew('cmp.f','x',6,true,false)")" \
   "hs_renew answers nothing, as SQL_RENEW, for a wrong epoch"
is "$(stmt SQL_RENEW 'text,text,bigint,boolean,boolean' "'cmp.s','x',7,true,true")" \
   "$(psql_hs "SELECT * FROM hs_renew('cmp.f','x',7,true,true)")" \
   "hs_renew answers as SQL_RENEW when it commits a resume and notifies"
is "$(row cmp.f)" "$(row cmp.s)" "and leaves the row as SQL_RENEW does ($(row cmp.s))"
is "$(row cmp.f)" "2|f|f" "two renewals, the resume committed"
# the answer carries what an operator asked of the active: handoff_to, paused, resume_requested
psql_hs "UPDATE hs_cluster SET handoff_to = 'b' WHERE cluster LIKE 'cmp.%'" >/dev/null
is "$(stmt SQL_RENEW 'text,text,bigint,boolean,boolean' "'cmp.s','x',7,false,false")" \
   "$(psql_hs "SELECT * FROM hs_renew('cmp.f','x',7,false,false)")" \
   "hs_renew answers as SQL_RENEW with a switchover asked for"
is "$(psql_hs "SELECT o_heartbeat, o_handoff_to, o_paused, o_resume_requested FROM hs_renew('cmp.f','x',7,false,false)")" \
   "4|b|f|f" "its answer: the counter, handoff_to, paused, resume_requested"
stmt SQL_RENEW 'text,text,bigint,boolean,boolean' "'cmp.s','x',7,false,false" >/dev/null   # both at 4
stmt SQL_NODE_SEEN 'text,text,text,int,text,text,text,text' \
    "'cmp.s','n','198.51.100.1',90,'1.0','standby','ok','d1'" >/dev/null
psql_hs "SELECT hs_node_seen('cmp.f','n','198.51.100.1',90,'1.0','standby','ok','d1')" >/dev/null
psql_hs "SELECT hs_node_seen('cmp.f','n','198.51.100.2',80,'1.1','active','ok','d2')" >/dev/null
stmt SQL_NODE_SEEN 'text,text,text,int,text,text,text,text' \
    "'cmp.s','n','198.51.100.2',80,'1.1','active','ok','d2'" >/dev/null
node_row() { psql_hs "SELECT address, priority, version, role, state, beat, config_digest,
                             seen_at > now() - interval '1 min' FROM hs_node
                      WHERE cluster = '$1' AND node = 'n'"; }
is "$(node_row cmp.f)" "$(node_row cmp.s)" "hs_node_seen writes the node row as SQL_NODE_SEEN ($(node_row cmp.s))"
# Both commit the node row without waiting for the WAL flush, in their own transaction
# only; the renewal waits for it, and so does the session's next transaction.
commit_mode() {   # synchronous_commit at the commit of a transaction with $1, then after it
    psql_hs "BEGIN; $1; SELECT 'in:' || current_setting('synchronous_commit'); COMMIT;
             SELECT 'after:' || current_setting('synchronous_commit')" | grep -E '^(in|after):' | tr '\n' ' '
}
is "$(commit_mode "PREPARE s(text,text,text,int,text,text,text,text) AS $(sql_of SQL_NODE_SEEN);
                   EXECUTE s('cmp.s','n','198.51.100.2',80,'1.1','active','ok','d2')")" \
   "in:off after:on " "SQL_NODE_SEEN commits asynchronously, its transaction only"
is "$(commit_mode "SELECT hs_node_seen('cmp.f','n','198.51.100.2',80,'1.1','active','ok','d2')")" \
   "in:off after:on " "hs_node_seen commits asynchronously, its transaction only"
is "$(commit_mode "SELECT * FROM hs_renew('cmp.f','x',6,false,false)")" "in:on after:on " \
   "hs_renew commits synchronously"
is "$(node_row cmp.f)" "$(node_row cmp.s)" "and both still write the same row"
for c in cmp.s cmp.f; do
    psql_hs "INSERT INTO hs_node (cluster, node, priority) VALUES ('$c', 'm', 95), ('$c', 'o', 90)
             ON CONFLICT DO NOTHING" >/dev/null
done
is "$(stmt SQL_CLUSTER_READ 'text,text,float8,int' "'cmp.s','o',60,90")" \
   "$(psql_hs "SELECT * FROM hs_cluster_read('cmp.f','o',60,90)")" \
   "hs_cluster_read answers as SQL_CLUSTER_READ (rank, best standby, timing)"
is "$(psql_hs "SELECT o_rank, o_best FROM hs_cluster_read('cmp.f','o',60,90)")" "1|m" \
   "o (90) ranks behind m (95), not n (80); m is the best live standby"
is "$(psql_hs "SELECT count(*) FROM hs_cluster_read('nosuch','o',60,90)")" 0 \
   "no row for a cluster that does not exist, as the statement"
psql_hs "DELETE FROM hs_node WHERE cluster LIKE 'cmp.%'; DELETE FROM hs_cluster WHERE cluster LIKE 'cmp.%'" >/dev/null

# failover: a loses power, b takes over through the pooler
e0=$(epoch)
node_crash a
check "b takes over after a's power cut" -- wait_role b active 20
check "the epoch moved on ($e0 -> $(epoch))" -- test "$(epoch)" -gt "$e0"
node_start a
check "a comes back as standby" -- wait_role a standby 20

# switchover back to a, asked on a (the standby) through the pooler: b hears of it in its
# renewal's answer (nobody listens here) and reads the row at once
out=$(vipctl_node a switchover --to a 2>&1); rc=$?
is "$rc" 0 "switchover --to a asked on the standby through the pooler exits 0: $out"
check "a is active after the switchover" -- wait_role a active 20
check "b is standby after the switchover" -- wait_role b standby 20
out=$(vipctl_node b pause 2>&1); rc=$?
is "$rc" 0 "pause asked on the standby through the pooler: $out"
out=$(vipctl_node b resume 2>&1); rc=$?
is "$rc" 0 "resume asked on the standby through the pooler (committed by a's renewal, hs_renew): $out"
resumed() { [ "$(psql_hs "SELECT paused OR resume_requested FROM hs_cluster WHERE cluster = '$HS_CLUSTER'")" = f ]; }
check "the resume was committed by the active's renewal" -- wait_for 10 resumed
# Each of the three was heard in the active's renewal's answer unless its read of every 5th
# interval came first (about one time in ten each).
heard=$(grep -h "the renewal's answer shows a change" "$T/a/watchd.log" "$T/b/watchd.log")
diag "heard in a renewal's answer: $(printf '%s' "$heard" | sed 's/.*(handoff_to/(handoff_to/' | paste -sd';')"
check "the actives heard of the switchover, the pause or the resume in their renewal's answer" -- \
    test -n "$heard"
check "never two active (hook log)" -- hooks_no_overlap

# A server whose synchronous_commit is off for our role: no session of ours can fix that
# behind the pooler, so it is refused, at a connect and at the recheck of a session that
# was up before.
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
# a's sessions were up before: the pooler gave them new server sessions with the role's
# setting, and a's daemons ask again at their recheck (20 deadlines: 7.5-15 s here)
a_refused() { grep -q "synchronous_commit is 'off' on the server" "$T/a/heartbeatd.log" &&
              grep -q "synchronous_commit is 'off' on the server" "$T/a/watchd.log"; }
check "a's daemons, connected before, notice at their recheck and refuse too" -- wait_for 30 a_refused
h0=$(heartbeat)
sleep 2
check "no renewal is committed on that server meanwhile ($h0 -> $(heartbeat))" -- test "$(heartbeat)" = "$h0"
psql_hs "ALTER ROLE postgres RESET synchronous_commit" >/dev/null
psql_hs "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()" >/dev/null
one_of_each() {
    local ra rb
    ra=$(node_role a) rb=$(node_role b)
    [ "$ra:$rb" = active:standby ] || [ "$ra:$rb" = standby:active ]
}
check "with it on again, one node is active and the other standby" -- wait_for 40 one_of_each
check "never two active throughout (hook log)" -- hooks_no_overlap

# a bad value is refused with its place
sed -i 's/^database_pool_mode = transaction$/database_pool_mode = statement/' "$T/b/hotstandby.conf"
out=$(vipctl_node b -t 2>&1); rc=$?
is "$rc" 2 "database_pool_mode = statement is refused (exit 2)"
check "the error gives file:line:key and the choices: $out" -- \
    grep -q "hotstandby.conf:[0-9]*: database_pool_mode: 'statement' is not session or transaction" <<<"$out"
done_testing
