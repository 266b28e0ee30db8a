#!/usr/bin/env bash
# tests/bench/bench-clusters.sh: many two-node clusters on one PostgreSQL. For each count
# in HS_BENCH_CLUSTERS (default "100 300 500 1000"), tests/tools/hs-loadgen runs that many
# clusters at interval 1 s / takeover_timeout 3 s (HS_BENCH_INTERVAL_MS, _TAKEOVER_MS)
# through the daemons' own code (common/db.c, common/sql.h, watchd/role.c): four
# connections per cluster, heartbeatd's and watchd's role session per node (watchd's
# self-monitor holds a third per node, one light query per period: not modelled here).
# Nodes start spread over a ramp,
# then HS_BENCH_CLUSTERS_SECS (60) of measurement during which 1 % of the actives (at
# least 2) lose power, to measure detection.
# HS_BENCH_CLUSTERS_RAMP_S sets the ramp for every count (default: the time this server needs
# to start four sessions per cluster at the rate pgbench -C measured, plus a quarter; at
# least 5 s; count / 25 s without pgbench).
# First, what one new session costs the server (pgbench -C): with process-per-session
# PostgreSQL, every cluster's four sessions must be started before anything is measured.
#
# The server runs as a production one would: fsync, full_page_writes and
# synchronous_commit on (the throwaway test servers turn the first two off), and
# max_connections large enough for every session.
#
# Reported per count: renewal latency p50/p99 (client side: sent -> answer), the
# standby's lag in learning of a renewal, crash -> claim, queries/s (client count),
# WAL bytes per cluster per second and transactions/s (pg_stat_database,
# pg_current_wal_lsn), backend CPU, takeovers without a crash and fences.
# The standby's way (it listens on the beat channel and reads once per interval; the
# renewals notify only while the database holds at most 16 clusters, heartbeatd's rule, so
# at these counts they notify nobody) at every count; at the smallest count also the
# earlier way (four reads per interval, not listening), the "peer" of the summary.
# Goal (issue 13): at 1000 clusters renewal p99 <= 20 ms and no takeover that no crash caused.
#
# Each count goes through pgbouncer in transaction mode (pool_size HS_BENCH_POOL_SIZE,
# default 32), the daemons with database_pool_mode = transaction (hs-loadgen -P): with a
# server process per session, 4 000 sessions on two CPUs never settled (a session cost the
# server 10-30 ms of CPU to start, and each query 0.45-1.1 ms among thousands of backends,
# against 0.15-0.25 ms among a few dozen). The counts of HS_BENCH_CLUSTERS_DIRECT (default
# "100 300") also run with a session of the server per daemon, as before, the peer column.
#
# The load generator is one thread standing for every node's heartbeatd and watchd; among
# thousands of busy backends on two CPUs the scheduler gave it its share of one process and
# its loop ran up to 450 ms late (hs-loadgen's loop_late), which delays every simulated
# renewal at once and fences them all: daemons on machines of their own do not see that.
# So it runs under SCHED_FIFO (chrt -f 1) when it can (HS_BENCH_LOADGEN_RT=0: not); it
# needs a fifth of a core, so the server loses nothing it would have had.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/bench/lib.sh"
private_tmp hs-bench
need jq gnuplot pgbouncer
NAME=bench-clusters
LOADGEN=$HS_BIN/tests/hs-loadgen
[ -x "$LOADGEN" ] || bail "$LOADGEN missing: run make $(basename "$HS_BIN")/tests/hs-loadgen (make bench builds it)"
cp "$LOADGEN" "$T/hs-loadgen"
COUNTS=${HS_BENCH_CLUSTERS:-100 300 500 1000}
DIRECT=${HS_BENCH_CLUSTERS_DIRECT-100 300}
POOL_SIZE=${HS_BENCH_POOL_SIZE:-32}
SECS=${HS_BENCH_CLUSTERS_SECS:-60}
INTERVAL_MS=${HS_BENCH_INTERVAL_MS:-1000}
TAKEOVER_MS=${HS_BENCH_TAKEOVER_MS:-3000}
log() { printf '# %s\n' "$*" >&2; }

