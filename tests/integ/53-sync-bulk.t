#!/usr/bin/env bash
# syncd at volume: a 512 MiB file arrives bit-identical, 20 000 small files arrive, and a
# reader polling the standby during the transfers never sees a partial file.
# (ASan build: 64 MiB instead of 512 MiB, same 20 000 files.)
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/sshd.sh"
source "$HS_TOP/tests/lib/syncd.sh"
need sha256sum /usr/bin/python3

start_sshd
sync_conf a b
sync_conf b a
A=$T/a/data B=$T/b/data
start_syncd a
start_syncd b
make_active a 1
wait_synced 15; ok $? "connected and in sync"

big_mb=512
[[ $HS_BIN == *san* ]] && big_mb=64
mkdir -p "$A/bulk"
wait_for 10 test -d "$B/bulk"

# The reader: every file it can see must be complete. Small files hold their own name
# repeated to 4 KiB or 1 MiB; the big file must have its full size.
cat > "$T/reader.py" <<'EOF'
import os, random, sys, time
d, big, big_size, stop = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
checks = partial = 0
def expect(name):
    n = 1 << 20 if name.startswith("m") else 4096
    return (name.encode() * (n // len(name) + 1))[:n]
while not os.path.exists(stop):
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        names = []
    for name in random.sample(names, min(len(names), 200)):   # a sample per round
        if name.startswith("."):
            continue
        try:
            with open(os.path.join(d, name), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        checks += 1
        if data != expect(name):
            partial += 1
            print("partial:", name, len(data), file=sys.stderr)
    try:
        st = os.stat(big)
        checks += 1
        if st.st_size != big_size:
            partial += 1
            print("partial big file:", st.st_size, file=sys.stderr)
    except FileNotFoundError:
        pass
    time.sleep(0.01)
print(checks, partial)
EOF
/usr/bin/python3 "$T/reader.py" "$B/bulk" "$B/big" $((big_mb << 20)) "$T/stop-reader" > "$T/reader.out" 2>"$T/reader.err" &
reader=$!
at_exit "kill $reader"

head -c $((big_mb << 20)) /dev/urandom > "$T/big.src"
t0=$(now_ms)
cp "$T/big.src" "$A/big"
/usr/bin/python3 - "$A/bulk" <<'EOF'
import os, sys
d = sys.argv[1]
for i in range(20000):
    name = "f%05d" % i
    with open(os.path.join(d, name), "wb") as f:
        f.write((name.encode() * 1000)[:4096])
for i in range(20):
    name = "m%02d" % i
    with open(os.path.join(d, name), "wb") as f:
        f.write((name.encode() * (1 << 20))[:1 << 20])
EOF
t1=$(now_ms)
check "flush: everything acknowledged" -- flush a 240000
t2=$(now_ms)
is "$(sha256sum < "$B/big")" "$(sha256sum < "$T/big.src")" "${big_mb} MiB file bit-identical (sha256)"
is "$(ls "$B/bulk" | wc -l)" 20020 "20 000 small + 20 medium files arrived"
wait_synced 60; ok $? "trees equal (modes, mtimes, sha256 of every file)"
diag "writing took $((t1 - t0)) ms; everything on the standby $((t2 - t0)) ms after the first write"
touch "$T/stop-reader"; wait $reader
read -r checks partial < "$T/reader.out"
check "reader looked many times (${checks:-0})" -- test "${checks:-0}" -gt 1000
is "${partial:-x}" 0 "reader never saw a partial file"
check "no temp files on the standby" -- no_temp_files "$T/b"
rss=$(awk '/VmHWM/ {print $2}' /proc/"$SYNCD_PID_a"/status)
diag "sender peak RSS ${rss} kB"
check "sender peak RSS below 256 MiB" -- test "$rss" -lt 262144
check "daemons stop cleanly, no sanitizer reports" -- stop_syncds
done_testing
