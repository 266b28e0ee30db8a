#!/usr/bin/env bash
# Secrets (issue 9, point 12): a password in the conninfo of a world-readable config is
# refused; database_file and a libpq passfile work against a server that wants a password;
# the daemons cannot dump core; hooks get a clean environment, not the daemon's.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
need jq
pg_start
PW=s3cret-$RANDOM
psql_hs "CREATE ROLE hsapp LOGIN SUPERUSER PASSWORD '$PW'" >/dev/null
# password authentication for hsapp over TCP (the first matching line wins)
sed -i "1i host all hsapp 127.0.0.1/32 scram-sha-256" "$PG_DATA/pg_hba.conf"
runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$PG_DATA" reload >/dev/null
APP="host=127.0.0.1 port=$PG_PORT dbname=hs user=hsapp"

# --- a password in a world-readable file is refused at -t, naming file:line:key
node_conf a 100
sed -i "s|^database = .*|database = $APP password=$PW|" "$T/a/hotstandby.conf"
chmod 644 "$T/a/hotstandby.conf"
line=$(grep -n '^database = ' "$T/a/hotstandby.conf" | cut -d: -f1)
for b in watchd heartbeatd vipctl syncd; do
    out=$("$HS_BIN/$b" -t -c "$T/a/hotstandby.conf" 2>&1); rc=$?
    is "$rc" 2 "$b -t refuses a password in a 0644 config"
done
check "the error names file:line:key and the way out" -- sh -c "echo '$out' | grep -qF '$T/a/hotstandby.conf:$line: database: holds a password but'"
check "the error does not show the password" -- sh -c "! echo '$out' | grep -q '$PW'"
chmod 600 "$T/a/hotstandby.conf"
"$HS_BIN/watchd" -t -c "$T/a/hotstandby.conf" >/dev/null 2>&1
is "$?" 0 "the same config at 0600 passes -t"

# --- database_file (0600) for a, a passfile for b; both must really log in
printf '%s password=%s\n' "$APP" "$PW" >"$T/a/db.conninfo"
chmod 600 "$T/a/db.conninfo"
sed -i "s|^database = .*|database_file = $T/a/db.conninfo|" "$T/a/hotstandby.conf"
chmod 644 "$T/a/hotstandby.conf"
# the start hook shows what a hook's environment holds
sed -i "s|^start = |start = env > $T/a/hook.env; |" "$T/a/hotstandby.conf"
node_conf b 100
printf '127.0.0.1:%s:hs:hsapp:%s\n' "$PG_PORT" "$PW" >"$T/b/pgpass"
chmod 644 "$T/b/pgpass"
sed -i "s|^database = .*|database = $APP passfile=$T/b/pgpass|" "$T/b/hotstandby.conf"
out=$("$HS_BIN/watchd" -t -c "$T/b/hotstandby.conf" 2>&1); rc=$?
is "$rc" 2 "a passfile others can read is refused at -t"
check "naming it" -- sh -c "echo '$out' | grep -q 'passfile $T/b/pgpass is accessible by group or others'"
chmod 600 "$T/b/pgpass"

NOTIFY_SOCKET=$T/nowhere.sock WATCHDOG_USEC=100000000 GNUTLS_NO_IMPLICIT_INIT=1 \
    HS_SECRET_OF_THE_SHELL=leak node_start a
check "a (database_file with a password) becomes active" -- wait_role a active 30
node_start b
check "b (passfile) reaches the database as a standby" -- wait_for 30 sh -c \
    "'$HS_BIN/vipctl' -c '$T/b/hotstandby.conf' status --json | jq -e '.watchd.role == \"standby\" and .watchd.database == true'"

# --- hooks get a clean environment
check "the start hook ran" -- wait_for 10 test -s "$T/a/hook.env"
check "hook sees HOTSTANDBY_NODE" -- grep -q '^HOTSTANDBY_NODE=a$' "$T/a/hook.env"
check "hook sees HOTSTANDBY_EPOCH" -- grep -q '^HOTSTANDBY_EPOCH=[0-9]' "$T/a/hook.env"
check "hook sees PATH" -- grep -q '^PATH=' "$T/a/hook.env"
check "hook does not see NOTIFY_SOCKET" -- sh -c "! grep -q '^NOTIFY_SOCKET=' '$T/a/hook.env'"
check "hook does not see WATCHDOG_USEC" -- sh -c "! grep -q '^WATCHDOG_' '$T/a/hook.env'"
check "hook does not see GNUTLS_NO_IMPLICIT_INIT (the units')" -- sh -c "! grep -q '^GNUTLS_' '$T/a/hook.env'"
check "hook does not see the daemon's other variables" -- sh -c "! grep -q HS_SECRET_OF_THE_SHELL '$T/a/hook.env'"

# --- no core dumps from the daemons that hold secrets
for d in watchd heartbeatd; do
    pid=$(node_pid a $d)
    check "$d: core file size limit is 0" -- sh -c "grep 'Max core file size' /proc/$pid/limits | awk '{exit !(\$5 == 0 && \$6 == 0)}'"
done
check "the password is in no log" -- sh -c "! grep -rq '$PW' $T/a/*.log $T/b/*.log"
done_testing
