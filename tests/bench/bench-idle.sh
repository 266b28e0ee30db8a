#!/usr/bin/env bash
# tests/bench/bench-idle.sh: what an idle cluster costs. Two nodes (one active, one
# standby) at the fast profile (interval 1s, takeover_timeout 3s; HS_BENCH_INTERVAL and
# HS_BENCH_TAKEOVER override), left alone for HS_BENCH_IDLE_SECS (60) after a warm-up.
#
# Per daemon (heartbeatd and watchd of the active and of the standby), sampled every second:
#   RSS   VmRSS from /proc/PID/status (and VmHWM, the peak, at the end)
#   CPU   utime + stime from /proc/PID/stat (clock ticks, 10 ms) over the whole window,
#         and the scheduler's own count (/proc/PID/schedstat, ns) for a finer figure
# Per node, the database side:
#   queries/s  statements the server executed for the node's sessions, counted in the
#              PostgreSQL log with log_statement = all and the node's application_name
#              (each node's conninfo sets application_name=hs-NODE), split by statement
#   backend CPU  utime + stime of the node's PostgreSQL backends
# For the whole database: xact_commit delta (pg_stat_database) and WAL bytes written.
# Goals (issue 3): RSS < 8 MiB, idle CPU < 0.5 % (of one CPU) per daemon.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/bench/lib.sh"
private_tmp hs-bench
private_bins
. "$HS_TOP/tests/lib/cluster.sh"
need jq gnuplot
NAME=bench-idle
SECS=${HS_BENCH_IDLE_SECS:-60}
WARMUP=${HS_BENCH_IDLE_WARMUP:-5}
HZ=$(getconf CLK_TCK)
log() { printf '# %s\n' "$*" >&2; }

pg_start
psql_hs "ALTER SYSTEM SET log_statement = 'all'" >/dev/null
psql_hs "ALTER SYSTEM SET log_line_prefix = '%m [%a] '" >/dev/null
psql_hs "SELECT pg_reload_conf()" >/dev/null
PG_LOG=$PG_SOCK/postgres.log

HS_INTERVAL=${HS_BENCH_INTERVAL:-1s} HS_TAKEOVER=${HS_BENCH_TAKEOVER:-3s}
HS_CLUSTER=idle HS_PRIMARY=a
base=$PG_CONNINFO
PG_CONNINFO="$base application_name=hs-a" node_conf a 100
PG_CONNINFO="$base application_name=hs-b" node_conf b 100
node_start a
node_start b
wait_role a active 10 && wait_role b standby 10 || { log "the cluster did not form"; dump_logs; exit 1; }
diag "warm-up ${WARMUP}s, then ${SECS}s idle (interval $HS_INTERVAL, takeover_timeout $HS_TAKEOVER)"
sleep "$WARMUP"
bench_tmp_ok

# The processes: "label pid" lines.
procs=$T/procs
{
    echo "a-watchd $(node_pid a watchd)"
    echo "a-heartbeatd $(node_pid a heartbeatd)"
    echo "b-watchd $(node_pid b watchd)"
    echo "b-heartbeatd $(node_pid b heartbeatd)"
} >"$procs"
backends() { psql_hs "SELECT pid FROM pg_stat_activity WHERE application_name = 'hs-$1'" | tr '\n' ' '; }
backends_a=$(backends a)
backends_b=$(backends b)

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }   # utime + stime
sched_ns() { awk '{ print $1 }' "/proc/$1/schedstat" 2>/dev/null || echo 0; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
# At the end of the window: private vs file-backed RSS, PSS, and the biggest mappings, to
# tell the daemon's own memory from the shared libraries' pages.
mem_json() {
    local p=$1
    jq -n --argjson anon "$(awk '/^RssAnon:/ { print $2 }' "/proc/$p/status")" \
        --argjson file "$(awk '/^RssFile:/ { print $2 }' "/proc/$p/status")" \
        --argjson pss "$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup")" \
        --argjson top "$(awk '/^[0-9a-f]+-/ { name = ($6 == "" ? "[anon]" : $6) } /^Rss:/ { r[name] += $2 }
                END { for (n in r) print r[n], n }' "/proc/$p/smaps" | sort -rn | head -n 8 |
                jq -Rn '[inputs | capture("(?<kb>[0-9]+) (?<mapping>.*)") | .kb |= tonumber]')" \
        '{rss_anon_kb: $anon, rss_file_kb: $file, pss_kb: $pss, top_mappings_kb: $top}'
}
sum_ticks() { local p s=0; for p in "$@"; do s=$((s + $(ticks "$p"))); done; echo $s; }
db_counters() {
    psql_hs "SELECT xact_commit || ' ' || pg_current_wal_lsn() FROM pg_stat_database WHERE datname = 'hs'"
}

