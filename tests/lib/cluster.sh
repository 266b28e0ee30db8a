# tests/lib/cluster.sh: several hotstandby nodes on one machine (separate run_dir each),
# sharing the test's PostgreSQL (pg.sh). Each node's service hooks append to one
# $T/hooks.log, which hooks_no_overlap reads to prove that no two nodes were ever
# active at the same time.
#
#   node_conf NAME [PRIORITY] [EXTRA-INI...]   writes $T/NAME/hotstandby.conf
#       (HS_ADDRESS=... HS_CONNECTION=... node_conf ... for other than 127.0.0.1 / none)
#   node_start NAME | node_start_watchd NAME | node_start_heartbeatd NAME
#   node_sync_conf NAME PEER / node_start_syncd NAME   (with sshd.sh: sync NAME -> PEER)
#   node_kill NAME [SIG [DAEMON...]]   signals both daemons of NAME (or the ones named;
#                             default KILL, and then waits until they are gone)
#   node_crash NAME           a power cut: daemons killed, "crash" noted in the hook log
#   node_role NAME            prints watchd's role for NAME (via vipctl status --json)
#   wait_role NAME ROLE SECS
#   holder / epoch            read from the database

HS_INTERVAL=${HS_INTERVAL:-200ms}
HS_TAKEOVER=${HS_TAKEOVER:-1500ms}
HS_CLUSTER=${HS_CLUSTER:-t}
HOOKS_LOG=$T/hooks.log
: >"$HOOKS_LOG"

node_conf() {
    local name=$1 prio=${2:-100}
    shift 2 2>/dev/null || shift $#
    mkdir -p "$T/$name/run"
    cat >"$T/$name/hotstandby.conf" <<CONF
[cluster]
name = $HS_CLUSTER
node = $name
address = ${HS_ADDRESS:-127.0.0.1}
primary = ${HS_PRIMARY:-a}
connection = ${HS_CONNECTION:-none}
database = $PG_CONNINFO
run_dir = $T/$name/run
state_dir = $T/$name/state

[heartbeat]
interval = $HS_INTERVAL
takeover_timeout = $HS_TAKEOVER
priority = $prio

[service]
start = echo "\$(date +%s%3N) start \$HOTSTANDBY_NODE \$HOTSTANDBY_EPOCH" >> $HOOKS_LOG
stop = echo "\$(date +%s%3N) stop \$HOTSTANDBY_NODE \$HOTSTANDBY_EPOCH" >> $HOOKS_LOG
hook_timeout = 5s
CONF
    local line
    for line in "$@"; do printf '%s\n' "$line" >>"$T/$name/hotstandby.conf"; done
}

# Appends a section/key to a node's config (e.g. node_conf_add a '[service]' 'check = false').
node_conf_add() {
    local name=$1; shift
    local line
    for line in "$@"; do printf '%s\n' "$line" >>"$T/$name/hotstandby.conf"; done
}

_node_daemon() {
    local name=$1 d=$2
    "$HS_BIN/$d" -c "$T/$name/hotstandby.conf" >>"$T/$name/$d.log" 2>&1 &
    echo $! >"$T/$name/$d.pid"
    at_exit "kill -9 $! 2>/dev/null"
    disown $!
}
node_start_watchd() { _node_daemon "$1" watchd; }
node_start_heartbeatd() { _node_daemon "$1" heartbeatd; }
node_start() { node_start_watchd "$1"; node_start_heartbeatd "$1"; }

# node_sync_conf NAME PEER: NAME's [sync] section: $T/NAME/root/data pushed to PEER through
# the test's sshd (sshd.sh), whose exec channel runs PEER's own `syncd --serve`.
# node_start_syncd NAME: NAME's syncd, logging to $T/NAME/syncd.log.
node_sync_conf() {
    local name=$1 peer=$2
    mkdir -p "$T/$name/root/data"
    printf '%s\n' "[sync]" "root = $T/$name/root" "paths = /data" "peers = $peer=127.0.0.1:$SSHD_PORT" \
        "ssh_key = $SSH_KEY" "known_hosts = $KNOWN_HOSTS" \
        "remote_command = $HS_BIN/syncd --serve -c $T/$peer/hotstandby.conf" >>"$T/$name/hotstandby.conf"
}
node_start_syncd() {
    "$HS_BIN/syncd" -c "$T/$1/hotstandby.conf" >>"$T/$1/syncd.log" 2>&1 &
    at_exit "kill $! 2>/dev/null"
}

