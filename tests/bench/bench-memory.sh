#!/usr/bin/env bash
# tests/bench/bench-memory.sh: what one node's resident daemons cost in memory, side by
# side in the same run: hotstandby (watchd + heartbeatd + syncd) against keepalived
# (parent + VRRP child) + lsyncd, the pair it replaces.
#
# hotstandby: two nodes at the fast profile sharing this benchmark's PostgreSQL, each with a
# syncd; a's syncd is the active sender (connected over the benchmark's sshd to b's
# `syncd --serve`), b's the standby. keepalived 2.x: a VRRP instance with a VIP in a
# network namespace (MASTER), as tests/bench/vip-failover runs it. lsyncd: default.rsync
# over the same sshd, one directory. Both sync tools first copy the same 100 files.
# vipctl and rsync are commands, started per action, so neither side counts them.
#
# After a settle time, HS_BENCH_MEMORY_SAMPLES (5) rounds read /proc/PID/smaps_rollup of
# every process, the two systems one after the other in each round. PSS (proportional set
# size: shared pages divided among the processes that map them) is the goal's measure;
# also Private (clean + dirty: what the process alone holds) and RSS.
# Goal (issue 13): PSS of watchd + heartbeatd + syncd <= keepalived (parent + VRRP) + lsyncd.
#
# Every process here runs with GNUTLS_NO_IMPLICIT_INIT=1, as hotstandby's systemd units
# start its daemons (GnuTLS, which libpq's libldap maps, then skips its load-time init);
# keepalived and lsyncd get the same environment.
# HS_BENCH_MEMORY_SMAPS=DIR also keeps each process's /proc/PID/smaps (per mapping: which
# library's relocations, the heap, thread stacks) from the last round in DIR.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/bench/lib.sh"
private_tmp hs-bench
built=$HS_BIN
private_bins
cp "$built/syncd" "$T/bin/" || bail "no $built/syncd: run make"
. "$HS_TOP/tests/lib/cluster.sh"
. "$HS_TOP/tests/lib/sshd.sh"
. "$HS_TOP/tests/lib/syncd.sh"
. "$HS_TOP/tests/lib/netns.sh"
. "$HS_TOP/tests/bench/sync-lib.sh"
need keepalived lsyncd jq gnuplot
NAME=bench-memory
SAMPLES=${HS_BENCH_MEMORY_SAMPLES:-5}
SETTLE=${HS_BENCH_MEMORY_SETTLE:-10}
log() { printf '# %s\n' "$*" >&2; }

# ---- hotstandby: watchd + heartbeatd per node, syncd per node ----
pg_start
export GNUTLS_NO_IMPLICIT_INIT=1   # the units' Environment= (and the peer's too)
HS_INTERVAL=1s HS_TAKEOVER=3s HS_CLUSTER=mem HS_PRIMARY=a
node_conf a 100
node_conf b 100
node_start a
node_start b
wait_role a active 20 && wait_role b standby 20 || { log "the cluster did not form"; dump_logs; exit 1; }
start_sshd
sync_conf a b
sync_conf b a
for i in $(seq 100); do head -c 1024 /dev/urandom >"$T/a/data/f$i"; done
start_syncd a
start_syncd b
make_active a 1
flush a 60000 || bail "syncd did not sync"

# ---- keepalived (MASTER with a VIP) in a namespace, lsyncd over the same sshd ----
netns_lan_setup ka
cat >"$T/ka.conf" <<EOF
global_defs {
    router_id node_ka
    vrrp_version 3
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 52
    priority 100
    advert_int 1
    virtual_ipaddress {
        192.0.2.10/24 dev eth0
    }
}
EOF
netns_exec ka keepalived -n -l -D -G --vrrp -f "$T/ka.conf" -p "$T/ka.pid" -r "$T/ka-vrrp.pid" \
    >>"$T/ka.log" 2>&1 &
wait_for 20 grep -q "Entering MASTER STATE" "$T/ka.log" || bail "keepalived did not become MASTER: $(tail -n 5 "$T/ka.log")"
mkdir -p "$T/ls-src" "$T/ls-dst"
cp "$T/a/data/"* "$T/ls-src/"
lsyncd_start lsyncd "$T/ls-src" "$T/ls-dst" 0

log "settling ${SETTLE}s"
sleep "$SETTLE"
bench_tmp_ok

# label pid: the processes measured
hs_procs() {
    echo "hotstandby watchd $(node_pid a watchd)"
    echo "hotstandby heartbeatd $(node_pid a heartbeatd)"
    echo "hotstandby syncd $SYNCD_PID_a"
    echo "standby-node watchd $(node_pid b watchd)"
    echo "standby-node heartbeatd $(node_pid b heartbeatd)"
    echo "standby-node syncd $SYNCD_PID_b"
    echo "standby-node syncd--serve $(serve_pid b)"
}
peer_procs() {
    echo "peer keepalived $(cat "$T/ka.pid")"
    echo "peer keepalived-vrrp $(cat "$T/ka-vrrp.pid")"
    echo "peer lsyncd $LSYNCD_PID"
}
# smaps_rollup in KiB: "pss private rss"
mem_of() {
    awk '/^Pss:/ { pss = $2 } /^Private_Clean:/ { pc = $2 } /^Private_Dirty:/ { pd = $2 }
         /^Rss:/ { rss = $2 } END { print pss, pc + pd, rss }' "/proc/$1/smaps_rollup"
}
: >"$T/samples"
for r in $(seq "$SAMPLES"); do
    for side in hs peer; do
        while read -r sys proc pid; do
            [ -n "$pid" ] && [ -r "/proc/$pid/smaps_rollup" ] || { log "$sys $proc: no process"; continue; }
            echo "$r $sys $proc $(mem_of "$pid")" >>"$T/samples"
            [ -z "${HS_BENCH_MEMORY_SMAPS:-}" ] || cp "/proc/$pid/smaps" "$HS_BENCH_MEMORY_SMAPS/$sys-$proc.smaps"
        done < <(if [ $side = hs ]; then hs_procs; else peer_procs; fi)
    done
    sleep 1
