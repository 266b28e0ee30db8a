#!/usr/bin/env bash
# The active re-checks its address every interval: a VIP removed behind its back (an
# operator's `ip addr del`, a network restart) is put back and announced again; a
# standby's `vipctl check` is refused and changes nothing.
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/pg.sh"
source "$HS_TOP/tests/lib/netns.sh"
need ip jq
source "$HS_TOP/tests/lib/vipnodes.sh"
netns_lan_setup a b
pg_start
VIP_CLUSTER=t45
for n in a b; do
    vip_node_conf $n
    vip_node_start $n
done
role() { vip_role "$@"; }
role_is() { vip_role_is "$@"; }
on() { vip_on "$@"; }

check "a active" -- wait_for 10 role_is a active
check "b standby" -- wait_for 10 role_is b standby
check "the VIP is on a" -- wait_for 5 on a
ip -n "$(netns_ns a)" addr del "$VIP/24" dev eth0
t0=$(now_ms)
check "the VIP removed behind watchd's back comes back" -- wait_for 5 on a
diag "back after $(( $(now_ms) - t0 )) ms (interval 200 ms)"
check "watchd's log says vipctl put it back" -- grep -q "vipctl check" "$T/watchd-a.log"
is "$(role a)" active "a is still active"
netns_exec b "$HS_BIN/vipctl" -c "$T/b.conf" check >/dev/null 2>&1; rc=$?
is "$rc" 3 "vipctl check on the standby is refused (exit 3)"
check "and the VIP did not appear on b" -- sh -c "! ip -n $(netns_ns b) -o addr show dev eth0 | grep -q ' $VIP/'"
[ $_tap_failed -eq 0 ] || { tail -n 20 "$T/watchd-a.log" | sed 's/^/# /' >&2; }
done_testing
