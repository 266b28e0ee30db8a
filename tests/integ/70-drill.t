#!/usr/bin/env bash
# builds: build-san
# The short fault drill (tests/drill/drill) with a fixed seed: up to twenty faults across
# daemons, nodes, network, database (including the arbiter's own failover), hooks, sync and
# clock steps, within a time budget, then the checkers: no two nodes acting at once,
# epochs increasing, no acknowledged file lost, every outage followed by exactly one
# takeover, no change of holder after a clock step, no crash or leak. Timings are not
# asserted here (DRILL_SLACK_MS is wide); `make drill` runs the long drill with the strict
# bound.
source "$(dirname "$0")/../lib/common.sh"
need ip jq /usr/bin/python3 /usr/sbin/sshd cc flock
FAULTS=${DRILL_FAULTS:-20}
SEED=${DRILL_SEED:-20261202}
BUDGET=${DRILL_BUDGET_S:-170}   # the test runner kills a test after 300 s
prefix=hsd$$
out=$T/drill.out
NETNS_PREFIX=$prefix DRILL_SLACK_MS=${DRILL_SLACK_MS:-8000} HS_KEEP=0 \
    bash "$HS_TOP/tests/drill/drill" -n "$FAULTS" -s "$SEED" -b "$BUDGET" >"$out" 2>&1
rc=$?
grep -E '^# (fault|drill|stale|VIOLATION|CRASH|LOST)|^#   ' "$out" | grep -v '^#   <' | head -n 400 >&2
summary=$(grep -E '^faults [0-9]+,' "$out")
done_n=$(echo "$summary" | awk '{print $2 + 0}')
is "$rc" 0 "the drill (seed $SEED) exits 0"
is "$summary" "faults $done_n, overlaps 0, lost 0, stuck 0, crashes 0" "the drill's summary line"
check "at least 3 faults were injected within ${BUDGET}s (got ${done_n:-0})" -- test "${done_n:-0}" -ge 3
dir=$(sed -n 's/^# drill: in //p' "$out" | head -n 1)
check "the drill removed its namespaces" -- test -z "$(ip netns list | grep "^$prefix-")"
check "the drill removed its directory ($dir)" -- test -n "$dir" -a ! -e "$dir"
check "no process of the drill is left" -- test -z "$(pgrep -f "${dir:-/nonexistent}/")"
[ $_tap_failed -eq 0 ] || tail -n 60 "$out" | sed 's/^/# /' >&2
done_testing
