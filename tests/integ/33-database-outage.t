#!/usr/bin/env bash
# The database is the arbiter. Stopped for longer than fence_after: the active fences
# (it can no longer prove its lease) and once the database is back exactly one node is
# active. A restart shorter than fence_after: no failover at all.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
HS_INTERVAL=250ms HS_TAKEOVER=16s  # fence_after = 8 s: room for a restart on a loaded machine
. "$HS_TOP/tests/lib/cluster.sh"
need jq
start_pair
sleep 1

# --- a restart shorter than fence_after ---
e=$(epoch)
starts_a=$(starts_of a)
t0=$(now_ms)
pg_stop
pg_ctl_start
diag "database restart took $(( $(now_ms) - t0 )) ms"
sleep 3
is "$(epoch)" "$e" "a short database restart causes no failover (epoch unchanged)"
is "$(node_role a)" active "a still active"
is "$(starts_of a)" "$starts_a" "a's service was not restarted"
is "$(grep -c ' stop a ' "$HOOKS_LOG")" 1 "a's service was not stopped (only the stop at its start)"

# --- an outage longer than fence_after ---
pg_stop
t0=$(now_ms)
check "a fences while the database is gone" -- wait_for 14 sh -c "grep -q ' stop a $e' '$HOOKS_LOG'"
fence_ms=$(( $(awk -v e="$e" '$2=="stop" && $3=="a" && $4==e {print $1}' "$HOOKS_LOG" | tail -n 1) - t0 ))
diag "database stop -> a's service stopped: $fence_ms ms (fence_after 8000 ms)"
check "a fenced within fence_after (+1 s slack for a busy machine)" -- test "$fence_ms" -lt 9000
sleep 1
pg_ctl_start
check "after the database returns, a node becomes active" -- wait_for 30 sh -c "
    [ \"\$('$HS_BIN/vipctl' -c '$T/a/hotstandby.conf' status --json | jq -r .watchd.role)\" = active ] ||
    [ \"\$('$HS_BIN/vipctl' -c '$T/b/hotstandby.conf' status --json | jq -r .watchd.role)\" = active ]"
sleep 2
ra=$(node_role a); rb=$(node_role b)
n=0; [ "$ra" = active ] && n=$((n + 1)); [ "$rb" = active ] && n=$((n + 1))
is "$n" 1 "exactly one node is active (a=$ra b=$rb)"
check "the holder is the active one" -- sh -c "[ '$(holder)' = a -a '$ra' = active ] || [ '$(holder)' = b -a '$rb' = active ]"
check "a's fence during the outage reached the event log once the database was back" -- \
    wait_for 5 sh -c "[ \$(runuser -u postgres -- '$PG_BINDIR/psql' -h '$PG_SOCK' -p '$PG_PORT' -U postgres -qAtX -c \"SELECT count(*) FROM hs_event WHERE node='a' AND kind='fenced' AND epoch=$e\" hs) = 1 ]"
check "never two active nodes (hook log)" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || dump_logs
done_testing
