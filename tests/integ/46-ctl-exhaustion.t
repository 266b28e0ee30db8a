#!/usr/bin/env bash
# Control sockets under abuse (issue 9, points 8-11): a flood of connections with the
# daemon short of file descriptors neither spins it nor fills the log; connections are
# capped and idle ones closed; a client never hangs on a stopped daemon with a full
# backlog; only the daemons' uid may say hello as heartbeatd and a renewal's send time is
# clamped to now; [cluster] user reaches the socket; text from a peer cannot forge a log line.
# Throughout, a's syncd socket belongs to a "stopped syncd" whose backlog is full: watchd
# must neither hang on it when it tells syncd its role nor be slowed in a fence.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/cluster.sh"
need jq prlimit runuser /usr/bin/python3
ABUSE="/usr/bin/python3 $HS_TOP/tests/lib/ctlabuse.py"
CTL="/usr/bin/python3 $HS_TOP/tests/lib/ctlsend.py"
pg_start
node_conf a 100
sed -i '/^run_dir = /a user = nobody' "$T/a/hotstandby.conf"
chmod 644 "$T/a/hotstandby.conf"
node_conf b 100
$ABUSE stopped "$T/a/run/syncd.sock" 600 >"$T/stopped.out" &
at_exit "kill $!"
wait_for 5 grep -q ready "$T/stopped.out" || bail "stopped syncd stand-in did not start"
node_start a
check "a active (watchd did not hang telling a stopped syncd its role)" -- wait_role a active 10
node_start b
check "b standby" -- wait_role b standby 10
sock=$T/a/run/watchd.sock
wpid=$(node_pid a watchd)

# --- [cluster] user (point 10): the configured user reaches the socket, as an operator only
out=$(runuser -u nobody -- $CTL "$sock" '{"id":1,"cmd":"status"}' 2>&1)
check "[cluster] user gets an answer to status" -- sh -c "echo '$out' | jq -e '.ok == true' >/dev/null"
out=$(runuser -u nobody -- $CTL "$sock" '{"id":1,"cmd":"hello","daemon":"heartbeatd"}' 2>&1)
check "a hello as heartbeatd from the configured user is refused" -- sh -c "echo '$out' | grep -q 'only uid 0 may speak as a daemon'"
check "vipctl status works as the configured user" -- sh -c \
    "runuser -u nobody -- '$HS_BIN/vipctl' -c '$T/a/hotstandby.conf' status --json | jq -e '.watchd.role == \"active\"' >/dev/null"

# --- log injection (point 11): an event name with a newline and a priority
$CTL "$sock" '{"event":"x\n<0>watchd: FORGED"}' >/dev/null
sleep 0.3
check "no forged line in watchd's log" -- sh -c "! grep -q '^<0>watchd: FORGED' '$T/a/watchd.log'"
check "the text is logged escaped on one line" -- grep -qF 'x\n<0>watchd: FORGED' "$T/a/watchd.log"

# --- cap (point 8): at most 32 connections; the rest are closed at once
closed=$($ABUSE cap "$sock" 60)
check "of 60 idle connections the daemon closed at least 28 ($closed)" -- test "$closed" -ge 28
check "refusals at the cap are rate-limited in the log" -- \
    test "$(grep -c 'connections already open' "$T/a/watchd.log")" -le 11

# --- idle timeout (point 8)
t=$($ABUSE idle "$sock" 20)
check "an idle connection is closed after ~10 s ($t)" -- sh -c "[ -n '$t' ] && [ '$t' != open ]"

# --- fd exhaustion (point 8): watchd limited to 40 descriptors, then a 4 s flood
prlimit --pid "$wpid" --nofile=40:40
hooks0=$(wc -l <"$HOOKS_LOG")
log0=$(stat -c %s "$T/a/watchd.log")
cpu0=$(awk '{print $14 + $15}' /proc/$wpid/stat)
n=$($ABUSE flood "$sock" 4)
cpu1=$(awk '{print $14 + $15}' /proc/$wpid/stat)
log1=$(stat -c %s "$T/a/watchd.log")
ticks=$(getconf CLK_TCK)
diag "flood: $n connections taken, watchd used $((cpu1 - cpu0)) ticks of CPU, log grew $((log1 - log0)) bytes"
check "watchd did not spin during the flood (< 1.5 s CPU in 4 s)" -- test $((cpu1 - cpu0)) -lt $((ticks * 3 / 2))
check "the log grew by less than 20 kB" -- test $((log1 - log0)) -lt 20000
check "EMFILE made watchd stop accepting for a moment" -- grep -q "not accepting for" "$T/a/watchd.log"
check "after the flood watchd answers status" -- wait_for 15 sh -c "$CTL '$sock' '{\"id\":1,\"cmd\":\"status\"}' | jq -e '.ok == true'"
is "$(node_role a)" active "a is still active"
is "$(wc -l <"$HOOKS_LOG")" "$hooks0" "no hook ran during the flood (it did not fence a)"

# --- a forged renewal (point 10): root may say hello, but a send time in the future is
# clamped, so the lease cannot be stretched past fence_after
ep=$(epoch)
out=$($ABUSE forge-renewal "$sock" "$ep" | tail -n 1)
left=$(echo "$out" | jq -r '.lease_ms_left // empty')
check "a renewal sent 'in the future' does not extend the lease (lease_ms_left=$left)" -- \
    sh -c "[ -n '$left' ] && [ '$left' -le 750 ]"
# heartbeatd's connection was taken over by the forger and its renewals are ignored: a must
# fence on time, its stopped syncd notwithstanding, and b take over
check "a fences (its stop hook ran)" -- wait_for 10 grep -q " stop a 1$" "$HOOKS_LOG"
check "b takes over" -- wait_role b active 10
check "no two nodes were ever active at once" -- hooks_no_overlap

# --- a stopped daemon with a full backlog (point 9): a client gives up at its deadline
kill -STOP "$wpid"
at_exit "kill -CONT $wpid"
$ABUSE fill "$sock" 30 >"$T/fill.out" &
fillpid=$!
at_exit "kill $fillpid"
wait_for 5 test -s "$T/fill.out"
t0=$(now_ms)
timeout 20 "$HS_BIN/vipctl" -c "$T/a/hotstandby.conf" status --json >/dev/null 2>&1
rc=$?
dt=$(($(now_ms) - t0))
diag "vipctl status against a stopped watchd with a full backlog: exit $rc after $dt ms"
check "vipctl status returns well before 20 s ($dt ms)" -- test "$rc" != 124
kill -CONT "$wpid"
kill "$fillpid" 2>/dev/null
done_testing
