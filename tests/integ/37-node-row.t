#!/usr/bin/env bash
# heartbeatd's node row (hs_node) is written when it is needed, not every interval
# (common/db.c node_row): at a change of what it says, and otherwise before it would stop
# counting as live (seen_at younger than takeover_timeout). At 200 ms / 1500 ms that is
# every 5 intervals (the oldest row 1 s old). Checked against the real daemons: a healthy
# node stays live all the time while its row is written far less often than every
# interval and nobody else (watchd's self-monitor) rewrites it meanwhile; a role change is
# in the row at once; a frozen heartbeatd's node stops being
# live within the takeover timeout (a switchover to it is refused) and is live again
# once it thaws.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
need jq
start_pair

beat_of() { psql_hs "SELECT beat FROM hs_node WHERE cluster = '$HS_CLUSTER' AND node = '$1'"; }
# the older of the two rows, on the database's clock (ms)
oldest_ms() {
    psql_hs "SELECT (extract(epoch FROM max(clock_timestamp() - seen_at)) * 1000)::int
             FROM hs_node WHERE cluster = '$HS_CLUSTER'"
}
row_of() { psql_hs "SELECT role || ' ' || state FROM hs_node WHERE cluster = '$HS_CLUSTER' AND node = '$1'"; }

# every write of a node row, by anyone: heartbeatd's move beat on, others do not
psql_hs "CREATE TABLE node_writes (node text, by_heartbeatd boolean);
         CREATE FUNCTION note_write() RETURNS trigger LANGUAGE plpgsql AS \$\$
         BEGIN INSERT INTO node_writes VALUES (NEW.node, NEW.beat IS DISTINCT FROM OLD.beat);
               RETURN NEW; END \$\$;
         CREATE TRIGGER note_write BEFORE UPDATE ON hs_node FOR EACH ROW EXECUTE FUNCTION note_write()" \
    >/dev/null || bail "cannot put a trigger on hs_node"
other_writes() { psql_hs "SELECT count(*) FROM node_writes WHERE node = '$1' AND NOT by_heartbeatd"; }
# the age of the oldest row, every 100 ms: its maximum in max, the count in samples
sample_age() {
    local o
    o=$(oldest_ms)
    [ -n "$o" ] && samples=$((samples + 1)) && [ "$o" -gt "$max" ] && max=$o
    sleep 0.1
}
# 6 s of samples
a0=$(beat_of a) b0=$(beat_of b) max=0 samples=0 t0=$(now_ms)
while [ $(( $(now_ms) - t0 )) -lt 6000 ]; do sample_age; done
a1=$(beat_of a) b1=$(beat_of b)
da=$((a1 - a0)) db=$((b1 - b0))
va=$(other_writes a) vb=$(other_writes b)
# a busy machine (the sanitizer suite beside this one) made each sample take 750 ms: the
# rows' age is sampled on until there are enough samples (at most 20 s in all)
while [ $samples -le 10 ] && [ $(( $(now_ms) - t0 )) -lt 20000 ]; do sample_age; done
diag "6 s: a wrote its row $da times, b $db times (every interval would be 30); oldest row seen $max ms ($samples samples); other writes of the rows: a $va, b $vb"
check "a's row written at least 3 and at most 12 times in 6 s (30 intervals)" -- test "$da" -ge 3 -a "$da" -le 12
check "b's row written at least 3 and at most 12 times in 6 s" -- test "$db" -ge 3 -a "$db" -le 12
# watchd's self-monitor (every second here) writes its shared_fsid only when it changes
check "nobody else rewrote the rows in 6 s (a $va, b $vb; at most its first shared_fsid each)" -- \
    test "$va" -le 1 -a "$vb" -le 1
check "both rows stayed live all the time (oldest $max ms < takeover_timeout 1500 ms)" -- \
    test "$samples" -gt 10 -a "$max" -lt 1500
is "$(row_of a)" "active leading" "a's row: active, leading"
is "$(row_of b)" "standby following" "b's row: standby, following"

# a frozen heartbeatd stops being seen; a switchover to its node is refused
kill -STOP "$(node_pid b heartbeatd)"
at_exit "kill -CONT $(node_pid b heartbeatd) 2>/dev/null"
not_live_b() {
    [ "$(psql_hs "SELECT seen_at < clock_timestamp() - interval '1500 ms' FROM hs_node
                  WHERE cluster = '$HS_CLUSTER' AND node = 'b'")" = t ]
}
t0=$(now_ms)
check "b's row is no longer live with its heartbeatd frozen" -- wait_for 4 not_live_b
diag "b frozen -> not live: $(( $(now_ms) - t0 )) ms (its row was at most 1 s old)"
out=$(vipctl_node a switchover --to b 2>&1); rc=$?
is "$rc" 3 "switchover to b refused while b is not seen (exit 3)"
check "it says why ($out)" -- grep -q "not been seen" <<<"$out"
is "$(holder)" a "a still holds the cluster"

# thawed: the row is due at once, so b is live again within an interval or so
kill -CONT "$(node_pid b heartbeatd)"
live_b() { ! not_live_b; }
t0=$(now_ms)
check "b is live again after its heartbeatd thaws" -- wait_for 3 live_b
diag "b thawed -> live: $(( $(now_ms) - t0 )) ms"

# a role change is in the row at once, not at the next refresh
t0=$(now_ms)
out=$(vipctl_node a switchover --to b 2>&1); rc=$?
is "$rc" 0 "switchover to b exits 0 ($out)"
b_leads() { [ "$(row_of b)" = "active leading" ] && [ "$(row_of a)" = "standby following" ]; }
check "the rows say b active and leading, a standby and following" -- wait_for 2 b_leads
diag "switchover -> both rows say so: $(( $(now_ms) - t0 )) ms"
check "b active" -- wait_role b active 5
check "a standby" -- wait_role a standby 5
done_testing
