#!/usr/bin/env bash
# scripts/demo.sh (`make demo`): hotstandby in under a minute on one machine.
#
# Starts a throwaway PostgreSQL and a LAN of network namespaces (tests/lib/netns.sh): nodes
# a and b and a client c on one bridge, TEST-NET addresses only. The nodes run with
# connection = vip (192.0.2.10/24 on eth0, the fast profile) and each runs a tiny TCP
# service answering its name; c asks the VIP every 25 ms throughout; the service's hooks
# log a line. Then: a power cut of the active (its daemons and service killed, its link
# down) with a millisecond timeline of the takeover and of the client's gap; the old
# active restarted, coming back as standby (no preemption); a planned switchover with its
# timeline and the client's gap. Everything it starts (daemons, PostgreSQL, namespaces,
# the temp dir) goes away on exit, Ctrl-C included. Needs root (PostgreSQL runs as the
# postgres user); no tty needed. Where namespaces cannot be created, the nodes run on
# this machine with connection = none (no VIP, no client).
#
# Environment: HS_INTERVAL, HS_TAKEOVER (default 1s / 3s, the fast profile),
# HS_DEMO_LAN=0 runs the connection = none demo, HS_KEEP=1 keeps the temp dir (logs of
# both nodes, the client's log) for a look afterwards.
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
. "$top/tests/lib/netns.sh"
stopping="stopping the daemons and PostgreSQL"
# fd 3 is this script's stdout: the trap can run inside a command whose output goes to
# /dev/null (a wait_for probe), and its line must still be seen.
exec 3>&1
trap 'printf "\ndemo: interrupted; %s, removing %s\n" "$stopping" "$T" >&3; exit 130' INT TERM

# The LAN, unless namespaces cannot be had here.
lan=1 no_lan=
if [ "${HS_DEMO_LAN:-1}" = 0 ]; then
    lan=0 no_lan="HS_DEMO_LAN=0"
elif ! netns_usable; then
    lan=0 no_lan="network namespaces cannot be created here"
fi
VIP=192.0.2.10 PORT=8080 CLIENT_MS=25 CLIENT_LOG=$T/client.log lost_sum=0
if [ "$lan" = 1 ]; then
    stopping="stopping the daemons, the client and PostgreSQL, deleting the namespaces"
    # cluster.sh's daemons, started inside the node's namespace (ip netns exec execs the
    # daemon, so the pid files still name the daemons themselves), and vipctl run there.
    _node_daemon() {
        local name=$1 d=$2
        ip netns exec "$(netns_ns "$name")" "$HS_BIN/$d" -c "$T/$name/hotstandby.conf" \
            >>"$T/$name/$d.log" 2>&1 &
        echo $! >"$T/$name/$d.pid"
        at_exit "kill -9 $! 2>/dev/null"
        disown $!
    }
    vipctl_node() { local name=$1; shift; netns_exec "$name" "$HS_BIN/vipctl" -c "$T/$name/hotstandby.conf" "$@"; }
fi
# lan_conf NODE: cluster.sh's config turned into the LAN's: the node's own address,
# connection = vip, PostgreSQL over its unix socket (a socket crosses namespaces).
lan_conf() {
    sed -i -e "s|^address = 127.0.0.1\$|address = $(netns_addr4 "$1")|" \
        -e 's/^connection = none$/connection = vip/' \
        -e "s|^database = .*|database = host=$PG_SOCK port=$PG_PORT dbname=hs user=postgres|" \
        "$T/$1/hotstandby.conf"
    node_conf_add "$1" '' '[vip]' "address = $VIP" 'interface = eth0'
}
# The client's log has "epoch_ms answer" lines, answer "-" for a try that got none.
answered_by() { [ "$(tail -n 3 "$CLIENT_LOG" | awk '{ print $2 }' | sort -u)" = "$1" ]; }
vip_on() { ip -n "$(netns_ns "$1")" -o addr show dev eth0 | awk -v a="$VIP" '{ split($4, p, "/") } p[1] == a { f = 1 } END { exit !f }'; }

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
unanswered() { [ "$1" = 1 ] && echo "1 request unanswered" || echo "$1 requests unanswered"; }
# client_gap SINCE OLD NEW: timeline rows for the client's move from OLD to NEW after
# SINCE (ms); sets gap (ms between the last answer from OLD and the first from NEW). The
# client logs the time each request was sent.
client_gap() {
    local first last lost
    first=$(netns_first_answer "$CLIENT_LOG" "$3" "${1%.*}")
    last=$(awk -v o="$2" -v f="$first" '$1 < f && $2 == o { t = $1 } END { print t }' "$CLIENT_LOG")
    [ -n "$first" ] && [ -n "$last" ] || { gap=; return 1; }
    lost=$(awk -v l="$last" -v f="$first" '$1 > l && $1 < f && $2 == "-"' "$CLIENT_LOG" | wc -l)
    gap=$((first - last)) gap_lost=$lost lost_sum=$((lost_sum + lost))
    tl_add "$last" c "client: last answer from $2 (the time its request was sent)"
    tl_add "$first" c "client: first answer from $3 (request sent) — gap $gap ms ($(unanswered "$lost"))"
}

