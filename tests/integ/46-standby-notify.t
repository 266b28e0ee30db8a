#!/usr/bin/env bash
# The standby learns of each renewal from the renewal's own NOTIFY (on the cluster's beat
# channel) and falls back to one read per interval, instead of reading the row four times
# per interval: counted from the server's statement log, so no timing is asserted.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
HS_INTERVAL=1s HS_TAKEOVER=3s HS_CLUSTER=notify.t
. "$HS_TOP/tests/lib/cluster.sh"

start_logged_pair

listens() { grep -q "^\[hs-b\] .*LISTEN \"hs_beat.notify.t\"" "$PG_LOG"; }
check "the standby listens on the cluster's beat channel" -- wait_for 5 listens

# A window of whole seconds: renewals by a, row reads by b.
from=$(stat -c %s "$PG_LOG")
SECS=8
sleep "$SECS"
tail -c +$((from + 1)) "$PG_LOG" >"$T/window.log"
renewals=$(grep -c '^\[hs-a\] .*UPDATE hs_cluster SET heartbeat = heartbeat + 1' "$T/window.log")
reads=$(grep -c '^\[hs-b\] .*SELECT c.holder' "$T/window.log")
diag "in ${SECS}s: $renewals renewals by a, $reads row reads by b"
check "a renewed during the window" -- test "$renewals" -ge 2
# per interval: one fallback poll and one read per renewal's NOTIFY (four polls before)
check "b read the row at most about twice per interval ($reads in ${SECS}s)" -- \
    test "$reads" -le $((SECS * 2 + 3))
check "b read the row after the renewals ($reads reads for $renewals renewals)" -- \
    test "$reads" -ge "$renewals"

# The active does not read the row on its own renewals' notifications.
a_reads=$(grep -c '^\[hs-a\] .*SELECT c.holder' "$T/window.log")
check "a read the row about once per interval ($a_reads in ${SECS}s)" -- test "$a_reads" -le $((SECS + 3))

# Many clusters on one database: PostgreSQL wakes every listening session of the database
# for every NOTIFY, whatever its channel, so above 16 clusters renewals and the schema's
# triggers stop notifying, watchd's sessions stop listening, and the nodes learn of
# changes by their read once per interval.
notes() {   # renewal notifications a listener receives in 3 s
    printf 'LISTEN "hs_beat.notify.t";\nSELECT pg_sleep(3);\nSELECT 1;\n' |
        runuser -u postgres -- "$PG_BINDIR/psql" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -qAtX hs 2>&1 |
        grep -c 'Asynchronous notification "hs_beat.notify.t"'
}
n=$(notes)
check "a listener receives the renewals' notifications ($n in 3 s)" -- test "$n" -ge 2
psql_hs "INSERT INTO hs_cluster (cluster) SELECT 'other' || g FROM generate_series(1, 20) g" >/dev/null
check "a's heartbeatd counts 21 clusters and stops notifying" -- \
    wait_for 20 grep -q "holds more than 16 clusters: renewals notify nobody" "$T/a/heartbeatd.log"
n=$(notes)
is "$n" 0 "no renewal notification with 21 clusters on the database"
from=$(stat -c %s "$PG_LOG")
sleep 4
reads=$(tail -c +$((from + 1)) "$PG_LOG" | grep -c '^\[hs-b\] .*SELECT c.holder')
check "b still reads the row about once per interval ($reads in 4 s)" -- test "$reads" -ge 3
check "b is standby" -- wait_role b standby 2
check "b's watchd counts 21 clusters and stops listening" -- \
    wait_for 20 grep -q "holds more than 16 clusters: listening to no notification" "$T/b/watchd.log"
unlistens() { grep -c "^\[hs-$1\] .*UNLISTEN \*" "$PG_LOG"; }
check "both sessions of each watchd said UNLISTEN (a: $(unlistens a), b: $(unlistens b))" -- \
    wait_for 20 sh -c "test \$(grep -c '^\[hs-a\] .*UNLISTEN \*' '$PG_LOG') -ge 2 &&
                        test \$(grep -c '^\[hs-b\] .*UNLISTEN \*' '$PG_LOG') -ge 2"
trigger_notes() {   # what the schema's triggers announce in 3 s while the test changes rows
    (printf 'LISTEN hs_cluster;\nLISTEN hs_node;\nSELECT pg_sleep(3);\nSELECT 1;\n' |
        runuser -u postgres -- "$PG_BINDIR/psql" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -qAtX hs 2>&1 &
     sleep 1
     psql_hs "INSERT INTO hs_cluster (cluster) VALUES ('probe');
              INSERT INTO hs_node (cluster, node) VALUES ('probe', 'y')" >/dev/null
     wait) | grep -c 'Asynchronous notification "hs_'
    psql_hs "DELETE FROM hs_node WHERE cluster = 'probe'; DELETE FROM hs_cluster WHERE cluster = 'probe'" >/dev/null
}
is "$(trigger_notes)" 0 "no trigger notification (claim, registration) with 21 clusters"
# a switchover request is heard at the next read: within an interval or two
out=$(vipctl_node a switchover 2>&1); rc=$?
is "$rc" 0 "switchover with 21 clusters on the database exits 0 ($out)"
check "b active after the switchover" -- wait_role b active 15
check "a standby after the switchover" -- wait_role a standby 15
out=$(vipctl_node b switchover --to a 2>&1)
check "and back: a active" -- wait_role a active 15
check "b standby" -- wait_role b standby 15
psql_hs "DELETE FROM hs_node WHERE cluster LIKE 'other%'; DELETE FROM hs_cluster WHERE cluster LIKE 'other%'" >/dev/null
check "a's heartbeatd notifies again with one cluster" -- \
    wait_for 20 grep -q "holds 1 clusters: renewals notify the standbys again" "$T/a/heartbeatd.log"
n=$(notes)
check "a listener receives the renewals' notifications again ($n in 3 s)" -- test "$n" -ge 2
check "b's watchd listens again" -- \
    wait_for 20 grep -q "holds 1 clusters: listening to notifications again" "$T/b/watchd.log"
relistens() { test "$(grep -c "^\[hs-b\] .*LISTEN \"hs_beat.notify.t\"" "$PG_LOG")" -ge 2; }
check "b's session LISTENs on the beat channel again" -- wait_for 5 relistens
n=$(trigger_notes)
check "the triggers announce changes again with one cluster ($n)" -- test "$n" -ge 2
psql_hs "DELETE FROM hs_node WHERE cluster LIKE 'other%'; DELETE FROM hs_cluster WHERE cluster LIKE 'other%'" >/dev/null

# A takeover still happens when the notifications stop with the renewals.
node_crash a
check "b takes over after a's crash" -- wait_role b active 15
done_testing
