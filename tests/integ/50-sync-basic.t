#!/usr/bin/env bash
# syncd: every kind of change on the active arrives on the standby over a real sshd:
# create, modify, append, truncate, delete, renames of files and directories across
# directories, symlinks, permissions, ownership, mtimes, nested trees, excludes.
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/sshd.sh"
source "$HS_TOP/tests/lib/syncd.sh"
need sha256sum /usr/bin/python3

start_sshd
sync_conf a b "exclude = *.swp, cache"
sync_conf b a "exclude = *.swp, cache" "keep_setid = yes"   # the setuid step below mirrors 4755 (56-sync-confine.t: the default strips it)
A=$T/a/data B=$T/b/data

# Something already there before syncd starts: the first connect reconciles it.
mkdir -p "$A/pre/sub"
echo before > "$A/pre/sub/file"
echo stale > "$B/only-on-standby"
start_syncd a
start_syncd b
check "role command accepted" -- make_active a 1
wait_synced 15; ok $? "initial reconcile: standby equals active"
check "file only on the standby removed" -- test ! -e "$B/only-on-standby"

st=$(syncctl a '{"cmd":"status"}')
is "$(jq -r .role <<<"$st")" active "status: role active"
is "$(jq -r '.peers[0].connected' <<<"$st")" true "status: peer b connected"
is "$(jq -r '.epoch' <<<"$st")" 1 "status: epoch"
is "$(syncctl b '{"cmd":"status"}' | jq -r .role)" standby "b is a standby"

step() { # step DESCRIPTION: waits until the trees are equal
    if wait_synced 10; then ok 0 "$1"; else ok 1 "$1"; show_diff; fi
}

echo one > "$A/new"; step "create"
echo two >> "$A/new"; step "append"
printf 'replaced' > "$A/new"; step "modify (rewrite)"
truncate -s 3 "$A/new"; step "truncate"
: > "$A/empty"; step "empty file"
head -c 3000000 /dev/urandom > "$A/big3m"; step "3 MB file"
rm "$A/empty"; step "delete"
mkdir -p "$A/x/y/z"; echo deep > "$A/x/y/z/leaf"; step "nested tree created at once"
mv "$A/new" "$A/x/y/moved"; step "rename a file across directories"
mv "$A/x" "$A/pre/xx"; step "rename a directory into another directory"
echo after-move > "$A/pre/xx/y/z/leaf2"; step "file created inside a renamed directory"
mv "$A/pre/xx/y" "$A/ytop"; echo later > "$A/ytop/z/leaf3"; step "directory moved again, watch map follows"
rm -r "$A/pre"; step "recursive delete"
ln -s ytop/z/leaf "$A/link"; step "relative symlink"
ln -s /etc/passwd "$A/abslink"; step "absolute symlink (kept as a link)"
ln -sfn ytop "$A/link"; step "symlink retargeted"
chmod 0640 "$A/big3m"; step "permissions of a file"
chmod 0700 "$A/ytop"; step "permissions of a directory"
chmod 4755 "$A/ytop/z/leaf"; step "setuid bit"
touch -d '2001-02-03 04:05:06.789' "$A/big3m"; step "mtime (ns)"
if [ "$(id -u)" = 0 ]; then
    chown 1234:4321 "$A/ytop/z/leaf3"; step "ownership (as root)"
    is "$(stat -c %u:%g "$B/ytop/z/leaf3")" 1234:4321 "owner on the standby"
fi
is "$(stat -c %a "$B/ytop/z/leaf")" 4755 "setuid mode on the standby"
is "$(stat -c %Y "$B/big3m")" "$(stat -c %Y "$A/big3m")" "mtime on the standby"
is "$(readlink "$B/abslink")" /etc/passwd "absolute symlink target"
ln "$A/ytop/z/leaf3" "$A/hardlink"; step "hard link (as a copy)"
TREE_IGNORE="/cache( |/|$)|\\.swp( |$)"
mkdir "$A/cache"; echo c > "$A/cache/c1"; echo s > "$A/file.swp"; echo k > "$A/kept"
step "excluded names"
check "excluded directory not sent" -- test ! -e "$B/cache"
check "excluded glob not sent" -- test ! -e "$B/file.swp"
# Excluded things on the standby are left alone by a reconcile.
mkdir -p "$B/cache"; echo mine > "$B/cache/standby-own"
syncctl a '{"cmd":"reconcile"}' >/dev/null
check "flush after reconcile" -- flush a
check "standby's excluded files survive a reconcile" -- test -e "$B/cache/standby-own"

