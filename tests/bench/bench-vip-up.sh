#!/usr/bin/env bash
# bench-vip-up: the promotion path's `vipctl up` step as watchd runs it (spawned with its
# lease deadline, connection = vip, a real veth in a namespace): `vipctl` (front.c, libmnl
# only) against vipctl-full, which has the same verbs linked with libpq, ldns, libcurl and
# Kerberos, as the single vipctl binary had before. The two run interleaved (front, full,
# front, full ...), VIP_UP_BENCH_N times each (default 30), each up followed by a down.
# Measured: wall time from fork to exit (bash's $EPOCHREALTIME around the command, inside
# the namespace), and once per binary the dynamic loader's work (LD_DEBUG=statistics:
# relocations, start-up cycles) and perf stat's task-clock and page faults.
# Goal (issue 13): the promotion path's vip-up step p99 < 30 ms.
# Writes tests/bench/results/bench-vip-up.json and .png.
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/pg.sh"    # PG_BINDIR for bench_meta; no server is started
source "$HS_TOP/tests/lib/netns.sh"
source "$HS_TOP/tests/bench/lib.sh"
need "$HS_BIN/vipctl" "$HS_BIN/vipctl-full" ip jq gnuplot perf
private_tmp hs-bench-vipup
mkdir -p "$T/bin"
cp "$HS_BIN/vipctl" "$HS_BIN/vipctl-full" "$T/bin/"
N=${VIP_UP_BENCH_N:-30}

netns_lan_setup a c
mkdir -p "$T/run"
cat >"$T/a.conf" <<EOF
[cluster]
name = vipup
node = a
database = host=/nonexistent
connection = vip
run_dir = $T/run
[vip]
address = 192.0.2.10
interface = eth0
EOF

# The loop runs inside the namespace, so each sample is bash's fork + exec + the program.
netns_exec a bash -c '
    bin=$1 n=$2 conf=$3
    boot_ns() { read -r up _ </proc/uptime; echo $(( ${up/./} * 10000000 )); }
    for i in $(seq "$n"); do
        for b in vipctl vipctl-full; do
            export HOTSTANDBY_EPOCH=1 HOTSTANDBY_DEADLINE_NS=$(( $(boot_ns) + 60000000000 ))
            t0=$EPOCHREALTIME
            "$bin/$b" -c "$conf" up 2>/dev/null || echo "# $b up failed" >&2
            t1=$EPOCHREALTIME
            unset HOTSTANDBY_DEADLINE_NS
            "$bin/$b" -c "$conf" down 2>/dev/null
            echo "$b ${t0/./} ${t1/./}"
        done
    done' _ "$T/bin" "$N" "$T/a.conf" >"$T/samples"

# Loader statistics and CPU cost of start-up and exit: `down` of a VIP whose interface
# does not exist (the config is read, nothing else happens; both binaries run it alone).
sed 's/^interface = eth0$/interface = nosuch0/' "$T/a.conf" >"$T/nosuch.conf"
loader() {   # BINARY: relocations and start-up cycles
    LD_DEBUG=statistics "$T/bin/$1" -c "$T/nosuch.conf" down 2>&1 >/dev/null |
        awk '/total startup time in dynamic loader/ { c = $(NF-1) }
             /number of relocations:/ && !/cache|final|relative/ { r = $NF }
             END { printf "%s %s\n", r, c }'
}
perfstat() {   # BINARY: task-clock ms and page faults, mean of 20 runs
    perf stat -x, -r 20 -e task-clock,page-faults "$T/bin/$1" -c "$T/nosuch.conf" down 2>&1 >/dev/null |
        awk -F, '$3 == "task-clock" { t = $1 } $3 == "page-faults" { p = $1 } END { printf "%s %s\n", t, p }'
}
libs() { ldd "$T/bin/$1" | grep -c '=>'; }
read -r rel_front cyc_front <<<"$(loader vipctl)"
read -r rel_full cyc_full <<<"$(loader vipctl-full)"
read -r tc_front pf_front <<<"$(perfstat vipctl)"
read -r tc_full pf_full <<<"$(perfstat vipctl-full)"

