#!/usr/bin/env bash
# hotstandby-clone preflight asks the LAN whether the VIP is free and the DNS server
# whether it accepts the key. Network namespaces on one bridge: a (where preflight runs),
# b (the other node, the holder in hs_cluster), x (a stranger) and db (the PostgreSQL both
# nodes use). The VIP free, held by x, held by b — over IPv4 (ARP probes) and IPv6
# (duplicate address detection) — and, with connection = hostname, a BIND named on a's
# loopback with the right key, a wrong secret, an unknown key, no server at all and a
# clock an hour off.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/netns.sh"
. "$HS_TOP/tests/lib/named.sh"
need "$HS_BIN/hotstandby-clone" "$HS_BIN/vipctl"
netns_usable || bail "network namespaces cannot be created here (need root)"
netns_lan_setup a b x db    # 192.0.2.1-4, 2001:db8::1-4
DB=192.0.2.4

# ---- the database, on its own machine ----
pg_start_ns db "$DB"
runuser -u postgres -- "$PG_BINDIR/psql" -h "$PG_SOCK" -p 5432 -U postgres -qAtX -v ON_ERROR_STOP=1 -f "$HS_TOP/common/schema.sql" hs >/dev/null || bail schema
psql_hs "INSERT INTO hs_cluster (cluster, holder) VALUES ('t18', 'b');
         INSERT INTO hs_node (cluster, node, address) VALUES ('t18', 'a', '192.0.2.1'), ('t18', 'b', '192.0.2.2')"

# conf FILE ADDRESS [LINES...]: node a of cluster t18
conf() {
    local f=$1 addr=$2 l
    shift 2
    { printf '[cluster]\nname = t18\nnode = a\naddress = %s\n' "$addr"
      printf 'database = host=%s port=5432 dbname=hs user=postgres\n' "$DB"
      for l in "$@"; do printf '%s\n' "$l"; done; } >"$f"
}
pf() { netns_exec a "$HS_BIN/hotstandby-clone" -c "$1" preflight >"$T/pf.log" 2>&1; }
says() { grep -q -- "$1" "$T/pf.log" || { sed 's/^/#   /' "$T/pf.log" >&2; return 1; }; }
MAC_B=$(netns_mac b) MAC_X=$(netns_mac x)

# ---- IPv4: ARP probes ----
conf "$T/v4.conf" 192.0.2.1 "connection = vip" "[vip]" "address = 192.0.2.100" "netmask = 24" "interface = eth0"
pf "$T/v4.conf"
is $? 0 "IPv4 VIP free: preflight passes" || sed 's/^/#   /' "$T/pf.log" >&2
check "PASS vip free: nobody answers" -- says "^PASS  vip free .*no machine on eth0 answers for 192.0.2.100 (ARP probes)"

ip -n "$(netns_ns x)" addr add 192.0.2.100/24 dev eth0
pf "$T/v4.conf"
is $? 1 "a stranger (x) holds the VIP: preflight exits 1"
check "FAIL vip free names x's MAC" -- says "^FAIL  vip free .*another machine uses VIP 192.0.2.100 (MAC $MAC_X): pick a free address"
ip -n "$(netns_ns x)" addr del 192.0.2.100/24 dev eth0

ip -n "$(netns_ns b)" addr add 192.0.2.100/24 dev eth0
pf "$T/v4.conf"
is $? 0 "the holder (b) has the VIP: preflight passes"
check "PASS vip free: held by b, the cluster's active" -- says "^PASS  vip free .*192.0.2.100 is held by b (MAC $MAC_B), the cluster's active"
psql_hs "UPDATE hs_cluster SET holder = 'a' WHERE cluster = 't18'"
pf "$T/v4.conf"
check "b has it while the database names a: a warning naming b" -- \
    says "^WARN  vip free .*b (MAC $MAC_B) answers for 192.0.2.100, but the database names a as the holder"
psql_hs "UPDATE hs_cluster SET holder = 'b' WHERE cluster = 't18'"
ip -n "$(netns_ns x)" addr add 192.0.2.100/24 dev eth0
pf "$T/v4.conf"
is $? 1 "b and a stranger both answer: preflight exits 1"
check "and the FAIL names the stranger, not b" -- says "^FAIL  vip free .*(MAC $MAC_X)"
ip -n "$(netns_ns x)" addr del 192.0.2.100/24 dev eth0
ip -n "$(netns_ns b)" addr del 192.0.2.100/24 dev eth0

ip -n "$(netns_ns a)" addr add 192.0.2.100/24 dev eth0
pf "$T/v4.conf"
is $? 0 "the VIP on this node only: preflight passes"
check "a warning that it is here, and nobody else answers" -- \
    sh -c "grep -q '^WARN  vip free .*192.0.2.100 is on eth0 of this node' '$T/pf.log' && grep -q '^PASS  vip free .*no other machine on eth0 answers' '$T/pf.log'"
ip -n "$(netns_ns a)" addr del 192.0.2.100/24 dev eth0