max=0
for n in $COUNTS $DIRECT; do [ "$n" -gt "$max" ] && max=$n; done
pg_start
cat >>"$PG_DATA/postgresql.conf" <<CONF
fsync = on
full_page_writes = on
synchronous_commit = on
max_connections = $((4 * max + 20))
CONF
pg_restart || bail "postgres did not restart with max_connections $((4 * max + 20))"
DB="host=$PG_SOCK port=$PG_PORT dbname=hs user=postgres"
PGB_MAX_CLIENTS=$((4 * max + 100)) PGB_NOFILE=$((4 * max + 1000)) pgb_start "$POOL_SIZE"
POOLED="host=$PGB_SOCK port=$PGB_PORT dbname=hs user=postgres"
# utime + stime of the pooler (clock ticks)
pgb_ticks() { awk '{print $14 + $15}' "/proc/$(cat "$PGB_SOCK/pgbouncer.pid")/stat" 2>/dev/null || echo 0; }
# the pooler's time runnable without a core (ns, /proc/PID/schedstat's run delay)
pgb_wait_ns() { awk '{print $2}' "/proc/$(cat "$PGB_SOCK/pgbouncer.pid")/schedstat" 2>/dev/null || echo 0; }

# What one new session costs this server (fork, start-up, exit): pgbench reconnecting for
# every SELECT 1, two clients, 10 s. Every cluster needs four sessions before it is measured.
conn_ms=null conn_rate=null
if [ -x /usr/lib/postgresql/15/bin/pgbench ]; then
    echo 'SELECT 1;' >"$T/conn.sql"
    runuser -u postgres -- /usr/lib/postgresql/15/bin/pgbench -n -C -c 2 -j 2 -T 10 \
        -f "$T/conn.sql" -h "$PG_SOCK" -p "$PG_PORT" hs >"$T/conn.out" 2>&1
    conn_ms=$(awk '/average connection time/ {print $5}' "$T/conn.out")
    conn_rate=$(awk '/^tps/ {print $3}' "$T/conn.out")
    log "a new session: ${conn_ms:-?} ms to connect, ${conn_rate:-?} sessions/s with 2 clients"
    conn_ms=${conn_ms:-null} conn_rate=${conn_rate:-null}
fi

# Each count with the standby's current way (NOTIFY + one read per interval); the smallest
# count (HS_BENCH_CLUSTERS_OLD: a list of counts) also with the earlier way (-L -q 4: four reads per interval,
# no NOTIFY listening), for comparison in the same run.
rt=()
if [ "${HS_BENCH_LOADGEN_RT:-1}" = 1 ] && chrt -f 1 true 2>/dev/null; then rt=(chrt -f 1); fi
log "load generator: ${rt[*]:-normal scheduling}"

