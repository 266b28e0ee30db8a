#!/usr/bin/env bash
# An operator's verb tells the truth about the row when the database answers late. The
# fault drill (seed 529032597) found `vipctl pause` saying "pause failed: query timed out"
# of a cluster that was paused: watchd reported its UPDATE failed at the query deadline
# and the server committed it a moment later (the session is kept for late answers). No
# node then took over, and the harness's resume, queued behind it, was never sent.
# Now a verb's query, once sent, waits for the answer: exit 0 means the row changed, a
# failure says whether it was sent ("nothing changed" or "it may have taken effect").
# Timings: watchd's query deadline 375 ms, a session is dropped after 5 s of silence; a
# verb waits at most two silences (the query ahead of it, then its own).
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
. "$HS_TOP/tests/lib/proxy.sh"
need jq
start_proxied_pair
row() { psql_hs "SELECT $1 FROM hs_cluster WHERE cluster='$HS_CLUSTER'"; }
# Each verb once while the server is fast: as in the drill, the statements have been used
# on watchd's session before (before the fix: prepared there, so a late one still ran).
for v in pause "resume --force" resume; do vipctl_node a $v >/dev/null 2>&1; done
is "$(row paused)" f "not paused after the warm-up"

# Every answer to a's daemons arrives 1 s late: past watchd's deadline, inside the silence.
# A verb asked on a goes before the routine queries waiting and is answered when the
# server answers (before: it failed at the deadline, sent or not). Every answer must
# agree with the row; a failure must say that nothing changed.
proxy_slow_reply a 1000
verb_until_done() {   # VERB COLUMN WANT: asks on a until exit 0; checks each answer
    local verb=$1 col=$2 want=$3 i rc out
    for i in $(seq 1 10); do
        out=$(timeout 30 "$HS_BIN/vipctl" -c "$T/a/hotstandby.conf" "$verb" 2>&1); rc=$?
        diag "vipctl $verb, try $i: exit $rc: $out"
        if [ "$rc" = 0 ]; then
            is "$(row "$col")" "$want" "vipctl $verb exit 0: the row says $col = $want"
            return 0
        fi
        # a failure must mean that nothing changed: the row stays so after the late answers
        sleep 2.5
        if [ "$(row "$col")" = "$want" ]; then
            ok 1 "vipctl $verb failed ('$out') but the row says $col = $want"
            return 1
        fi
        echo "$out" | grep -q "nothing changed" ||
            { ok 1 "vipctl $verb failed without saying nothing changed: $out"; return 1; }
    done
    ok 1 "vipctl $verb never succeeded in 10 tries"
}
verb_until_done pause paused t
verb_until_done resume "resume_requested OR NOT paused" t
proxy_slow_reply a 0
unpaused() { [ "$(row paused)" = f ]; }
check "the resume is committed (by whoever holds the cluster)" -- wait_for 15 unpaused
an_active() { [ "$(node_role a)" = active ] || [ "$(node_role b)" = active ]; }
check "the cluster has an active after the slow spell" -- wait_for 15 an_active

# The session ends while the verb is in flight (the path to the server stalls for longer
# than the 5 s of silence): the answer says the outcome is unknown, and when.
check "a's watchd is connected again" -- \
    wait_for 15 sh -c "'$HS_BIN/vipctl' -c '$T/a/hotstandby.conf' status --json | jq -e '.watchd.database == true' >/dev/null"
proxy_cut a
t0=$(now_ms)
out=$(timeout 30 "$HS_BIN/vipctl" -c "$T/a/hotstandby.conf" pause 2>&1); rc=$?
dt=$(( $(now_ms) - t0 ))
proxy_restore a
diag "vipctl pause through a stalled path: exit $rc after $dt ms: $out"
check "vipctl pause through a stalled path does not claim success" -- test "$rc" != 0
check "... and says whether it may have taken effect" -- \
    sh -c "echo '$out' | grep -Eq 'may have taken effect|nothing changed'"
check "... answered by watchd at the end of the 5 s of silence, not by vipctl's own connection ($dt ms)" -- \
    sh -c "echo '$out' | grep -q 'pause failed' && [ $dt -ge 4500 ] && [ $dt -lt 12000 ]"
vipctl_node a resume --force >/dev/null 2>&1
[ $_tap_failed -eq 0 ] || dump_logs
done_testing
