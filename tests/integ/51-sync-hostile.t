#!/usr/bin/env bash
# syncd --serve: hostile and broken frames written straight to the receiver's stdin
# (traversal, absolute paths, symlink escapes, oversized lengths, truncated frames,
# wrong epoch, wrong cluster, frames out of order, random garbage) are refused and
# reported, nothing is written outside the sync root, and the receiver never crashes.
# A symlink is never walked through, even one that stays inside the sync path.
# (56-sync-confine.t probes the same with [sync] root = /, as in production.)
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/pg.sh"
need /usr/bin/python3

pg_start   # the receiver checks each sender's epoch against hs_cluster
psql_hs "CREATE TABLE hs_cluster (cluster text PRIMARY KEY, epoch bigint NOT NULL DEFAULT 0)" >/dev/null
psql_hs "INSERT INTO hs_cluster VALUES ('t', 9)" >/dev/null

mkdir -p "$T/b/data" "$T/run-b" "$T/outside" "$T/out"
cat > "$T/b.conf" <<EOF
[cluster]
name = t
node = b
database = $PG_CONNINFO
run_dir = $T/run-b
state_dir = $T/state-b
[sync]
root = $T/b
paths = /data
EOF
ln -s "$T/outside" "$T/b/data/abs-escape"
ln -s ../../outside "$T/b/data/rel-escape"
ln -s . "$T/b/data/self"
cat > "$T/frames.py" <<'EOF'
# frames.py SCENARIO: runs `syncd --serve`, feeds it frames, prints "rc=N" and one line
# per reply frame: TYPE [code path message | token].
import os, random, struct, subprocess, sys
HS_BIN, CONF, SC = os.environ["HS_BIN"], os.environ["CONF"], sys.argv[1]
T = {n: i + 1 for i, n in enumerate("HELLO HELLO_OK ERROR MANIFEST_REQ MANIFEST MANIFEST_END PUT DATA END MKDIR SYMLINK DELETE RENAME SYNC ACK RECONCILED IDNAME".split())}
N = {v: k for k, v in T.items()}
def s(x): x = x.encode() if isinstance(x, str) else x; return struct.pack(">H", len(x)) + x
def fr(t, p=b""): return struct.pack(">IB", len(p), T[t]) + p
def hello(epoch=9, cluster="t"): return fr("HELLO", struct.pack(">I", 2) + s(cluster) + s("a") + struct.pack(">Q", epoch))
def put(path, data, size=None, mode=0o644):
    size = len(data) if size is None else size
    return fr("PUT", s(path) + struct.pack(">IIIqQ", mode, 0, 0, 1_000_000_000, size)) + fr("DATA", data) + fr("END", b"\x01")
def sync(tok=7): return fr("SYNC", struct.pack(">Q", tok))
def symlink(path, target): return fr("SYMLINK", s(path) + s(target) + struct.pack(">IIq", 0, 0, 0))
def mkdir(path): return fr("MKDIR", s(path) + struct.pack(">IIIq", 0o755, 0, 0, 0))
def rename(a, b): return fr("RENAME", s(a) + s(b) + struct.pack(">Qq", 2**64 - 1, 0))
def delete(p): return fr("DELETE", s(p))

