#!/usr/bin/env bash
# The sender resolves paths as the receiver does (issue 9, point 7): a change queued for
# data/d/f after a local user replaced data/d by a symlink is not read through the link
# (nothing from where it points reaches the standby), and only regular files are opened,
# without blocking: a FIFO swapped in for a file never hangs the sender's loop.
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/sshd.sh"
source "$HS_TOP/tests/lib/syncd.sh"
need sha256sum inotifywait strace jq

start_sshd
sync_conf a b
sync_conf b a
A=$T/a/data B=$T/b/data
start_syncd a
start_syncd b
make_active a 1
mkdir -p "$A/d" "$T/secret"
echo "root only" >"$T/secret/f"; chmod 600 "$T/secret/f"
echo public >"$A/d/f"
flush a; wait_synced 15; ok $? "connected, d/f synced"

# --- 7.1: d becomes a symlink to a secret directory while d/f's change is queued. The
# standby's d/f is watched: a file written there would be the secret read through the
# link (the later SYMLINK removes the standby's d, so the trees alone cannot show it).
inotifywait -m -e moved_to -e close_write --format '%w%f' "$B/d" >"$T/bwatch" 2>"$T/bwatch.err" &
watcher=$!; at_exit "kill $watcher"
wait_for 10 grep -q 'Watches established' "$T/bwatch.err"
kill -STOP "$SYNCD_PID_a"
echo "public, edited" >"$A/d/f"
rm -rf "$A/d"
ln -s "$T/secret" "$A/d"
kill -CONT "$SYNCD_PID_a"
check "P7.1 flush after the swap" -- flush a
kill $watcher 2>/dev/null
check "P7.1 nothing read through the symlink was written on the standby" -- test ! -s "$T/bwatch"
check "P7.1 the secret is nowhere on the standby" -- test -z "$(grep -rl 'root only' "$B")"
check "P7.1 the symlink itself is mirrored" -- test -L "$B/d"
wait_synced 15; ok $? "P7.1 trees equal"; [ $? = 0 ] || show_diff

# --- 7.2: p is replaced by a FIFO between the sender's lstat and its open. strace holds
# the sender's main thread inside each fstatat for a few seconds, long enough to swap.
echo x >"$A/p"; flush a
strace -qq -p "$SYNCD_PID_a" -e trace=newfstatat -e inject=newfstatat:delay_exit=4000000 \
    -o "$T/strace.log" &
tracer=$!; at_exit "kill $tracer"
wait_for 10 test -e "$T/strace.log"; sleep 1
echo y >"$A/p"          # the sender lstats p (a regular file) and is held there
sleep 1.5
rm "$A/p"; mkfifo "$A/p"
sleep 4                 # the fstatat returns: then it opens p, now a FIFO
kill $tracer; wait $tracer 2>/dev/null
diag "fstatat calls held: $(grep -c newfstatat "$T/strace.log")"
echo after >"$A/after"
flush a 20000; ok $? "P7.2 flush completes after the FIFO swap (the sender is not hung)"
[ $_tap_failed = 0 ] || kill -9 "$SYNCD_PID_a"   # a hung sender would never stop
is "$(cat "$B/after" 2>/dev/null)" after "P7.2 a later change still arrives"
check "P7.2 no FIFO on the standby" -- test -z "$(find "$B" -type p)"
# setuid bits: stripped by the receiver (default), and the sender knows it: a reconcile
# does not see a difference to resend every time.
echo '#!/bin/sh' >"$A/suid"; chmod 4755 "$A/suid"; flush a
is "$(stat -c %a "$B/suid" 2>/dev/null)" 755 "setuid bit stripped on the standby"
sent=$(syncctl a '{"cmd":"status"}' | jq '.peers[0].sent')
syncctl a '{"cmd":"reconcile"}' >/dev/null; flush a
is "$(syncctl a '{"cmd":"status"}' | jq '.peers[0].sent')" "$sent" "a reconcile does not resend the stripped file"
check "daemons stop cleanly, no sanitizer reports" -- stop_syncds
done_testing
