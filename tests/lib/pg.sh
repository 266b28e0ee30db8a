# tests/lib/pg.sh: a throwaway PostgreSQL for one test (initdb in $T, own port and socket dir,
# run as the postgres user because the server refuses root). Sets PG_PORT, PG_SOCK, PG_CONNINFO.
PG_BINDIR=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)

# pg_init_data DIR: DIR (not there yet) becomes a fresh, stopped cluster of the postgres
# user, as initdb -A trust -U postgres makes it, with an empty database hs. initdb takes
# seconds (more on a loaded machine) and nearly every test needs one, so its output is kept
# in the build tree, one per PostgreSQL version, and each test starts from a copy.
pg_init_data() {
    [ -x "$PG_BINDIR/initdb" ] || bail "PostgreSQL server missing: run 'bash scripts/deps.sh'"
    local cache
    cache=${HS_PG_CACHE:-$HS_TOP/build/pg-cache}/$(basename "$(dirname "$PG_BINDIR")")-hs
    mkdir -p "$(dirname "$cache")"
    (
        flock 9
        [ -e "$cache/PG_VERSION" ] && exit 0
        rm -rf "$cache" "$cache.new" "$T/pg-template"
        mkdir -p "$T/pg-template" && chown postgres: "$T/pg-template" && chmod 700 "$T/pg-template" &&
            runuser -u postgres -- "$PG_BINDIR/initdb" -D "$T/pg-template" -A trust -U postgres \
                --no-sync >"$T/initdb.log" 2>&1 &&
            echo "CREATE DATABASE hs" | runuser -u postgres -- "$PG_BINDIR/postgres" --single \
                -D "$T/pg-template" -F -c exit_on_error=true postgres >>"$T/initdb.log" 2>&1 &&
            cp -a "$T/pg-template" "$cache.new" && mv "$cache.new" "$cache" && rm -rf "$T/pg-template"
    ) 9>"$cache.lock" || bail "initdb failed: $(tail -n 3 "$T/initdb.log")"
    cp -a "$cache" "$1" || bail "cannot copy the initdb template to $1"
}

pg_start() {
    PG_DATA=$T/pgdata
    PG_SOCK=$T/pgsock
    PG_PORT=$(free_port)
    mkdir -p "$PG_SOCK"
    chown postgres: "$PG_SOCK"
    pg_init_data "$PG_DATA"
    cat >>"$PG_DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK'
fsync = off
full_page_writes = off
max_connections = 100
CONF
    at_exit pg_stop
    pg_ctl_start || bail "postgres did not start: $(tail -n 5 "$PG_SOCK/postgres.log")"
    PG_CONNINFO="host=127.0.0.1 port=$PG_PORT dbname=hs user=postgres"
    export PG_PORT PG_SOCK PG_CONNINFO PG_DATA
}

# pg_start_ns NS ADDR: the database on a machine of its own: the server runs inside network
# namespace NS (netns.sh), listens on ADDR port 5432 and trusts the test LAN 192.0.2.0/24.
pg_start_ns() {
    PG_NS=$1
    PG_DATA=$T/pgdata PG_SOCK=$T/pgsock PG_PORT=5432
    mkdir -p "$PG_SOCK"
    chown postgres: "$PG_SOCK"
    pg_init_data "$PG_DATA"
    cat >>"$PG_DATA/postgresql.conf" <<CONF
listen_addresses = '$2'
port = 5432
unix_socket_directories = '$PG_SOCK'
fsync = off
CONF
    echo "host all all 192.0.2.0/24 trust" >>"$PG_DATA/pg_hba.conf"
    at_exit pg_stop
    pg_ctl_start || bail "postgres did not start: $(tail -n 5 "$PG_SOCK/postgres.log")"
    PG_CONNINFO="host=$2 port=5432 dbname=hs user=postgres"
    export PG_PORT PG_SOCK PG_CONNINFO PG_DATA PG_NS
}
pg_ctl_start() {
    ${PG_NS:+netns_exec "$PG_NS"} runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$PG_DATA" \
        -l "$PG_SOCK/postgres.log" -w -t 30 start >/dev/null
}
pg_stop() { runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1; }
pg_restart() { pg_stop; pg_ctl_start; }
# psql_hs SQL [DB]: runs SQL on the test database (or DB), unaligned tuples only.
psql_hs() {
    runuser -u postgres -- "$PG_BINDIR/psql" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -qAtX \
        -v ON_ERROR_STOP=1 -c "$1" "${2:-hs}"
}

# pgb_start [POOL_SIZE]: pgbouncer in transaction mode in front of the test's PostgreSQL
# (pg_start first): its own port on 127.0.0.1 and socket dir, as postgres, POOL_SIZE server
# sessions (default 2) for every client. Sets PGB_PORT, PGB_SOCK, PGB_CONNINFO, PGB_LOG.
pgb_start() {
    command -v pgbouncer >/dev/null || bail "pgbouncer missing: run 'bash scripts/deps.sh'"
    PGB_PORT=$(free_port)
    PGB_SOCK=$T/pgbsock
    PGB_LOG=$PGB_SOCK/pgbouncer.log
    mkdir -p "$PGB_SOCK"
    echo '"postgres" ""' >"$PGB_SOCK/users.txt"
    cat >"$PGB_SOCK/pgbouncer.ini" <<INI
[databases]
hs = host=$PG_SOCK port=$PG_PORT dbname=hs
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir = $PGB_SOCK
auth_type = trust
auth_file = $PGB_SOCK/users.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = ${1:-2}
max_client_conn = ${PGB_MAX_CLIENTS:-200}
server_login_retry = 1
logfile = $PGB_LOG
pidfile = $PGB_SOCK/pgbouncer.pid
INI
    chown -R postgres: "$PGB_SOCK"
    at_exit pgb_stop
    runuser -u postgres -- sh -c "ulimit -n ${PGB_NOFILE:-4096}; pgbouncer -d '$PGB_SOCK/pgbouncer.ini'" \
        || bail "pgbouncer did not start: $(tail -n 5 "$PGB_LOG" 2>/dev/null)"
    PGB_CONNINFO="host=127.0.0.1 port=$PGB_PORT dbname=hs user=postgres"
    export PGB_PORT PGB_SOCK PGB_CONNINFO PGB_LOG
    wait_for 10 runuser -u postgres -- "$PG_BINDIR/psql" -h 127.0.0.1 -p "$PGB_PORT" -U postgres \
        -qAtX -c 'SELECT 1' hs >/dev/null || bail "pgbouncer does not answer: $(tail -n 5 "$PGB_LOG")"
}
pgb_stop() {
    local pid
    pid=$(cat "$PGB_SOCK/pgbouncer.pid" 2>/dev/null) || return 0
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
}
