# tests/bench/sync-lib.sh: shared by the sync-* benchmarks (source after common.sh,
# sshd.sh and syncd.sh). Every tool under comparison uses the same sshd, the same key and
# the same cipher/MAC that libssh2 negotiates with it (aes128-ctr, hmac-sha2-256; the
# benchmarks read it from syncd's debug log and pass it to ssh/scp/rsync/lsyncd).

BENCH_RESULTS=${HS_BENCH_RESULTS:-$HS_TOP/tests/bench/results}
mkdir -p "$BENCH_RESULTS"
need /usr/bin/python3 jq gnuplot rsync scp lsyncd

# A private copy of syncd, so a rebuild during the run does not change what is measured.
sync_private_bin() {
    mkdir -p "$T/bin"
    cp "$HS_BIN/syncd" "$T/bin/" || bail "no $HS_BIN/syncd: run make"
    HS_BIN=$T/bin
}

SSH_CIPHER=aes128-ctr
SSH_MAC=hmac-sha2-256
ssh_opts() {
    echo "-p $SSHD_PORT -i $SSH_KEY -o UserKnownHostsFile=$KNOWN_HOSTS -o StrictHostKeyChecking=yes -o BatchMode=yes -o Ciphers=$SSH_CIPHER -o MACs=$SSH_MAC -o Compression=no"
}
# After syncd connected: check that it negotiated what the other tools are given.
check_cipher() {
    local got
    got=$(grep -o 'ssh [^,]*, [^,]*, [^ ]*' "$T/$1.log" | head -1)
    diag "syncd negotiated: $got"
    [[ $got == *"$SSH_CIPHER, $SSH_MAC"* ]] || diag "WARNING: cipher differs from the one given to ssh/scp/rsync"
}

# Watches DIR for complete files (IN_MOVED_TO / IN_CLOSE_WRITE; names starting with '.'
# are temp files of syncd and rsync) and prints "name ns" the first time each appears.
watcher_start() { # watcher_start DIR OUTFILE
    /usr/bin/python3 - "$1" "$2" <<'EOF' &
import ctypes, os, struct, sys, time
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(0)
if libc.inotify_add_watch(fd, sys.argv[1].encode(), 0x80 | 0x08) < 0:
    sys.exit("inotify_add_watch failed")
out = open(sys.argv[2], "w", buffering=1)
seen = set()
while True:
    buf = os.read(fd, 1 << 20)
    t = time.time_ns()
    i = 0
    while i < len(buf):
        _, mask, _, ln = struct.unpack_from("iIII", buf, i)
        name = buf[i + 16:i + 16 + ln].rstrip(b"\0").decode()
        i += 16 + ln
        if name and not name.startswith(".") and name not in seen:
            seen.add(name)
            print(name, t, file=out)
EOF
    WATCHER_PID=$!
    at_exit "kill $WATCHER_PID"
    sleep 0.3
}

# Writes N files of SIZE bytes into DIR at RATE files/s; prints "name ns" after each close.
writer() { # writer DIR N RATE OUTFILE
    /usr/bin/python3 - "$@" <<'EOF'
import os, sys, time
d, n, rate, outf = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
data = os.urandom(1024)
out = open(outf, "w")
start = time.time()
for i in range(n):
    due = start + i / rate
    now = time.time()
    if due > now:
        time.sleep(due - now)
    name = "f%05d" % i
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    print(name, time.time_ns(), file=out)
EOF
}

# Latencies (ms) of names in WRITTEN that appear in ARRIVED; prints JSON
# {"n":..,"arrived":..,"p50":..,"p90":..,"p99":..,"max":..,"samples":[...]}.
latency_json() { # latency_json WRITTEN ARRIVED
    /usr/bin/python3 - "$1" "$2" <<'EOF'
import json, sys
w = dict(l.split() for l in open(sys.argv[1]))
a = dict(l.split() for l in open(sys.argv[2]))
lat = sorted((int(a[k]) - int(v)) / 1e6 for k, v in w.items() if k in a)
def pct(p):
    return round(lat[min(len(lat) - 1, int(p / 100 * len(lat)))], 2) if lat else None
print(json.dumps({"n": len(w), "arrived": len(lat), "p50": pct(50), "p90": pct(90),
                  "p99": pct(99), "max": round(lat[-1], 2) if lat else None,
                  "samples": [round(x, 2) for x in lat]}))
EOF
}

bench_meta() {
    jq -n --arg date "$(date -u +%FT%TZ)" --arg kernel "$(uname -r)" \
        --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
        --argjson cpus "$(nproc)" --arg commit "$(git -C "$HS_TOP" rev-parse --short HEAD 2>/dev/null)" \
        --arg ssh "$(ssh -V 2>&1)" --arg cipher "$SSH_CIPHER $SSH_MAC" \
        --arg loadavg "$(cut -d' ' -f1-3 /proc/loadavg)" --arg fs "$(df -T /tmp | awk 'NR==2 {print $2}')" \
        '{date:$date, kernel:$kernel, cpu:$cpu, cpus:$cpus, commit:$commit, openssh:$ssh,
          cipher:$cipher, loadavg_at_start:$loadavg, filesystem:$fs}'
}

# cpu_ticks PID: utime+stime in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
# The receiver process (syncd --serve) for node NODE's config.
serve_pid() { pgrep -f -- "--serve -c $T/$1.conf" | head -1; }

# lsyncd_start NAME SRC DSTDIR DELAY: rsync over the same sshd; DELAY "" = lsyncd's default.
lsyncd_start() {
    local name=$1 src=$2 dst=$3 delay=$4
    cat > "$T/$name.lua" <<EOF
settings { nodaemon = true, logfile = "$T/$name.log", statusFile = "$T/$name.status", insist = true }
sync {
    default.rsync,
    source = "$src",
    target = "root@127.0.0.1:$dst",
    ${delay:+delay = $delay,}
    rsync = { archive = true, rsh = "/usr/bin/ssh $(ssh_opts)" },
}
EOF
    lsyncd "$T/$name.lua" >>"$T/$name.out" 2>&1 &
    LSYNCD_PID=$!
    at_exit "kill $LSYNCD_PID"
    # lsyncd starts with a full rsync; wait until it reports it is watching
    wait_for 30 grep -q 'Normal: Finished\|Startup of.*finished' "$T/$name.log" || diag "lsyncd startup not seen in its log"
}
lsyncd_stop() { kill "$LSYNCD_PID" 2>/dev/null; wait "$LSYNCD_PID" 2>/dev/null; }