# ---- the window ----
log_from=$(stat -c %s "$PG_LOG")
read -r xact0 lsn0 <<<"$(db_counters)"
declare -A t0 s0
while read -r label pid; do t0[$label]=$(ticks "$pid"); s0[$label]=$(sched_ns "$pid"); done <"$procs"
bt0_a=$(sum_ticks $backends_a)
bt0_b=$(sum_ticks $backends_b)
start_us=$(now_us)
samples=$T/samples.tsv   # second label rss_kb ticks
: >"$samples"
for ((i = 0; i <= SECS; i++)); do
    while read -r label pid; do
        kill -0 "$pid" 2>/dev/null || { log "$label (pid $pid) died during the idle window"; dump_logs; exit 1; }
        printf '%d\t%s\t%s\t%s\n' "$i" "$label" "$(rss_kb "$pid")" "$(ticks "$pid")" >>"$samples"
    done <"$procs"
    [ $i -lt "$SECS" ] && sleep "$(awk -v t="$start_us" -v n=$((i + 1)) -v now="$(now_us)" \
        'BEGIN { d = (t + n * 1000000 - now) / 1000000; print (d > 0 ? d : 0) }')"
done
end_us=$(now_us)
bench_tmp_ok
read -r xact1 lsn1 <<<"$(db_counters)"
bt1_a=$(sum_ticks $backends_a)
bt1_b=$(sum_ticks $backends_b)
elapsed=$(awk -v a="$start_us" -v b="$end_us" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')
wal_bytes=$(psql_hs "SELECT pg_wal_lsn_diff('$lsn1', '$lsn0')::bigint")
sleep 0.2   # the log collector is the server's stderr: let the last lines land
log_to=$(stat -c %s "$PG_LOG")

# Statements per node and kind, from the log slice of the window.
tail -c +$((log_from + 1)) "$PG_LOG" | head -c $((log_to - log_from)) >"$T/window.log"
count() {   # app regex-of-statement
    grep -E "\[hs-$1\] LOG:  (statement|execute [^:]*): " "$T/window.log" | grep -cE "$2" || true
}
queries_json() {
    local n=$1 total renew node read other
    total=$(count "$n" '.')
    renew=$(count "$n" 'UPDATE hs_cluster SET heartbeat')
    node=$(count "$n" 'INSERT INTO hs_node')
    read=$(count "$n" 'SELECT c\.holder')
    other=$((total - renew - node - read))
    jq -n --argjson total "$total" --argjson renew "$renew" --argjson node "$node" \
        --argjson read "$read" --argjson other "$other" --argjson secs "$elapsed" '
        def ps: . / $secs * 100 | round / 100;
        {statements: $total, per_second: ($total | ps),
         by_kind_per_second: {renewal: ($renew | ps), node_row: ($node | ps),
                              cluster_read: ($read | ps), other: ($other | ps)}}'
}

proc_json() {
    while read -r label pid; do
        local t1 s1
        t1=$(ticks "$pid")
        s1=$(sched_ns "$pid")
        jq -nc --arg name "$label" --argjson pid "$pid" --argjson hz "$HZ" --argjson secs "$elapsed" \
            --argjson ticks $((t1 - t0[$label])) --argjson sched_ns $((s1 - s0[$label])) \
            --argjson hwm "$(hwm_kb "$pid")" --argjson mem "$(mem_json "$pid")" \
            --argjson rss "$(awk -v l="$label" '$2 == l { print $3 }' "$samples" | jq -s .)" '
            {label: $name, pid: $pid, cpu_ticks: $ticks,
             cpu_percent: ($ticks / $hz / $secs * 100 * 1000 | round / 1000),
             cpu_percent_schedstat: ($sched_ns / 1e9 / $secs * 100 * 1000 | round / 1000),
             rss_kb: {min: ($rss | min), max: ($rss | max), last: $rss[-1]},
             rss_max_mib: ($rss | max / 1024 * 100 | round / 100),
             vm_hwm_kb: $hwm} + $mem + {rss_samples_kb: $rss}'
    done <"$procs" | jq -s .
}

mkdir -p "$BENCH_RESULTS"
jq -n --argjson meta "$(bench_meta)" --argjson secs "$elapsed" --argjson procs "$(proc_json)" \
    --argjson qa "$(queries_json a)" --argjson qb "$(queries_json b)" \
    --argjson xact $((xact1 - xact0)) --argjson wal "$wal_bytes" --argjson hz "$HZ" \
    --argjson bta $((bt1_a - bt0_a)) --argjson btb $((bt1_b - bt0_b)) \
    --arg interval "$HS_INTERVAL" --arg takeover "$HS_TAKEOVER" '
    def r2: . * 100 | round / 100;
    {bench: "bench-idle", meta: $meta,
     profile: {interval: $interval, takeover_timeout: $takeover, connection: "none"},
     window_seconds: $secs,
     method: "RSS = VmRSS sampled every second; CPU = utime+stime delta over the window (10 ms ticks) as % of one CPU, schedstat for a finer figure; queries = statements logged by PostgreSQL (log_statement = all) per node application_name; xact_commit and WAL for the whole database (includes the two statements the benchmark itself ran).",
     processes: $procs,
     database: {
        nodes: {
          a: ($qa + {role: "active", backend_cpu_percent: ($bta / $hz / $secs * 100 | r2)}),
          b: ($qb + {role: "standby", backend_cpu_percent: ($btb / $hz / $secs * 100 | r2)})},
        xact_commit_per_second: ($xact / $secs | r2),
        wal_bytes_per_second: ($wal / $secs | round)},
     summary: (
        [$procs[] | ({metric: "idle: \(.label) RSS (max VmRSS)", unit: "MiB", value: .rss_max_mib, goal: "< 8"} | .met = (.value < 8)),
                    {metric: "idle: \(.label) private RSS (RssAnon) / PSS", unit: "MiB", value: "\(.rss_anon_kb / 1024 * 100 | round / 100) / \(.pss_kb / 1024 * 100 | round / 100)"},
                    ({metric: "idle: \(.label) CPU", unit: "%", value: .cpu_percent, goal: "< 0.5"} | .met = (.value < 0.5))]
        + [{metric: "idle: queries/s, node a (active)", unit: "1/s", value: $qa.per_second},
           {metric: "idle: queries/s, node b (standby)", unit: "1/s", value: $qb.per_second},
           {metric: "idle: WAL bytes/s (whole database)", unit: "B/s", value: ($wal / $secs | round)}])}' \
    >"$BENCH_RESULTS/$NAME.json" || exit 1

# Plot: RSS over time; CPU per daemon; queries per second per node by kind.
awk -F'\t' '{ r[$1] = r[$1] " " $3 / 1024 } END { for (s in r) print s r[s] }' "$samples" | sort -n >"$T/rss.dat"
jq -r '.processes[] | "\(.label) \(.cpu_percent) \(.cpu_percent_schedstat)"' "$BENCH_RESULTS/$NAME.json" >"$T/cpu.dat"
jq -r '.database.nodes | to_entries[] | "\(.key)(\(.value.role)) \(.value.by_kind_per_second.renewal) \(.value.by_kind_per_second.node_row) \(.value.by_kind_per_second.cluster_read) \(.value.by_kind_per_second.other)"' \
    "$BENCH_RESULTS/$NAME.json" >"$T/q.dat"
gnuplot <<GP || exit 1
set terminal png size 1500,450 font ',9'
set output '$BENCH_RESULTS/$NAME.png'
set multiplot layout 1,3 title 'hotstandby idle cost, ${SECS} s, interval $HS_INTERVAL'
set grid ytics; set key below
set title "RSS (VmRSS; goal < 8 MiB)"; set xlabel "s"; set ylabel "MiB"; set yrange [0:*]; set offsets 0, 0, graph 0.1, 0
plot for [i=2:5] '$T/rss.dat' using 1:i with lines lw 2 title word("$(cut -d' ' -f1 "$procs" | tr '\n' ' ')", i-1), \
     8 with lines lw 2 lc rgb 'red' title 'goal'
set title 'CPU, % of one CPU (goal < 0.5 %)'; set xlabel ''; set ylabel '%'; set yrange [0:*]
set style data histograms; set style histogram clustered; set style fill solid 0.8 border -1
set xtics rotate by -30
plot '$T/cpu.dat' using 2:xtic(1) title 'utime+stime', '' using 3 title 'schedstat', \
     0.5 with lines lw 2 lc rgb 'red' title 'goal'
set title 'database statements per second, per node'; set ylabel '1/s'; set yrange [0:*]
set style histogram rowstacked
plot '$T/q.dat' using 2:xtic(1) title 'renewal', '' using 3 title 'node row', '' using 4 title 'cluster read', '' using 5 title 'other'
unset multiplot
GP
jq -r '.summary[] | "\(.metric): \(.value) \(.unit)\(if .goal then " (goal \(.goal): \(if .met then "met" else "MISSED" end))" else "" end)"' \
    "$BENCH_RESULTS/$NAME.json"
