# tests/lib/netns.sh: a LAN of network namespaces joined by a bridge, for the VIP tests,
# the failover tests and the benchmarks. Source after common.sh. Only namespaces created
# here are touched; everything is removed at exit.
#
#   netns_usable              true if namespaces, veth pairs and bridges can be created
#                             here (root, a kernel and a container that allow them).
#   netns_lan_setup NAME...   one namespace per NAME plus a bridge namespace; NAME's eth0
#                             gets 192.0.2.<i>/24 and 2001:db8::<i>/64 (i = 1, 2, ... in
#                             order) and is plugged into the bridge.
#   netns_exec NAME cmd...    runs cmd inside NAME's namespace.
#   netns_ns NAME             the namespace's real name (for `ip -n`).
#   netns_addr4 NAME, netns_addr6 NAME, netns_mac NAME
#   netns_neigh_mac NAME ADDR the link-layer address NAME's neighbour cache has for ADDR.
#   netns_power_cut NAME [SPARE]  kills every process in NAME (but the pid SPARE) and
#                             takes its link down: to the LAN it is as if the machine lost
#                             power.
#   netns_serve NAME PORT TEXT    a TCP server in NAME answering TEXT to every connection.
#   netns_client NAME ADDR PORT OUT [interval_ms [timeout_ms]]  a client in NAME
#                             connecting to ADDR:PORT every interval (default 20 ms; each
#                             try bounded by timeout, default 100 ms) and appending
#                             "epoch_ms answer" (or "epoch_ms -") lines to OUT.
#   netns_first_answer OUT TEXT [after_ms]  epoch ms of the first line answering TEXT.
#   netns_long_neigh NAME     neighbour entries of NAME stay REACHABLE for a minute, so a
#                             test proves an announcement, not an expiry, moved them.

NETNS_PREFIX=${NETNS_PREFIX:-hs$$}
NETNS_NAMES=()

netns_ns() { echo "$NETNS_PREFIX-$1"; }
netns_exec() { local n=$1; shift; ip netns exec "$(netns_ns "$n")" "$@"; }

_netns_index() {
    local i
    for i in "${!NETNS_NAMES[@]}"; do
        [ "${NETNS_NAMES[$i]}" = "$1" ] && { echo $((i + 1)); return; }
    done
    return 1
}
netns_addr4() { echo "192.0.2.$(_netns_index "$1")"; }
netns_addr6() { echo "2001:db8::$(_netns_index "$1")"; }
netns_mac() { ip -n "$(netns_ns "$1")" -br link show eth0 | awk '{print $3}'; }
netns_neigh_mac() {
    ip -n "$(netns_ns "$1")" neigh show "$2" dev eth0 | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}'
}

netns_usable() {
    command -v ip >/dev/null 2>&1 && command -v /usr/bin/python3 >/dev/null 2>&1 || return 1
    local p rc
    p=$(netns_ns probe)
    ip netns add "$p" 2>/dev/null || return 1
    ip -n "$p" link add br0 type bridge 2>/dev/null &&
        ip -n "$p" link add v0 type veth peer name v1 2>/dev/null
    rc=$?
    ip netns del "$p" 2>/dev/null
    return $rc
}

netns_lan_setup() {
    need ip /usr/bin/python3
    local br name i=0
    br=$(netns_ns br)
    ip netns add "$br" || bail "ip netns add $br failed (need root)"
    at_exit netns_teardown
    ip -n "$br" link add br0 type bridge
    # No STP, no forwarding delay: a port forwards the moment its link is up.
    ip -n "$br" link set br0 type bridge stp_state 0 forward_delay 0
    ip -n "$br" link set br0 up
    for name in "$@"; do
        i=$((i + 1))
        NETNS_NAMES+=("$name")
        local ns
        ns=$(netns_ns "$name")
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip -n "$br" link add "p-$name" type veth peer name eth0 netns "$ns"
        ip -n "$br" link set "p-$name" master br0 up
        ip -n "$ns" link set eth0 up
        ip -n "$ns" addr add "192.0.2.$i/24" dev eth0
        ip -n "$ns" addr add "2001:db8::$i/64" dev eth0 nodad
    done
}

netns_long_neigh() {
    netns_exec "$1" sysctl -qw net.ipv4.neigh.eth0.base_reachable_time_ms=60000 \
        net.ipv6.neigh.eth0.base_reachable_time_ms=60000
}

# Processes in our namespaces are ours (the namespaces were created by this test).
_netns_kill_all() {
    local pids
    pids=$(ip netns pids "$1" 2>/dev/null | grep -vxF -e "${2:-none}")
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    return 0
}

netns_power_cut() {
    _netns_kill_all "$(netns_ns "$1")" "${2:-}"
    ip -n "$(netns_ns "$1")" link set eth0 down
}

netns_teardown() {
    local name
    for name in "${NETNS_NAMES[@]}" br; do
        _netns_kill_all "$(netns_ns "$name")"
        ip netns del "$(netns_ns "$name")" 2>/dev/null
    done
    NETNS_NAMES=()
}

netns_serve() {
    local name=$1 port=$2 text=$3
    netns_exec "$name" /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
s.listen(128)
msg = (sys.argv[2] + "\n").encode()
while True:
    c, _ = s.accept()
    try:
        c.sendall(msg)
    except OSError:
        pass
    c.close()
' "$port" "$text" >/dev/null 2>&1 &
    wait_for 20 netns_exec "$name" /usr/bin/python3 -c "import socket; socket.create_connection(('::1', $port), 1)" ||
        bail "server in $name did not start"
}

netns_client() {
    local name=$1 addr=$2 port=$3 out=$4 interval=${5:-20} timeout=${6:-100}
    : >"$out"
    netns_exec "$name" /usr/bin/python3 -c '
import socket, sys, time
addr, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
interval, timeout = int(sys.argv[4]) / 1000, int(sys.argv[5]) / 1000
with open(out, "a", buffering=1) as f:
    while True:
        t = time.time()
        try:
            c = socket.create_connection((addr, port), timeout=timeout)
            c.settimeout(timeout)
            ans = c.recv(64).decode().strip() or "-"
            c.close()
        except OSError:
            ans = "-"
        f.write("%d %s\n" % (int(t * 1000), ans))
        time.sleep(max(0, t + interval - time.time()))
' "$addr" "$port" "$out" "$interval" "$timeout" >/dev/null 2>&1 &
}

netns_first_answer() {
    awk -v want="$2" -v after="${3:-0}" '$1 >= after && $2 == want { print $1; exit }' "$1"
}
