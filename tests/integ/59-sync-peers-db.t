#!/usr/bin/env bash
# [sync] peers empty means every other node registered in hs_node, at its address, port 22
# (DESIGN §9). Nodes a, b and c in network namespaces (192.0.2.1-3), each standby with an
# sshd on port 22 that lets the sync key run only its own `syncd --serve`. a is active; its
# peers come from hs_node and follow it: c registered later gets everything, c forgotten
# (`vipctl forget`) gets nothing more; a's own row is never a peer. hs_node announces its
# changes (NOTIFY), and a reads its peers again when it hears one.
# Before, an empty list meant no peers at all: nothing was pushed.
# The list reaches a's syncd through a's watchd (its control socket), never through a
# database session of syncd's own: the resident syncd does not even map libpq. When watchd
# restarts or is frozen, syncd keeps its list and picks up the news once watchd is back;
# hostile input on that socket changes nothing.
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
# a paused cluster: watchd a (no heartbeatd here) stays a standby and never claims it
psql_hs "INSERT INTO hs_cluster (cluster, epoch, paused) VALUES ('t', 1, true)" >/dev/null
WATCHD_PID=
start_watchd() {
    ip netns exec "$(netns_ns a)" "$HS_BIN/watchd" -d -c "$T/a.conf" 2>>"$T/watchd-a.log" &
    WATCHD_PID=$!
    at_exit "kill $! 2>/dev/null; wait $! 2>/dev/null"
    wait_for 10 test -S "$T/run-a/watchd.sock" || bail "watchd a did not start: $(tail -5 "$T/watchd-a.log")"
}
start_watchd
ip netns exec "$(netns_ns a)" "$HS_BIN/syncd" -d -c "$T/a.conf" 2>>"$T/a.log" &
SYNCD_PID=$!
at_exit "kill $SYNCD_PID 2>/dev/null; wait $SYNCD_PID 2>/dev/null"
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
check "watchd read the peers again when hs_node announced the change (not only every 5 s)" -- \
    grep -q "hs_node: the nodes changed; reading syncd's peers again" "$T/watchd-a.log"
check "and gets what a holds (full reconcile)" -- wait_for 120 cmp -s "$T/a/data/f1" "$T/c/data/f1"

"$HS_BIN/vipctl" -c "$T/a.conf" forget c >"$T/forget.out" 2>&1
is $? 0 "vipctl forget c"
check "c is no longer a peer" -- wait_for 60 peers_are b
echo two >"$T/a/data/f2"
check "a new file reaches b" -- wait_for 120 cmp -s "$T/a/data/f2" "$T/b/data/f2"
sleep 1
check "but not the forgotten c" -- test ! -e "$T/c/data/f2"
check "the log says why c went" -- grep -q "peer c (192.0.2.3): not in hs_node" "$T/a.log"

# --- the list comes from watchd; syncd has no database session and no libpq
check "a's syncd got its peers from watchd" -- grep -q "watchd: peer list received" "$T/a.log"
check "the resident syncd does not map libpq" -- sh -c "! grep -q 'libpq' /proc/$SYNCD_PID/maps"
check "nor any other library of libpq's chain (libldap, libkrb5)" -- \
    sh -c "! grep -qE 'libldap|libkrb5' /proc/$SYNCD_PID/maps"

# --- watchd restarts: syncd keeps its list meanwhile and learns what changed once back
kill -TERM "$WATCHD_PID"; wait "$WATCHD_PID"
check "syncd says watchd went away and that it keeps its peers" -- \
    wait_for 10 grep -q "watchd: went away; keeping the 1 peers known" "$T/a.log"
register c
sleep 1
is "$(peers)" b "while watchd is away the peers stay as they were"
echo three >"$T/a/data/f3"
check "and pushes go on" -- wait_for 120 cmp -s "$T/a/data/f3" "$T/b/data/f3"
start_watchd
check "syncd connects to the new watchd and learns of c" -- wait_for 60 peers_are b,c
check "c gets what a holds" -- wait_for 120 cmp -s "$T/a/data/f3" "$T/c/data/f3"

# --- a client that says hello as syncd twice and goes: watchd forgets it, serves the real one
/usr/bin/python3 "$HS_TOP/tests/lib/ctlsend.py" "$T/run-a/watchd.sock" \
    '{"cmd":"hello","daemon":"syncd"}' '{"cmd":"hello","daemon":"syncd"}' >"$T/hello2.out" 2>&1
check "watchd answered both hellos" -- test "$(grep -c '"ok": *true\|"event"' "$T/hello2.out")" -ge 2

# --- watchd frozen: syncd does not wait on it, and catches up when it wakes
kill -STOP "$WATCHD_PID"
"$HS_BIN/vipctl" -c "$T/a.conf" forget c >>"$T/forget.out" 2>&1
check "syncd answers while watchd is frozen" -- wait_for 10 peers_are b,c
kill -CONT "$WATCHD_PID"
check "once watchd wakes, c is no longer a peer" -- wait_for 60 peers_are b
check "watchd is still running" -- kill -0 "$WATCHD_PID"

# --- hostile input where watchd's socket should be: nothing changes, nothing crashes
kill -TERM "$WATCHD_PID"; wait "$WATCHD_PID"
ip netns exec "$(netns_ns a)" /usr/bin/python3 "$HS_TOP/tests/lib/fake-watchd.py" "$T/run-a/watchd.sock" \
    '{"event":"peers","peers":[{"node":"b","address":"192.0.2.2"},{"node":"c","address":"192.0.2.3"}]}' \
    >"$T/fake.log" 2>&1 &
FAKE_PID=$!
at_exit "kill $FAKE_PID 2>/dev/null"
check "after garbage, wrong shapes, a list too long and a message too large, the valid list applies" -- \
    wait_for 60 peers_are b,c
check "syncd is still running" -- kill -0 "$SYNCD_PID"
check "it said why it ignored the malformed ones" -- grep -q "watchd: bad message ignored" "$T/a.log"
check "and named the entries that cannot be peers" -- grep -q "watchd's peer list: not a peer" "$T/a.log"
check "and kept at most 32 peers of the long list" -- grep -q "more than 32 peers" "$T/a.log"
kill "$FAKE_PID" 2>/dev/null
kill -TERM "$SYNCD_PID"; wait "$SYNCD_PID"
is $? 0 "syncd exits cleanly on SIGTERM"
[ $_tap_failed -eq 0 ] || { tail -n 40 "$T/a.log" | sed 's/^/# /' >&2; tail -n 20 "$T/watchd-a.log" | sed 's/^/# /' >&2; cat "$T/forget.out" "$T/fake.log" >&2; }
done_testing
