#!/usr/bin/env bash
# An hs_event write whose reply is lost after the database committed it is written once.
# watchd keeps events in memory while the database is away and sends them again; a write
# that was sent, committed, and whose reply never came back (the path cut right after the
# write) used to be re-queued and written twice. Each event now carries its own key
# (hs_event.event_key) and the second write is a no-op.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
. "$HS_TOP/tests/lib/proxy.sh"
need jq
pg_start
node_conf a 100
proxy_node a
node_start a
check "a active" -- wait_role a active 10
events_of() {
    psql_hs "SELECT count(*) FROM hs_event WHERE cluster='$HS_CLUSTER' AND node='a' AND kind='$1'"
}
events_are() { [ "$(events_of "$1")" = "$2" ]; }
all_events() { psql_hs "SELECT count(*) FROM hs_event WHERE cluster='$HS_CLUSTER'"; }
# The lost reply must be the pause's event, not one of a's own after its start: alone, a
# reports standby-missing after takeover_timeout (1.5 s); under the sanitizers that write
# came after the flag, took the lost reply, and the pause waited behind it and failed.
reported_alone() { [ "$(events_of problem)" -ge 1 ]; }
check "a's start-up events are written (standby-missing: it is alone)" -- wait_for 15 reported_alone
quiet=0
for _ in $(seq 1 50); do
    n0=$(all_events); sleep 0.3
    if [ "$(all_events)" = "$n0" ]; then quiet=$((quiet + 1)); else quiet=0; fi
    [ $quiet -ge 4 ] && break
done

proxy_lose_event_reply a
vipctl_node a pause >/dev/null 2>&1     # watchd writes the event "pause" through the proxy
check "the event's write went through and its reply was lost" -- wait_for 10 test -e "$T/a/lose-reply.done"
# a server silent for 5 s is dropped (db.c SILENCE_MIN_NS: an overloaded server, not a dead one)
check "watchd noticed the lost reply and reconnected" -- \
    wait_for 20 grep -q "database: connected to" "$T/a/watchd.log"
check "the event is in hs_event" -- wait_for 10 events_are pause 1
sleep 2                                 # the re-sent write happens meanwhile
is "$(events_of pause)" 1 "written once, although it was sent twice"
check "a is still active" -- test "$(node_role a)" = active
check "later events are written as usual" -- sh -c "'$HS_BIN/vipctl' -c '$T/a/hotstandby.conf' resume >/dev/null 2>&1"
check "the resume event is there once" -- wait_for 10 events_are resume 1
[ $_tap_failed -eq 0 ] || { dump_logs; psql_hs "SELECT id, kind, detail, event_key FROM hs_event ORDER BY id" | sed 's/^/# /' >&2; }
done_testing
