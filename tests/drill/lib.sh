# tests/drill/lib.sh: the drill's cluster (sourced by tests/drill/drill after common.sh,
# pg.sh and netns.sh). Everything lives in $T; records go to $D/records, one line each:
# "<CLOCK_BOOTTIME ns> <who> <kind> [...]".

D=$T/drill
# A known leak inside libinotifytools (see the file); nothing of syncd's own is suppressed.
export LSAN_OPTIONS="suppressions=$HS_TOP/tests/lib/lsan-syncd.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
VIP=192.0.2.100
PORT=8080
# Timings (interval, takeover_timeout, fence_after, hook_timeout, settle limit):
# DRILL_PROFILE=fast, the normal build's default, is the documented fast profile scaled down
# (a takeover in about 2 s), so that `make drill FAULTS=500` fits in 45 minutes on an idle
# 2-core machine (about 4 s a fault). DRILL_PROFILE=loaded leaves hooks and vipctl room on
# a machine busy with other work (a bare shell hook can take half a second at a load of 25,
# vipctl two, twice that with ASan), so that what the checkers find is the daemons' doing,
# not the hooks overrunning their budget; the sanitizer build gets more still by default.
# Each costs the drill time: a long fault lasts takeover_timeout + 2 intervals + up to 1 s.
# DRILL_*_MS override each value.
case ${DRILL_PROFILE:-} in
fast) _p=(250 2000 800 600 45) ;;
loaded) _p=(400 6000 2000 3000 45) ;;
"")
    if [[ $HS_BIN == *-san ]]; then   # every vipctl and hook start pays for ASan's start-up
        _p=(500 10000 3000 5000 60)
    else
        _p=(250 2000 800 600 45)
    fi
    ;;
*) echo "drill: DRILL_PROFILE is fast or loaded, not '$DRILL_PROFILE'" >&2; exit 2 ;;
esac
INTERVAL_MS=${DRILL_INTERVAL_MS:-${_p[0]}}
TAKEOVER_MS=${DRILL_TAKEOVER_MS:-${_p[1]}}
FENCE_MS=${DRILL_FENCE_MS:-${_p[2]}}
HOOK_MS=${DRILL_HOOK_MS:-${_p[3]}}
SETTLE_S=${DRILL_SETTLE_S:-${_p[4]}}   # a fault that leaves the cluster unsettled this long is "stuck"
# The check's own timeout is min(check_interval, hook_timeout): a third of the hook budget,
# but never under 500 ms, where a shell start on a busy machine would fail it (a health
# demotion the drill did not cause).
CHECK_MS=${DRILL_CHECK_MS:-$((HOOK_MS / 3 < 500 ? 500 : HOOK_MS / 3))}
DAEMONS="syncd heartbeatd watchd"

drill_now() { "$D/hsclock"; }
drill_rec() { echo "$(drill_now) $*" >>"$D/records"; }

# The seeded sequence. Results go to R, never through $(...): a subshell's RANDOM does not
# advance the parent's, so the sequence would repeat itself.
#   rnd N: R = 0..N-1      rnd_s LO_MS HI_MS: R = seconds (for sleep), LO..HI ms
rnd() { R=$((RANDOM % $1)); }
rnd_s() {
    local ms=$(($1 + (RANDOM * 32768 + RANDOM) % ($2 - $1 + 1)))
    R=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
}

# ---- setup -----------------------------------------------------------------------------
drill_setup() {
    mkdir -p "$D"
    cc -O2 -o "$D/hsclock" "$HS_TOP/tests/drill/hsclock.c" || bail "cannot build hsclock"
    cc -Wall -Wextra -Werror -O2 -shared -fPIC -o "$D/clockstep.so" "$HS_TOP/tests/drill/clockstep.c" -ldl ||
        bail "cannot build clockstep.so"
    : >"$D/records"
    : >"$D/client"
    echo 0 >"$D/newest"
    NODES=()
    local i
    for ((i = 0; i < NODE_COUNT; i++)); do NODES+=("$(printf "\\x$(printf %x $((97 + i)))")"); done
    netns_lan_setup "${NODES[@]}" cl db db2
    echo "$(date +%s%N) $(drill_now)" >"$D/clocks"   # realtime vs boottime, for hs_event times
    drill_pg_setup
    drill_ssh_setup
    local n
    for n in "${NODES[@]}"; do
        mkdir -p "$T/$n/root/data" "$T/$n/run"
        drill_node_conf "$n"
        # a small tmpfs: the nemesis fills it to see a standby with a full disk
        mount -t tmpfs -o size=64m drill "$T/$n/root/data" || bail "mount tmpfs"
        at_exit "umount -l '$T/$n/root/data'"
    done
    for n in "${NODES[@]}"; do drill_node_boot "$n"; done
    ip netns exec "$(netns_ns cl)" /usr/bin/python3 "$HS_TOP/tests/drill/agents.py" client "$D" "$VIP" "$PORT" &
    disown $!
    /usr/bin/python3 "$HS_TOP/tests/drill/agents.py" writer "$D" "$HS_BIN/syncd" "${NODES[@]}" \
        2>>"$D/writer.log" &
    WRITER_PID=$!
    at_exit "kill $WRITER_PID"
}

