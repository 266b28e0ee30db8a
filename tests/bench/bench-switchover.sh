#!/usr/bin/env bash
# tests/bench/bench-switchover.sh: planned switchover, HS_BENCH_RUNS (20) times, alternating
# direction (a -> b, b -> a, ...).
#
# Two nodes on this machine at the fast profile (interval 1s, takeover_timeout 3s; the
# interval only sets how long the benchmark lets the nodes settle between runs),
# connection = none, a trivial service hook. Each run: `vipctl switchover` on the active
# node, as an operator would type it, with no --to (the best live standby is the target).
#
# Measured per run (this machine's one wall clock; hs_event.at has ms precision):
#   command     the shell's clock just before running vipctl switchover
#   accepted    hs_event "switchover" on the old active (its watchd took the request)
#   stopped     hs_event "service-stopped" on the old active ([service] stop finished)
#   handed off  hs_event "handed-off" (the row names the target at epoch + 1)
#   granted     hs_event "granted" on the target (it read the row after the NOTIFY)
#   renewal     hs_event "renewal-confirmed" on the target
#   service     hs_event "service-started" on the target ([service] start finished)
#   returned    vipctl switchover exiting (it waits until the target is active)
# Goal (issue 3): command -> new service started < 500 ms at p99.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/bench/lib.sh"
private_tmp hs-bench
private_bins
. "$HS_TOP/tests/lib/cluster.sh"
need jq gnuplot
NAME=bench-switchover
RUNS=${HS_BENCH_RUNS:-20}
SAMPLES=$T/samples.jsonl
: >"$SAMPLES"
log() { printf '# %s\n' "$*" >&2; }

pg_start
HS_INTERVAL=1s HS_TAKEOVER=3s HS_CLUSTER=so HS_PRIMARY=a
node_conf a 100
node_conf b 100
node_start a
node_start b
wait_role a active 10 && wait_role b standby 10 || { log "the cluster did not form"; dump_logs; exit 1; }
diag "PostgreSQL on port $PG_PORT, $RUNS switchovers"

one_run() {   # run active standby
    local run=$1 act=$2 stb=$3
    # The target must be live (its node row written within takeover_timeout) and the
    # active's watchd must have read the row since: two intervals after it became standby.
    wait_role "$stb" standby 10 || { log "run $run: $stb is not standby"; return 1; }
    sleep 2.$((RANDOM % 10))
    local e id t_cmd out rc t_ret
    e=$(epoch)
    id=$(last_event_id)
    t_cmd=$(now_msf)
    out=$(vipctl_node "$act" switchover 2>&1)
    rc=$?
    t_ret=$(now_msf)
    if [ $rc -ne 0 ] || ! wait_event 10 "$id" service-started "$stb" $((e + 1)); then
        log "run $run: switchover $act -> $stb failed (vipctl exit $rc): $out"
        dump_logs
        return 1
    fi
    local ev
    ev=$(events_after "$id")
    local accepted stopped handed granted renewed service active hook_stop hook_start said
    accepted=$(ev_ms "$ev" switchover "$act" "$e")
    stopped=$(ev_ms "$ev" service-stopped "$act" "$e")
    handed=$(ev_ms "$ev" handed-off "$act" $((e + 1)))
    granted=$(ev_ms "$ev" granted "$stb" $((e + 1)))
    renewed=$(ev_ms "$ev" renewal-confirmed "$stb" $((e + 1)))
    service=$(ev_ms "$ev" service-started "$stb" $((e + 1)))
    active=$(ev_ms "$ev" active "$stb" $((e + 1)))
    hook_stop=$(hook_ms stop "$act" "$e")
    hook_start=$(hook_ms start "$stb" $((e + 1)))
    said=$(sed -n 's/.* after \([0-9]*\) ms.*/\1/p' <<<"$out")
    jq -nc --argjson run "$run" --arg from "$act" --arg to "$stb" --argjson epoch $((e + 1)) \
        --argjson t_command "$t_cmd" --argjson t_returned "$t_ret" \
        --argjson t_accepted "${accepted:-null}" --argjson t_service_stopped "${stopped:-null}" \
        --argjson t_handed_off "${handed:-null}" --argjson t_granted "${granted:-null}" \
        --argjson t_renewal_confirmed "${renewed:-null}" --argjson t_service_started "${service:-null}" \
        --argjson t_active "${active:-null}" --argjson t_hook_stop "${hook_stop:-null}" \
        --argjson t_hook_start "${hook_start:-null}" --argjson vipctl_reported_ms "${said:-null}" \
        --argjson cf "${t_cmd%.*}" '
        def r1: . * 10 | round / 10;
        def d(a; b): if a and b then b - a else null end;
        {run: $run, from: $from, to: $to, epoch: $epoch,
         t_command: $t_command, t_accepted: $t_accepted, t_hook_stop: $t_hook_stop,
         t_service_stopped: $t_service_stopped, t_handed_off: $t_handed_off, t_granted: $t_granted,
         t_renewal_confirmed: $t_renewal_confirmed, t_hook_start: $t_hook_start,
         t_service_started: $t_service_started, t_active: $t_active, t_returned: $t_returned,
         vipctl_reported_ms: $vipctl_reported_ms,
         command_to_accepted_ms: d($cf; $t_accepted),
         accepted_to_stopped_ms: d($t_accepted; $t_service_stopped),
         stopped_to_handed_off_ms: d($t_service_stopped; $t_handed_off),
         handed_off_to_granted_ms: d($t_handed_off; $t_granted),
         granted_to_service_ms: d($t_granted; $t_service_started),
         command_to_service_ms: d($cf; $t_service_started),
         command_to_returned_ms: (($t_returned - $t_command) | r1),
         stop_before_start: (if $t_hook_stop and $t_hook_start then $t_hook_stop <= $t_hook_start else null end)}' \
        >>"$SAMPLES"
    log "$(jq -r "select(.run == $run) | \"run \(.run): \(.from) -> \(.to): service started +\(.command_to_service_ms) ms, vipctl returned +\(.command_to_returned_ms) ms\"" "$SAMPLES")"
}

