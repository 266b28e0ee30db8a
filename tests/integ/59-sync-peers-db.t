#!/usr/bin/env bash
# [sync] peers empty means every other node registered in hs_node, at its address, port 22
# (DESIGN §9). Nodes a, b and c in network namespaces (192.0.2.1-3), each standby with an
# sshd on port 22 that lets the sync key run only its own `syncd --serve`. a is active; its
# peers come from hs_node and follow it: c registered later gets everything, c forgotten
# (`vipctl forget`) gets nothing more; a's own row is never a peer. hs_node announces its
# changes (NOTIFY), and a reads its peers again when it hears one.
# Before, an empty list meant no peers at all: nothing was pushed.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/netns.sh"
. "$HS_TOP/tests/lib/sshd.sh"
. "$HS_TOP/tests/lib/syncd.sh"
need jq
netns_lan_setup a b c
pg_start
psql_hs "$(cat "$HS_TOP/common/schema.sql")" >/dev/null || bail "schema did not apply"
# through the socket directory: a unix socket reaches the server from any namespace
DB_CONNINFO="host=$PG_SOCK port=$PG_PORT dbname=hs user=postgres"
start_sshd
for n in a b c; do
    sync_conf $n x
    sed -i -e '/^peers = /d' -e '/^remote_command = /d' "$T/$n.conf"
    sed -i "s|^node = $n|&\naddress = $(netns_addr4 $n)|" "$T/$n.conf"
    [ $n = a ] || start_sshd_ns $n "$HS_BIN/syncd --serve -c $T/$n.conf"
done
register() {
    psql_hs "INSERT INTO hs_node (cluster, node, address, seen_at)
             VALUES ('t', '$1', '$(netns_addr4 "$1")', now() - interval '1 hour')" >/dev/null
}
register a
register b
netns_exec a "$HS_BIN/syncd" -d -c "$T/a.conf" 2>>"$T/a.log" &
at_exit "kill $! 2>/dev/null; wait $! 2>/dev/null"
wait_for 10 test -S "$T/run-a/syncd.sock" || bail "syncd a did not start: $(tail -5 "$T/a.log")"
make_active a 1 || bail "a did not become active"
peers() { syncctl a '{"cmd":"status"}' | jq -r '[.peers[].node] | join(",")'; }
peers_are() { [ "$(peers)" = "$1" ]; }

echo one >"$T/a/data/f1"
check "a file on the active reaches b, a peer only through hs_node" -- wait_for 120 cmp -s "$T/a/data/f1" "$T/b/data/f1"
is "$(peers)" b "a's peers: b (a's own row is not a peer)"
check "a reached b at its hs_node address, port 22" -- grep -q "peer b: connected (192.0.2.2:22" "$T/a.log"

register c
check "c, registered later, becomes a peer" -- wait_for 60 peers_are b,c
check "a read the peers again when hs_node announced the change (not only every 5 s)" -- \
    grep -q "hs_node: the nodes changed; reading the peers again" "$T/a.log"
check "and gets what a holds (full reconcile)" -- wait_for 120 cmp -s "$T/a/data/f1" "$T/c/data/f1"

"$HS_BIN/vipctl" -c "$T/a.conf" forget c >"$T/forget.out" 2>&1
is $? 0 "vipctl forget c"
check "c is no longer a peer" -- wait_for 60 peers_are b
echo two >"$T/a/data/f2"
check "a new file reaches b" -- wait_for 120 cmp -s "$T/a/data/f2" "$T/b/data/f2"
sleep 1
check "but not the forgotten c" -- test ! -e "$T/c/data/f2"
check "the log says why c went" -- grep -q "peer c (192.0.2.3): not in hs_node" "$T/a.log"
[ $_tap_failed -eq 0 ] || { tail -n 30 "$T/a.log" | sed 's/^/# /' >&2; cat "$T/forget.out" >&2; }
done_testing
