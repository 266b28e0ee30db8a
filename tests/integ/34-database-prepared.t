#!/usr/bin/env bash
# The daemons prepare each statement with parameters once per session and run it by name
# (common/db.c): the server parses, analyses and plans the renewal, the row read and the
# node row once per session instead of every interval (over a quarter of its CPU with a
# hundred clusters on one database). Counted from the server's statement log. A session
# that is cut gets its statements prepared again on the next one, and a column whose type
# changes under a prepared statement ("cached plan must not change result type") costs the
# statements one failed run, then they are prepared again: never a statement that fails
# for the rest of the session.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
HS_INTERVAL=1s HS_TAKEOVER=3s HS_CLUSTER=prep.t
. "$HS_TOP/tests/lib/cluster.sh"

start_logged_pair

RENEW='UPDATE hs_cluster SET heartbeat = heartbeat \+ 1'
READ='SELECT c.holder'
since() { tail -c +$(($1 + 1)) "$PG_LOG"; }
# count FROM WHO NAME TEXT: statements TEXT run by WHO since FROM, by name (NAME=named) or not
count() {
    local pat='hs[0-9]+'
    [ "$3" = named ] || pat='<unnamed>'
    since "$1" | grep -cE "^\[hs-$2\] .*execute $pat: $4" || true
}

from=$(stat -c %s "$PG_LOG")
sleep 5
n_renew=$(count "$from" a named "$RENEW") t_renew=$(count "$from" a text "$RENEW")
n_read=$(count "$from" b named "$READ") t_read=$(count "$from" b text "$READ")
diag "in 5 s: renewals by name $n_renew, by text $t_renew; b's row reads by name $n_read, by text $t_read"
check "a's renewals run as a prepared statement ($n_renew)" -- test "$n_renew" -ge 3
check "none of them is sent as text ($t_renew)" -- test "$t_renew" -eq 0
check "b's row reads run as a prepared statement ($n_read)" -- test "$n_read" -ge 3
check "none of them is sent as text ($t_read)" -- test "$t_read" -eq 0
# the active hears of requests in its renewal's answer and reads the row itself every 5th
# interval (role_read_due): one read in 5 s, two if the window catches both ends
a_read=$(( $(count "$from" a named "$READ") + $(count "$from" a text "$READ") ))
diag "in 5 s: a's (the active's) row reads $a_read"
check "the active reads the row every fifth interval, not every interval ($a_read in 5 s)" -- \
    test "$a_read" -le 2

# Every session of the nodes is cut: the next sessions prepare their statements again.
from=$(stat -c %s "$PG_LOG")
psql_hs "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE application_name IN ('hs-a', 'hs-b')" >/dev/null
renewed_by_name() { [ "$(count "$from" a named "$RENEW")" -ge 2 ]; }
check "after its sessions were cut, a renews by name again" -- wait_for 20 renewed_by_name
read_by_name() { [ "$(count "$from" b named "$READ")" -ge 2 ]; }
check "and b reads by name again" -- wait_for 20 read_by_name
check "no statement was prepared twice on one session" -- \
    sh -c "! grep -q 'prepared statement .* already exists' '$PG_LOG'"

# The type of a column the renewal and the row read return changes under them.
from=$(stat -c %s "$PG_LOG")
psql_hs "ALTER TABLE hs_cluster ALTER COLUMN heartbeat TYPE numeric" >/dev/null
before=$(heartbeat)
renewed() { [ "$(heartbeat)" -gt "$((before + 2))" ]; }
check "renewals go on after the column's type changed" -- wait_for 20 renewed
changed=$(since "$from" | grep -c 'cached plan must not change result type' || true)
diag "runs refused as 'cached plan must not change result type': $changed"
check "the statements were prepared again after the change (refused $changed times)" -- \
    test "$changed" -le 4
from=$(stat -c %s "$PG_LOG")
sleep 3
check "no run is refused after that" -- \
    sh -c "! tail -c +$((from + 1)) '$PG_LOG' | grep -q 'cached plan must not change result type'"
one_active() { [ "$( (node_role a; node_role b) | grep -c '^active$')" = 1 ]; }
check "one of a and b is active" -- wait_for 10 one_active
check "no hook overlap" -- hooks_no_overlap
[ $_tap_failed -eq 0 ] || dump_logs
done_testing