if [ "$lan" = 1 ]; then
    echo "hotstandby demo: two nodes and a client on a LAN of network namespaces, one throwaway PostgreSQL"
    echo "profile: interval $HS_INTERVAL, takeover_timeout $HS_TAKEOVER" \
        "(fence_after $((takeover_ms / 2))ms), connection = vip ($VIP/24 on eth0)"
    echo "service: a TCP service on port $PORT in a and in b answering its node's name," \
        "asked through the VIP by client c every $CLIENT_MS ms;"
    echo "         [service] start/stop hooks that append a line to $HOOKS_LOG"
else
    echo "note: $no_lan: the nodes run on this machine with connection = none (no VIP, no client)"
    echo "hotstandby demo: two nodes on this machine sharing one throwaway PostgreSQL"
    echo "profile: interval $HS_INTERVAL, takeover_timeout $HS_TAKEOVER" \
        "(fence_after $((takeover_ms / 2))ms), connection = none"
    echo "service: [service] start/stop hooks that append a line to $HOOKS_LOG"
fi

# ---------------------------------------------------------------------------------------
heading "1. Start: PostgreSQL, then node b, then node a"
pg_start
say "PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{ print $3 }') on 127.0.0.1:$PG_PORT (data under $T)"
node_conf a 100
node_conf b 100
if [ "$lan" = 1 ]; then
    netns_lan_setup a b c
    lan_conf a
    lan_conf b
    netns_serve a $PORT a
    netns_serve b $PORT b
    say "LAN: namespaces a $(netns_addr4 a), b $(netns_addr4 b), c $(netns_addr4 c) on a bridge;" \
        "the nodes reach PostgreSQL over its unix socket"
fi
node_start b
say "b started first: it waits takeover_timeout before claiming an unclaimed cluster"
sleep 0.3
node_start a
say "a started: the [cluster] primary claims an unclaimed cluster at once"
wait_role a active 10 || fail "a did not become active"
wait_role b standby 10 || fail "b did not become standby"
beat_trace_install
if [ "$lan" = 1 ]; then
    netns_client c $VIP $PORT "$CLIENT_LOG" $CLIENT_MS 100
    wait_for 10 answered_by a || fail "the client did not reach a through $VIP"
    vip_on a && ! vip_on b || fail "the VIP is not on a alone"
    say "$VIP is on a's eth0 (not on b's); client c started, answered by a through the VIP"
fi
say "a is active at epoch $(epoch), b is standby; the counter moves every $HS_INTERVAL:"
sleep "$(awk -v i="$interval_ms" 'BEGIN { print 2.5 * i / 1000 }')"
echo
vipctl_node a status | indent

# ---------------------------------------------------------------------------------------
if [ "$lan" = 1 ]; then
    heading "2. Crash: power cut of the active (a: daemons, service and link)"
else
    heading "2. Crash: kill -9 of the active's daemons (a: watchd + heartbeatd)"
fi
e1=$(epoch)
# a random moment within the heartbeat interval, as a real crash would be
sleep "$(awk -v i="$interval_ms" -v r="$RANDOM" 'BEGIN { print (r % i) / 1000 }')"
t_kill=$(now_msf)
if [ "$lan" = 1 ]; then
    kill -STOP $(node_pids a) 2>/dev/null   # frozen first, as node_powercut does
    netns_power_cut a                       # everything in a killed, its link down
    node_powercut a                         # waits for the daemons, notes the crash
else
    node_powercut a
