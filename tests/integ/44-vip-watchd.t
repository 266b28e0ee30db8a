#!/usr/bin/env bash
# The VIP driven by watchd (end to end, connection = vip): two nodes and a client in
# network namespaces. A power cut of the active moves the client to the standby through
# the VIP while its ARP entry is fresh; the old active reboots as standby and does not
# keep the VIP; SIGHUP with a new netmask or address changes the VIP on the active;
# SIGTERM of the active takes the VIP away and the other node takes over.
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/pg.sh"
source "$HS_TOP/tests/lib/netns.sh"
need "$HS_BIN/watchd" "$HS_BIN/heartbeatd" "$HS_BIN/vipctl" ip jq /usr/bin/python3

netns_lan_setup a b c
netns_long_neigh c
pg_start
DB="host=$PG_SOCK port=$PG_PORT dbname=hs user=postgres"   # a unix socket crosses namespaces
VIP=192.0.2.10
PORT=8080
TAKEOVER_MS=1500

# conf NODE [extra [vip] lines]
conf() {
    local n=$1; shift
    mkdir -p "$T/run-$n"
    {
        cat <<EOF
[cluster]
name = t44
node = $n
address = $(netns_addr4 "$n")
primary = a
connection = vip
database = $DB
run_dir = $T/run-$n
[heartbeat]
interval = 200ms
takeover_timeout = ${TAKEOVER_MS}ms
[vip]
address = $VIP
interface = eth0
garp_interval = 100ms
EOF
        printf '%s\n' "$@"
    } >"$T/$n.conf.new"
    # replaced whole, as an editor does: the vipctl check watchd spawns every interval
    # reads the file and must never see it half written
    mv "$T/$n.conf.new" "$T/$n.conf"
}
start() {
    # Not through the netns_exec function: $! must be watchd itself (ip netns exec execs it).
    ip netns exec "$(netns_ns "$1")" "$HS_BIN/watchd" -c "$T/$1.conf" >>"$T/watchd-$1.log" 2>&1 &
    echo $! >"$T/watchd-$1.pid"
    netns_exec "$1" "$HS_BIN/heartbeatd" -c "$T/$1.conf" >>"$T/heartbeatd-$1.log" 2>&1 &
}
role() { netns_exec "$1" "$HS_BIN/vipctl" -c "$T/$1.conf" status --json 2>/dev/null | jq -r '.watchd.role // "stopped"'; }
role_is() { [ "$(role "$1")" = "$2" ]; }
# addr/prefix of every copy of $2 on node $1's eth0
addrs() { ip -n "$(netns_ns "$1")" -o addr show dev eth0 | awk -v a="$2" '{split($4, p, "/"); if (p[1] == a) print $4}' | paste -sd' '; }
has_addrs() { [ "$(addrs "$1" "$2")" = "$3" ]; }
answered_by() { [ "$(tail -n 3 "$T/client" | awk '{print $2}' | sort -u)" = "$1" ]; }
dump() {
    local f
    for f in "$T"/watchd-?.log; do echo "# ---- $f" >&2; tail -n 30 "$f" | sed 's/^/#   /' >&2; done
}

conf a
conf b
netns_serve a $PORT a
netns_serve b $PORT b
start a
start b
netns_client c $VIP $PORT "$T/client" 10 50

check "a becomes active" -- wait_for 15 role_is a active
check "b is standby" -- wait_for 10 role_is b standby
check "the client reaches a through the VIP" -- wait_for 10 answered_by a
is "$(addrs a $VIP)" "$VIP/24" "ip addr: the VIP is on a"
is "$(addrs b $VIP)" "" "ip addr: the VIP is not on the standby"
mac_a=$(netns_mac a)
mac_b=$(netns_mac b)
is "$(netns_neigh_mac c $VIP)" "$mac_a" "the client's ARP entry for the VIP is a's MAC"

# --- power cut of the active ----------------------------------------------------------------
t_cut=$(now_ms)
netns_power_cut a
wait_for 15 answered_by b
first=$(netns_first_answer "$T/client" b "$t_cut")
diag "power cut -> client answered by b: $((${first:-0} - t_cut)) ms (takeover_timeout $TAKEOVER_MS ms)"
check "the client reaches b through the VIP within takeover_timeout + 1.5 s" -- \
    test -n "$first" -a $((${first:-0} - t_cut)) -lt $((TAKEOVER_MS + 1500))
is "$(netns_neigh_mac c $VIP)" "$mac_b" "the client's ARP entry moved to b's MAC (announcement, not expiry)"
is "$(addrs b $VIP)" "$VIP/24" "ip addr: the VIP is on b"

# --- a reboots with the VIP still configured (no clean shutdown): watchd removes it ---------
ip -n "$(netns_ns a)" link set eth0 up
netns_serve a $PORT a
start a
check "a comes back as standby" -- wait_for 15 role_is a standby
check "a's watchd took the VIP off a at start" -- wait_for 5 has_addrs a $VIP ""
sleep 0.5
check "the client is still answered by b" -- answered_by b

# --- SIGHUP on the active: netmask, then address -------------------------------------------
conf b 'netmask = 255.255.255.240'
kill -HUP "$(cat "$T/watchd-b.pid")"
check "SIGHUP with netmask 255.255.255.240: the VIP on b is now /28 only" -- \
    wait_for 5 has_addrs b $VIP "$VIP/28"
conf b 'netmask = 24'
kill -HUP "$(cat "$T/watchd-b.pid")"
check "SIGHUP with netmask 24: back to /24" -- wait_for 5 has_addrs b $VIP "$VIP/24"
sed -i "s/^address = $VIP\$/address = 192.0.2.11/" "$T/b.conf"
kill -HUP "$(cat "$T/watchd-b.pid")"
check "SIGHUP with a new address: 192.0.2.11 is on b" -- wait_for 5 has_addrs b 192.0.2.11 "192.0.2.11/24"
check "and the old address is gone from b" -- wait_for 5 has_addrs b $VIP ""
conf b
kill -HUP "$(cat "$T/watchd-b.pid")"
check "SIGHUP back to $VIP: the VIP is on b again" -- wait_for 5 has_addrs b $VIP "$VIP/24"
check "and 192.0.2.11 is gone" -- wait_for 5 has_addrs b 192.0.2.11 ""
check "the client is answered by b after the changes" -- wait_for 5 answered_by b

# --- SIGTERM of the active: clean stop takes the VIP away, a takes over ----------------------
kill -TERM "$(cat "$T/watchd-b.pid")"
check "SIGTERM: the VIP leaves b" -- wait_for 10 has_addrs b $VIP ""
check "a takes over and the client reaches a" -- wait_for 15 answered_by a
is "$(addrs a $VIP)" "$VIP/24" "ip addr: the VIP is on a"

[ "$_tap_failed" -eq 0 ] || dump
done_testing
