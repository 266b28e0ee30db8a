#!/usr/bin/env bash
# syncd with a peer that accepts the connection and then stalls in the SSH key exchange
# (tests/lib/ssh-stall.py), as a peer whose sshd hangs would, next to a healthy peer b.
# b is served all the while; the stalled peer is given up after 30 s with the reason in the
# log and tried again; and syncd stopped while that peer is in the middle of its key
# exchange exits cleanly and leaves no memory behind (the sanitizer build's leak check).
# Before: the peer stayed "connecting" for ever (never retried, so nothing reached it once
# it was well again), and every session freed in the middle of its key exchange leaked
# libssh2's ephemeral key pair (CI: 59-sync-peers-db, syncd's exit on SIGTERM).
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/sshd.sh"
source "$HS_TOP/tests/lib/syncd.sh"
need jq /usr/bin/python3

start_sshd
STALL_PORT=$(free_port)
/usr/bin/python3 "$HS_TOP/tests/lib/ssh-stall.py" "$STALL_PORT" >"$T/stall.log" 2>&1 &
at_exit "kill $! 2>/dev/null"
wait_for 10 grep -q listening "$T/stall.log" ||
    bail "ssh-stall.py did not start: $(cat "$T/stall.log")"
sync_conf a b
sed -i "s|^peers = .*|peers = b=127.0.0.1:$SSHD_PORT, x=127.0.0.1:$STALL_PORT|" "$T/a.conf"
sync_conf b a
start_syncd a
start_syncd b
make_active a 1 || bail "a did not become active"
peer_state() { syncctl a '{"cmd":"status"}' | jq -r ".peers[] | select(.node == \"$1\") | .state"; }

check "the stalled peer x got as far as the key exchange" -- wait_for 20 grep -q "kex init 1" "$T/stall.log"
echo one >"$T/a/data/f1"
check "b is served while x stalls" -- wait_for 30 cmp -s "$T/a/data/f1" "$T/b/data/f1"
is "$(peer_state x)" connecting "status: x is connecting"
is "$(peer_state b)" ready "status: b is ready"

check "after 30 s x is given up, and the log says why" -- \
    wait_for 45 grep -q "peer x: no SSH session within 30 s (the connect, handshake or login stalled)" "$T/a.log"
check "its stalled connection is closed" -- wait_for 10 grep -q "closed 1" "$T/stall.log"
check "and x is tried again" -- wait_for 20 grep -q "kex init 2" "$T/stall.log"
echo two >"$T/a/data/f2"
check "b is still served" -- wait_for 30 cmp -s "$T/a/data/f2" "$T/b/data/f2"

# stopped while x is in the middle of its key exchange (the second attempt)
kill -TERM "$SYNCD_PID_a"; wait "$SYNCD_PID_a"
is $? 0 "syncd exits cleanly with a peer in the middle of its key exchange"
# libssh2 1.10 (Debian 12) keeps the exchange's curve25519 key pair until the exchange ends
check "what libssh2 kept of the unfinished session was freed with it" -- \
    grep -q "ssh 127.0.0.1: libssh2 left [0-9]* blocks" "$T/a.log"
check "syncd said it was stopping" -- grep -q "stopping" "$T/a.log"
[ $_tap_failed -eq 0 ] || { tail -n 30 "$T/a.log" | sed 's/^/# /' >&2; sed 's/^/# stall: /' "$T/stall.log" >&2; }
done_testing
