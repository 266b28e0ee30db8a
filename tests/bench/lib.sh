# tests/bench/lib.sh: helpers shared by the benchmarks and scripts/demo.sh. Sourced after
# tests/lib/common.sh and pg.sh, and before cluster.sh when private_tmp is used (cluster.sh
# places its hook log in $T when it is sourced); the helpers use $T, psql_hs, $HS_CLUSTER.
#
# Every time below is wall-clock milliseconds since the epoch (fractions allowed). All
# processes run on this one machine, so the shell's clock, watchd's clock (hs_event.at)
# and the database's clock (clock_timestamp()) are the same clock.

BENCH_RESULTS=${HS_BENCH_RESULTS:-$HS_TOP/tests/bench/results}

# private_tmp PREFIX: moves this run's temp dir from /tmp/hs-test.* (which test runs share,
# and may sweep) to /tmp/PREFIX.XXXXXX; common.sh's clean-up removes the new one.
private_tmp() {
    rmdir "$T" 2>/dev/null
    T=$(mktemp -d "/tmp/$1.XXXXXX")
    chmod 755 "$T"
}

# private_bins: the daemons and vipctl copied to $T/bin and used from there, so that a
# rebuild of the tree during a long run does not change (or break) what is measured.
# watchd finds vipctl next to itself, and vipctl its vipctl-full.
private_bins() {
    mkdir -p "$T/bin"
    cp "$HS_BIN/watchd" "$HS_BIN/heartbeatd" "$HS_BIN/vipctl" "$HS_BIN/vipctl-full" "$T/bin/" || bail "no binaries in $HS_BIN: run make"
    HS_BIN=$T/bin
    export HS_BIN
}

# dur_ms 3s|1500ms|1m: a duration of the config's syntax in milliseconds.
dur_ms() {
    case $1 in
    *ms) echo "${1%ms}" ;;
    *s) echo $((${1%s} * 1000)) ;;
    *m) echo $((${1%m} * 60000)) ;;
    esac
}

# hook_ms start|stop NODE EPOCH: the time of cluster.sh's hook log line "<ms> start NODE EPOCH"
# (taken inside the hook), the last one if there are several.
hook_ms() {
    awk -v w="$1" -v n="$2" -v e="$3" '$2 == w && $3 == n && $4 == e { t = $1 } END { print t }' "$HOOKS_LOG"
}

now_us() { date +%s%6N; }
# now_msf: milliseconds with microsecond fraction.
now_msf() { local us; us=$(now_us); printf '%s.%s\n' "${us:0:${#us}-3}" "${us: -3}"; }

# beat_trace_install: a trigger (in the throwaway database only) records every change of
# the cluster counter with the database's clock, so a timeline can show the last renewal
# before a kill. Call it once the schema exists (after the first node is up).
beat_trace_install() {
    psql_hs "
        SET client_min_messages = warning;
        CREATE TABLE IF NOT EXISTS hs_bench_beat (
            cluster text, holder text, epoch bigint, heartbeat bigint,
            at timestamptz DEFAULT clock_timestamp());
        CREATE OR REPLACE FUNCTION hs_bench_beat() RETURNS trigger LANGUAGE plpgsql AS \$\$
        BEGIN
            IF NEW.heartbeat <> OLD.heartbeat THEN
                INSERT INTO hs_bench_beat (cluster, holder, epoch, heartbeat)
                VALUES (NEW.cluster, NEW.holder, NEW.epoch, NEW.heartbeat);
            END IF;
            RETURN NEW;
        END \$\$;
        DROP TRIGGER IF EXISTS hs_bench_beat ON hs_cluster;
        CREATE TRIGGER hs_bench_beat AFTER UPDATE ON hs_cluster
            FOR EACH ROW EXECUTE FUNCTION hs_bench_beat();" >/dev/null
}

_ms_of() { echo "round((extract(epoch FROM $1) * 1000)::numeric, 3)"; }

# last_beat HOLDER EPOCH: "ms|heartbeat" of the last renewal of HOLDER at EPOCH.
last_beat() {
    psql_hs "SELECT $(_ms_of at) || '|' || heartbeat FROM hs_bench_beat
             WHERE cluster = '$HS_CLUSTER' AND holder = '$1' AND epoch = $2
             ORDER BY at DESC LIMIT 1"
}