sc = {
 "traversal": hello() + put("data/../../outside/x", b"evil") + put("../outside/y", b"evil") + put("data/ok", b"fine") + sync(),
 "absolute": hello() + put("/etc/evil", b"evil") + put("/" + os.environ["T"] + "/outside/z", b"e") + mkdir("/tmp/hsdir") + put("data/ok2", b"fine") + sync(),
 "dots": hello() + put("data/./x", b"e") + put("data//x", b"e") + put("", b"e") + put("data/x/", b"e") + put("data/ok3", b"fine") + sync(),
 "escape": hello() + put("data/abs-escape/p1", b"e") + put("data/rel-escape/p2", b"e") + mkdir("data/abs-escape/d") + rename("data/ok", "data/rel-escape/p3") + delete("data/abs-escape/inner") + put("data/self/self/ok4", b"fine") + sync(),
 "linkthen": hello() + symlink("data/l2", "/" ) + put("data/l2/" + os.environ["T"][1:] + "/outside/p4", b"e") + symlink("data/l3", "../..") + put("data/l3/outside/p5", b"e") + sync(),
 "internal": hello() + put("data/.hs-tmp.1.1", b"e") + put("data/.hotstandby-conflicts/1/x", b"e") + put("other/x", b"e") + sync(),
 "toomuch": hello() + put("data/big", b"x" * 20, size=10) + put("data/ok5", b"fine") + sync(),
 "short": hello() + fr("PUT", s("data/short") + struct.pack(">IIIqQ", 0o644, 0, 0, 0, 100)) + fr("DATA", b"x" * 10) + fr("END", b"\x01") + sync(),
 "hugesize": hello() + fr("PUT", s("data/huge") + struct.pack(">IIIqQ", 0o644, 0, 0, 0, 2**63)) + fr("END", b"\x01") + sync(),
 "oversized": hello() + struct.pack(">IB", 0xFFFFFFF0, T["DATA"]) + b"x" * 100,
 "badtype": hello() + struct.pack(">IB", 0, 200),
 "truncated": hello() + put("data/ok6", b"fine") + sync() + struct.pack(">IB", 100, T["PUT"]) + b"short",
 "nohello": put("data/nohello", b"e"),
 "dataonly": hello() + fr("DATA", b"zz"),
 "nul": hello() + fr("PUT", s("data/a\0b") + struct.pack(">IIIqQ", 0o644, 0, 0, 0, 0)),
 "trailing": hello() + fr("SYNC", struct.pack(">Q", 1) + b"junk"),
 "cluster": hello(cluster="other") + put("data/wrongcluster", b"e"),
 "epoch9": hello(epoch=9) + sync(),
 "epoch3": hello(epoch=3) + put("data/old-epoch", b"e") + sync(),
 "epoch10": hello(epoch=10) + put("data/while-active", b"e") + sync(),
}
if SC == "garbage":
    random.seed(int(sys.argv[2]))
    body = hello(epoch=9)
    for _ in range(random.randint(1, 8)):
        t = random.randint(0, 20); n = random.choice([0, 1, 5, 17, 300])
        body += struct.pack(">IB", n, t) + bytes(random.getrandbits(8) for _ in range(n))
        if random.random() < 0.5:
            body += put("data/g%d" % random.randint(0, 3), b"x" * random.randint(0, 50))
    data = body
else:
    data = sc[SC]
p = subprocess.run([HS_BIN + "/syncd", "--serve", "-c", CONF], input=data, capture_output=True, timeout=30)
print("rc=%d" % p.returncode)
out = p.stdout
while len(out) >= 5:
    n, t = struct.unpack(">IB", out[:5]); pl = out[5:5 + n]; out = out[5 + n:]
    if N.get(t) == "ERROR":
        c = pl[0]; l = struct.unpack(">H", pl[1:3])[0]; path = pl[3:3 + l]; m = pl[5 + l:]
        print("ERROR", c, path.decode(errors="replace"), m.decode(errors="replace"))
    elif N.get(t) in ("ACK",):
        print("ACK", struct.unpack(">Q", pl)[0])
    else:
        print(N.get(t, t))
sys.stderr.write(p.stderr.decode(errors="replace"))
EOF

touch "$T/marker"
run() { CONF=$T/b.conf T=$T /usr/bin/python3 "$T/frames.py" "$@" 2>>"$T/out/serve.log"; }
refusals() { grep -c '^ERROR 1 ' <<<"$1"; }
alive() { local rc; rc=$(sed -n 's/^rc=//p' <<<"$1"); [ "$rc" -lt 64 ]; } # no signal, no sanitizer exit

