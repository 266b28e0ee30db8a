#!/usr/bin/env bash
# syncd reconcile paths: an inotify queue overflow is repaired by a reconcile without a
# restart; an old active that rejoins keeps its differing files under
# .hotstandby-conflicts/<epoch>/; `syncd --once` exit codes (0 in sync, 1 errors, 2 usage);
# a sender at an older epoch is refused. The rejoin state survives a crash whose restart
# finds run_dir empty (it lives in state_dir).
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/sshd.sh"
source "$HS_TOP/tests/lib/pg.sh"
source "$HS_TOP/tests/lib/syncd.sh"
need sha256sum /usr/bin/python3

sync_db
start_sshd
sync_conf a b
sync_conf b a
A=$T/a/data B=$T/b/data
start_syncd a
start_syncd b
make_active a 1
wait_synced 15; ok $? "connected"

# --- overflow: the reader is frozen while far more events than the queue holds happen
max=$(cat /proc/sys/fs/inotify/max_queued_events)
n=$((max + 2000))
pid_before=$SYNCD_PID_a
mkdir "$A/flood"; flush a   # watched before the flood
kill -STOP "$SYNCD_PID_a"
/usr/bin/python3 -c "
import os, sys
for i in range($n):
    with open('$A/flood/f%d' % i, 'w') as f: f.write(str(i))
"
kill -CONT "$SYNCD_PID_a"
check "overflow reported" -- wait_for 30 grep -q 'overflow' "$T/a.log"
check "flush after overflow" -- flush a 120000
is "$(ls "$B/flood" | wc -l)" "$n" "all $n files created during the overflow arrived"
wait_synced 30; ok $? "trees equal after the overflow"
check "same process, no restart" -- kill -0 "$pid_before"

# --- rejoin: a (active at epoch 1) dies with changes b never saw; b takes over at 2.
# a's run_dir is wiped before it restarts (tmpfs after a reboot): its rejoin state is not.
echo same > "$A/same"; echo original > "$A/diverge"; flush a
kill -9 "$SYNCD_PID_a"; wait "$SYNCD_PID_a" 2>/dev/null
rm -rf "$T/run-a"
echo "a's unsent edit" > "$A/diverge"
echo "only on a" > "$A/only-a"
mkdir -p "$A/dir-a"; echo x > "$A/dir-a/inner"
start_syncd a        # restarts as a standby (receiver), as watchd would have it
make_active b 2      # b takes over and pushes to a
echo "b's new file" > "$B/new-on-b"
flush b 30000; ok $? "b flushed to the rejoined a"
wait_synced 15; ok $? "a equals b again"
C=$A/.hotstandby-conflicts/2
is "$(cat "$C/diverge" 2>/dev/null)" "a's unsent edit" "a's differing version kept in .hotstandby-conflicts/2/"
is "$(cat "$C/only-a" 2>/dev/null)" "only on a" "a's file unknown to b kept"
is "$(cat "$C/dir-a/inner" 2>/dev/null)" "x" "a's directory unknown to b kept"
check "identical file not copied to conflicts" -- test ! -e "$C/same"
is "$(cat "$A/diverge")" original "a now holds b's version"
check "conflict store not pushed back to b" -- test ! -e "$B/.hotstandby-conflicts"
check "rejoin logged by the receiver" -- grep -q 'rejoin complete' "$T/b.log"
echo "b edits again" > "$B/diverge"; flush b
is "$(LC_ALL=C ls "$C" | tr '\n' ' ')" "dir-a diverge only-a " "after the rejoin, ordinary updates make no conflict copies"

