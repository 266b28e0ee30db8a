#!/usr/bin/env bash
# vipctl up/down/garp for connection = vip, on real kernel interfaces in namespaces:
# idempotence, marking (down leaves what others added), netmask forms, IPv6 without DAD,
# announcements seen by a neighbour, errors, and no announcement after down.
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/netns.sh"
need "$HS_BIN/vipctl" ip

netns_lan_setup a c
VIP=192.0.2.10
VIP6=2001:db8::10

# conf FILE ADDRESS [key = value lines for [vip]...]
conf() {
    local f=$1 addr=$2; shift 2
    {
        printf '[cluster]\nname = t40\nnode = a\ndatabase = host=/nonexistent\nconnection = vip\nrun_dir = %s\n' "$T/run"
        printf '[vip]\naddress = %s\ninterface = eth0\ngarp_interval = 100ms\n' "$addr"
        printf '%s\n' "$@"
    } >"$f"
}
pingc() { netns_exec c ping "$@" >/dev/null 2>&1; }
vipctl() { netns_exec a "$HS_BIN/vipctl" -c "$@" 2>>"$T/vipctl.log"; }
# Addresses (addr/prefix) on a's eth0 equal to $1.
addrs_a() { ip -n "$(netns_ns a)" -o addr show dev eth0 | awk -v a="$1" '{split($4, p, "/"); if (p[1] == a) print $4}' | sort | paste -sd' '; }

conf "$T/v4.conf" $VIP
conf "$T/v32.conf" $VIP 'netmask = 255.255.255.255'
conf "$T/m28.conf" $VIP 'netmask = 255.255.255.240'
conf "$T/p28.conf" $VIP 'netmask = /28'
conf "$T/v6.conf" $VIP6
sed -i 's/^name = t40$/name = t40v6/' "$T/v6.conf"    # another cluster: its own state
conf "$T/nosuch.conf" $VIP 'netmask = 24'
sed -i 's/^interface = eth0/interface = nosuch0/' "$T/nosuch.conf"

# --- up, idempotent, fast --------------------------------------------------------------
# 5 announcements 1 s apart and a late repeat: up must not wait for them.
conf "$T/slow.conf" $VIP 'garp_count = 5'
sed -i 's/^garp_interval = 100ms/garp_interval = 1s/' "$T/slow.conf"
t0=$(now_ms)
vipctl "$T/slow.conf" up --force
is $? 0 "up exits 0"
t1=$(now_ms)
is "$(addrs_a $VIP)" "$VIP/24" "ip addr shows $VIP/24 (default netmask 255.255.255.0)"
diag "up took $((t1 - t0)) ms (including ip netns exec)"
# Not a timing assertion: the 4 s of announcements bound it (a loaded machine took 2.7 s
# under the sanitizer to start vipctl-full and ask for the holder).
check "up returns before its 4 s of announcements are over (they continue in the background)" -- \
    test $((t1 - t0)) -lt 4000
check "the address carries hotstandby's label" -- \
    bash -c "ip -n $(netns_ns a) addr show dev eth0 | grep -q 'eth0:hs'"
vipctl "$T/v4.conf" up --force
is $? 0 "up twice exits 0"
is "$(addrs_a $VIP)" "$VIP/24" "still exactly one copy after the second up"
check "client reaches the VIP (ping)" -- pingc -c1 -W1 $VIP

# --- down, idempotent; leaves what it did not add ---------------------------------------
ip -n "$(netns_ns a)" addr add 192.0.2.99/24 dev eth0
vipctl "$T/v4.conf" down
is $? 0 "down exits 0"
is "$(addrs_a $VIP)" "" "ip addr no longer shows $VIP"
is "$(addrs_a 192.0.2.99)" "192.0.2.99/24" "an unrelated address on the interface stays"
vipctl "$T/v4.conf" down
is $? 0 "down twice exits 0"
ip -n "$(netns_ns a)" addr add $VIP/24 dev eth0
vipctl "$T/v4.conf" up --force
is $? 0 "up with the VIP already added by hand exits 0"
vipctl "$T/v4.conf" down
is "$(addrs_a $VIP)" "$VIP/24" "down leaves the VIP that an operator added by hand"
check "and says why" -- grep -q "not added by hotstandby" "$T/vipctl.log"
ip -n "$(netns_ns a)" addr del $VIP/24 dev eth0

