# tests/lib/vipnodes.sh: hotstandby nodes in the network namespaces of netns.sh, sharing a
# virtual IP on their eth0 and the test's PostgreSQL (reached through its socket directory,
# which every namespace sees). Source after common.sh, pg.sh and netns.sh; pg_start first.
#   vip_node_conf NAME [EXTRA-INI...]   writes $T/NAME.conf: cluster $VIP_CLUSTER, primary a,
#                                       connection = vip on $VIP, $VIP_INTERVAL, $VIP_TAKEOVER
#   vip_node_start NAME [BINDIR]        NAME's watchd and heartbeatd in its namespace (from
#                                       BINDIR, default $HS_BIN); pids in $T/watchd-NAME.pid,
#                                       $T/heartbeatd-NAME.pid
#   vip_role NAME / vip_role_is NAME ROLE / vip_on NAME (the VIP is on NAME's eth0)
VIP=${VIP:-192.0.2.10}
VIP_CLUSTER=${VIP_CLUSTER:-t}
VIP_INTERVAL=${VIP_INTERVAL:-200ms}
VIP_TAKEOVER=${VIP_TAKEOVER:-1500ms}

vip_node_conf() {
    local n=$1 line
    shift
    mkdir -p "$T/run-$n"
    cat >"$T/$n.conf" <<EOF
[cluster]
name = $VIP_CLUSTER
node = $n
primary = a
connection = vip
database = host=$PG_SOCK port=$PG_PORT dbname=hs user=postgres
run_dir = $T/run-$n
[heartbeat]
interval = $VIP_INTERVAL
takeover_timeout = $VIP_TAKEOVER
[vip]
address = $VIP
interface = eth0
EOF
    for line in "$@"; do printf '%s\n' "$line" >>"$T/$n.conf"; done
}

vip_node_start() {
    local n=$1 bin=${2:-$HS_BIN} d
    for d in watchd heartbeatd; do
        # not through netns_exec: $! must be the daemon itself (ip netns exec execs it)
        ip netns exec "$(netns_ns "$n")" "$bin/$d" -c "$T/$n.conf" >>"$T/$d-$n.log" 2>&1 &
        echo $! >"$T/$d-$n.pid"
        at_exit "kill -CONT $! 2>/dev/null; kill -9 $! 2>/dev/null"
    done
}

vip_role() {
    netns_exec "$1" "$HS_BIN/vipctl" -c "$T/$1.conf" status --json 2>/dev/null | jq -r '.watchd.role // "stopped"'
}
vip_role_is() { [ "$(vip_role "$1")" = "$2" ]; }
vip_on() { ip -n "$(netns_ns "$1")" -o addr show dev eth0 | grep -q " $VIP/"; }