fi
say "killed at $(date -d "@${t_kill%???.*}" +%H:%M:%S).${t_kill:10:3}: b must notice that the counter stands still"
wait_holder b $((3 * takeover_ms / 1000 + 5)) || fail "b did not take over"
t_cas=$(cas_ms)
wait_role b active 10 || fail "b did not become active"
[ "$lan" = 0 ] || wait_for 10 answered_by b || fail "the client did not reach b through $VIP"
ev=$(vipctl_node b events -n 50 --json)
beat=$(last_beat a "$e1")
t_beat=${beat%|*} hb=${beat#*|}
e2=$((e1 + 1))
tl_reset
tl_add "$t_beat" a "last renewal by a: counter $hb at epoch $e1 (database clock)"
tl_add "$(awk -v c="$t_cas" -v t="$takeover_ms" 'BEGIN { printf "%.3f", c - t }')" b \
    "b first read counter $hb (inferred: claim - takeover_timeout; b polls every $HS_INTERVAL)"
if [ "$lan" = 1 ]; then
    tl_add "$t_kill" - "power cut of a: daemons frozen, every process in a killed, link down"
else
    tl_add "$t_kill" - "kill -9 a (both daemons, frozen first: a power cut)"
fi
tl_add "$t_cas" b "staleness detected: b's claim (compare-and-set UPDATE) executed"
tl_add "$(evt "$ev" claimed b "$e2")" b "claimed: compare-and-set won, epoch $e2"
tl_add "$(evt "$ev" renewal-confirmed b "$e2")" b "renewal-confirmed: b's heartbeatd renewed at epoch $e2"
tl_add "$(evt "$ev" vip-up b "$e2")" b "vip-up$([ "$lan" = 1 ] && echo ": $VIP on b's eth0, gratuitous ARP sent")"
[ "$lan" = 0 ] || client_gap "$t_kill" a b
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
[ -z "${gap:-}" ] || say "client: $gap ms between its last answer from a and its first from b" \
    "($(unanswered "$gap_lost"); one try every $CLIENT_MS ms, each bounded by a 100 ms timeout)"
say "b's log:"
grep -E 'claiming the cluster|compare-and-set won|watchd: active: b is active' "$T/b/watchd.log" | tail -n 3 | sed 's/^<[0-9]>/   | /'

# ---------------------------------------------------------------------------------------
heading "3. The old active comes back: restart a's daemons"
t_restart=$(now_ms)
[ "$lan" = 0 ] || ip -n "$(netns_ns a)" link set eth0 up   # power back; the VIP is still on eth0
node_start a
wait_role a standby 10 || fail "a did not come back as standby"
say "a is standby $(($(now_ms) - t_restart)) ms after its restart (it saw b holding a moving counter)"
if [ "$lan" = 1 ]; then
    wait_for 5 eval '! vip_on a' || fail "a's watchd left the VIP on a"
    say "a's watchd took $VIP, left on eth0 by the power cut, off at start"
    netns_serve a $PORT a
fi
say "waiting $((takeover_ms + 1000)) ms, longer than takeover_timeout ..."
sleep $(((takeover_ms + 1000) / 1000)).$(((takeover_ms + 1000) % 1000 / 100))
[ "$(holder)" = b ] || fail "the holder changed: $(holder)"
say "holder is still b at epoch $(epoch): no preemption, whatever a's priority"
[ "$lan" = 0 ] || { answered_by b && say "the client is still answered by b"; } ||
    fail "the client is not answered by b: $(tail -n 3 "$CLIENT_LOG" | paste -sd' ')"
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
[ "$lan" = 0 ] || wait_for 10 answered_by a || fail "the client did not reach a through $VIP"
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
tl_add "$(evt "$ev" vip-up a "$e3")" a "vip-up$([ "$lan" = 1 ] && echo ": $VIP on a's eth0, gratuitous ARP sent")"
tl_add "$(hook_ms start a "$e3")" a "service start hook ran (hook log line)"
tl_add "$(evt "$ev" service-started a "$e3")" a "service-started: hook done"
tl_add "$(evt "$ev" active a "$e3")" a "active"
tl_add "$(jq -r --argjson t "${t_cmd%.*}" '[.[] | select(.kind == "standby" and .node == "b" and .at_ms >= $t)] | first | .at_ms // empty' <<<"$ev")" b "standby"
tl_add "$t_ret" - "vipctl switchover returned"
gap=
[ "$lan" = 0 ] || client_gap "$t_cmd" b a
echo
tl_print "$t_cmd"
echo
say "command -> new service started: $(sub "$t_cmd" "$(evt "$ev" service-started a "$e3")") ms;" \
    "old service stopped before the new one started:" \
    "$(awk -v s="$(hook_ms stop b "$e2")" -v t="$(hook_ms start a "$e3")" 'BEGIN { print (s <= t) ? "yes" : "NO" }')"
[ -z "$gap" ] || say "client: $gap ms between its last answer from b and its first from a" \
    "($(unanswered "$gap_lost"); vip-down on b -> vip-up on a:" \
    "$(sub "$(evt "$ev" vip-down b "$e2")" "$(evt "$ev" vip-up a "$e3")") ms)"
sleep "$(awk -v i="$interval_ms" 'BEGIN { print 1.2 * i / 1000 }')"   # node rows are rewritten every interval
echo
vipctl_node a status | indent

# ---------------------------------------------------------------------------------------
heading "5. The service's hook log (ms since the epoch, hook, node, epoch)"
say "(\"stop x 0\" lines are each watchd's clean-up at start: nothing of an earlier life survives)"
indent <"$HOOKS_LOG"
hooks_no_overlap >/dev/null && say "never two nodes active at once (checked from this log)" ||
    fail "two nodes were active at the same time"

if [ "$lan" = 1 ]; then
    heading "6. The client (c, through $VIP:$PORT)"
    awk -v g="$lost_sum" '{ n++; if ($2 == "-") lost++; else by[$2]++ }
         END { printf "   %d requests: %d answered by a, %d by b, %d unanswered (%s)\n", n, by["a"],
                      by["b"], lost, lost == g ? "all within the two gaps above" : g " within the two gaps above" }' "$CLIENT_LOG"
fi

heading "Done in $((SECONDS - started)) s; $stopping, removing $T"