r=$(run epoch9); is "$(grep -c '^HELLO_OK' <<<"$r")" 1 "valid hello at epoch 9 accepted"
r=$(run traversal)
is "$(refusals "$r")" 2 "'..' paths refused (2)"; check "receiver alive after traversal" -- alive "$r"
check "valid frame after refusals applied" -- test "$(cat "$T/b/data/ok")" = fine
check "ACK after refusals" -- grep -q '^ACK 7' <<<"$r"
r=$(run absolute); is "$(refusals "$r")" 3 "absolute paths refused (3)"; check "alive" -- alive "$r"
check "nothing created at /tmp/hsdir" -- test ! -e /tmp/hsdir
r=$(run dots); is "$(refusals "$r")" 4 "'.', empty components and trailing '/' refused (4)"
check "alive" -- alive "$r"
r=$(run escape); is "$(refusals "$r")" 5 "symlink escapes refused (absolute and relative link, rename, through a link inside)"
check "a symlink inside the sync path is not followed either" -- test ! -e "$T/b/data/ok4"
check "a DELETE below a symlink deletes nothing (nothing real is there)" -- test -d "$T/outside"
check "alive" -- alive "$r"
r=$(run linkthen); is "$(refusals "$r")" 2 "writes through a symlink the sender just created refused"
check "the links themselves exist (mirrored, never followed)" -- test -L "$T/b/data/l2" -a -L "$T/b/data/l3"
r=$(run internal); is "$(refusals "$r")" 3 "temp names, conflict store and paths outside [sync] paths refused"
r=$(run toomuch); is "$(refusals "$r")" 1 "more data than declared refused"
check "oversent file not created" -- test ! -e "$T/b/data/big"
check "next file in the session still applied" -- test -e "$T/b/data/ok5"
r=$(run short); check "short file reported failed" -- grep -q '^ERROR 2 data/short' <<<"$r"
check "short file not created" -- test ! -e "$T/b/data/short"
r=$(run hugesize); is "$(refusals "$r")" 1 "absurd declared size refused"
r=$(run oversized); is "$(sed -n 's/^rc=//p' <<<"$r")" 3 "oversized length ends the session (exit 3)"
check "oversized: error frame sent" -- grep -q '^ERROR 3' <<<"$r"
r=$(run badtype); is "$(sed -n 's/^rc=//p' <<<"$r")" 3 "unknown frame type ends the session"
r=$(run truncated); check "truncated frame: earlier frames applied" -- test -e "$T/b/data/ok6"
check "truncated frame: alive, clean exit" -- alive "$r"
r=$(run nohello); is "$(sed -n 's/^rc=//p' <<<"$r")" 3 "frames before HELLO refused"
check "nothing applied without HELLO" -- test ! -e "$T/b/data/nohello"
r=$(run dataonly); is "$(sed -n 's/^rc=//p' <<<"$r")" 3 "DATA outside a PUT refused"
r=$(run nul); is "$(sed -n 's/^rc=//p' <<<"$r")" 3 "NUL inside a path refused"
r=$(run trailing); is "$(sed -n 's/^rc=//p' <<<"$r")" 3 "trailing bytes in a frame refused"
r=$(run cluster); check "wrong cluster refused" -- grep -q "^ERROR 3 .*cluster 'other'" <<<"$r"
check "nothing applied for another cluster" -- test ! -e "$T/b/data/wrongcluster"
r=$(run epoch3); check "older epoch refused" -- grep -q '^ERROR 3 .*epoch 3 is older than' <<<"$r"
check "nothing applied at an older epoch" -- test ! -e "$T/b/data/old-epoch"

# This node active: every push refused.
"$HS_BIN/syncd" -c "$T/b.conf" 2>>"$T/out/daemon.log" &
dpid=$!; at_exit "kill $dpid"
wait_for 10 test -S "$T/run-b/syncd.sock"
"$HS_BIN/syncd" ctl -c "$T/b.conf" '{"cmd":"role","role":"active","epoch":10}' >/dev/null
psql_hs "UPDATE hs_cluster SET epoch = 10" >/dev/null
r=$(run epoch10); check "push to an active node refused" -- grep -q '^ERROR 3 .*is active' <<<"$r"
check "nothing applied on an active node" -- test ! -e "$T/b/data/while-active"
kill $dpid; wait $dpid 2>/dev/null

crashes=0
for seed in $(seq 1 40); do
    r=$(run garbage "$seed"); alive "$r" || { crashes=$((crashes + 1)); diag "seed $seed: $(head -1 <<<"$r")"; }
done
is $crashes 0 "40 random frame streams: the receiver never crashed"

is "$(find "$T/outside" -mindepth 1 | wc -l)" 0 "nothing written in the directory the links point to"
is "$(find "$T" -newer "$T/marker" -type f ! -path "$T/b/data/*" ! -path "$T/run-b/*" ! -path "$T/state-b/*" ! -path "$T/out/*" ! -path "$T/pg*" | wc -l)" 0 "nothing written outside the root (and run dir)"
check "no temp files left" -- test -z "$(find "$T/b" -name '.hs-tmp.*')"
check "refusals are logged" -- grep -q 'refused from a' "$T/out/serve.log"
done_testing