awk '{ printf "%s %.3f\n", $1, ($3 - $2) / 1000 }' "$T/samples" >"$T/ms"
stats() {   # BINARY: JSON {p50, p99, min, max, samples}
    awk -v b="$1" '$1 == b { print $2 }' "$T/ms" | sort -n | jq -Rs '
        split("\n") | map(select(length > 0) | tonumber) as $s | ($s | length) as $n |
        def rank(p): $s[(((p * $n) | ceil) - 1) | if . < 0 then 0 else . end];
        {p50: (rank(0.5) * 10 | round / 10), p99: (rank(0.99) * 10 | round / 10),
         min: $s[0], max: $s[-1], samples: $s}'
}
front=$(stats vipctl)
full=$(stats vipctl-full)
method="vipctl up spawned as watchd spawns it (HOTSTANDBY_EPOCH, HOTSTANDBY_DEADLINE_NS; connection = vip on a veth in a network namespace), $N times per binary, interleaved, each followed by a down; wall time from bash's fork to the exit (EPOCHREALTIME inside the namespace). vipctl-full is the same code linked with every library, as the single vipctl binary was before. Loader figures: LD_DEBUG=statistics, CPU: perf stat -r 20, both on a down of a VIP whose interface does not exist (start-up, config, exit)."
jq -n --argjson meta "$(bench_meta)" --arg method "$method" --argjson n "$N" \
    --argjson front "$front" --argjson full "$full" \
    --argjson rf "${rel_front:-null}" --argjson cf "${cyc_front:-null}" \
    --argjson rl "${rel_full:-null}" --argjson cl "${cyc_full:-null}" \
    --argjson tf "${tc_front:-null}" --argjson pf "${pf_front:-null}" \
    --argjson tl "${tc_full:-null}" --argjson pl "${pf_full:-null}" \
    --argjson lf "$(libs vipctl)" --argjson ll "$(libs vipctl-full)" '
  def r1: . * 10 | round / 10;
  {bench: "vip-up", meta: $meta, method: $method, runs_per_binary: $n,
   front: ($front + {libraries: $lf, relocations: $rf, loader_cycles: $cf, task_clock_ms: $tf, page_faults: $pf}),
   full: ($full + {libraries: $ll, relocations: $rl, loader_cycles: $cl, task_clock_ms: $tl, page_faults: $pl}),
   summary: [
     {metric: "vipctl up as watchd spawns it, p50 / p99 (\($n) interleaved): vipctl vs vipctl-full (= the one binary before)",
      unit: "ms", hotstandby: "\($front.p50) / \($front.p99)", peer: "vipctl-full \($full.p50) / \($full.p99)",
      ratio: ($front.p99 / $full.p99 | . * 100 | round / 100), goal: "p99 < 30", met: ($front.p99 < 30)},
     {metric: "start-up + config + exit: CPU ms, page faults, libraries, relocations", unit: "",
      hotstandby: "\($tf | r1) ms, \($pf), \($lf), \($rf)", peer: "vipctl-full \($tl | r1) ms, \($pl), \($ll), \($rl)",
      ratio: ($tf / $tl | . * 100 | round / 100)}]}' >"$BENCH_RESULTS/bench-vip-up.json"
jq -r '.summary[] | "# \(.metric): \(.hotstandby) vs \(.peer)"' "$BENCH_RESULTS/bench-vip-up.json" >&2

# Distribution plot: each sample in run order, both binaries.
awk '$1 == "vipctl" { print ++i, $2 }' "$T/ms" >"$T/front.dat"
awk '$1 == "vipctl-full" { print ++i, $2 }' "$T/ms" >"$T/full.dat"
gnuplot <<GP
set terminal pngcairo size 900,420 noenhanced
set output "$BENCH_RESULTS/bench-vip-up.png"
set title "vipctl up as watchd spawns it: vipctl (libmnl only) vs vipctl-full (every library) - $(date -u +%F), load $(cut -d' ' -f1 /proc/loadavg)"
set xlabel "run (interleaved)"
set ylabel "ms, fork to exit"
set yrange [0:*]
set grid ytics
set key top left
plot "$T/front.dat" with linespoints title "vipctl", "$T/full.dat" with linespoints title "vipctl-full"
GP
ok 0 "bench-vip-up written"
done_testing
