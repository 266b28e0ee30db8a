#!/usr/bin/env bash
# Issue 8, scenario 3: a resume is committed by the active's own renewal. The active
# loses its database path while paused, then an operator resumes: the cluster stays
# paused (loudly: "resume requested") until the active learns of it, so no standby
# counts staleness against an active that still believes it is paused.
# On 673b09e the standby took over after takeover_timeout while the active, exempt
# from fencing by its cached "paused", kept its service up for as long as the cut lasted.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
. "$HS_TOP/tests/lib/proxy.sh"
need jq
start_proxied_pair 100
paused() { psql_hs "SELECT paused FROM hs_cluster WHERE cluster='$HS_CLUSTER'"; }
paused_is() { [ "$(paused)" = "$1" ]; }

vipctl_node b pause >/dev/null
check "a has seen the pause" -- wait_for 5 sh -c "'$HS_BIN/vipctl' -c '$T/a/hotstandby.conf' status --json | jq -e '.watchd.paused == true'"
e=$(epoch)
proxy_cut a                      # a can neither read the row nor renew
sleep 0.3
out=$(vipctl_node b resume 2>&1); rc=$?
is "$rc" 0 "vipctl resume exits 0"
diag "$out"
sleep 4                          # well past takeover_timeout (1.5 s)
is "$(node_role b)" standby "b does not take over from an active that has not learned of the resume"
is "$(epoch)" "$e" "no change of holder"
is "$(paused)" t "the cluster stays paused until the active commits the resume"
check "status says the resume is pending" -- sh -c "'$HS_BIN/vipctl' -c '$T/b/hotstandby.conf' status | grep -q 'resume requested'"
proxy_restore a
check "the active commits the resume with its renewal" -- wait_for 8 paused_is f
sleep 2
is "$(node_role a)" active "a still active after the resume"
is "$(node_role b)" standby "b standby"
check "never two active nodes (hook log)" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || { dump_logs; sed 's/^/# /' "$HOOKS_LOG" >&2; }
done_testing
