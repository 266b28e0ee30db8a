#!/usr/bin/env bash
# A client on the LAN keeps requesting a TCP service through the VIP (IPv4 and IPv6).
# Node a holds the VIP and loses power (processes killed, link down); node b brings the
# VIP up. The client must reach b while its neighbour entry for the VIP still names a's
# MAC and is fresh: only the gratuitous ARP / unsolicited NA can have moved it.
# Control: b adds the VIP without announcing (garp_count = 0) and the client stays stuck.
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/netns.sh"
need "$HS_BIN/vipctl" ip /usr/bin/python3

netns_lan_setup a b c
netns_long_neigh c
VIP=192.0.2.10
VIP6=2001:db8::10
PORT=8080

# conf FILE NODE ADDRESS GARP_COUNT
conf() {
    # One cluster per address family, each node its own run_dir.
    printf '[cluster]\nname = t41-%s\nnode = %s\nrun_dir = %s\ndatabase = host=/nonexistent\nconnection = vip\n[vip]\naddress = %s\ninterface = eth0\ngarp_count = %s\ngarp_interval = 100ms\n' \
        "${3//[:.]/}" "$2" "$T/run-$2" "$3" "$4" >"$1"
}
for n in a b; do
    conf "$T/$n.conf" $n $VIP 3
    conf "$T/$n-6.conf" $n $VIP6 3
    conf "$T/$n-quiet.conf" $n $VIP 0
    conf "$T/$n-6-quiet.conf" $n $VIP6 0
done
vipctl() { local n=$1; shift; netns_exec "$n" "$HS_BIN/vipctl" -c "$@" 2>>"$T/vipctl.log"; }

netns_serve a $PORT a
netns_serve b $PORT b
vipctl a "$T/a.conf" up --force
is $? 0 "a: up (IPv4)"
vipctl a "$T/a-6.conf" up --force
is $? 0 "a: up (IPv6)"
netns_client c $VIP $PORT "$T/client4"
netns_client c $VIP6 $PORT "$T/client6"
wait_for 5 grep -q ' a$' "$T/client4"
ok $? "client reaches a through $VIP"
wait_for 5 grep -q ' a$' "$T/client6"
ok $? "client reaches a through $VIP6"
mac_a=$(netns_mac a)
mac_b=$(netns_mac b)
is "$(netns_neigh_mac c $VIP)" "$mac_a" "client's ARP entry for the VIP is a's MAC"
is "$(netns_neigh_mac c $VIP6)" "$mac_a" "client's neighbour entry for the IPv6 VIP is a's MAC"

# --- power cut on a --------------------------------------------------------------------
cut=$(now_ms)
netns_power_cut a
diag "power cut on a at $cut"

# Control: the address alone does not move the clients.
vipctl b "$T/b-quiet.conf" up --force
vipctl b "$T/b-6-quiet.conf" up --force
sleep 1.5
is "$(netns_first_answer "$T/client4" b "$cut")" "" "control: without an announcement the IPv4 client does not reach b"
is "$(netns_first_answer "$T/client6" b "$cut")" "" "control: without an announcement the IPv6 client does not reach b"
is "$(netns_neigh_mac c $VIP)" "$mac_a" "control: the client's ARP entry still names a (fresh, not expired)"
is "$(netns_neigh_mac c $VIP6)" "$mac_a" "control: the client's IPv6 neighbour entry still names a"

# The announcement moves them.
t_up=$(now_ms)
vipctl b "$T/b.conf" up --force
is $? 0 "b: up (IPv4) with announcements"
vipctl b "$T/b-6.conf" up --force
is $? 0 "b: up (IPv6) with announcements"
wait_for 5 grep -q ' b$' "$T/client4"
wait_for 5 grep -q ' b$' "$T/client6"
first4=$(netns_first_answer "$T/client4" b "$t_up")
first6=$(netns_first_answer "$T/client6" b "$t_up")
diag "client reached b ${first4:+$((first4 - t_up))} ms (IPv4) and ${first6:+$((first6 - t_up))} ms (IPv6) after b's up"
check "IPv4 client reaches b within 1 s of b's up" -- test -n "$first4" -a "$((${first4:-0} - t_up))" -lt 1000
check "IPv6 client reaches b within 1 s of b's up" -- test -n "$first6" -a "$((${first6:-0} - t_up))" -lt 1000
is "$(netns_neigh_mac c $VIP)" "$mac_b" "client's ARP entry for the VIP is now b's MAC"
is "$(netns_neigh_mac c $VIP6)" "$mac_b" "client's IPv6 neighbour entry is now b's MAC"
sleep 0.3
is "$(tail -n 5 "$T/client4" | awk '{print $2}' | sort -u | paste -sd,)" "b" "IPv4 client keeps being answered by b"
is "$(tail -n 5 "$T/client6" | awk '{print $2}' | sort -u | paste -sd,)" "b" "IPv6 client keeps being answered by b"

done_testing