node_pid() { cat "$T/$1/$2.pid" 2>/dev/null; }
node_kill() {
    local name=$1 sig=${2:-KILL} d ds
    ds=${*:3}
    ds=${ds:-watchd heartbeatd}
    for d in $ds; do kill -"$sig" "$(node_pid "$name" $d)" 2>/dev/null; done
    if [ "$sig" = KILL ]; then
        for d in $ds; do _wait_gone "$(node_pid "$name" $d)"; done
    fi
}
_wait_gone() { local i; for i in $(seq 200); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.02; done; return 1; }
node_crash() {
    # freeze first: killed one after the other, the survivor would notice and fence
    # (the record carries the moment of the freeze: the node stopped acting then, and the
    # kill that follows can take long on a loaded machine)
    node_kill "$1" STOP
    local t
    t=$(now_ms)
    node_kill "$1" KILL
    echo "$t crash $1 -" >>"$HOOKS_LOG"
}
node_stop() {   # SIGTERM both daemons and wait for them
    local name=$1 d pid
    for d in watchd heartbeatd; do
        pid=$(node_pid "$name" $d)
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    done
}

vipctl_node() { local name=$1; shift; "$HS_BIN/vipctl" -c "$T/$name/hotstandby.conf" "$@"; }

node_role() {
    vipctl_node "$1" status --json 2>/dev/null | jq -r '.watchd.role // "stopped"'
}
_role_is() { [ "$(node_role "$1")" = "$2" ]; }
wait_role() { wait_for "$3" _role_is "$1" "$2"; }

holder() { psql_hs "SELECT coalesce(holder,'') FROM hs_cluster WHERE cluster='$HS_CLUSTER'"; }
epoch() { psql_hs "SELECT epoch FROM hs_cluster WHERE cluster='$HS_CLUSTER'"; }
heartbeat() { psql_hs "SELECT heartbeat FROM hs_cluster WHERE cluster='$HS_CLUSTER'"; }
_holder_is() { [ "$(holder)" = "$1" ]; }
wait_holder() { wait_for "$2" _holder_is "$1"; }

# The newest event of a kind (ms since the epoch), for timelines.
event_ms() {
    psql_hs "SELECT (extract(epoch FROM at)*1000)::bigint FROM hs_event
             WHERE cluster='$HS_CLUSTER' AND kind='$1' ${2:+AND node='$2'} ORDER BY id DESC LIMIT 1"
}

# From the hook log: each node is active from "start" until its next "stop", "crash" or
# "freeze" (a frozen node serves nobody; what it does on waking is checked separately).
# Fails (and prints the overlap) if two nodes' active intervals intersect.
hooks_no_overlap() {
    awk '
        $2 == "start" { if (!($3 in since)) since[$3] = $1; next }
        $2 == "stop" || $2 == "crash" || $2 == "freeze" {
            if ($3 in since) { n++; from[n] = since[$3]; to[n] = $1; who[n] = $3; delete since[$3] }
            next
        }
        END {
            now = 9999999999999
            for (k in since) { n++; from[n] = since[k]; to[n] = now; who[n] = k }
            bad = 0
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
                if (who[i] != who[j] && from[i] < to[j] && from[j] < to[i]) {
                    printf "# overlap: %s active %s..%s, %s active %s..%s\n", who[i], from[i], to[i], who[j], from[j], to[j]
                    bad = 1
                }
            exit bad
        }' "$HOOKS_LOG"
}

# Number of "start" lines for a node (how often its service was started).
starts_of() { grep -c " start $1 " "$HOOKS_LOG"; }

# The usual start of a scenario: PostgreSQL, nodes a and b (equal priority), a active.
# Extra config lines for a node come from the arrays CONF_A / CONF_B when set.
start_pair() {
    pg_start
    node_conf a 100
    node_conf b 100
    [ -n "${CONF_A+x}" ] && node_conf_add a "${CONF_A[@]}"
    [ -n "${CONF_B+x}" ] && node_conf_add b "${CONF_B[@]}"
    node_start a
    node_start b
    check "a active" -- wait_role a active 20
    check "b standby" -- wait_role b standby 10
}

# start_logged_pair: start_pair whose sessions the server's log tells apart: every
# statement is logged in $PG_LOG as "[hs-a] ..." or "[hs-b] ..." (application_name).
start_logged_pair() {
    pg_start
    psql_hs "ALTER SYSTEM SET log_statement = 'all'" >/dev/null
    psql_hs "ALTER SYSTEM SET log_line_prefix = '[%a] '" >/dev/null
    psql_hs "SELECT pg_reload_conf()" >/dev/null
    PG_LOG=$PG_SOCK/postgres.log
    local base=$PG_CONNINFO
    PG_CONNINFO="$base application_name=hs-a" node_conf a 100
    PG_CONNINFO="$base application_name=hs-b" node_conf b 100
    node_start a
    node_start b
    check "a active" -- wait_role a active 10
    check "b standby" -- wait_role b standby 10
}

dump_logs() {
    local f
    for f in "$T"/*/watchd.log "$T"/*/heartbeatd.log "$HOOKS_LOG"; do
        [ -f "$f" ] || continue
        echo "# ---- $f" >&2
        tail -n 40 "$f" | sed 's/^/#   /' >&2
    done
}
