#!/usr/bin/env bash
# syncd driven by watchd, end to end: the active's syncd pushes, the standby's receives;
# a planned switchover flushes the old sender first (event "sync-flushed"), then the new
# active pushes the other way. Two nodes on this machine, a real sshd between them.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/sshd.sh"
. "$HS_TOP/tests/lib/cluster.sh"
need jq
pg_start
start_sshd
node_conf a 100
node_conf b 100
node_sync_conf a b
node_sync_conf b a
node_start_syncd a
node_start_syncd b
node_start a
node_start b
check "a active" -- wait_role a active 8
check "b standby" -- wait_role b standby 8

echo one >"$T/a/root/data/f1"
check "a file written on the active arrives on the standby" -- wait_for 10 cmp -s "$T/a/root/data/f1" "$T/b/root/data/f1"
sync_state() { vipctl_node a status --json | jq -r '.sync.role // empty'; }
is "$(sync_state)" active "vipctl status on a shows its syncd as the sender"

echo two >"$T/a/root/data/f2"
vipctl_node b switchover >/dev/null 2>&1; rc=$?
is "$rc" 0 "switchover to b"
check "a file written just before the switchover is on b (flushed first)" -- cmp -s "$T/a/root/data/f2" "$T/b/root/data/f2"
check "the flush is in the event log" -- sh -c "'$HS_BIN/vipctl' -c '$T/a/hotstandby.conf' events -n 50 | grep -q sync-flushed"
check "b active" -- wait_role b active 5
echo three >"$T/b/root/data/f3"
check "after the switchover b pushes to a" -- wait_for 10 cmp -s "$T/b/root/data/f3" "$T/a/root/data/f3"
echo stale >"$T/a/root/data/f4"
sleep 1
check "a, now standby, does not push its own writes to b" -- test ! -e "$T/b/root/data/f4"
check "never two active nodes (hook log)" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || { dump_logs; tail -n 20 "$T"/?/syncd.log | sed 's/^/# /' >&2; }
done_testing