min=$max
for n in $COUNTS; do [ "$n" -lt "$min" ] && min=$n; done
# HS_BENCH_CLUSTERS_FOLD (a list of counts, default none): those counts also with the
# active's node row in its renewal's statement (hs-loadgen -F), an experiment heartbeatd does
# not follow (less server CPU, a longer renewal tail: tests/bench/README.md).
OLD=${HS_BENCH_CLUSTERS_OLD-}
FOLD=${HS_BENCH_CLUSTERS_FOLD-}
# HS_BENCH_CLUSTERS_EVERY (default "1000"): those counts also pooled with every node row
# written every interval (hs-loadgen -E), as heartbeatd did before common/db.c's node_row
# (every 2 intervals at these timings, unless what the row says changed).
EVERY=${HS_BENCH_CLUSTERS_EVERY-1000}
# HS_BENCH_CLUSTERS_ACTIVE (default "1000"): those counts also pooled with the active reading
# the row every interval (hs-loadgen -A), as watchd did before its renewals' answers carried
# the row (role_read_due).
ACTIVE=${HS_BENCH_CLUSTERS_ACTIVE-1000}
runs='[]'
for spec in $COUNTS $(for o in $ACTIVE; do echo "active:$o"; done) \
           $(for o in $EVERY; do echo "every:$o"; done) \
           $(for o in $DIRECT; do echo "direct:$o"; done) \
           $(for o in $OLD; do echo "old:$o"; done) $(for o in $FOLD; do echo "fold:$o"; done); do
    n=${spec##*:}
    mode=(-P) label=pooled db=$POOLED
    case $spec in
        direct:*) mode=() label=notify db=$DB ;;
        old:*) mode=(-L -q 4) label=poll4 db=$DB ;;
        fold:*) mode=(-F) label=fold db=$DB ;;
        every:*) mode=(-P -E) label=every db=$POOLED ;;
        active:*) mode=(-P -A) label=active-reads db=$POOLED ;;
    esac
    bench_tmp_ok
    crashes=$(( n / 100 < 2 ? 2 : n / 100 ))
    # as fast as this server starts sessions: 1000 clusters at 23 sessions/s is 3.6 min
    if [ "$conn_rate" != null ]; then
        ramp=$(awk -v n="$n" -v r="$conn_rate" 'BEGIN { s = int(4 * n / r * 1.25 + 0.5); print (s < 5 ? 5 : s) }')
    else
        ramp=$(( n / 25 < 5 ? 5 : n / 25 ))
    fi
    # through the pooler a session costs no server process: it starts as fast as the pooler
    # accepts it (the server's few sessions are started once)
    case $label in pooled | every | active-reads) ramp=$(( n / 50 < 5 ? 5 : n / 50 )) ;; esac
    [ -n "${HS_BENCH_CLUSTERS_RAMP_S:-}" ] && ramp=$HS_BENCH_CLUSTERS_RAMP_S
    log "$n clusters ($label): ramp ${ramp}s, then ${SECS}s measured, $crashes power cuts"
    out=$T/run-$label-$n.json
    pgb0=$(pgb_ticks) pgbw0=$(pgb_wait_ns) t0=$(date +%s%N)
    ${rt[@]+"${rt[@]}"} "$T/hs-loadgen" -d "$db" -n "$n" -i "$INTERVAL_MS" -t "$TAKEOVER_MS" -r "$ramp" -s "$SECS" \
        -k "$crashes" -p "c${n}${label}x" "${mode[@]}" -o "$out" 2>"$T/loadgen-$label-$n.log" || {
        # recorded, not fatal: the other counts still run
        log "hs-loadgen failed at $n clusters ($label): $(tail -n 3 "$T/loadgen-$label-$n.log")"
        runs=$(jq --argjson n "$n" --arg m "$label" --arg e "$(tail -n 1 "$T/loadgen-$label-$n.log")" \
            '. + [{clusters: $n, mode: $m, failed: true, error: $e}]' <<<"$runs")
        continue
    }
    log "loadgen: $(grep -c 'connect timed out' "$T/loadgen-$label-$n.log") connects missed their deadline; $(grep -v 'connect timed out\|connected to' "$T/loadgen-$label-$n.log" | tail -n 3)"
    pgb1=$(pgb_ticks) pgbw1=$(pgb_wait_ns) t1=$(date +%s%N)
    pgb_cpu=$(awk -v a="$pgb0" -v b="$pgb1" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%.1f", (b - a) / hz / ((t1 - t0) / 1e9) * 100 }')
    pgb_wait=$(awk -v a="$pgbw0" -v b="$pgbw1" -v t0="$t0" -v t1="$t1" \
        'BEGIN { printf "%.1f", (b - a) / (t1 - t0) * 100 }')
    case $label in pooled | every | active-reads) ;; *) pgb_cpu=null pgb_wait=null ;; esac
    run=$(jq --arg m "$label" --argjson rt "$([ ${#rt[@]} -gt 0 ] && echo true || echo false)" \
        --argjson pc "$pgb_cpu" --argjson pw "$pgb_wait" --argjson ps "$POOL_SIZE" \
        '. + {mode: $m, loadgen_sched_fifo: $rt}
           + (if $m == "pooled" or $m == "every" or $m == "active-reads" then {pooler: {cpu_percent_whole_run: $pc, run_queue_wait_percent_whole_run: $pw, pool_size: $ps}} else {} end)' "$out")
    runs=$(jq --argjson r "$run" '. + [$r]' <<<"$runs")
    jq -c '{clusters, mode, renewal_p50: .renewal_ms.p50, renewal_p99: .renewal_ms.p99,
            lag_p50: .standby_lag_ms.p50, lag_p99: .standby_lag_ms.p99, qps: .queries_per_s,
            wal_per_cluster: .server.wal_bytes_per_cluster_per_s, uncaused: .takeovers_uncaused,
            fences, detect: .crash_to_claim_ms.p50, sessions}' <<<"$run" | sed 's/^/# /' >&2
    sleep 2
