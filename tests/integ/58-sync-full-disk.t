#!/usr/bin/env bash
# syncd when the standby's disk is full: a flush must not report the standby in sync while
# it lacks files (it names it as unreachable), and once space is back the files arrive
# without anyone asking for a reconcile. Found by the fault drill (seed 20261202): the
# sender gave up after its re-checks and flush acknowledged files the standby never wrote.
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/sshd.sh"
source "$HS_TOP/tests/lib/syncd.sh"
need jq fallocate

A=$T/a/data B=$T/b/data
mkdir -p "$A" "$B"
# mounted before sshd starts: its sessions run in a mount namespace of their own, which
# sees the mounts made before it (this machine's / does not propagate later ones)
mount -t tmpfs -o size=4m hsfull "$B" || bail "mount tmpfs"
umount_at_exit "$B"
start_sshd
sync_conf a b "exclude = .filler"
sync_conf b a "exclude = .filler"
start_syncd a
start_syncd b
make_active a 1 >/dev/null
echo first >"$A/first"
check "a file reaches the standby" -- wait_for 15 cmp -s "$A/first" "$B/first"

fallocate -l "$(df --output=avail -B1 "$B" | tail -n 1)" "$B/.filler" 2>/dev/null ||
    dd if=/dev/zero of="$B/.filler" bs=64k 2>/dev/null
for i in 1 2 3 4 5; do head -c 20000 /dev/urandom >"$A/f$i"; done
reply=$(syncctl a '{"cmd":"flush","timeout_ms":8000}' 2>&1)
diag "flush with the standby's disk full: $reply"
check "flush does not report the standby in sync while it lacks the files" -- \
    test "$(jq -c '.unreachable' <<<"$reply" 2>/dev/null)" != '[]'
check "and the files are indeed not there" -- test ! -e "$B/f5" -o ! -s "$B/f5"

rm -f "$B/.filler"
check "with space back, the files arrive without a reconcile being asked" -- wait_for 20 cmp -s "$A/f5" "$B/f5"
check "all of them" -- wait_synced 10
check "and a flush reports everything acknowledged" -- \
    test "$(syncctl a '{"cmd":"flush","timeout_ms":8000}' | jq -c '.unreachable')" = '[]'
check "no temp files left on the standby" -- no_temp_files "$B"
check "the daemons stop cleanly" -- stop_syncds
done_testing