# --- --once
kill "$SYNCD_PID_b"; wait "$SYNCD_PID_b" 2>/dev/null
echo "cron change" > "$B/cron"
out=$("$HS_BIN/syncd" --once -c "$T/b.conf" 2>>"$T/once.log"); rc=$?
is $rc 0 "--once: exit 0 when in sync"; diag "$out"
check "--once: summary line" -- grep -q 'a: in sync' <<<"$out"
is "$(cat "$A/cron" 2>/dev/null)" "cron change" "--once: the change arrived"
check "--once: no temp files" -- no_temp_files "$T/a"
out=$("$HS_BIN/syncd" --once -c "$T/a.conf" 2>>"$T/once.log"); rc=$?
is $rc 0 "--once on a standby: nothing to push, exit 0"
check "--once on a standby says so" -- grep -q 'not active' <<<"$out"
out=$("$HS_BIN/syncd" --once --epoch 1 -c "$T/b.conf" 2>>"$T/once.log"); rc=$?
is $rc 1 "--once at an older epoch: refused, exit 1"
check "older epoch named in the log" -- grep -q 'epoch 1 is older than the database.s epoch 2' "$T/once.log"
stop_sshd
echo "unreachable" > "$B/unreach"
out=$("$HS_BIN/syncd" --once -c "$T/b.conf" 2>>"$T/once.log"); rc=$?
is $rc 1 "--once with the peer unreachable: exit 1"
check "--once failure summary" -- grep -q 'a: FAILED' <<<"$out"
"$HS_BIN/syncd" --once -c "$T/nonexistent.conf" 2>/dev/null; is $? 2 "--once with a bad config: exit 2"
run_sshd
out=$("$HS_BIN/syncd" --once -c "$T/b.conf" 2>>"$T/once.log"); rc=$?
is $rc 0 "--once after sshd is back: exit 0"
wait_synced 5; ok $? "trees equal at the end"

# A no-change re-check sends no file and leaves the receiver's state file as it is (no
# rewrite, no fsync); a file changed under the same size, on either side, is sent again.
"$HS_BIN/syncd" --once -c "$T/b.conf" >/dev/null 2>>"$T/once.log"
ino=$(stat -c %i "$T/state-a/syncd.state")
out=$("$HS_BIN/syncd" --once -c "$T/b.conf" 2>>"$T/once.log")
check "--once, nothing changed: no file sent or deleted" -- \
    grep -q 'a: in sync, 0 sent, 0 deleted, 0 errors' <<<"$out"
is "$(stat -c %i "$T/state-a/syncd.state")" "$ino" "--once at the epoch already seen: receiver state not rewritten"
echo "version 1" > "$B/samesize"
"$HS_BIN/syncd" --once -c "$T/b.conf" >/dev/null 2>>"$T/once.log"
echo "version 2" > "$B/samesize"
touch -d @1700000000 "$B/samesize"
out=$("$HS_BIN/syncd" --once -c "$T/b.conf" 2>>"$T/once.log")
check "--once: a file changed under the same size (new mtime) is sent" -- grep -q 'a: in sync, 1 sent' <<<"$out"
is "$(cat "$A/samesize")" "version 2" "--once: the same-size change arrived"
echo "version 3" > "$A/samesize"
out=$("$HS_BIN/syncd" --once -c "$T/b.conf" 2>>"$T/once.log")
check "--once: a same-size change on the standby is repaired" -- grep -q 'a: in sync, 1 sent' <<<"$out"
is "$(cat "$A/samesize")" "version 2" "--once: the standby's copy is the active's again"

# --checksum: content that differs behind equal size and mtime is found only by content.
printf 'AAAA' > "$B/cs"
"$HS_BIN/syncd" --once -c "$T/b.conf" >/dev/null 2>>"$T/once.log"
printf 'BBBB' | dd of="$A/cs" conv=notrunc status=none
touch -r "$B/cs" "$A/cs"
out=$("$HS_BIN/syncd" --once -c "$T/b.conf" 2>>"$T/once.log")
check "metadata compare: same size and mtime look in sync" -- grep -q 'a: in sync, 0 sent' <<<"$out"
out=$("$HS_BIN/syncd" --once --checksum -c "$T/b.conf" 2>>"$T/once.log"); rc=$?
is $rc 0 "--once --checksum: exit 0"
check "--checksum: the differing content was sent" -- grep -q 'a: in sync, 1 sent' <<<"$out"
is "$(cat "$A/cs")" AAAA "--checksum repaired the content"
check "daemons stop cleanly, no sanitizer reports" -- stop_syncds
done_testing