# cas_ms: when the database executed the last change of holder (hs_cluster.changed_at,
# set by the claim and by the handoff UPDATE with clock_timestamp()).
cas_ms() { psql_hs "SELECT $(_ms_of changed_at) FROM hs_cluster WHERE cluster = '$HS_CLUSTER'"; }

last_event_id() { psql_hs "SELECT coalesce(max(id), 0) FROM hs_event"; }

# events_after ID: the cluster's events with a larger id, as a JSON array
# [{id, node, epoch, kind, detail, at_ms}] (at_ms: the node's clock, ms precision).
events_after() {
    psql_hs "SELECT coalesce(json_agg(json_build_object('id', id, 'node', node, 'epoch', epoch,
                 'kind', kind, 'detail', detail, 'at_ms', $(_ms_of at)) ORDER BY id), '[]')
             FROM hs_event WHERE cluster = '$HS_CLUSTER' AND id > $1"
}

# ev_ms JSON KIND NODE [EPOCH]: at_ms of the first such event in JSON (empty if none).
ev_ms() {
    jq -r --arg k "$2" --arg n "$3" --arg e "${4:-}" \
        '[.[] | select(.kind == $k and .node == $n and ($e == "" or (.epoch|tostring) == $e))]
         | first | .at_ms // empty' <<<"$1"
}

# wait_event SECS SINCE_ID KIND NODE [EPOCH]: until such an event is in hs_event.
_event_there() { [ -n "$(ev_ms "$(events_after "$1")" "$2" "$3" "${4:-}")" ]; }
wait_event() { local s=$1; shift; wait_for "$s" _event_there "$@"; }

# sub A B: B - A with 1 decimal (empty if either is empty).
sub() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# Statistics over a JSON array of numbers, as jq definitions: nearest-rank percentiles
# (with 20 samples p50 is the 10th smallest and p99 the largest).
JQ_STATS='
def pct(p): sort | .[((length * p / 100) | ceil) - 1];
def stats: if length == 0 then {n: 0} else
    {n: length, min: min, p50: pct(50), p99: pct(99), max: max,
     mean: ((add / length) * 10 | round / 10)} end;
'

# node_pids NAME: "watchd-pid heartbeatd-pid" of a node started by cluster.sh.
node_pids() { echo "$(node_pid "$1" watchd) $(node_pid "$1" heartbeatd)"; }

# node_powercut NAME: a crash as a power cut would make it. Both daemons are frozen first
# and then killed: killed one after the other, the survivor reacts to the other's death
# (heartbeatd runs the fence steps, [service] stop included, when watchd's socket closes),
# which a machine that lost power would not do. Notes "crash" in the hook log.
node_powercut() {
    local pids p
    pids=$(node_pids "$1")
    kill -STOP $pids 2>/dev/null
    kill -KILL $pids 2>/dev/null
    for p in $pids; do _wait_gone "$p"; done
    echo "$(now_ms) crash $1 -" >>"$HOOKS_LOG"
}

# bench_meta: a JSON object describing where and what was measured.
bench_meta() {
    jq -n --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg kernel "$(uname -r)" \
        --arg cpu "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)" \
        --argjson ncpu "$(nproc)" \
        --arg commit "$(git -C "$HS_TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        --arg pg "$("$PG_BINDIR/postgres" --version 2>/dev/null)" \
        --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --arg load_start "${BENCH_LOAD_START:-}" \
        '{date: $date, kernel: $kernel, cpu: $cpu, cpus: $ncpu, commit: $commit, postgresql: $pg,
          loadavg_at_start: $load_start, loadavg_at_end: $load}'
}
# The machine's load when the benchmark began (other work on it skews the figures).
BENCH_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# bench_tmp_ok: fails (exit 1) with a clear message if this run's temp dir is gone; it
# holds the daemons' logs and the samples, so nothing after that would be measured right.
bench_tmp_ok() {
    [ -d "$T" ] && return 0
    echo "$(basename "$0"): the temp dir $T was removed during the run (by something else)" >&2
    exit 1
}
