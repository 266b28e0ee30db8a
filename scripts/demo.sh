#!/usr/bin/env bash
# scripts/demo.sh (`make demo`): hotstandby in under a minute on one machine.
#
# Starts a throwaway PostgreSQL and two nodes, a and b (connection = none, the fast
# profile), whose service is two hooks that log a line. Then: kill -9 of the active's
# daemons (a crash) with a millisecond timeline of the takeover; the old active restarted,
# coming back as standby (no preemption); a planned switchover with its timeline.
# Everything it starts (daemons, PostgreSQL, the temp dir) goes away on exit, Ctrl-C
# included. Needs root (PostgreSQL runs as the postgres user); no tty needed.
#
# Environment: HS_INTERVAL, HS_TAKEOVER (default 1s / 3s, the fast profile),
# HS_KEEP=1 keeps the temp dir (logs of both nodes) for a look afterwards.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
    echo "demo: run as root: it starts PostgreSQL as the postgres user (sudo make demo)" >&2
    exit 1
fi
for tool in jq "$top/build/watchd" "$top/build/heartbeatd" "$top/build/vipctl"; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "$tool" ] || {
        echo "demo: missing $tool: run 'make demo' (installs packages and builds)" >&2
        exit 1
    }
done

export HS_INTERVAL=${HS_INTERVAL:-1s} HS_TAKEOVER=${HS_TAKEOVER:-3s} HS_CLUSTER=demo
. "$top/tests/lib/common.sh"   # $T, cleanup of everything registered with at_exit
. "$top/tests/lib/pg.sh"
. "$top/tests/bench/lib.sh"
private_tmp hs-demo
. "$top/tests/lib/cluster.sh"
trap 'echo; echo "demo: interrupted; stopping the daemons and PostgreSQL, removing $T"; exit 130' INT TERM

started=$SECONDS
interval_ms=$(dur_ms "$HS_INTERVAL")
takeover_ms=$(dur_ms "$HS_TAKEOVER")

heading() { printf '\n== %s ==\n' "$*"; }
say() { printf '   %s\n' "$*"; }
indent() { sed 's/^/   | /'; }
fail() {
    echo "demo: $*" >&2
    dump_logs 2>&1 | sed 's/^# //'
    exit 1
}

# Timeline rows are collected as "ms|node|what" and printed sorted, relative to a zero.
tl_file=$T/timeline
tl_reset() { : >"$tl_file"; }
# Whole milliseconds: hs_event.at has ms precision; rows in the same ms keep their order.
tl_add() { [ -n "$1" ] && printf '%s|%s|%s\n' "${1%.*}" "$2" "$3" >>"$tl_file"; }
tl_print() {
    local zero=${1%.*}
    printf '   %8s  %-4s  %s\n' "ms" "node" "step"
    sort -s -t'|' -k1,1n "$tl_file" | awk -F'|' -v z="$zero" \
        '{ printf "   %+8d  %-4s  %s\n", $1 - z, $2, $3 }'
}
# The first event of KIND by NODE in a `vipctl events --json` array.
evt() { ev_ms "$1" "$2" "$3" "${4:-}"; }

echo "hotstandby demo: two nodes on this machine sharing one throwaway PostgreSQL"
echo "profile: interval $HS_INTERVAL, takeover_timeout $HS_TAKEOVER" \
    "(fence_after $((takeover_ms / 2))ms), connection = none"
echo "service: [service] start/stop hooks that append a line to $HOOKS_LOG"

# ---------------------------------------------------------------------------------------
heading "1. Start: PostgreSQL, then node b, then node a"
pg_start
say "PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{ print $3 }') on 127.0.0.1:$PG_PORT (data under $T)"
node_conf a 100
node_conf b 100
node_start b
say "b started first: it waits takeover_timeout before claiming an unclaimed cluster"
sleep 0.3
node_start a
say "a started: the [cluster] primary claims an unclaimed cluster at once"
wait_role a active 10 || fail "a did not become active"
wait_role b standby 10 || fail "b did not become standby"
beat_trace_install
say "a is active at epoch $(epoch), b is standby; the counter moves every $HS_INTERVAL:"
sleep "$(awk -v i="$interval_ms" 'BEGIN { print 2.5 * i / 1000 }')"
echo
vipctl_node a status | indent

