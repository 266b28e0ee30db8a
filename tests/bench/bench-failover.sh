#!/usr/bin/env bash
# tests/bench/bench-failover.sh: unplanned failover, HS_BENCH_RUNS (20) times per profile.
#
# Two nodes on this machine, connection = none, a trivial service hook (one line appended
# to a file). Each run: wait a random moment within the heartbeat interval, then freeze and
# kill -9 both daemons of the active (a power cut), wait for the standby's service to be
# started, restart the killed node after another random part of an interval (it must come
# back as standby; its poll phase is then random too), swap roles, repeat.
#
# Measured per run (all on this machine's one wall clock):
#   last renewal  the database executing the active's last renewal before the kill (a
#               trigger installed by the benchmark logs every change of the counter)
#   kill        the shell's clock just before SIGSTOP+SIGKILL
#   detected    the database executing the standby's claim (hs_cluster.changed_at,
#               clock_timestamp() inside the compare-and-set UPDATE): the moment staleness
#               was detected plus the claim's one-way trip to the server (~0.1 ms locally)
#   CAS won     hs_event "claimed" (watchd's clock when the UPDATE's answer arrived)
#   renewal     hs_event "renewal-confirmed" (first renewal by heartbeatd at the new epoch)
#   hook ran    the hook's own line in the hook log (`date +%s%3N` inside the hook)
#   service     hs_event "service-started" ([service] start hook finished)
# hs_event.at has millisecond precision (truncated), so phases that end at an event are
# computed on whole milliseconds (±1 ms).
#
# Profiles: HS_BENCH_PROFILES="fast:1s:3s sub:200ms:1500ms" (name:interval:takeover_timeout).
# Goals (DESIGN/issue 3): kill -> service started <= takeover_timeout + 300 ms at p99;
# promotion (CAS won -> service started) < 100 ms at p99.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/bench/lib.sh"
private_tmp hs-bench
private_bins
. "$HS_TOP/tests/lib/cluster.sh"
need jq gnuplot
NAME=bench-failover
RUNS=${HS_BENCH_RUNS:-20}
PROFILES=${HS_BENCH_PROFILES:-"fast:1s:3s sub:200ms:1500ms"}
SAMPLES=$T/samples.jsonl
: >"$SAMPLES"

secs() { awk -v ms="$1" 'BEGIN { printf "%.3f", ms / 1000 }'; }
floor_ms() { echo "${1%.*}"; }
log() { printf '# %s\n' "$*" >&2; }

pg_start
diag "PostgreSQL on port $PG_PORT, $RUNS runs per profile: $PROFILES"

one_run() {   # profile run active standby interval_ms takeover_ms
    local prof=$1 run=$2 act=$3 stb=$4 iv=$5 to=$6
    sleep "$(secs $((2 * iv + RANDOM % iv)))"   # a crash falls anywhere in the interval
    local e id t_kill
    e=$(epoch)
    id=$(last_event_id)
    t_kill=$(now_msf)
    node_powercut "$act"
    if ! wait_event $((3 * to / 1000 + 5)) "$id" service-started "$stb" $((e + 1)); then
        log "run $run: $stb did not start the service after $act's crash"
        dump_logs
        return 1
    fi
    local t_cas ev beat t_beat claimed renewed service active hook
    t_cas=$(cas_ms)
    ev=$(events_after "$id")
    beat=$(last_beat "$act" "$e")
    t_beat=${beat%|*}
    claimed=$(ev_ms "$ev" claimed "$stb" $((e + 1)))
    renewed=$(ev_ms "$ev" renewal-confirmed "$stb" $((e + 1)))
    service=$(ev_ms "$ev" service-started "$stb" $((e + 1)))
    active=$(ev_ms "$ev" active "$stb" $((e + 1)))
    hook=$(hook_ms start "$stb" $((e + 1)))
    local kf cf
    kf=$(floor_ms "$t_kill")
    cf=$(floor_ms "$t_cas")
    jq -nc --arg profile "$prof" --argjson run "$run" --arg killed "$act" --arg took_over "$stb" \
        --argjson epoch $((e + 1)) --argjson t_kill "$t_kill" --argjson t_last_renewal "${t_beat:-null}" \
        --argjson t_claim_executed "$t_cas" --argjson t_claimed "${claimed:-null}" \
        --argjson t_renewal_confirmed "${renewed:-null}" --argjson t_service_started "${service:-null}" \
        --argjson t_active "${active:-null}" --argjson t_hook_ran "${hook:-null}" \
        --argjson kf "$kf" --argjson cf "$cf" '
        def r1: . * 10 | round / 10;
        {profile: $profile, run: $run, killed: $killed, took_over: $took_over, epoch: $epoch,
         t_kill: $t_kill, t_last_renewal: $t_last_renewal, t_claim_executed: $t_claim_executed,
         t_claimed: $t_claimed, t_renewal_confirmed: $t_renewal_confirmed,
         t_hook_ran: $t_hook_ran, t_service_started: $t_service_started, t_active: $t_active,
         last_renewal_to_kill_ms: (if $t_last_renewal then ($t_kill - $t_last_renewal) | r1 else null end),
         kill_to_detected_ms: (($t_claim_executed - $t_kill) | r1),
         last_renewal_to_detected_ms: (if $t_last_renewal then ($t_claim_executed - $t_last_renewal) | r1 else null end),
         detected_to_cas_ms: ($t_claimed - $cf),
         cas_to_renewal_ms: ($t_renewal_confirmed - $t_claimed),
         renewal_to_service_ms: ($t_service_started - $t_renewal_confirmed),
         renewal_to_hook_ran_ms: (if $t_hook_ran then $t_hook_ran - $t_renewal_confirmed else null end),
         hook_ran_to_service_ms: (if $t_hook_ran then $t_service_started - $t_hook_ran else null end),
         cas_to_service_ms: ($t_service_started - $t_claimed),
         service_to_active_ms: ($t_active - $t_service_started),
         kill_to_service_ms: ($t_service_started - $kf)}' >>"$SAMPLES"
    log "$(jq -r 'select(.run == '"$run"' and .profile == "'"$prof"'") |
        "\(.profile) run \(.run): \(.killed) killed; detected +\(.kill_to_detected_ms) ms, CAS +\(.detected_to_cas_ms), promotion \(.cas_to_service_ms) ms, total \(.kill_to_service_ms) ms"' "$SAMPLES")"
    # The restarted standby polls at a phase set by when it starts: a random one, as in
    # life (restarting at once would give every run nearly the same poll lag).
    sleep "$(secs $((RANDOM % iv)))"
    node_start "$act"
    wait_role "$act" standby 10 || { log "run $run: $act did not come back as standby"; dump_logs; return 1; }
}

