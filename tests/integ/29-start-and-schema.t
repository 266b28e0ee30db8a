#!/usr/bin/env bash
# Start-up against the database: watchd started before PostgreSQL keeps answering
# (status, SIGTERM) and takes over once the database appears; the schema is applied once
# and idempotently; a schema step that cannot finish in time (another node holds the schema
# lock) is retried, not fatal; a user without DDL rights works once the schema is there and
# gets a clear error naming schema.sql when it is not.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
need jq
pg_start
pg_stop
node_conf a 100
node_start a
sleep 1
check "watchd runs while the database is down" -- kill -0 "$(node_pid a watchd)"
check "and answers on its control socket" -- sh -c "'$HS_BIN/vipctl' -c '$T/a/hotstandby.conf' status --json | jq -e '.watchd.role == \"starting\"' >/dev/null"
pg_ctl_start
check "a becomes active once the database is up" -- wait_role a active 8
SCHEMA_VERSION=$(sed -n 's/^-- hs-schema-version: \([0-9]*\)$/\1/p' "$HS_TOP/common/schema.sql")
is "$(psql_hs "SELECT schema_version FROM hs_meta")" "$SCHEMA_VERSION" "schema version recorded once"
node_stop a
check "SIGTERM stops watchd" -- sh -c "! kill -0 $(node_pid a watchd) 2>/dev/null"

# a second start re-applies nothing and changes nothing
node_start a
check "a active again after a restart" -- wait_role a active 8
is "$(psql_hs "SELECT count(*) FROM hs_meta")" 1 "hs_meta still has one row"
node_stop a

# A node skips the schema when hs_meta records its version, so every change of schema.sql
# must raise the version; this digest is the file's at the version recorded here.
recorded_version=5
recorded_sha=9ba01df84da74f9d2d57a2839bbe79e5f9741b63f28a0a908a7581ddc434b545
is "$SCHEMA_VERSION" "$recorded_version" "schema.sql's version is the one whose digest this test records"
is "$(sha256sum "$HS_TOP/common/schema.sql" | cut -d' ' -f1)" "$recorded_sha" \
    "schema.sql unchanged since version $recorded_version (a change needs a new hs-schema-version, then its digest here)"

# a database set up by an earlier version (before hs_few_clusters, with version 4's hs_renew
# that answered two columns) is brought up to date
psql_hs "DROP FUNCTION hs_few_clusters(); DROP FUNCTION hs_renew(text, text, bigint, boolean, boolean);
         CREATE FUNCTION hs_renew(p_cluster text, p_holder text, p_epoch bigint, p_resume boolean,
                                  p_notify boolean) RETURNS TABLE (o_heartbeat bigint, o_notified text)
             LANGUAGE sql AS \$\$ SELECT 0::bigint, NULL::text WHERE false \$\$;
         UPDATE hs_meta SET schema_version = $((SCHEMA_VERSION - 1))" >/dev/null
node_start a
check "a active on a database of the previous schema version" -- wait_role a active 8
is "$(psql_hs "SELECT schema_version FROM hs_meta")" "$SCHEMA_VERSION" "the schema version was raised"
is "$(psql_hs "SELECT hs_few_clusters()")" t "and what the new version adds is there"
is "$(psql_hs "SELECT array_to_string(proargnames, ',') FROM pg_proc WHERE proname = 'hs_renew'")" \
   "p_cluster,p_holder,p_epoch,p_resume,p_notify,o_heartbeat,o_notified,o_handoff_to,o_paused,o_resume_requested" \
   "the older hs_renew was replaced by the one that answers the row's handoff_to, paused, resume_requested"
node_stop a

# another node applying the schema slowly on a fresh database (it holds the schema lock for
# 4 s, longer than the 2 s a step may take): watchd waits and retries, it does not exit
pg_psql() { runuser -u postgres -- "$PG_BINDIR/psql" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -qAtX "$@"; }
pg_psql -c "CREATE DATABASE fresh" postgres >/dev/null
pg_psql -c "SELECT pg_advisory_lock(7522018851094111589); SELECT pg_sleep(4)" fresh >/dev/null &
locker=$!
at_exit "kill $locker 2>/dev/null"
sleep 0.5
HS_CLUSTER=f PG_CONNINFO="host=$PG_SOCK port=$PG_PORT dbname=fresh user=postgres" node_conf f 100
sed -i 's/^primary = .*/primary = f/' "$T/f/hotstandby.conf"
node_start f
sleep 3
check "watchd still runs while the schema lock is held past its step timeout" -- kill -0 "$(node_pid f watchd)"
wait $locker
check "and becomes active once the lock is released" -- wait_role f active 10
is "$(pg_psql -c "SELECT schema_version FROM hs_meta" fresh)" "$SCHEMA_VERSION" "the schema was applied once"
node_stop f

# a user without DDL rights, schema present: fine
psql_hs "CREATE ROLE app LOGIN; GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO app;
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO app; REVOKE CREATE ON SCHEMA public FROM PUBLIC;" >/dev/null
HS_CLUSTER=u
PG_CONNINFO="host=127.0.0.1 port=$PG_PORT dbname=hs user=app"
node_conf u 100
sed -i 's/^primary = .*/primary = u/' "$T/u/hotstandby.conf"
node_start u
check "a user without DDL rights runs once the schema exists" -- wait_role u active 8
node_stop u

# the same user on an empty database: a clear error naming schema.sql, exit 1
psql_hs "CREATE DATABASE empty OWNER postgres" >/dev/null 2>&1 || runuser -u postgres -- "$PG_BINDIR/psql" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -qAtX -c "CREATE DATABASE empty" postgres >/dev/null
runuser -u postgres -- "$PG_BINDIR/psql" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -qAtX -c "REVOKE CREATE ON SCHEMA public FROM PUBLIC" empty >/dev/null
sed -i "s/^database = .*/database = host=127.0.0.1 port=$PG_PORT dbname=empty user=app/" "$T/u/hotstandby.conf"
timeout 20 "$HS_BIN/watchd" -c "$T/u/hotstandby.conf" >"$T/u/empty.log" 2>&1; rc=$?
is "$rc" 1 "watchd without DDL rights on an empty database exits 1"
check "the error names the installed schema.sql" -- grep -q "/usr/local/share/hotstandby/schema.sql" "$T/u/empty.log"
[ $_tap_failed -eq 0 ] || dump_logs
done_testing