# ---------------------------------------------------------------------------------------
heading "2. Crash: kill -9 of the active's daemons (a: watchd + heartbeatd)"
e1=$(epoch)
# a random moment within the heartbeat interval, as a real crash would be
sleep "$(awk -v i="$interval_ms" -v r="$RANDOM" 'BEGIN { print (r % i) / 1000 }')"
t_kill=$(now_msf)
node_powercut a
say "killed at $(date -d "@${t_kill%???.*}" +%H:%M:%S).${t_kill:10:3}: b must notice that the counter stands still"
wait_holder b $((3 * takeover_ms / 1000 + 5)) || fail "b did not take over"
t_cas=$(cas_ms)
wait_role b active 10 || fail "b did not become active"
ev=$(vipctl_node b events -n 50 --json)
beat=$(last_beat a "$e1")
t_beat=${beat%|*} hb=${beat#*|}
e2=$((e1 + 1))
tl_reset
tl_add "$t_beat" a "last renewal by a: counter $hb at epoch $e1 (database clock)"
tl_add "$(awk -v c="$t_cas" -v t="$takeover_ms" 'BEGIN { printf "%.3f", c - t }')" b \
    "b first read counter $hb (inferred: claim - takeover_timeout; b polls every $HS_INTERVAL)"
tl_add "$t_kill" - "kill -9 a (both daemons, frozen first: a power cut)"
tl_add "$t_cas" b "staleness detected: b's claim (compare-and-set UPDATE) executed"
tl_add "$(evt "$ev" claimed b "$e2")" b "claimed: compare-and-set won, epoch $e2"
tl_add "$(evt "$ev" renewal-confirmed b "$e2")" b "renewal-confirmed: b's heartbeatd renewed at epoch $e2"
tl_add "$(evt "$ev" vip-up b "$e2")" b "vip-up"
tl_add "$(hook_ms start b "$e2")" b "service start hook ran (hook log line)"
tl_add "$(evt "$ev" service-started b "$e2")" b "service-started: hook done"
tl_add "$(evt "$ev" active b "$e2")" b "active"
echo
tl_print "$t_kill"
echo
say "kill -> detected $(sub "$t_kill" "$t_cas") ms (takeover_timeout $takeover_ms ms)," \
    "CAS won -> service started $(sub "$(evt "$ev" claimed b "$e2")" "$(evt "$ev" service-started b "$e2")") ms"
say "(the standby counts takeover_timeout from its first read of the unchanged counter, on its"
say " own CLOCK_BOOTTIME, so kill -> detected varies with where in the interval the crash fell)"
say "b's log:"
grep -E 'claiming the cluster|compare-and-set won|watchd: active: b is active' "$T/b/watchd.log" | tail -n 3 | sed 's/^<[0-9]>/   | /'

# ---------------------------------------------------------------------------------------
heading "3. The old active comes back: restart a's daemons"
t_restart=$(now_ms)
node_start a
wait_role a standby 10 || fail "a did not come back as standby"
say "a is standby $(($(now_ms) - t_restart)) ms after its restart (it saw b holding a moving counter)"
say "waiting $((takeover_ms + 1000)) ms, longer than takeover_timeout ..."
sleep $(((takeover_ms + 1000) / 1000)).$(((takeover_ms + 1000) % 1000 / 100))
[ "$(holder)" = b ] || fail "the holder changed: $(holder)"
say "holder is still b at epoch $(epoch): no preemption, whatever a's priority"
echo
vipctl_node a status | indent

# ---------------------------------------------------------------------------------------
heading "4. Planned switchover: vipctl switchover (run on b, the active)"
e2=$(epoch)
e3=$((e2 + 1))
t_cmd=$(now_msf)
vipctl_node b switchover 2>&1 | indent
t_ret=$(now_msf)
wait_role a active 10 || fail "a did not become active after the switchover"
ev=$(vipctl_node a events -n 50 --json)
tl_reset
tl_add "$t_cmd" - "vipctl switchover started"
tl_add "$(evt "$ev" switchover b "$e2")" b "switchover: watchd on b accepted the request"
tl_add "$(hook_ms stop b "$e2")" b "service stop hook ran (hook log line)"
tl_add "$(evt "$ev" service-stopped b "$e2")" b "service-stopped: hook done"
tl_add "$(evt "$ev" vip-down b "$e2")" b "vip-down"
tl_add "$(evt "$ev" handed-off b "$e3")" b "handed-off: row names a, epoch $e3"
tl_add "$(evt "$ev" granted a "$e3")" a "granted: a saw the row (NOTIFY)"
tl_add "$(evt "$ev" renewal-confirmed a "$e3")" a "renewal-confirmed: a's heartbeatd renewed at epoch $e3"
tl_add "$(hook_ms start a "$e3")" a "service start hook ran (hook log line)"
tl_add "$(evt "$ev" service-started a "$e3")" a "service-started: hook done"
tl_add "$(evt "$ev" active a "$e3")" a "active"
tl_add "$(jq -r --argjson t "${t_cmd%.*}" '[.[] | select(.kind == "standby" and .node == "b" and .at_ms >= $t)] | first | .at_ms // empty' <<<"$ev")" b "standby"
tl_add "$t_ret" - "vipctl switchover returned"
echo
tl_print "$t_cmd"
echo
say "command -> new service started: $(sub "$t_cmd" "$(evt "$ev" service-started a "$e3")") ms;" \
    "old service stopped before the new one started:" \
    "$(awk -v s="$(hook_ms stop b "$e2")" -v t="$(hook_ms start a "$e3")" 'BEGIN { print (s <= t) ? "yes" : "NO" }')"
sleep "$(awk -v i="$interval_ms" 'BEGIN { print 1.2 * i / 1000 }')"   # node rows are rewritten every interval
echo
vipctl_node a status | indent

# ---------------------------------------------------------------------------------------
heading "5. The service's hook log (ms since the epoch, hook, node, epoch)"
say "(\"stop x 0\" lines are each watchd's clean-up at start: nothing of an earlier life survives)"
indent <"$HOOKS_LOG"
hooks_no_overlap >/dev/null && say "never two nodes active at once (checked from this log)" ||
    fail "two nodes were active at the same time"

heading "Done in $((SECONDS - started)) s; stopping the daemons and PostgreSQL, removing $T"