# ---- a VIP on an interface without ARP (lo): the probe cannot run, and says so ----
conf "$T/lo.conf" 192.0.2.1 "connection = vip" "[vip]" "address = 127.0.0.100" "netmask = 8" "interface = lo"
pf "$T/lo.conf"
is $? 0 "a VIP on lo: preflight passes"
check "WARN vip free: lo is not Ethernet, not checked" -- \
    says "^WARN  vip free .*lo: not an Ethernet interface .*not checked whether another machine uses 127.0.0.100"

# ---- IPv6: duplicate address detection ----
psql_hs "UPDATE hs_node SET address = CASE node WHEN 'a' THEN '2001:db8::1' ELSE '2001:db8::2' END WHERE cluster = 't18'"
conf "$T/v6.conf" 2001:db8::1 "connection = vip" "[vip]" "address = 2001:db8::100" "netmask = 64" "interface = eth0"
pf "$T/v6.conf"
is $? 0 "IPv6 VIP free: preflight passes" || sed 's/^/#   /' "$T/pf.log" >&2
check "PASS vip free (duplicate address detection)" -- says "^PASS  vip free .*no machine on eth0 answers for 2001:db8::100 (duplicate address detection)"
ip -n "$(netns_ns x)" addr add 2001:db8::100/64 dev eth0 nodad
pf "$T/v6.conf"
is $? 1 "IPv6: a stranger holds the VIP: preflight exits 1"
check "FAIL vip free names x's MAC" -- says "^FAIL  vip free .*another machine uses VIP 2001:db8::100 (MAC $MAC_X)"
ip -n "$(netns_ns x)" addr del 2001:db8::100/64 dev eth0
ip -n "$(netns_ns b)" addr add 2001:db8::100/64 dev eth0 nodad
pf "$T/v6.conf"
is $? 0 "IPv6: the holder (b) has the VIP: preflight passes"
check "PASS vip free: held by b" -- says "^PASS  vip free .*2001:db8::100 is held by b (MAC $MAC_B), the cluster's active"
ip -n "$(netns_ns b)" addr del 2001:db8::100/64 dev eth0

# ---- connection = hostname: a signed query to BIND on a's loopback ----
NAMED_RUN="ip netns exec $(netns_ns a)"
named_start example.test
dnsconf() {
    conf "$1" 192.0.2.1 "connection = hostname" "[dns]" "server = $2" "zone = example.test" \
        "hostname = app" "tsig_name = $3" "tsig_secret_file = $4"
}
dnsconf "$T/dns.conf" "$NAMED_SERVER" "$NAMED_KEY" "$NAMED_SECRET_FILE"
pf "$T/dns.conf"
is $? 0 "right key: preflight passes" || sed 's/^/#   /' "$T/pf.log" >&2
check "PASS dns: the server answers and accepts the key" -- says "^PASS  dns .*DNS server $NAMED_SERVER answers and accepts key $NAMED_KEY"
netns_exec a "$HS_BIN/vipctl" -c "$T/dns.conf" test-dns >"$T/vipctl.log" 2>&1
is $? 0 "vipctl test-dns exits 0"
is "$(named_query app.example.test A)" "" "and nothing was added to the zone"

dnsconf "$T/badsig.conf" "$NAMED_SERVER" "$NAMED_KEY" "$NAMED_DENIED_SECRET_FILE"
pf "$T/badsig.conf"
is $? 1 "wrong secret: preflight exits 1"
check "FAIL dns names BADSIG" -- says "^FAIL  dns .*DNS server $NAMED_SERVER answered NOTAUTH, TSIG error BADSIG"
netns_exec a "$HS_BIN/vipctl" -c "$T/badsig.conf" test-dns >"$T/vipctl.log" 2>&1
is $? 1 "vipctl test-dns exits 1"

dnsconf "$T/badkey.conf" "$NAMED_SERVER" no-such-key "$NAMED_SECRET_FILE"
pf "$T/badkey.conf"
is $? 1 "a key the server does not know: preflight exits 1"
check "FAIL dns names BADKEY" -- says "^FAIL  dns .*TSIG error BADKEY"

dnsconf "$T/nobody.conf" "127.0.0.1:$(free_port)" "$NAMED_KEY" "$NAMED_SECRET_FILE"
pf "$T/nobody.conf"
is $? 1 "no DNS server on that port: preflight exits 1"
check "FAIL dns names the server and that nothing answered" -- says "^FAIL  dns .*DNS server 127.0.0.1:[0-9]*: nothing listening (connection refused) after 3 attempts"

# this node's clock an hour behind (libfaketime on vipctl; named and dig do not run under
# it): the server answers BADTIME with its own time, and vipctl says how far off we are
lib=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
[ -e "$lib" ] || lib=$(dpkg -L libfaketime 2>/dev/null | grep -m1 'libfaketimeMT.so')
[ -e "$lib" ] || bail "libfaketime missing: run 'bash scripts/deps.sh'"
netns_exec a env FAKETIME=-3600 LD_PRELOAD="$lib" ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0" \
    "$HS_BIN/vipctl" -c "$T/dns.conf" test-dns >"$T/pf.log" 2>&1
is $? 1 "this node's clock an hour behind: vipctl test-dns exits 1"
check "naming BADTIME and the server's offset" -- says "TSIG error BADTIME: its clock is +3[56][0-9][0-9] s from this node's"
done_testing
