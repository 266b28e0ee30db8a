#!/usr/bin/env bash
# Issue 8, scenario 5: the active's periodic `vipctl check` must not put the VIP back
# after heartbeatd's backstop removed it. watchd passes its epoch and lease deadline
# (HOTSTANDBY_DEADLINE_NS) to the vipctl it spawns; a spawned vipctl obeys that deadline
# only and never asks the database. Here a's vipctl check is slow (a loaded machine:
# 0.7 s before it runs) and a's watchd freezes while one is in flight.
# On 673b09e the check, finding watchd silent for 2 s, asked the database - which still
# named a - and added the VIP back after the backstop's vipctl down: the VIP on both nodes.
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/pg.sh"
source "$HS_TOP/tests/lib/netns.sh"
source "$HS_TOP/tests/lib/cluster.sh"
need ip jq
source "$HS_TOP/tests/lib/vipnodes.sh"
netns_lan_setup a b
pg_start
VIP_CLUSTER=t74 VIP_TAKEOVER=3s
# a's daemons find vipctl next to themselves: there it is slow to check
mkdir -p "$T/bin-a"
cp "$HS_BIN/watchd" "$HS_BIN/heartbeatd" "$T/bin-a/"
printf '#!/bin/sh\n[ "$3" = check ] && sleep 0.7\nexec "%s/vipctl" "$@"\n' "$HS_BIN" >"$T/bin-a/vipctl"
chmod 755 "$T/bin-a/vipctl"
for n in a b; do
    vip_node_conf $n "[service]" \
        "start = echo \"\$(date +%s%3N) start \$HOTSTANDBY_NODE \$HOTSTANDBY_EPOCH\" >> $HOOKS_LOG" \
        "stop = echo \"\$(date +%s%3N) stop \$HOTSTANDBY_NODE \$HOTSTANDBY_EPOCH\" >> $HOOKS_LOG"
    bin=$HS_BIN; [ $n = a ] && bin=$T/bin-a
    vip_node_start $n "$bin"
done
role() { vip_role "$@"; }
role_is() { vip_role_is "$@"; }
on() { vip_on "$@"; }
off() { ! on "$1"; }

check "a active" -- wait_for 30 role_is a active
check "b standby" -- wait_for 30 role_is b standby
check "the VIP is on a" -- wait_for 10 on a
sleep 1.5
wpid=$(cat "$T/watchd-a.pid")
check "a vipctl check is in flight" -- wait_for 10 pgrep -f "bin-a/vipctl -c $T/a.conf check"
kill -STOP "$wpid"                 # a's watchd freezes; its heartbeatd and hooks run on
check "a's heartbeatd fenced: the VIP left a" -- wait_for 10 off a
check "b takes over" -- wait_for 30 role_is b active
check "the VIP is on b" -- wait_for 10 on b
sleep 4                            # the slow check had 2 s for watchd, then the database
check "the VIP is not back on a" -- off a
kill -CONT "$wpid"
check "a standby after its watchd wakes" -- wait_for 20 role_is a standby
check "the VIP is only on b" -- sh -c "! ip -n $(netns_ns a) -o addr show dev eth0 | grep -q ' $VIP/' && ip -n $(netns_ns b) -o addr show dev eth0 | grep -q ' $VIP/'"
check "never two active nodes (hook log)" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || { tail -n 30 "$T/watchd-a.log" "$T/heartbeatd-a.log" | sed 's/^/# /' >&2; sed 's/^/# /' "$HOOKS_LOG" >&2; }
done_testing