act=a stb=b
for ((run = 1; run <= RUNS; run++)); do
    one_run "$run" "$act" "$stb" || exit 1
    x=$act; act=$stb; stb=$x
done
bench_tmp_ok
hooks_no_overlap >/dev/null && overlap=false || overlap=true

mkdir -p "$BENCH_RESULTS"
jq -s --argjson meta "$(bench_meta)" --argjson runs "$RUNS" --argjson overlap "$overlap" "$JQ_STATS"'
    def col(f): map(f) | map(select(. != null)) | stats;
    . as $s |
    {command_to_accepted_ms: col(.command_to_accepted_ms),
     accepted_to_stopped_ms: col(.accepted_to_stopped_ms),
     stopped_to_handed_off_ms: col(.stopped_to_handed_off_ms),
     handed_off_to_granted_ms: col(.handed_off_to_granted_ms),
     granted_to_service_ms: col(.granted_to_service_ms),
     command_to_service_ms: col(.command_to_service_ms),
     command_to_returned_ms: col(.command_to_returned_ms)} as $st |
    {bench: "bench-switchover", meta: $meta, runs: $runs,
     profile: {interval: "1s", takeover_timeout: "3s", connection: "none"},
     method: "vipctl switchover (no --to) on the active; times from the shell clock and hs_event (ms, truncated). Percentiles are nearest-rank: with 20 runs p99 is the maximum.",
     two_active_at_once: $overlap,
     service_stopped_before_started: ($s | all(.stop_before_start != false)),
     stats: $st,
     summary: [
        {metric: "switchover: command -> request accepted by the active", unit: "ms"} + ($st.command_to_accepted_ms | {n, p50, p99}),
        {metric: "switchover: old service stopped -> new service started", unit: "ms"} + ($s | map(.t_service_started - .t_service_stopped) | stats | {n, p50, p99}),
        ({metric: "switchover: command -> new service started", unit: "ms", goal: "< 500"} + ($st.command_to_service_ms | {n, p50, p99}) | .met = (.p99 < 500)),
        {metric: "switchover: command -> vipctl returned", unit: "ms"} + ($st.command_to_returned_ms | {n, p50, p99})
     ],
     samples: $s}' "$SAMPLES" >"$BENCH_RESULTS/$NAME.json" || exit 1

jq -r '.samples[] | "\(.run) \(.run):\(.from)->\(.to) \(.command_to_accepted_ms) \(.accepted_to_stopped_ms) \(.stopped_to_handed_off_ms) \(.handed_off_to_granted_ms) \(.granted_to_service_ms) \(.command_to_returned_ms)"' \
    "$BENCH_RESULTS/$NAME.json" >"$T/so.dat"
gnuplot <<GP || exit 1
set terminal png size 1000,500 font ',9'
set output '$BENCH_RESULTS/$NAME.png'
set title 'hotstandby planned switchover (vipctl switchover), $RUNS runs alternating a <-> b; goal < 500 ms'
set style data histograms; set style histogram rowstacked; set style fill solid 0.8 border -1
set boxwidth 0.7; set key below; set grid ytics; set ylabel 'ms'; set xlabel 'run'
set xtics rotate by -45
set yrange [0:*]; set offsets 0, 0, graph 0.1, 0
plot '$T/so.dat' using 3:xtic(2) title 'command -> accepted', '' using 4 title 'accepted -> service stopped', \
     '' using 5 title 'stopped -> handed off', '' using 6 title 'handed off -> granted on target', \
     '' using 7 title 'granted -> service started', \
     '' using 0:8 with linespoints lw 2 pt 7 lc rgb 'black' title 'vipctl switchover returned', \
     500 with lines lw 2 lc rgb 'red' title 'goal'
GP
jq -r '.summary[] | "\(.metric): p50 \(.p50) ms, p99 \(.p99) ms\(if .goal then " (goal \(.goal): \(if .met then "met" else "MISSED" end))" else "" end)"' \
    "$BENCH_RESULTS/$NAME.json"
[ "$overlap" = false ] || { echo "two nodes were active at the same time (hook log)"; exit 1; }
