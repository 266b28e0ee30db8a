# tests/drill/faults.sh: the nemesis. nemesis_one FAULT picks one fault from the seeded
# sequence, records it ("nemesis fault N KIND TARGET-ROLE NODE EXPECT PARAMS"), injects it
# and repairs what it broke. EXPECT is "takeover" when the fault certainly leaves the active
# unable to serve for longer than takeover_timeout (the liveness checker then wants exactly
# one takeover in time), "none" when the active is untouched, "any" otherwise.
#
# Durations are "short" (below fence_after) or "long" (past takeover_timeout + 2 intervals,
# by 0.2 to 1 s: long enough to be sure, no longer, so that a run injects many faults).

FAULT_KINDS=(kill9 powercut freeze_node freeze_daemon db_partition link_down db_restart
    db_outage switchover pause slow_hooks hung_check sshd_kill disk_full db_failover db_readonly
    clock_step)

# _dur: R = a duration, short or long, from the seeded sequence
_dur() {
    rnd 2
    if [ "$R" = 0 ]; then rnd_s 100 $((FENCE_MS - 200)); else
        rnd_s $((TAKEOVER_MS + 2 * INTERVAL_MS + 200)) $((TAKEOVER_MS + 2 * INTERVAL_MS + 1000)); fi
}
_daemon() { rnd 3; R=$(echo $DAEMONS | cut -d' ' -f$((R + 1))); }
_is_long() { [ "$(echo "$1" | awk -v t=$((TAKEOVER_MS + 2 * INTERVAL_MS)) '{print ($1 * 1000 > t)}')" = 1 ]; }

# _target ROLE: the node in that role now (a standby: one of them, from the sequence)
_target() {
    local pick=$2
    if [ "$1" = active ]; then drill_serving; return; fi
    local s=($(drill_standbys))
    echo "${s[$((pick % ${#s[@]}))]}"
}

# DRILL_KINDS="kill9 powercut ..." limits the drill to those kinds (same seed, same
# sequence for the same list).
[ -n "${DRILL_KINDS:-}" ] && read -r -a FAULT_KINDS <<<"$DRILL_KINDS"