run_profile() {   # name interval takeover
    local prof=$1 iv_s=$2 to_s=$3 iv to
    iv=$(dur_ms "$iv_s")
    to=$(dur_ms "$to_s")
    HS_INTERVAL=$iv_s HS_TAKEOVER=$to_s HS_CLUSTER=fo-$prof HS_PRIMARY=${prof}a
    node_conf "${prof}a" 100
    node_conf "${prof}b" 100
    node_start "${prof}a"
    node_start "${prof}b"
    wait_role "${prof}a" active 10 && wait_role "${prof}b" standby 10 ||
        { log "profile $prof: the cluster did not form"; dump_logs; return 1; }
    beat_trace_install
    local act=${prof}a stb=${prof}b run
    for ((run = 1; run <= RUNS; run++)); do
        one_run "$prof" "$run" "$act" "$stb" "$iv" "$to" || return 1
        local x=$act; act=$stb; stb=$x
    done
    node_stop "${prof}a"
    node_stop "${prof}b"
}

profiles_json=()
for p in $PROFILES; do
    IFS=: read -r prof iv to <<<"$p"
    run_profile "$prof" "$iv" "$to" || exit 1
    profiles_json+=("$(jq -nc --arg name "$prof" --arg interval "$iv" --arg takeover_timeout "$to" \
        --argjson interval_ms "$(dur_ms "$iv")" --argjson takeover_ms "$(dur_ms "$to")" \
        '{name: $name, interval: $interval, takeover_timeout: $takeover_timeout,
          interval_ms: $interval_ms, takeover_timeout_ms: $takeover_ms}')")
done
bench_tmp_ok
hooks_no_overlap >/dev/null && overlap=false || overlap=true