# The arbiter: a PostgreSQL primary in namespace db and a synchronous standby in db2 (the
# nodes' conninfo names both, target_session_attrs=read-write). PG_DATA/PG_SOCK always
# describe the current primary (psql_hs uses them), PG2_* the standby.
drill_pg_setup() {
    pg_start
    pg_stop
    cat >>"$PG_DATA/postgresql.conf" <<EOF
listen_addresses = '*'
synchronous_standby_names = '*'
wal_keep_size = 64MB
EOF
    printf '%s\n' "host all all 192.0.2.0/24 trust" "host replication all 192.0.2.0/24 trust" \
        >>"$PG_DATA/pg_hba.conf"
    PG_NS=db PG2_NS=db2
    PG2_DATA=$T/pgdata2 PG2_SOCK=$T/pgsock2
    at_exit 'drill_pg_stop_ns "$PG2_DATA"; drill_pg_stop_ns "$PG_DATA"'
    drill_pg_start || bail "postgres did not start in its namespace"
    drill_pg_standby || bail "the standby PostgreSQL did not start: $(tail -n 3 "$D/pg.log")"
}
drill_pg_ctl() {   # drill_pg_ctl NS DATA SOCK start|promote
    netns_exec "$1" runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$2" -l "$3/postgres.log" -w -t 30 "$4" >/dev/null
}
drill_pg_start() { drill_pg_ctl "$PG_NS" "$PG_DATA" "$PG_SOCK" start; }
drill_pg_stop_ns() { runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$1" -m immediate -w stop >/dev/null 2>&1; }
drill_pg_addr() { netns_addr4 "$PG_NS"; }
drill_psql() { psql_hs "$1" || { sleep 0.5; psql_hs "$1"; }; }   # one retry: a busy machine

# (Re)builds the standby in PG2_NS from the primary and starts it. Commits on the primary
# wait for it (synchronous_standby_names): until it streams, the arbiter stalls.
drill_pg_standby() {
    [ -n "$PG2_DATA" ] || return 1
    drill_pg_stop_ns "$PG2_DATA"
    rm -rf "$PG2_DATA"
    mkdir -p "$PG2_DATA" "$PG2_SOCK"
    chown postgres: "$PG2_DATA" "$PG2_SOCK"
    chmod 700 "$PG2_DATA"
    netns_exec "$PG2_NS" runuser -u postgres -- "$PG_BINDIR/pg_basebackup" -h "$(drill_pg_addr)" \
        -p "$PG_PORT" -U postgres -D "$PG2_DATA" -R -X stream >>"$D/pg.log" 2>&1 || return 1
    sed -i "s|^unix_socket_directories.*|unix_socket_directories = '$PG2_SOCK'|" "$PG2_DATA/postgresql.conf"
    drill_pg_ctl "$PG2_NS" "$PG2_DATA" "$PG2_SOCK" start
}

# The arbiter's own failover: the primary dies, the standby is promoted, and the old
# primary's namespace gets a fresh standby of the new one.
drill_pg_failover() {
    drill_pg_stop_ns "$PG_DATA"
    drill_rec nemesis db-primary-killed "$PG_NS"
    drill_pg_ctl "$PG2_NS" "$PG2_DATA" "$PG2_SOCK" promote || return 1
    drill_rec nemesis db-promoted "$PG2_NS"
    local ns=$PG_NS data=$PG_DATA sock=$PG_SOCK
    PG_NS=$PG2_NS PG_DATA=$PG2_DATA PG_SOCK=$PG2_SOCK
    PG2_NS=$ns PG2_DATA=$data PG2_SOCK=$sock
    drill_pg_standby
}

# One sshd per node (drill_sshd_start), from tests/lib/sshd.sh's keys and config, listening
# on port 22 of the node's address; known_hosts pins every node's address.
drill_ssh_setup() {
    sshd_keys
    SSHD_PORT=22 SSHD_LISTEN=0.0.0.0 sshd_write_config
    local n
    : >"$KNOWN_HOSTS"
    for n in "${NODES[@]}"; do
        echo "$(netns_addr4 "$n") $(cut -d' ' -f1,2 "$SSHD_DIR/host_ed25519.pub")" >>"$KNOWN_HOSTS"
    done
    # The receiver is run by the peer's sshd: it finds its node from its namespace.
    cat >"$D/serve" <<EOF
#!/bin/sh
export ASAN_OPTIONS='$ASAN_OPTIONS' UBSAN_OPTIONS='$UBSAN_OPTIONS' LSAN_OPTIONS='$LSAN_OPTIONS'
ns=\$(ip netns identify)
n=\${ns#$NETNS_PREFIX-}
export HS_CLOCK_FILE="$D/clock-\$n" LD_PRELOAD="$D/clockstep.so" ASAN_OPTIONS="\$ASAN_OPTIONS:verify_asan_link_order=0"
exec "$HS_BIN/syncd" --serve -c "$T/\$n/hotstandby.conf"
EOF
    chmod 755 "$D/serve"
}

# Only the per-node keys differ between the nodes (the shared settings' digest is the same):
# every node lists all nodes as sync peers (syncd skips itself).
drill_node_conf() {
    local n=$1 p peers=
    for p in "${NODES[@]}"; do peers="${peers:+$peers,}$p=$(netns_addr4 "$p")"; done
    local svc="$HS_TOP/tests/drill/service.sh $D"
    cat >"$T/$n/hotstandby.conf" <<EOF
[cluster]
name = drill
node = $n
address = $(netns_addr4 "$n")
primary = a
connection = vip
database = host=$(netns_addr4 db),$(netns_addr4 db2) port=$PG_PORT,$PG_PORT dbname=hs user=postgres target_session_attrs=read-write
run_dir = $T/$n/run
state_dir = $T/$n/state
[heartbeat]
interval = ${INTERVAL_MS}ms
takeover_timeout = ${TAKEOVER_MS}ms
fence_after = ${FENCE_MS}ms
[vip]
address = $VIP
interface = eth0
garp_count = 2
garp_interval = 100ms
[service]
start = $svc start
stop = $svc stop
check = $svc check
check_interval = ${CHECK_MS}ms
check_failures = 2
hook_timeout = ${HOOK_MS}ms
[sync]
root = $T/$n/root
paths = /data
exclude = .filler
peers = $peers
ssh_key = $SSH_KEY
known_hosts = $KNOWN_HOSTS
remote_command = $D/serve
EOF
}

# ---- node processes --------------------------------------------------------------------
# Every program of node N (its daemons, and the vipctl and hooks they spawn) sees
# CLOCK_REALTIME through clockstep.so, shifted by the milliseconds in $D/clock-N (the
# nemesis steps it: fault_clock_step). ASan wants to be first in the library list; the
# shim only forwards to it, so that check is off.
drill_clock_env() {
    echo "HS_CLOCK_FILE=$D/clock-$1" "LD_PRELOAD=$D/clockstep.so" \
        "ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0"
}
# drill_clock_set N MS: node N's wall clock is now MS ms off (recorded first: the checker
# maps N's hs_event times back through it)
drill_clock_set() {
    drill_rec "$1" clock "$2"
    echo "$2" >"$D/clock-$1.new"
    mv -f "$D/clock-$1.new" "$D/clock-$1"
}
# Daemons are started with ip netns exec (which execs), so $! is the daemon itself.
drill_daemon_start() {
    local n=$1 d=$2
    ip netns exec "$(netns_ns "$n")" env $(drill_clock_env "$n") \
        "$HS_BIN/$d" -c "$T/$n/hotstandby.conf" >>"$T/$n/$d.log" 2>&1 &
    echo $! >"$T/$n/$d.pid"
}
# Its sessions get a /root of their own, as run_sshd's do (ip netns exec's mount namespace
# keeps the tmpfs there): root's .bashrc here runs pyenv, which can stall a session.
drill_sshd_start() {
    ip netns exec "$(netns_ns "$1")" sh -c 'mount -t tmpfs -o mode=0700 none /root &&
        exec /usr/sbin/sshd -D -f "$1" -o "PidFile=$2" -E "$3"' sh "$SSHD_DIR/sshd_config" \
        "$T/$1/sshd.pid" "$T/$1/sshd.log" &
    echo $! >"$T/$1/sshd.pid"
    disown $!   # the nemesis kills it: no job notice
}
drill_node_boot() {
    local n=$1 d
    drill_sshd_start "$n"
    ip netns exec "$(netns_ns "$n")" /usr/bin/python3 "$HS_TOP/tests/drill/agents.py" serve "$D" "$n" "$PORT" &
    disown $!
    for d in $DAEMONS; do drill_daemon_start "$n" "$d"; done
    if ! [ -e "$D/vipmon-$n.pid" ] || ! kill -0 "$(cat "$D/vipmon-$n.pid")" 2>/dev/null; then
        /usr/bin/python3 "$HS_TOP/tests/drill/agents.py" vipmon "$D" "$n" "$(netns_ns "$n")" "$VIP" &
        at_exit "kill $!"
        wait_for 5 test -s "$D/vipmon-$n.pid"
    fi
}

# Every process of node N's namespace except the address monitor (it watches, it is not
# part of the node).
drill_node_pids() {
    local spare
    spare=$(cat "$D/vipmon-$1.pid" 2>/dev/null)
    ip netns pids "$(netns_ns "$1")" 2>/dev/null | grep -vx "${spare:-none}"
}

# A power cut: every process of the node stops at one instant and dies (netns_power_cut),
# its link goes down; when it comes back (drill_power_on) it has lost its addresses, as a
# rebooted machine would.
drill_power_off() {
    local n=$1 pids
    pids=$(drill_node_pids "$n")
    [ -n "$pids" ] && kill -STOP $pids 2>/dev/null
    drill_rec "$n" off
    netns_power_cut "$n" "$(cat "$D/vipmon-$n.pid" 2>/dev/null)"
    rm -f "$D/state-$n"   # the service died with the machine
    _drill_reap $pids
}
drill_power_on() {
    local n=$1
    ip -n "$(netns_ns "$n")" addr del "$VIP/24" dev eth0 2>/dev/null
    ip -n "$(netns_ns "$n")" link set eth0 up
    drill_rec "$n" on
    drill_node_boot "$n"
}
_drill_reap() {   # waits until the (killed) processes are gone; reaps our children
    local p
    for p in "$@"; do _wait_gone "$p"; wait "$p" 2>/dev/null; done
    return 0
}

drill_freeze_node() {
    # A process forked between the snapshot and the signal (a hook watchd just spawned)
    # would escape: stop what the namespace holds until nothing new turns up.
    local pids all="" i
    for ((i = 0; i < 5; i++)); do
        pids=$(drill_node_pids "$1" | grep -vxF -f <(printf '%s\n' $all) 2>/dev/null)
        [ -n "$pids" ] || break
        kill -STOP $pids 2>/dev/null
        all="$all $pids"
    done
    drill_rec "$1" freeze
    echo $all >"$T/$1/frozen"
}
drill_thaw_node() {
    # processes started during the freeze (none should be) are stopped too, so thaw all
    local pids
    pids=$(drill_node_pids "$1")
    drill_rec "$1" thaw
    kill -CONT $pids 2>/dev/null
    rm -f "$T/$1/frozen"
}

# A daemon that the nemesis did not kill and that is not running has crashed.
drill_check_alive() {
    local n d pid rc bad=0
    for n in "${NODES[@]}"; do
        for d in $DAEMONS; do
            pid=$(node_pid "$n" "$d")
            kill -0 "$pid" 2>/dev/null && continue
            wait "$pid" 2>/dev/null
            rc=$?
            drill_rec "$n" crash "$d" "rc=$rc"
            echo "# CRASH: $d on $n exited $rc; its log ends:"
            tail -n 15 "$T/$n/$d.log" | sed 's/^/#   /'
            # a sanitizer report ends with its legend: its first lines say what and where
            grep -m 1 -A 30 -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T/$n/$d.log" |
                sed 's/^/#   /'
            drill_daemon_start "$n" "$d"
            bad=1
        done
    done
    return $bad
}

# ---- observation -----------------------------------------------------------------------
# the node serving the newest epoch, per the service's own state
drill_serving() {
    local n newest
    newest=$(cat "$D/newest")
    for n in "${NODES[@]}"; do [ "$(cat "$D/state-$n" 2>/dev/null)" = "$newest" ] && { echo "$n"; return; }; done
    echo -
}
drill_standbys() {
    local n act
    act=$(drill_serving)
    for n in "${NODES[@]}"; do [ "$n" = "$act" ] || echo "$n"; done
}

# Settled (check.py settle says what that means): waits up to SETTLE_S, sets
# SETTLED_HOLDER, and checks that the files acknowledged before FAULT are on the holder.
drill_wait_settled() {
    local out rc
    out=$(/usr/bin/python3 "$HS_TOP/tests/drill/check.py" settle "$D" "$T" "$1" "$SETTLE_S" \
        "${NODES[@]}" -- runuser -u postgres -- "$PG_BINDIR/psql" -h "$PG_SOCK" -p "$PG_PORT" \
        -U postgres -qAtX hs)
    rc=$?
    SETTLED_HOLDER=$(head -n 1 <<<"$out")
    [ $rc = 0 ] && tail -n +2 <<<"$out" || echo "$out"
    drill_check_alive || true
    return $rc
}

drill_repair_all() {
    local n
    for n in "${NODES[@]}"; do
        [ -e "$T/$n/frozen" ] && drill_thaw_node "$n"
        ip -n "$(netns_ns "$n")" link set eth0 up
        ip -n "$(netns_ns "$n")" route del blackhole "$(netns_addr4 db)/32" 2>/dev/null
        ip -n "$(netns_ns "$n")" route del blackhole "$(netns_addr4 db2)/32" 2>/dev/null
    done
    rm -f "$D"/slow-* "$D"/hang-check-*
}

drill_dump() {
    local f
    for f in "$T"/?/watchd.log "$T"/?/heartbeatd.log "$T"/?/syncd.log; do
        [ -f "$f" ] || continue
        echo "# ---- $f"
        tail -n 25 "$f" | sed 's/^/#   /'
    done
    echo "# ---- records"
    tail -n 30 "$D/records" | sed 's/^/#   /'
}

# ---- the end ---------------------------------------------------------------------------
drill_finish() {
    touch "$D/writer-stop"   # it stops between two files: killed, it could leave a torn one
    timeout 15 tail --pid="$WRITER_PID" -f /dev/null
    kill "$WRITER_PID" 2>/dev/null
    wait "$WRITER_PID" 2>/dev/null
    local act
    act=$(drill_serving)
    [ "$act" != - ] && timeout 30 "$HS_BIN/syncd" ctl -c "$T/$act/hotstandby.conf" \
        '{"cmd":"flush","timeout_ms":20000}' >/dev/null 2>&1
    drill_check_alive
    drill_psql "SELECT node, epoch, kind, (extract(epoch FROM at)*1000)::bigint, replace(coalesce(detail,''), ' ', '_')
             FROM hs_event WHERE cluster='drill' ORDER BY id" | tr '|' ' ' >"$D/events"
    # stop the daemons cleanly: each must exit 0 (the sanitizer build exits 99 on a leak)
    local n d pid rc
    for n in "${NODES[@]}"; do
        for d in watchd heartbeatd syncd; do
            pid=$(node_pid "$n" "$d")
            kill -TERM "$pid" 2>/dev/null
            timeout 20 tail --pid="$pid" -f /dev/null
            wait "$pid" 2>/dev/null
            rc=$?
            [ $rc = 0 ] || drill_rec "$n" crash "$d" "stop-rc=$rc"
        done
    done
    drill_leaks
    /usr/bin/python3 "$HS_TOP/tests/drill/check.py" report "$D" "$T" "$SEED" \
        "$INTERVAL_MS" "$TAKEOVER_MS" "${DRILL_SLACK_MS:-500}" "${NODES[@]}"
}

# After a clean stop nothing of ours may be left: no hook, no receiver, no temp file.
_drill_lingering() {   # processes of the node other than sshd's listener and the TCP server
    local p
    for p in $(drill_node_pids "$1"); do
        [ "$p" = "$(cat "$T/$1/sshd.pid" 2>/dev/null)" ] && continue
        case $(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") in *agents.py\ serve*|"") ;; *) echo "$p" ;; esac
    done
}
drill_leaks() {
    local n p left i
    for n in "${NODES[@]}"; do   # receivers end when their sender has gone: give them time
        for i in $(seq 50); do [ -z "$(_drill_lingering "$n")" ] && break; sleep 0.2; done
    done
    for n in "${NODES[@]}"; do
        for p in $(_drill_lingering "$n"); do
            left=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline")
            [ -n "$left" ] && drill_rec "$n" leak process "${left// /_}"
        done
        for p in $(find "$T/$n/root" -name '.hs-tmp.*' 2>/dev/null); do drill_rec "$n" leak tempfile "$p"; done
    done
    grep -lE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T"/?/*.log 2>/dev/null |
        while read -r f; do drill_rec sanitizer report "$f"; done
}
