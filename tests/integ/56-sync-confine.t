#!/usr/bin/env bash
# syncd --serve confinement (issue 9, points 1-5), probed as a holder of the sync key
# would: hostile frames straight to the receiver, configured as in production ([sync] root
# = /, paths = one directory). Nothing outside the sync path may appear or change --
# through a symlink the sender made, one a local user made or swaps in during a batch,
# the conflict store, a manifest request; setuid bits are stripped unless configured;
# owners map by name; an epoch newer than the database's is refused and not recorded.
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/pg.sh"
need /usr/bin/python3 cc taskset

pg_start
psql_hs "CREATE TABLE hs_cluster (cluster text PRIMARY KEY, epoch bigint NOT NULL DEFAULT 0)" >/dev/null
psql_hs "INSERT INTO hs_cluster VALUES ('t', 9)" >/dev/null
db_epoch() { psql_hs "UPDATE hs_cluster SET epoch = $1 WHERE cluster = 't'" >/dev/null; }

DATA=$T/b/data OUT=$T/outside SECRET=$T/secret
mkdir -p "$DATA" "$T/run-b" "$T/state-b" "$OUT" "$SECRET/sdir" "$T/log"
export D=${DATA#/}          # the wire path of the data directory ([sync] root = /)
conf() { # conf NAME [extra [sync] lines]
    local name=$1; shift
    { cat <<CONF
[cluster]
name = t
node = b
database = $PG_CONNINFO
run_dir = $T/run-b
state_dir = $T/state-b
[sync]
CONF
      printf '%s\n' "$@"; } >"$T/$name.conf"
}
conf b "paths = $DATA"
conf nopaths
conf keep "paths = $DATA" "keep_setid = yes"

echo "victim" >"$OUT/victim"; echo "root only" >"$SECRET/sdir/key"; chmod 600 "$SECRET/sdir/key"
echo "not ours" >"$SECRET/sdir/.hs-tmp.x"
echo "victim" >"$T/victim"; chmod 600 "$T/victim"
echo "mine" >"$DATA/mv"
# Everything outside the data directory that a probe could touch, with modes and contents.
snapshot() {
    (cd "$T" && find . -mindepth 1 \( -path ./b/data -o -path ./run-b -o -path ./state-b -o -path ./log \
        -o -path ./pgdata -o -path ./pgsock \) -prune -o -printf '%y %m %U:%G %s %T@ %p -> %l\n' |
        sort; cat "$OUT/victim" "$T/victim" 2>/dev/null) | sha256sum
}
before=$(snapshot)
unchanged() { [ "$(snapshot)" = "$before" ]; }
run() { HS_BIN=$HS_BIN ${run_on_cpu0:+taskset -c 0} /usr/bin/python3 "$HS_TOP/tests/lib/syncframes.py" "$T/$1.conf" "$2" 2>>"$T/log/serve.log"; }
refused() { grep -q "^ERROR 1 $1 " <<<"$2"; }
alive() { local rc; rc=$(sed -n 's/^rc=//p' <<<"$1"); [ -n "$rc" ] && [ "$rc" -lt 64 ]; }

# --- 1. writes through symlinks
r=$(run b 'hello() + symlink(D+"/l", "../../outside") + put(D+"/l/x", b"evil", mode=0o4755) + sync()')
check "P1.1 PUT through a relative symlink the sender made: refused" -- refused "$D/l/x" "$r"
check "P1.1 nothing created where the link points" -- test ! -e "$OUT/x"
check "P1.1 the link itself exists (mirrored, never followed)" -- test -L "$DATA/l"
r=$(run b 'hello() + symlink(D+"/l2", "../../outside") + mkdir(D+"/l2/newdir") + delete(D+"/l2/victim")
           + rename(D+"/mv", D+"/l2/moved") + put(D+"/l2/y", b"evil") + sync()')
check "P1.2 MKDIR through a symlink refused" -- refused "$D/l2/newdir" "$r"
check "P1.2 RENAME into a symlinked directory refused" -- grep -q "^ERROR 1 $D/l2/moved " <<<"$r"
check "P1.2 the victim outside was not deleted" -- test -e "$OUT/victim"
check "P1.2 the renamed file stayed inside" -- test -e "$DATA/mv"
check "P1.2 nothing appeared outside" -- test ! -e "$OUT/newdir" -a ! -e "$OUT/moved" -a ! -e "$OUT/y"
check "P1.2 ACK after the refusals (the session goes on)" -- grep -q '^ACK 7' <<<"$r"
ln -s . "$DATA/self"
r=$(run b 'hello() + put(D+"/self/ok", b"x") + put(D+"/fine", b"fine") + sync()')
check "P1.3 a symlink inside the sync path is not walked through either" -- refused "$D/self/ok" "$r"
check "P1.3 nothing written through it" -- test ! -e "$DATA/ok"
is "$(cat "$DATA/fine" 2>/dev/null)" fine "P1.3 an ordinary PUT in the same session applied"
r=$(run nopaths 'hello() + put("'"${OUT#/}"'/np", b"evil") + sync()')
check "P1.4 a receiver without [sync] paths refuses to serve" -- grep -q '^ERROR 3 .*paths is empty' <<<"$r"
check "P1.4 and writes nothing" -- test ! -e "$OUT/np"
check "P1.4 exit status is not 0" -- test "$(sed -n 's/^rc=//p' <<<"$r")" != 0

# rejoin with the conflict store symlinked out: the old file must not move outside
echo mine >"$DATA/keep"
ln -s ../../outside "$DATA/.hotstandby-conflicts"
printf 'active 0\nepoch 5\nseen_epoch 5\nwas_active 5\n' >"$T/state-b/syncd.state"
printf 'active 0\nepoch 5\nseen_epoch 5\nwas_active 5\n' >"$T/run-b/syncd.state"   # 673b09e's place
db_epoch 10
r=$(run b 'hello(10) + put(D+"/keep", b"theirs") + sync()')
check "P1.5 rejoin session accepted (flag 1)" -- grep -q '^HELLO_OK [1357]$' <<<"$r"
check "P1.5 nothing moved into the symlinked conflict store" -- test ! -e "$OUT/10"
is "$(cat "$DATA/keep")" mine "P1.5 this node's version is not replaced when it cannot be kept"
rm "$DATA/.hotstandby-conflicts"
r=$(run b 'hello(10) + put(D+"/keep", b"theirs") + sync()')
is "$(cat "$DATA/.hotstandby-conflicts/10/keep" 2>/dev/null)" mine "P1.5 with a real conflict store, the old version is kept there"
is "$(cat "$DATA/keep")" theirs "P1.5 and the new one lands"

# --- 2. manifest through a symlink
r=$(run b 'hello(10) + symlink(D+"/m", "'"$SECRET"'") + manifest_req(D+"/m/sdir") + sync()')
is "$(grep -c '^ENTRY' <<<"$r")" 0 "P2.1 MANIFEST_REQ through a symlink lists nothing"
lacks() { ! grep -q "$1" <<<"$2"; }
check "P2.1 no hash of the secret file returned" -- lacks "$(sha256sum <"$SECRET/sdir/key" | cut -c1-64)" "$r"
check "P2.1 the temp-named file outside was not deleted" -- test -e "$SECRET/sdir/.hs-tmp.x"
r=$(run b 'hello(10) + manifest_req(D) + sync()')
check "P2.2 the data directory itself is listed" -- grep -q "^ENTRY $D/fine " <<<"$r"
check "P2.2 symlinks are listed as links, not followed" -- lacks "^ENTRY $D/m/" "$r"

# --- 3. a local user swaps symlinks in during a batch of MKDIRs. Racer and receiver share
# one CPU, so that the racer runs whenever the receiver is switched out (at any point).
cc -O2 -o "$T/log/swap-race" "$HS_TOP/tests/tools/swap-race.c" || bail "cannot build swap-race"
mkdir "$DATA/race"
victim_before=$(stat -c '%a %U:%G %Y' "$T/victim")
N=${RACE_MKDIRS:-20000}
taskset -c 0 "$T/log/swap-race" "$DATA/race" "$T/victim" 240 "$N" >"$T/log/race.out" &
racer=$!; at_exit "kill $racer"
wait_for 10 grep -q ready "$T/log/race.out"
r=$(SERVE_TIMEOUT=300 run_on_cpu0=1 run b 'hello(10) + b"".join(mkdir(D+"/race/d%d" % i, mode=0o777) for i in range('"$N"')) + sync()')
wait_for 20 grep -q swaps "$T/log/race.out"; kill $racer 2>/dev/null; wait $racer 2>/dev/null
diag "$(grep -c '^ERROR' <<<"$r") of $N MKDIRs refused or failed; racer: $(tail -1 "$T/log/race.out")"
check "P3 the batch completed (ACK)" -- grep -q '^ACK 7' <<<"$r"
is "$(stat -c '%a %U:%G %Y' "$T/victim")" "$victim_before" "P3 the file the racer's links point to kept its mode, owner and mtime"
check "P3 links were swapped in (the race was run)" -- grep -q 'swaps [1-9]' "$T/log/race.out"

# --- 4. setuid/setgid bits and owners
r=$(run b 'hello(10) + put(D+"/suid", b"#!/bin/sh\n", mode=0o4755) + mkdir(D+"/sgid", mode=0o2775) + sync()')
is "$(stat -c %a "$DATA/suid")" 755 "P4.1 setuid bit stripped by default"
is "$(stat -c %a "$DATA/sgid")" 775 "P4.1 setgid bit of a directory stripped by default"
check "P4.1 HELLO_OK tells the sender (PF_NO_SETID)" -- grep -q '^HELLO_OK [4567]$' <<<"$r"
r=$(run keep 'hello(10) + put(D+"/suid2", b"#!/bin/sh\n", mode=0o4755) + sync()')
is "$(stat -c %a "$DATA/suid2")" 4755 "P4.2 kept with [sync] keep_setid = yes"
nobody=$(id -u nobody) nogroup=$(getent group nogroup | cut -d: -f3)
r=$(run b 'hello(10) + idname(0, 4242, "nobody") + idname(1, 4343, "nogroup") + put(D+"/byname", b"x", uid=4242, gid=4343)
           + put(D+"/bynumber", b"x", uid=4244, gid=4345) + idname(0, 4246, "no-such-user-here") + put(D+"/unknown", b"x", uid=4246, gid=0) + sync()')
is "$(stat -c %u:%g "$DATA/byname")" "$nobody:$nogroup" "P4.3 owners known here by name are mapped by name"
is "$(stat -c %u:%g "$DATA/bynumber")" "4244:4345" "P4.3 owners without a name keep their number"
is "$(stat -c %u "$DATA/unknown")" 4246 "P4.3 a name unknown here keeps the number"
r=$(run b 'hello(10) + manifest_req(D+"/byname", False)')
check "P4.3 manifests name the receiver's owners (IDNAME user)" -- grep -q "^IDNAME 0 $nobody nobody$" <<<"$r"
check "P4.3 manifests name the receiver's owners (IDNAME group)" -- grep -q "^IDNAME 1 $nogroup nogroup$" <<<"$r"
check "P4.3 ... before the entry that uses them" -- grep -q "^ENTRY $D/byname 1 644 1 $nobody:$nogroup" <<<"$r"

# --- 5. the epoch is checked against the database
r=$(run b 'hello(2**64 - 1) + put(D+"/forged", b"e") + sync()')
check "P5.1 HELLO with epoch 2^64-1 refused" -- grep -q '^ERROR 3 .*newer than the database' <<<"$r"
check "P5.1 nothing applied" -- test ! -e "$DATA/forged"
r=$(run b 'hello(10) + put(D+"/after", b"real") + sync()')
is "$(cat "$DATA/after" 2>/dev/null)" real "P5.1 a real push at the database's epoch still works after"
r=$(run b 'hello(8) + put(D+"/stale", b"e") + sync()')
check "P5.2 an epoch older than the database's refused" -- grep -q '^ERROR 3 .*epoch 8 is older' <<<"$r"
check "P5.2 nothing applied" -- test ! -e "$DATA/stale"
grep -q '^seen_epoch 10$' "$T/state-b/syncd.state"; ok $? "P5.3 the recorded epoch is the database's (10)"

# --- 6. order inside a batch: received files land (renamed into place) at a commit point,
# which a MKDIR of a new directory does not force; one that concerns a waiting file does.
r=$(run b 'hello(10) + mkdir(D+"/n1") + put(D+"/n1/f", b"one") + mkdir(D+"/n2") + put(D+"/n2/f", b"two")
           + put(D+"/n1/g", b"three") + sync()')
is "$(cat "$DATA/n1/f" "$DATA/n2/f" "$DATA/n1/g" 2>&1)" onetwothree "P6.1 files of new directories all land"
r=$(run b 'hello(10) + put(D+"/fd", b"file first") + mkdir(D+"/fd") + sync()')
check "P6.2 a MKDIR after a PUT of the same path: a directory at the end" -- test -d "$DATA/fd"
r=$(run b 'hello(10) + put(D+"/fa", b"file") + mkdir(D+"/fa/sub") + sync()')
is "$(cat "$DATA/fa" 2>&1)" file "P6.3 a MKDIR below a waiting file: the file landed first (and the MKDIR fails)"
check "P6.3 ... reported" -- grep -q "^ERROR [0-9]* $D/fa/sub " <<<"$r"
mkdir "$DATA/g"
r=$(run keep 'hello(10) + put(D+"/g/f1", b"x", gid=0) + mkdir(D+"/g", mode=0o2775, gid='"$nogroup"')
              + put(D+"/g/f2", b"x", gid=0) + sync()')
is "$(stat -c %a:%g "$DATA/g")" "2775:$nogroup" "P6.4 an existing directory made setgid by a MKDIR in the batch"
is "$(stat -c %g "$DATA/g/f1"):$(stat -c %g "$DATA/g/f2")" 0:0 "P6.4 files before and after it keep the sender's group"
# More files than one batch (8192): the first batch lands in a thread while the rest arrive.
r=$(run b 'hello(10) + put(D+"/big/dup", b"old") + b"".join(mkdir(D+"/big/d%d" % k) + b"".join(
           put(D+"/big/d%d/f%d" % (k, i), b"%d" % i) for i in range(3000)) for k in range(3))
           + put(D+"/big/dup", b"new") + mkdir(D+"/big/d1/later") + put(D+"/big/d1/later/x", b"x") + sync()')
check "P6.5 a stream of 9 000 files: acknowledged" -- grep -q '^ACK 7' <<<"$r"
is "$(find "$DATA/big" -type f | wc -l)" 9002 "P6.5 every file landed"
is "$(cat "$DATA/big/d2/f2999"):$(cat "$DATA/big/dup"):$(cat "$DATA/big/d1/later/x")" "2999:new:x" \
    "P6.5 contents as sent; a file sent twice across batches holds the later copy"

check "nothing outside the sync path appeared or changed" -- unchanged
check "no temp files left" -- test -z "$(find "$DATA" -name '.hs-tmp.*')"
check "refusals logged" -- grep -q 'refused from a' "$T/log/serve.log"
done_testing