nemesis_one() {
    local i=$1 kind role pick node
    rnd ${#FAULT_KINDS[@]}; kind=${FAULT_KINDS[$R]}
    rnd 3; role=$([ "$R" = 0 ] && echo standby || echo active)
    rnd 64; pick=$R
    node=$(_target "$role" "$pick")
    "fault_$kind" "$i" "$role" "$node"
}

_fault() {   # _fault N KIND ROLE NODE EXPECT PARAMS...
    local i=$1; shift
    drill_rec nemesis fault "$i" "$@"
    echo "# fault $i: $*"
}

# kill -9 of one daemon, restarted after a while
fault_kill9() {
    local d down expect=any
    _daemon; d=$R
    _dur; down=$R
    [ "$2" = active ] && [ "$d" != syncd ] && _is_long "$down" && expect=takeover
    [ "$d" = syncd ] && expect=none
    [ "$2" = standby ] && expect=none
    _fault "$1" kill9 "$2" "$3" "$expect" "$d" "down=$down"
    local pid
    pid=$(node_pid "$3" "$d")
    node_kill "$3" KILL "$d"
    _drill_reap "$pid"
    sleep "$down"
    drill_daemon_start "$3" "$d"
}

fault_powercut() {
    local down expect=none
    _dur; down=$R
    [ "$2" = active ] && { expect=any; _is_long "$down" && expect=takeover; }
    _fault "$1" powercut "$2" "$3" "$expect" "down=$down"
    drill_power_off "$3"
    sleep "$down"
    drill_power_on "$3"
}

fault_freeze_node() {
    local dur expect=none
    _dur; dur=$R
    [ "$2" = active ] && { expect=any; _is_long "$dur" && expect=takeover; }
    _fault "$1" freeze_node "$2" "$3" "$expect" "for=$dur"
    drill_freeze_node "$3"
    sleep "$dur"
    drill_thaw_node "$3"
}

fault_freeze_daemon() {
    local d dur expect=none
    _daemon; d=$R
    _dur; dur=$R
    [ "$2" = active ] && [ "$d" != syncd ] && { expect=any; _is_long "$dur" && expect=takeover; }
    _fault "$1" freeze_daemon "$2" "$3" "$expect" "$d" "for=$dur"
    node_kill "$3" STOP "$d"
    sleep "$dur"
    node_kill "$3" CONT "$d"
}

# the node cannot reach the database (packets dropped: connections stall, not refused)
fault_db_partition() {
    local dur expect=none
    _dur; dur=$R
    [ "$2" = active ] && { expect=any; _is_long "$dur" && expect=takeover; }
    _fault "$1" db_partition "$2" "$3" "$expect" "for=$dur"
    local db
    for db in db db2; do ip -n "$(netns_ns "$3")" route add blackhole "$(netns_addr4 $db)/32"; done
    sleep "$dur"
    for db in db db2; do ip -n "$(netns_ns "$3")" route del blackhole "$(netns_addr4 $db)/32"; done
}

fault_link_down() {
    local dur expect=none
    _dur; dur=$R
    [ "$2" = active ] && { expect=any; _is_long "$dur" && expect=takeover; }
    _fault "$1" link_down "$2" "$3" "$expect" "for=$dur"
    ip -n "$(netns_ns "$3")" link set eth0 down
    sleep "$dur"
    ip -n "$(netns_ns "$3")" link set eth0 up
}

fault_db_restart() {
    _fault "$1" db_restart - - any "primary=$PG_NS"
    drill_pg_stop_ns "$PG_DATA"
    drill_pg_start
}

fault_db_outage() {
    local dur
    _dur; dur=$R
    _fault "$1" db_outage - - any "for=$dur" "primary=$PG_NS"
    drill_pg_stop_ns "$PG_DATA"
    sleep "$dur"
    drill_pg_start
}

# a planned switchover asked on a random node (the target: a standby)
fault_switchover() {
    local from to
    rnd ${#NODES[@]}; from=${NODES[$R]}
    rnd 64; to=$(_target standby "$R")
    _fault "$1" switchover - "$to" handoff "asked-on=$from"
    timeout 20 ip netns exec "$(netns_ns "$from")" "$HS_BIN/vipctl" -c "$T/$from/hotstandby.conf" \
        switchover --to "$to" >>"$D/vipctl.log" 2>&1
    drill_rec nemesis vipctl-switchover-rc "$?"
}

fault_pause() {
    local on from
    rnd_s 200 $((2 * TAKEOVER_MS)); on=$R
    rnd ${#NODES[@]}; from=${NODES[$R]}
    _fault "$1" pause - - none "for=$on" "asked-on=$from"
    timeout 40 ip netns exec "$(netns_ns "$from")" "$HS_BIN/vipctl" -c "$T/$from/hotstandby.conf" pause >>"$D/vipctl.log" 2>&1
    drill_rec nemesis vipctl-pause-rc "$?"
    sleep "$on"
    # As an operator would: a resume that failed (it says whether anything changed) is
    # asked again; one that succeeded is committed by the holder.
    local try rc=1
    for try in 1 2 3; do
        timeout 40 ip netns exec "$(netns_ns "$from")" "$HS_BIN/vipctl" -c "$T/$from/hotstandby.conf" resume >>"$D/vipctl.log" 2>&1
        rc=$?
        drill_rec nemesis vipctl-resume-rc "$rc"
        [ "$rc" = 0 ] && break
        sleep 1
    done
}

# start and stop hooks take a part of their budget, during a switchover
fault_slow_hooks() {
    local a b to
    rnd_s 50 $((HOOK_MS / 2)); a=$R
    rnd_s 50 $((HOOK_MS / 2)); b=$R
    rnd 64; to=$(_target standby "$R")
    _fault "$1" slow_hooks - "$to" handoff "start=$a" "stop=$b"
    echo "$a" >"$D/slow-start"
    echo "$b" >"$D/slow-stop"
    timeout 20 ip netns exec "$(netns_ns "$to")" "$HS_BIN/vipctl" -c "$T/$to/hotstandby.conf" \
        switchover --to "$to" >>"$D/vipctl.log" 2>&1
    drill_rec nemesis vipctl-switchover-rc "$?"
    sleep 0.3
    rm -f "$D/slow-start" "$D/slow-stop"
}

# the active's health check hangs (killed at hook_timeout, counted as a failure): it demotes
fault_hung_check() {
    local node
    node=$(drill_serving)
    _fault "$1" hung_check active "$node" demote
    touch "$D/hang-check-$node"
    wait_for $((4 * HOOK_MS / 1000 + 10)) test ! -e "$D/state-$node"
    rm -f "$D/hang-check-$node"
}

# sshd (and the receivers it runs) killed on a standby while the writer keeps writing
fault_sshd_kill() {
    local node down
    rnd 64; node=$(_target standby "$R")
    rnd_s 200 1500; down=$R
    _fault "$1" sshd_kill standby "$node" none "down=$down"
    local pids
    pids=$(drill_node_pids "$node" | while read -r p; do
        case $(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") in *sshd*|*syncd\ --serve*) echo "$p" ;; esac; done)
    [ -n "$pids" ] && kill -9 $pids
    sleep "$down"
    drill_sshd_start "$node"
}

# a standby's sync directory fills up (tmpfs); sometimes the active dies meanwhile, so the
# full standby has to take over with the files acknowledged before
fault_disk_full() {
    local node hold cut
    rnd 64; node=$(_target standby "$R")
    rnd_s 500 2000; hold=$R
    rnd 2; cut=$R
    _fault "$1" disk_full standby "$node" "$([ "$cut" = 1 ] && echo takeover || echo none)" "hold=$hold" "cut-active=$cut"
    fallocate -l "$(df --output=avail -B1 "$T/$node/root/data" | tail -n 1)" "$T/$node/root/data/.filler" 2>/dev/null ||
        dd if=/dev/zero of="$T/$node/root/data/.filler" bs=1M 2>/dev/null
    sleep "$hold"
    if [ "$cut" = 1 ]; then
        local act
        act=$(drill_serving)
        drill_rec nemesis cut "$act"
        drill_power_off "$act"
        rnd_s $((TAKEOVER_MS + 2 * INTERVAL_MS + 200)) $((TAKEOVER_MS + 2 * INTERVAL_MS + 1000))
        sleep "$R"
        rm -f "$T/$node/root/data/.filler"
        drill_power_on "$act"
    else
        rm -f "$T/$node/root/data/.filler"
    fi
}

# the arbiter's own failover: primary killed, synchronous standby promoted
fault_db_failover() {
    _fault "$1" db_failover - - any "primary=$PG_NS"
    drill_pg_failover || drill_rec nemesis db-failover-failed
}

# the database turns read-only for a while (as a demoted primary would)
fault_db_readonly() {
    local dur
    _dur; dur=$R
    _fault "$1" db_readonly - - any "for=$dur"
    drill_psql "ALTER SYSTEM SET default_transaction_read_only = on" && drill_psql "SELECT pg_reload_conf()" >/dev/null
    sleep "$dur"
    drill_psql "ALTER SYSTEM RESET default_transaction_read_only" && drill_psql "SELECT pg_reload_conf()" >/dev/null
}

# CLOCK_REALTIME of one node steps by minutes, forward or back (clockstep.so: its daemons,
# vipctl and hooks see it at once). Nothing may change: the lease counts on the database's
# clock and CLOCK_BOOTTIME. Half the time the clock is stepped back after a while, else it
# stays off (and the next step on that node starts from there).
fault_clock_step() {
    local step hold back cur
    rnd 20; step=$(((R / 2 + 1) * 60000 * (R % 2 ? -1 : 1)))
    rnd_s 300 2000; hold=$R
    rnd 2; back=$R
    local node=$3
    [ "$node" = - ] && node=${NODES[0]}   # nothing serves (the previous fault is stuck)
    cur=$(cat "$D/clock-$node" 2>/dev/null || echo 0)
    _fault "$1" clock_step "$2" "$node" still "step=${step}ms" "hold=$hold" "back=$back"
    drill_clock_set "$node" $((cur + step))
    sleep "$hold"
    [ "$back" = 1 ] && drill_clock_set "$node" "$cur"
    return 0
}