# --- netmask forms and changes ----------------------------------------------------------
vipctl "$T/v32.conf" up --force
is "$(addrs_a $VIP)" "$VIP/32" "netmask 255.255.255.255 gives /32"
vipctl "$T/m28.conf" up --force
is "$(addrs_a $VIP)" "$VIP/28" "netmask change (dotted 255.255.255.240): only /28 remains"
vipctl "$T/p28.conf" up --force
is "$(addrs_a $VIP)" "$VIP/28" "the same netmask as a prefix length (/28) is the same address"
vipctl "$T/v4.conf" up --force
is "$(addrs_a $VIP)" "$VIP/24" "back to /24"

# An address change (SIGHUP on the active, then up): the old address goes too.
conf "$T/other.conf" 192.0.2.11
vipctl "$T/other.conf" up --force
is "$(addrs_a $VIP) | $(addrs_a 192.0.2.11)" " | 192.0.2.11/24" \
    "address changed to 192.0.2.11: up removes the old $VIP"
vipctl "$T/v4.conf" up --force
vipctl "$T/other.conf" down
is "$(addrs_a $VIP) | $(addrs_a 192.0.2.11)" " | " "down after an address change removes the old one too"

# --- IPv6 -----------------------------------------------------------------------------
vipctl "$T/v6.conf" up --force
is $? 0 "IPv6 up exits 0"
is "$(addrs_a $VIP6)" "$VIP6/64" "ip addr shows $VIP6/64 (default prefix)"
check "IPv6 VIP is usable at once (no DAD, not tentative)" -- \
    bash -c "! ip -n $(netns_ns a) addr show dev eth0 | grep '$VIP6' | grep -q tentative"
check "client reaches the IPv6 VIP (ping)" -- pingc -6 -c1 -W1 $VIP6
vipctl "$T/v6.conf" up --force
is "$(addrs_a $VIP6)" "$VIP6/64" "IPv6 up twice: one copy"
vipctl "$T/v6.conf" down
is "$(addrs_a $VIP6)" "" "IPv6 down removes it"
ip -n "$(netns_ns a)" addr add $VIP6/64 dev eth0 nodad
vipctl "$T/v6.conf" down
is "$(addrs_a $VIP6)" "$VIP6/64" "IPv6 down leaves a copy added by hand"
# A kernel before 6.1 stores no IFA_PROTO: what up added looks like a hand-added copy.
# The state file up wrote vouches for it, so down still removes it.
printf 'eth0 %s/64\n' $VIP6 >"$T/run/vip-t40v6.state"
vipctl "$T/v6.conf" down
is "$(addrs_a $VIP6)" "" "without IFA_PROTO, down removes the copy the state file says up added"

# --- a non-Ethernet interface (an anycast VIP on lo): the address, no ARP/NA --------------
conf "$T/lo.conf" 198.51.100.7 'netmask = 32'
sed -i 's/^interface = eth0/interface = lo/; s/^name = t40$/name = t40lo/' "$T/lo.conf"
: >"$T/vipctl.log"
vipctl "$T/lo.conf" up --force
is $? 0 "up on lo exits 0"
check "the address is on lo" -- bash -c "ip -n $(netns_ns a) -o addr show dev lo | grep -q ' 198.51.100.7/32'"
check "and the log says there is nothing to announce there" -- grep -q "not an Ethernet interface" "$T/vipctl.log"
vipctl "$T/lo.conf" down
check "down removes it from lo" -- bash -c "! ip -n $(netns_ns a) -o addr show dev lo | grep -q 198.51.100.7"

# --- errors ---------------------------------------------------------------------------
: >"$T/vipctl.log"
vipctl "$T/nosuch.conf" up --force
is $? 1 "up on an interface that does not exist exits 1"
check "with a message naming the interface" -- grep -q "interface 'nosuch0' does not exist" "$T/vipctl.log"
is "$(addrs_a $VIP)" "" "and nothing was added anywhere"
vipctl "$T/v4.conf" garp
is $? 1 "garp while the VIP is not here exits 1 (never announce an address we do not hold)"