done

# per process: median over the rounds; per system: the sum of the medians
per_proc=$(awk '{ print $2, $3, $4, $5, $6 }' "$T/samples" | jq -Rn '
    [inputs | split(" ") | {system: .[0], process: .[1], pss: (.[2]|tonumber),
                            private: (.[3]|tonumber), rss: (.[4]|tonumber)}]
    | group_by(.system + " " + .process)
    | map({system: .[0].system, process: .[0].process, n: length,
           pss_kib: (map(.pss) | sort | .[length/2|floor]),
           pss_min_kib: (map(.pss) | min), pss_max_kib: (map(.pss) | max),
           private_kib: (map(.private) | sort | .[length/2|floor]),
           rss_kib: (map(.rss) | sort | .[length/2|floor])})')
tot() { jq --arg s "$1" '[.[] | select(.system == $s)] | {pss_kib: (map(.pss_kib) | add),
        private_kib: (map(.private_kib) | add), rss_kib: (map(.rss_kib) | add)}' <<<"$per_proc"; }
hs=$(tot hotstandby)
peer=$(tot peer)
sb=$(tot standby-node)
mib() { jq -n "$1 / 1024 * 10 | round / 10"; }
hs_pss=$(jq .pss_kib <<<"$hs")
peer_pss=$(jq .pss_kib <<<"$peer")
summary=$(jq -n --argjson hs "$hs" --argjson peer "$peer" --argjson sb "$sb" '
  def m: . / 1024 * 10 | round / 10;
  [{metric: "PSS per node: watchd+heartbeatd+syncd vs keepalived+VRRP+lsyncd", unit: "MiB",
    hotstandby: ($hs.pss_kib | m), peer: ($peer.pss_kib | m),
    ratio: (($hs.pss_kib / $peer.pss_kib) * 100 | round / 100),
    value: "\($hs.pss_kib | m) / \($peer.pss_kib | m)", goal: "<= peer",
    met: ($hs.pss_kib <= $peer.pss_kib)},
   {metric: "Private (clean+dirty) per node, same processes", unit: "MiB",
    hotstandby: ($hs.private_kib | m), peer: ($peer.private_kib | m),
    ratio: (($hs.private_kib / $peer.private_kib) * 100 | round / 100),
    value: "\($hs.private_kib | m) / \($peer.private_kib | m)"},
   {metric: "PSS standby node: watchd+heartbeatd+syncd+syncd --serve", unit: "MiB",
    hotstandby: ($sb.pss_kib | m), value: ($sb.pss_kib | m)}]')
method="Same run, same machine: node a of a hotstandby pair (watchd, heartbeatd, syncd as the \
active sender, connected over ssh to b's syncd --serve; interval 1s, takeover 3s, connection = none) \
and keepalived $(keepalived --version 2>&1 | head -1 | awk '{print $2}') (parent + VRRP child, MASTER of \
one VRRP instance with a VIP, in a network namespace) plus lsyncd (default.rsync over the same sshd). \
Both sync tools copied the same 100 files first. Every process runs with GNUTLS_NO_IMPLICIT_INIT=1, \
the environment hotstandby's systemd units give its daemons; keepalived and lsyncd get it too. $SAMPLES rounds of /proc/PID/smaps_rollup, the two \
systems one after the other in each round; per process the median, per system the sum. PSS divides \
shared pages (libc, libcrypto, ...) among every process on the machine that maps them, so it moves a \
little with what else runs; Private does not."
jq -n --argjson meta "$(bench_meta)" --argjson procs "$per_proc" --argjson summary "$summary" \
    --arg method "$method" --argjson samples "$SAMPLES" \
    '{bench: "bench-memory", meta: $meta, samples: $samples, method: $method, processes: $procs,
      summary: $summary}' >"$BENCH_RESULTS/$NAME.json"
jq -r '.processes[] | select(.system != "standby-node") | "\(.system)-\(.process) \(.pss_kib / 1024) \(.private_kib / 1024)"' \
    "$BENCH_RESULTS/$NAME.json" >"$T/plot.dat"
gnuplot <<EOF
set terminal pngcairo size 900,480 noenhanced
set output "$BENCH_RESULTS/$NAME.png"
set title "memory per node: hotstandby vs keepalived + lsyncd ($(date -u +%F), $(nproc) CPUs)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "MiB"
set yrange [0:*]
set grid ytics
set xtics rotate by -20
plot "$T/plot.dat" using 2:xtic(1) title "PSS", "" using 3 title "Private"
EOF
log "hotstandby PSS $(mib "$hs_pss") MiB, keepalived + lsyncd $(mib "$peer_pss") MiB"
log "wrote $BENCH_RESULTS/$NAME.json and $NAME.png"