# Many changes in a burst coalesce and all arrive.
for i in $(seq 1 200); do echo "$i" > "$A/burst-$i"; done
for i in $(seq 1 200 | grep 7); do rm "$A/burst-$i"; done
for i in $(seq 1 100); do echo "again $i" >> "$A/burst-1"; done
step "burst of 200 creates, deletes and appends"

# Many files landing in one batch (one syncfs, then renames): modes and owners as on the
# active, also in a setgid directory (a new file there gets the directory's group, so a
# file of another group must be chowned) and over a directory that is in the way.
mkdir -p "$T/stage/sg" "$B/sg/f7/inner"
echo in-the-way > "$B/sg/f7/inner/y"
for i in $(seq 1 40); do echo "$i" > "$T/stage/sg/f$i"; done
chmod 0600 "$T/stage/sg/f1"; chmod 0664 "$T/stage/sg/f2"; chmod 0755 "$T/stage/sg/f3"
chmod 0640 "$T/stage/sg/f4"; chmod 0444 "$T/stage/sg/f5"; chmod 0666 "$T/stage/sg/f9"
chown 0:4321 "$T/stage/sg" "$T/stage/sg/f2" "$T/stage/sg/f3"
chown 1234:4321 "$T/stage/sg/f8"
chmod 2775 "$T/stage/sg"
mv "$T/stage/sg" "$A/sg"; step "40 files at once: modes, owners, setgid directory, a directory in the way"
is "$(cd "$B/sg" && stat -c '%n %a %u:%g' f1 f2 f3 f4 f5 f6 f7 f8 f9 | tr '\n' ' ')" \
    "f1 600 0:0 f2 664 0:4321 f3 755 0:4321 f4 640 0:0 f5 444 0:0 f6 644 0:0 f7 644 0:0 f8 644 1234:4321 f9 666 0:0 " \
    "modes and owners of the batch on the standby"
is "$(cat "$B/sg/f7")" 7 "the directory in the way was replaced by the file"

# Latency when quiet: one file, complete on the standby well within a second.
t0=$(now_ms); echo quick > "$A/quick"
wait_for 5 cmp -s "$A/quick" "$B/quick"; t1=$(now_ms)
ok $? "single change arrives"; diag "quiet single-file latency $((t1 - t0)) ms (includes polling)"

check "flush answers ok" -- flush a 5000
check "no temp files on the standby" -- no_temp_files "$T/b"
check "nothing written beside the root" -- test -z "$(ls "$T/b" | grep -v '^data$')"
check "daemons still running" -- kill -0 "$SYNCD_PID_a" "$SYNCD_PID_b"
is "$(syncctl a '{"cmd":"status"}' | jq -r '.peers[0].errors')" 0 "no errors reported by the receiver"

# SIGHUP: a new exclude takes effect without a restart; a broken file changes nothing.
sed -i 's/^exclude = .*/exclude = *.swp, cache, *.log/' "$T/a.conf"
kill -HUP "$SYNCD_PID_a"
check "SIGHUP: configuration re-read" -- wait_for 10 grep -q 'configuration .* re-read' "$T/a.log"
echo l > "$A/new.log"; echo n > "$A/after-hup"
check "flush after SIGHUP" -- flush a
check "after SIGHUP: the new exclude is respected" -- test ! -e "$B/new.log"
check "after SIGHUP: still syncing" -- test -e "$B/after-hup"
echo "bogus line" >> "$T/a.conf"
kill -HUP "$SYNCD_PID_a"
check "SIGHUP with a broken file: refused, logged" -- wait_for 10 grep -q 'keeping the running configuration' "$T/a.log"
sed -i '/^bogus line$/d' "$T/a.conf"   # (syncd ctl below reads the file too)
echo m > "$A/after-bad-hup"
check "flush after a refused reload" -- flush a
check "after a refused reload: still syncing" -- test -e "$B/after-bad-hup"
check "same process throughout" -- kill -0 "$SYNCD_PID_a"

# Back to standby: the sender stops, the session ends.
syncctl a '{"cmd":"role","role":"standby","epoch":1}' >/dev/null; is $? 0 "role standby accepted"
echo late > "$A/late"; sleep 0.5
check "a standby does not push" -- test ! -e "$B/late"
syncctl a '{"cmd":"bogus"}' >/dev/null; is $? 1 "unknown verb answered with an error"
check "daemons stop cleanly, no sanitizer reports" -- stop_syncds
done_testing