# --- announcements reach the neighbour --------------------------------------------------
fake=02:00:00:00:00:99
mac_a=$(netns_mac a)
ip -n "$(netns_ns c)" neigh replace $VIP lladdr $fake dev eth0 nud reachable
ip -n "$(netns_ns c)" neigh replace $VIP6 lladdr $fake dev eth0 nud reachable
vipctl "$T/v4.conf" up --force
vipctl "$T/v6.conf" up --force
wait_for 2 test "$(netns_neigh_mac c $VIP)" = "$mac_a"
is "$(netns_neigh_mac c $VIP)" "$mac_a" "gratuitous ARP moved the client's fresh entry for $VIP to a's MAC"
wait_for 2 test "$(netns_neigh_mac c $VIP6)" = "$mac_a"
is "$(netns_neigh_mac c $VIP6)" "$mac_a" "unsolicited NA moved the client's fresh entry for $VIP6 to a's MAC"
ip -n "$(netns_ns c)" neigh replace $VIP lladdr $fake dev eth0 nud reachable
vipctl "$T/v4.conf" garp
is $? 0 "garp exits 0"
wait_for 2 test "$(netns_neigh_mac c $VIP)" = "$mac_a"
is "$(netns_neigh_mac c $VIP)" "$mac_a" "garp re-announces"

# The delayed repeat must not fire once the address is gone (it would steal it back).
conf "$T/burst.conf" $VIP 'garp_count = 3'
vipctl "$T/burst.conf" up --force
vipctl "$T/burst.conf" down
vipctl "$T/v6.conf" down
ip -n "$(netns_ns c)" neigh replace $VIP lladdr $fake dev eth0 nud reachable
sleep 3.5
is "$(netns_neigh_mac c $VIP)" "$fake" "no announcement after down (the repeat checks the address is still here)"

# A caller that runs up often (a periodic re-check) must not pile up announcers.
is "$(ip netns pids "$(netns_ns a)" | wc -l)" 0 "the background announcers have finished"
for i in 1 2 3 4 5; do vipctl "$T/v4.conf" up --force; done
sleep 0.2
is "$(ip netns pids "$(netns_ns a)" | wc -l)" 1 "five ups in a row leave one background announcer"
vipctl "$T/v4.conf" down
wait_for 2 test "$(ip netns pids "$(netns_ns a)" | wc -l)" = 0
is "$(ip netns pids "$(netns_ns a)" | wc -l)" 0 "down stops the background announcer"

# --- the binary watchd spawns: vipctl runs the address verbs without vipctl-full --------
# (vipctl/front.c: a promotion waits for `vipctl up`, and libpq & co. cost ~25 ms to load)
libs=$(ldd "$HS_BIN/vipctl" | grep -Eo 'lib(pq|ldns|curl|gssapi_krb5|krb5|systemd|ssl|crypto|jansson)\.so' | sort -u | paste -sd' ')
is "$libs" "" "vipctl loads no database, DNS, mail, Kerberos, TLS or JSON library"
mkdir -p "$T/front"
cp "$HS_BIN/vipctl" "$T/front/"   # alone: no vipctl-full beside it
boot_ns() { /usr/bin/python3 -c 'import time; print(time.clock_gettime_ns(time.CLOCK_BOOTTIME))'; }
spawned() {   # DEADLINE_NS VERB: as watchd spawns it
    netns_exec a env HOTSTANDBY_EPOCH=7 HOTSTANDBY_DEADLINE_NS="$1" "$T/front/vipctl" -c "$T/v4.conf" "${@:2}" \
        2>>"$T/front.log"
}
spawned $(($(boot_ns) + 10000000000)) up
is $? 0 "spawned up within its lease exits 0"
is "$(addrs_a $VIP)" "$VIP/24" "... and the address is up"
ip -n "$(netns_ns a)" addr del $VIP/24 dev eth0
spawned $(($(boot_ns) + 10000000000)) check
is $? 0 "spawned check puts a removed address back"
is "$(addrs_a $VIP)" "$VIP/24" "... and the address is up again"
netns_exec a "$T/front/vipctl" -c "$T/v4.conf" down 2>>"$T/front.log"
is $? 0 "down exits 0"
is "$(addrs_a $VIP)" "" "... and the address is gone"
spawned $(($(boot_ns) - 1000000)) up
is $? 3 "spawned up past its lease deadline is refused (exit 3)"
is "$(addrs_a $VIP)" "" "... and adds nothing"
check "... saying that the lease of epoch 7 ended" -- grep -q 'up refused: the lease of epoch 7 ended' "$T/front.log"
spawned $(($(boot_ns) + 10000000000)) up --force >/dev/null 2>&1
netns_exec a "$T/front/vipctl" -c "$T/v4.conf" status >/dev/null 2>"$T/front-status.err"
is $? 1 "any other verb without vipctl-full beside vipctl exits 1"
check "... naming the missing vipctl-full" -- grep -q "cannot run $T/front/vipctl-full" "$T/front-status.err"
is "$(addrs_a $VIP)" "" "... and an up with --force (vipctl-full's) changes nothing"

done_testing
