#!/usr/bin/env bash
# The active re-checks its address every interval: a VIP removed behind its back (an
# operator's `ip addr del`, a network restart) is put back and announced again; a
# standby's `vipctl check` is refused and changes nothing.
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/pg.sh"
source "$HS_TOP/tests/lib/netns.sh"
need ip jq
netns_lan_setup a b
pg_start
DB="host=$PG_SOCK port=$PG_PORT dbname=hs user=postgres"
VIP=192.0.2.10
for n in a b; do
    mkdir -p "$T/run-$n"
    cat >"$T/$n.conf" <<EOF
[cluster]
name = t45
node = $n
primary = a
connection = vip
database = $DB
run_dir = $T/run-$n
[heartbeat]
interval = 200ms
takeover_timeout = 1500ms
[vip]
address = $VIP
interface = eth0
EOF
    netns_exec $n "$HS_BIN/watchd" -c "$T/$n.conf" >>"$T/watchd-$n.log" 2>&1 &
    at_exit "kill -9 $! 2>/dev/null"
    netns_exec $n "$HS_BIN/heartbeatd" -c "$T/$n.conf" >>"$T/heartbeatd-$n.log" 2>&1 &
    at_exit "kill -9 $! 2>/dev/null"
done
role() { netns_exec "$1" "$HS_BIN/vipctl" -c "$T/$1.conf" status --json 2>/dev/null | jq -r '.watchd.role // "stopped"'; }
role_is() { [ "$(role "$1")" = "$2" ]; }
on() { ip -n "$(netns_ns "$1")" -o addr show dev eth0 | grep -q " $VIP/"; }

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
