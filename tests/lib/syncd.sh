# tests/lib/syncd.sh: two syncd "nodes" a and b on this machine (source after sshd.sh).
# Roots $T/a and $T/b, [sync] paths = /data, peers reached through the test's sshd,
# whose exec channel runs "$HS_BIN/syncd --serve -c $T/<peer>.conf".

# A known leak inside libinotifytools (see the file); nothing of syncd's own is suppressed.
export LSAN_OPTIONS="suppressions=$HS_TOP/tests/lib/lsan-syncd.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

# sync_conf NODE PEER [extra [sync] lines...]
# DB_CONNINFO (default: an unreachable socket) is each node's [cluster] database: with a
# real one, receivers check and record the senders' epochs (see syncd(8)).
sync_conf() {
    local node=$1 peer=$2; shift 2
    mkdir -p "$T/$node/data" "$T/run-$node"
    {
        cat <<EOF
[cluster]
name = t
node = $node
database = ${DB_CONNINFO:-host=/nonexistent}
run_dir = $T/run-$node
state_dir = $T/state-$node
[sync]
root = $T/$node
paths = /data
peers = $peer=127.0.0.1:$SSHD_PORT
ssh_key = $SSH_KEY
known_hosts = $KNOWN_HOSTS
remote_command = $HS_BIN/syncd --serve -c $T/$peer.conf
EOF
        local l
        for l in "$@"; do echo "$l"; done
    } > "$T/$node.conf"
}

# start_syncd NODE: the daemon, logging to $T/NODE.log; pid in SYNCD_PID_<NODE>.
start_syncd() {
    local node=$1
    "$HS_BIN/syncd" -d -c "$T/$node.conf" 2>>"$T/$node.log" &
    eval "SYNCD_PID_$node=$!"
    at_exit "kill $! 2>/dev/null; wait $! 2>/dev/null"
    wait_for 10 test -S "$T/run-$node/syncd.sock" || bail "syncd $node did not start: $(tail -5 "$T/$node.log")"
}

syncctl() { "$HS_BIN/syncd" ctl -c "$T/$1.conf" "$2"; }

# make_active NODE EPOCH: as watchd would after its claim (with a database, the claim's
# epoch is written to hs_cluster first: receivers check senders against it).
make_active() {
    [ -z "${DB_CONNINFO:-}" ] || psql_hs "INSERT INTO hs_cluster (cluster, epoch) VALUES ('t', $2)
        ON CONFLICT (cluster) DO UPDATE SET epoch = EXCLUDED.epoch" >/dev/null || return 1
    syncctl "$1" "{\"cmd\":\"role\",\"role\":\"active\",\"epoch\":$2}" >/dev/null
}

# sync_db: a PostgreSQL (pg.sh) with hs_cluster for the nodes' receivers; sets DB_CONNINFO.
# Call before sync_conf.
sync_db() {
    pg_start
    psql_hs "CREATE TABLE hs_cluster (cluster text PRIMARY KEY, epoch bigint NOT NULL DEFAULT 0)" >/dev/null
    DB_CONNINFO=$PG_CONNINFO
}

# A listing of everything a user would compare: type, mode, owner, size, mtime (not for
# directories, whose mtime changes with their contents), link target, sha256 of content.
# Lines matching the regex TREE_IGNORE (e.g. excluded names) are left out.
tree_sum() {
    (cd "$1" && {
        find . -path ./.hotstandby-conflicts -prune -o -type d -printf 'd %m %U:%G %p\n'
        find . -path ./.hotstandby-conflicts -prune -o ! -type d -printf '%y %m %U:%G %s %T@ %p -> %l\n'
        find . -path ./.hotstandby-conflicts -prune -o -type f -print0 | xargs -0r sha256sum
    } | grep -Ev "${TREE_IGNORE:-^\$}" | sort)
}

same_tree() { [ "$(tree_sum "$1")" = "$(tree_sum "$2")" ]; }

# wait_synced SECONDS: a's data equals b's data.
wait_synced() { wait_for "$1" same_tree "$T/a/data" "$T/b/data"; }

show_diff() { diff <(tree_sum "$T/a/data") <(tree_sum "$T/b/data") | head -20 | sed 's/^/# /' >&2; }

no_temp_files() { [ -z "$(find "$1" -name '.hs-tmp.*' | head -1)" ]; }

# flush NODE [TIMEOUT_MS]: waits until the peers acknowledged everything queued.
flush() { syncctl "$1" "{\"cmd\":\"flush\",\"timeout_ms\":${2:-20000}}" >/dev/null; }

# stop_syncds: SIGTERM to the daemons still running; each must exit 0 (the ASan build
# exits 99 on a leak), and no log may hold a sanitizer report (receivers log there too).
stop_syncds() {
    local n pid rc bad=0
    for n in a b; do
        eval "pid=\${SYNCD_PID_$n:-}"
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid"
        wait "$pid"; rc=$?
        [ $rc -eq 0 ] || { diag "syncd $n exited $rc"; bad=1; }
    done
    if grep -n 'Sanitizer\|runtime error' "$T"/*.log 2>/dev/null | head -5 | sed 's/^/# /' >&2 &&
        grep -q 'Sanitizer\|runtime error' "$T"/*.log 2>/dev/null; then
        bad=1
    fi
    return $bad
}
