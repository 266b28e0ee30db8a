#!/usr/bin/env bash
# A spawned vipctl acts under watchd's live lease, not under the deadline it started with
# (DESIGN §3, vipctl/lease.c). The answers of a's DNS server to UPDATEs do not come back in
# time (a UDP proxy loses them), so a's `vipctl check` needs its later attempts (vipctl
# tries at 0, 0.5 and 1.5 s).
#  1. watchd alive and renewing: the third attempt goes out 1.5 s after the first, past the
#     deadline vipctl was spawned with (fence_after, 1.2 s, from its last renewal), and
#     the update succeeds.
#  2. a's watchd and heartbeatd frozen (SIGSTOP by the proxy as the first UPDATE arrives;
#     heartbeatd too, else its backstop would kill the vipctl) mid-update: no UPDATE
#     leaves a after the deadline, b takes over, and the name stays b's. Before, the
#     deadline was read once at start: the attempt at 1.5 s went out anyway.
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/pg.sh"
source "$HS_TOP/tests/lib/named.sh"
HS_INTERVAL=300ms HS_TAKEOVER=3s
source "$HS_TOP/tests/lib/cluster.sh"
need jq /usr/bin/python3 dig
FENCE_AFTER_NS=1200000000   # fence_after below

pg_start
named_start hs.test
proxy_port=$(free_port)
/usr/bin/python3 "$HS_TOP/tests/lib/dns-slow.py" "$proxy_port" "$NAMED_PORT" "$T/control" "$T/updates.log" &
at_exit "kill $!"
dns() { printf '%s\n' '[dns]' "server = 127.0.0.1:$1" 'zone = hs.test' 'hostname = app' \
    "tsig_name = $NAMED_KEY" "tsig_secret_file = $NAMED_SECRET_FILE"; }
mapfile -t DNS_A < <(dns "$proxy_port")
mapfile -t DNS_B < <(dns "$NAMED_PORT")
HS_CONNECTION=hostname HS_ADDRESS=127.0.0.11 node_conf a 100 "${DNS_A[@]}"
HS_CONNECTION=hostname HS_ADDRESS=127.0.0.12 node_conf b 100 "${DNS_B[@]}"
# someone else points the name away (the holder's check must bring it back)
HS_CONNECTION=hostname HS_ADDRESS=127.0.0.99 node_conf x 100 "${DNS_B[@]}"
sed -i "s|^database = .*|database = host=/nonexistent connect_timeout=1|" "$T/x/hotstandby.conf"
sed -i "s|^takeover_timeout = .*|&\nfence_after = 1200ms|" "$T"/[abx]/hotstandby.conf
# a sanitizer vipctl on a loaded machine takes seconds to start: a promotion must not time out
sed -i "s|^hook_timeout = .*|hook_timeout = 20s|" "$T"/[abx]/hotstandby.conf
point_away() { vipctl_node x up --force >/dev/null 2>&1; }
name_is() { [ "$(named_query app.hs.test A)" = "$1" ]; }
updates() { wc -l <"$T/updates.log"; }

node_start a
node_start b
check "a active" -- wait_role a active 20
check "b standby" -- wait_role b standby 20
check "the name points at a" -- wait_for 10 name_is 127.0.0.11

# --- 1. slow but within what the live lease allows -----------------------------------------
successes() { grep -c "now points at 127.0.0.11" "$T/a/watchd.log"; }
more_than() { [ "$("$1")" -gt "$2" ]; }
echo "drop 2" >"$T/control"    # only the third attempt gets its answer
before=$(updates) done_before=$(successes)
point_away
check "a's check points the name back at a through the slow server" -- wait_for 20 more_than successes "$done_before"
check "the name is a's" -- name_is 127.0.0.11
span_ms=$(tail -n +$((before + 1)) "$T/updates.log" | awk 'NR == 1 { f = $1 } { l = $1 } END { print int((l - f) / 1000000) }')
check "its last attempt went out ${span_ms} ms after the first, later than fence_after (1200 ms)" -- test "$span_ms" -gt 1200
check "no attempt was refused while watchd renewed" -- sh -c "! grep -q 'lease of epoch .* ended' '$T/a/watchd.log'"

# --- 2. the lease holder frozen mid-update --------------------------------------------------
sleep 1
echo "freeze $(node_pid a watchd) $(node_pid a heartbeatd)" >"$T/control"
point_away
check "a's check sent an UPDATE and its daemons were frozen right then" -- wait_for 10 test -s "$T/updates.log.frozen"
frozen_at=$(cat "$T/updates.log.frozen")
echo "$(now_ms) freeze a -" >>"$HOOKS_LOG"
check "b takes over" -- wait_role b active 20
check "the name points at b" -- wait_for 10 name_is 127.0.0.12
sleep 3                  # the frozen update's attempts would have run at 0.5 and 1.5 s
late=$(awk -v bound=$((frozen_at + FENCE_AFTER_NS)) '$1 > bound' "$T/updates.log" | wc -l)
is "$late" 0 "no UPDATE left a after its lease deadline (frozen at $frozen_at ns + fence_after)"
check "the name is still b's" -- name_is 127.0.0.12
node_kill a CONT
check "a standby after waking" -- wait_role a standby 20
check "a's vipctl stopped at the deadline and said why" -- wait_for 5 grep -q "lease of epoch .* ended" "$T/a/watchd.log"
holder_address() { case "$(holder)" in a) echo 127.0.0.11 ;; b) echo 127.0.0.12 ;; esac; }
name_is_holders() { name_is "$(holder_address)"; }
check "the name points at the holder" -- wait_for 10 name_is_holders
check "never two active nodes (hook log)" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || { dump_logs; sed 's/^/# /' "$T/updates.log" >&2; }
done_testing
