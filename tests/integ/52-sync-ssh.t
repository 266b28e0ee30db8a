#!/usr/bin/env bash
# syncd over SSH: the host key is always checked (unknown or changed key: no connection,
# a clear error), and a connection killed mid-transfer is re-established and the
# transfer completed, leaving no temp files on the standby.
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/sshd.sh"
source "$HS_TOP/tests/lib/syncd.sh"
need sha256sum

start_sshd
: > "$T/empty_known_hosts"
sync_conf a b "known_hosts = $T/empty_known_hosts"
sed -i "/^known_hosts = $(printf '%s' "$KNOWN_HOSTS" | sed 's/[\/&]/\\&/g')$/d" "$T/a.conf"
sync_conf b a
A=$T/a/data B=$T/b/data
start_syncd a
start_syncd b
make_active a 1
echo x > "$A/f"
wait_for 10 grep -q 'unknown host key' "$T/a.log"; ok $? "unknown host key: clear error in the log"
grep 'unknown host key' "$T/a.log" | head -1 | sed 's/^/# /' >&2
sleep 1
check "unknown host key: nothing sent" -- test ! -e "$B/f"
is "$(syncctl a '{"cmd":"status"}' | jq -r '.peers[0].connected')" false "status: not connected"
check "status carries the error" -- bash -c "$HS_BIN/syncd ctl -c $T/a.conf '{\"cmd\":\"status\"}' | grep -q 'unknown host key'"
check "no session reached the receiver" -- test -z "$(grep 'session from' "$T/b.log" 2>/dev/null)"

# The right known_hosts: connects.
kill "$SYNCD_PID_a"; wait "$SYNCD_PID_a" 2>/dev/null
sync_conf a b
start_syncd a
make_active a 1
wait_synced 15; ok $? "pinned host key: synced"

# A large file, sshd killed (listener and sessions) while it is on the wire.
size_mb=200
[[ $HS_BIN == *san* ]] && size_mb=48   # ASan build: slower, smaller file
head -c $((size_mb * 1024 * 1024)) /dev/urandom > "$T/big.src"
cp "$T/big.src" "$A/big"
wait_for 30 bash -c "ls -a '$B' | grep -q '^.hs-tmp\.'"; ok $? "transfer in progress (temp file on the standby)"
stop_sshd
sleep 1
check "sender noticed" -- grep -q 'peer b: .*\(lost\|closed\|error\|write\)' "$T/a.log"
run_sshd
wait_for 90 cmp -s "$A/big" "$B/big"; ok $? "after sshd restart the transfer completes"
is "$(sha256sum < "$B/big")" "$(sha256sum < "$T/big.src")" "large file bit-identical (sha256)"
flush a 20000; wait_synced 10; ok $? "trees equal"
check "no temp files on the standby" -- no_temp_files "$T/b"
check "reconnect logged" -- grep -q 'peer b: connected again' "$T/a.log"
check "sender still the same process" -- kill -0 "$SYNCD_PID_a"

# The server's host key changes: refused.
stop_sshd
change_host_key
run_sshd
echo y > "$A/g"
wait_for 15 grep -q 'HOST KEY CHANGED' "$T/a.log"; ok $? "changed host key: clear error in the log"
grep 'HOST KEY CHANGED' "$T/a.log" | head -1 | sed 's/^/# /' >&2
sleep 1
check "changed host key: nothing sent" -- test ! -e "$B/g"
check "daemons stop cleanly, no sanitizer reports" -- stop_syncds
done_testing