done

method="tests/tools/hs-loadgen: N clusters of two nodes in one process, each node with a \
heartbeatd and a watchd database session of its own, through pgbouncer ${POOL_SIZE} server sessions in \
transaction mode with database_pool_mode = transaction (hs-loadgen -P: nothing prepared, \
nobody listens); the peer column: the same count with a server session per daemon session (common/db.c; watchd's self-monitor \
session, a third per node with one light query per period, is not modelled), the statements of \
common/sql.h and watchd/role.c deciding; interval ${INTERVAL_MS} ms, takeover_timeout \
${TAKEOVER_MS} ms. Renewals notify the beat channel only while the database holds at most 16 \
clusters (heartbeatd's count, every ten intervals): every NOTIFY wakes every listening session \
of the database, so at these counts the standby learns of renewals by its read once per \
interval. PostgreSQL on this machine with fsync, full_page_writes and \
synchronous_commit on. renewal = heartbeatd's UPDATE sent -> answer (client side, includes \
the load generator's own loop delay); standby lag = renewal sent -> the standby's first read \
of the new value; crash -> claim = power cut of an active (its sessions closed) -> the \
standby's compare-and-set answered; queries/s counted by the client; WAL and transactions \
from pg_stat_database and pg_current_wal_lsn over the window; server CPU = utime + stime \
of the postmaster and its children from /proc (backends and background workers; not pg_stat_activity, which costs the server over a second of CPU with thousands of sessions); \
cpu_us_per_xact, run_queue_wait_us_per_xact and waiting_for_a_core from the same processes' \
/proc/PID/schedstat (time run on a core, time runnable without one) over the window, per \
server transaction and per second; the pooler's run_queue_wait_percent_whole_run likewise. The window starts once \
every session is up and every cluster has one active and one standby (settle_s). The load \
generator runs under SCHED_FIFO when it can (loadgen_sched_fifo). Node rows as heartbeatd \
writes them (common/db.c node_row: at a change, otherwise every 2 intervals at 1 s / 3 s); mode \
every: every node row every interval, as before (hs-loadgen -E), the same count right after. \
Each watchd's reads start at a random phase. The load \
generator runs under SCHED_FIFO when it can (loadgen_sched_fifo): one thread stands for every \
node, and under normal scheduling among thousands of backends its loop ran up to 450 ms late \
(loop_late), delaying and fencing every simulated node at once."
summary=$(jq '
    map(select(.mode == "notify" and (.failed | not))) as $olds |
    map(select(.mode == "fold" and (.failed | not))) as $folds |
    map(select(.mode == "every" and (.failed | not))) as $everys |
    map(select(.mode == "active-reads" and (.failed | not))) as $actives |
    def r1: if . == null then null else . * 10 | round / 10 end;
    def vs($new; $o): if $o != null and $new != null and $o != 0 then ($new / $o * 100 | round / 100) else null end;
    [.[] | select(.mode == "pooled" and (.failed | not)) | . as $r | (.clusters as $c | $olds | map(select(.clusters == $c)) | first) as $o |
    (.clusters as $c | $folds | map(select(.clusters == $c)) | first) as $f |
    (.clusters as $c | $everys | map(select(.clusters == $c)) | first) as $e |
    (.clusters as $c | $actives | map(select(.clusters == $c)) | first) as $a |
    {metric: "\(.clusters) clusters: renewal latency p50 / p99", unit: "ms", n: .renewal_ms.n,
     p50: .renewal_ms.p50, p99: .renewal_ms.p99}
      + (if $o then {peer: "session per daemon \($o.renewal_ms.p50) / \($o.renewal_ms.p99)",
                     ratio: vs(.renewal_ms.p99; $o.renewal_ms.p99)} else {} end)
      + (if .clusters == 1000 then {goal: "p99 <= 20", met: (.renewal_ms.p99 != null and .renewal_ms.p99 <= 20)} else {} end)
      + (if .settled == false then {metric: "\(.clusters) clusters: renewal latency p50 / p99 (never settled: \(.settle_s) s)"} else {} end),
    {metric: "\(.clusters) clusters: takeovers without a power cut / fences", unit: "",
     value: "\(.takeovers_uncaused) / \(.fences)"}
      + (if $o then {peer: "session per daemon \($o.takeovers_uncaused) / \($o.fences)"} else {} end)
      + (if .clusters == 1000 then {goal: "0 / 0", met: (.takeovers_uncaused == 0 and .fences == 0)} else {} end),
    {metric: "\(.clusters) clusters: standby learns of a renewal p50 / p99", unit: "ms",
     n: .standby_lag_ms.n, p50: .standby_lag_ms.p50, p99: .standby_lag_ms.p99}
      + (if $o then {peer: "session per daemon \($o.standby_lag_ms.p50) / \($o.standby_lag_ms.p99)",
                     ratio: vs(.standby_lag_ms.p99; $o.standby_lag_ms.p99)} else {} end),
    {metric: "\(.clusters) clusters: power cut -> claim (\(.crashes) cuts)", unit: "ms",
     n: .crash_to_claim_ms.n, p50: .crash_to_claim_ms.p50, p99: .crash_to_claim_ms.p99},
    {metric: "\(.clusters) clusters: queries/s (client), xact/s (server)", unit: "/s",
     hotstandby: "\(.queries_per_s | round) / \(.server.xact_per_s | round)"}
      + (if $o then {peer: "session per daemon \($o.queries_per_s | round) / \($o.server.xact_per_s | round)",
                     ratio: vs(.queries_per_s; $o.queries_per_s)} else {} end),
    {metric: "\(.clusters) clusters: WAL per cluster", unit: "B/s", value: (.server.wal_bytes_per_cluster_per_s | round)},
    {metric: "\(.clusters) clusters: machine busy (all CPUs, everything on it)", unit: "%", value: (.machine.busy_percent | r1)},
    {metric: "\(.clusters) clusters: server CPU per client query", unit: "ms",
     value: (if (.queries_per_s // 0) > 0 and .server.cpu_percent != null
             then (.server.cpu_percent * 10 / .queries_per_s * 100 | round / 100) else null end)},
    {metric: "\(.clusters) clusters: sessions connected / connects abandoned / dropped as silent (whole run)", unit: "",
     value: "\(.sessions.connected) / \(.sessions.connect_timeouts) / \(.sessions.dropped_silent)"},
    {metric: "\(.clusters) clusters: load generator loop late p99 / max (whole run)\(if .loadgen_sched_fifo then ", SCHED_FIFO" else "" end)", unit: "ms",
     value: "\(.loop_late_ms.p99) / \(.loop_late_max_ms)"},
    {metric: "\(.clusters) clusters: CPU of the pooler (pgbouncer, \(.pooler.pool_size) server sessions), whole run", unit: "% of a core",
     value: (.pooler.cpu_percent_whole_run | r1)},
    {metric: "\(.clusters) clusters: server CPU per transaction / its processes runnable without a core, per transaction (us) / waiting for a core (mean processes); pooler waiting (% of the run)", unit: "",
     value: "\(.server.cpu_us_per_xact | r1) / \(.server.run_queue_wait_us_per_xact | r1) / \(.server.waiting_for_a_core) ; \(.pooler.run_queue_wait_percent_whole_run)"},
    {metric: "\(.clusters) clusters: CPU postgres / load generator", unit: "% of a core",
     hotstandby: "\(.server.cpu_percent | r1) / \(.loadgen_cpu_percent | r1)"}
      + (if $o then {peer: "session per daemon \($o.server.cpu_percent | r1) / \($o.loadgen_cpu_percent | r1)",
                     ratio: vs(.server.cpu_percent; $o.server.cpu_percent)} else {} end),
    (if $f then {metric: "\(.clusters) clusters: server CPU (% of a core) / xact/s / renewal p99 (ms)",
                 unit: "", hotstandby: "\(.server.cpu_percent | r1) / \(.server.xact_per_s | round) / \(.renewal_ms.p99)",
                 peer: "node row in the renewal \($f.server.cpu_percent | r1) / \($f.server.xact_per_s | round) / \($f.renewal_ms.p99)",
                 ratio: vs(.renewal_ms.p99; $f.renewal_ms.p99)} else empty end),
    (if $e then {metric: "\(.clusters) clusters: server CPU (% of a core) / xact/s / WAL per cluster (B/s) / renewal p99 (ms)",
                 unit: "", hotstandby: "\(.server.cpu_percent | r1) / \(.server.xact_per_s | round) / \(.server.wal_bytes_per_cluster_per_s | round) / \(.renewal_ms.p99)",
                 peer: "node rows every interval \($e.server.cpu_percent | r1) / \($e.server.xact_per_s | round) / \($e.server.wal_bytes_per_cluster_per_s | round) / \($e.renewal_ms.p99)\(if $e.takeovers_uncaused > 0 or $e.fences > 0 then " (\($e.takeovers_uncaused) takeovers, \($e.fences) fences nobody caused)" else "" end)",
                 ratio: vs(.renewal_ms.p99; $e.renewal_ms.p99)} else empty end),
    (if $a then {metric: "\(.clusters) clusters: row reads/s / server CPU (% of a core) / xact/s / renewal p50 / p99 (ms)",
                 unit: "", hotstandby: "\(.seconds as $s | .queries.cluster_read // 0 | . / $s | round) / \(.server.cpu_percent | r1) / \(.server.xact_per_s | round) / \(.renewal_ms.p50) / \(.renewal_ms.p99)",
                 peer: "active reads every interval \($a.seconds as $s | $a.queries.cluster_read // 0 | . / $s | round) / \($a.server.cpu_percent | r1) / \($a.server.xact_per_s | round) / \($a.renewal_ms.p50) / \($a.renewal_ms.p99)\(if $a.takeovers_uncaused > 0 or $a.fences > 0 then " (\($a.takeovers_uncaused) takeovers, \($a.fences) fences nobody caused)" else "" end)",
                 ratio: vs(.renewal_ms.p99; $a.renewal_ms.p99)} else empty end)]' <<<"$runs")
jq -n --argjson meta "$(bench_meta)" --argjson runs "$runs" --arg method "$method" \
    --argjson conn_ms "$conn_ms" --argjson conn_rate "$conn_rate" \
    --argjson summary "$summary" --argjson secs "$SECS" \
    '{bench: "bench-clusters", meta: $meta, seconds_per_count: $secs, method: $method,
      session_connect_ms: $conn_ms, sessions_per_s: $conn_rate,
      runs: $runs, summary: ($summary + [{metric: "server: a new session (fork, start-up, exit): connect time, sessions/s (pgbench -C, 2 clients)",
        unit: "ms, 1/s", value: "\($conn_ms) / \($conn_rate)"}])}' >"$BENCH_RESULTS/$NAME.json"

jq -r '.runs[] | select(.mode == "pooled" and (.failed | not)) | "\(.clusters) \(.renewal_ms.p50) \(.renewal_ms.p99) \(.standby_lag_ms.p50) \(.standby_lag_ms.p99) \(.queries_per_s) \(.server.wal_bytes_per_s) \(.server.cpu_percent) \(.loadgen_cpu_percent)"' \
    "$BENCH_RESULTS/$NAME.json" >"$T/plot.dat"
gnuplot <<EOF
set terminal pngcairo size 1000,700 noenhanced
set output "$BENCH_RESULTS/$NAME.png"
set multiplot layout 2,2 title "clusters of two nodes on one PostgreSQL through pgbouncer, ${POOL_SIZE} server sessions ($(date -u +%F), $(nproc) CPUs, load $BENCH_LOAD_START)"
set grid
set key top left
set xlabel "clusters"
set title "renewal latency (ms)"
set yrange [0:*]
plot "$T/plot.dat" using 1:2 with linespoints title "p50", "" using 1:3 with linespoints title "p99", 20 with lines dt 2 title "goal p99"
set title "standby learns of a renewal (ms)"
plot "$T/plot.dat" using 1:4 with linespoints title "p50", "" using 1:5 with linespoints title "p99"
set title "queries/s (client) and WAL (KiB/s)"
plot "$T/plot.dat" using 1:6 with linespoints title "queries/s", "" using 1:(\$7/1024) with linespoints title "WAL KiB/s"
set title "CPU % of one core"
plot "$T/plot.dat" using 1:8 with linespoints title "postgres", "" using 1:9 with linespoints title "load generator"
unset multiplot
EOF
log "wrote $BENCH_RESULTS/$NAME.json and $NAME.png"