mkdir -p "$BENCH_RESULTS"
jq -s --argjson meta "$(bench_meta)" --argjson profiles "$(printf '%s\n' "${profiles_json[@]}" | jq -s .)" \
    --argjson runs "$RUNS" --argjson overlap "$overlap" "$JQ_STATS"'
    def col(f): map(f) | map(select(. != null));
    . as $s |
    [ $profiles[] as $p | ($s | map(select(.profile == $p.name))) as $r |
      {profile: $p.name,
       phases: {
         kill_to_detected_ms: ($r | col(.kill_to_detected_ms) | stats),
         detected_to_cas_ms: ($r | col(.detected_to_cas_ms) | stats),
         cas_to_renewal_ms: ($r | col(.cas_to_renewal_ms) | stats),
         renewal_to_service_ms: ($r | col(.renewal_to_service_ms) | stats),
         renewal_to_hook_ran_ms: ($r | col(.renewal_to_hook_ran_ms) | stats),
         hook_ran_to_service_ms: ($r | col(.hook_ran_to_service_ms) | stats),
         cas_to_service_ms: ($r | col(.cas_to_service_ms) | stats),
         kill_to_service_ms: ($r | col(.kill_to_service_ms) | stats),
         last_renewal_to_kill_ms: ($r | col(.last_renewal_to_kill_ms) | stats),
         last_renewal_to_detected_ms: ($r | col(.last_renewal_to_detected_ms) | stats)},
       goal_takeover_ms: ($p.takeover_timeout_ms + 300)} ] as $per |
    {bench: "bench-failover", meta: $meta, runs_per_profile: $runs, profiles: $profiles,
     method: "kill = SIGSTOP+SIGKILL of both daemons of the active at a random point of the heartbeat interval; detected = hs_cluster.changed_at of the claim (database clock_timestamp()); CAS won, renewal-confirmed, service-started = hs_event times (ms, truncated). Percentiles are nearest-rank: with 20 runs p99 is the maximum.",
     two_active_at_once: $overlap,
     stats: $per,
     summary: [ $per[] as $q | ($profiles[] | select(.name == $q.profile)) as $p |
        {metric: "\($q.profile) \($p.interval)/\($p.takeover_timeout): kill -> detected (claim executed)", unit: "ms"} + ($q.phases.kill_to_detected_ms | {n, p50, p99}),
        {metric: "\($q.profile): last renewal -> detected (timeout + poll lag)", unit: "ms"} + ($q.phases.last_renewal_to_detected_ms | {n, p50, p99}),
        {metric: "\($q.profile): detected -> CAS won", unit: "ms"} + ($q.phases.detected_to_cas_ms | {n, p50, p99}),
        ({metric: "\($q.profile): CAS won -> service started (promotion)", unit: "ms", goal: "< 100"} + ($q.phases.cas_to_service_ms | {n, p50, p99}) | .met = (.p99 < 100)),
        ({metric: "\($q.profile): kill -> service started (takeover)", unit: "ms", goal: "<= \($q.goal_takeover_ms)"} + ($q.phases.kill_to_service_ms | {n, p50, p99}) | .met = (.p99 <= $q.goal_takeover_ms))
     ],
     samples: $s}' "$SAMPLES" >"$BENCH_RESULTS/$NAME.json" || exit 1

# Plot: per profile, each run's takeover as stacked phases, and the promotion steps.
nprof=${#profiles_json[@]}
plot=$T/plot.gp
{
    echo "set terminal png size 1200,$((380 * nprof)) font ',9'"
    echo "set output '$BENCH_RESULTS/$NAME.png'"
    echo "set multiplot layout $nprof,2 title 'hotstandby unplanned failover (kill -9 of the active), $RUNS runs per profile'"
    echo "set style data histograms; set style histogram rowstacked; set style fill solid 0.8 border -1"
    echo "set boxwidth 0.7; set key below; set grid ytics; set xlabel 'run'; set ylabel 'ms'"
    echo "set yrange [0:*]; set offsets 0, 0, graph 0.1, 0"
    i=0
    for p in $PROFILES; do
        IFS=: read -r prof iv to <<<"$p"
        goal=$(($(dur_ms "$to") + 300))
        jq -r --arg p "$prof" '.samples[] | select(.profile == $p) |
            "\(.run) \(.kill_to_detected_ms) \(.detected_to_cas_ms) \(.cas_to_service_ms) \(.cas_to_renewal_ms) \(.renewal_to_service_ms)"' \
            "$BENCH_RESULTS/$NAME.json" >"$T/$prof.dat"
        echo "set title '$prof ($iv / $to): kill -> service started; goal <= $goal ms'"
        echo "set yrange [0:*]"
        echo "plot '$T/$prof.dat' using 2:xtic(1) title 'kill -> detected', '' using 3 title 'detected -> CAS', '' using 4 title 'CAS -> service started', $goal with lines lw 2 lc rgb 'red' title 'goal'"
        echo "set title '$prof: promotion steps; goal < 100 ms'"
        echo "plot '$T/$prof.dat' using 5:xtic(1) title 'CAS -> renewal confirmed', '' using 6 title 'renewal -> service started', 100 with lines lw 2 lc rgb 'red' title 'goal'"
        i=$((i + 1))
    done
    echo "unset multiplot"
} >"$plot"
gnuplot "$plot" || exit 1
jq -r '.summary[] | "\(.metric): p50 \(.p50) ms, p99 \(.p99) ms\(if .goal then " (goal \(.goal): \(if .met then "met" else "MISSED" end))" else "" end)"' \
    "$BENCH_RESULTS/$NAME.json"
[ "$overlap" = false ] || { echo "two nodes were active at the same time (hook log)"; exit 1; }
