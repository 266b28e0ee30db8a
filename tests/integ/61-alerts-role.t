#!/usr/bin/env bash
# Alerts from role changes, each provoked for real and read from a real SMTP sink, each
# followed by its "resolved" mail (watchd/selfmon.c): a frozen active -> takeover on b and
# standby-missing on b; a wakes and fences -> self-fence on a; a rejoins -> all resolved.
# Planned switchover; a failing health check (health-demotion); a pause past
# pause_alert_after. Every problem is also in `vipctl status` and in hs_event.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
HS_INTERVAL=300ms HS_TAKEOVER=3s     # margins for a loaded machine
. "$HS_TOP/tests/lib/cluster.sh"
. "$HS_TOP/tests/lib/smtp.sh"
. "$HS_TOP/tests/lib/alerts.sh"
need jq /usr/bin/python3
smtp_start
mapfile -t NOTIFY < <(notify_lines "pause_alert_after = 2s")
# one check for both (the shared settings must match): it fails on a node while
# $T/NODE/broken exists
CONF_A=("check = test ! -e $T/\$HOTSTANDBY_NODE/broken" "check_interval = 2s" "check_failures = 2" "${NOTIFY[@]}")
CONF_B=("${CONF_A[@]}")
start_pair
sleep 2
is "$(problem_kinds a)" "" "a healthy pair: no problems in vipctl status"

# 1. The active freezes: b takes over; with a frozen, b has no standby.
node_kill a STOP
echo "$(now_ms) freeze a -" >>"$HOOKS_LOG"
check "b takes over from the frozen a" -- wait_role b active 30
check_mail takeover b
check "... naming the old active, the epoch and the cause" -- \
    sh -c "tr -d '\r' <'$MAIL' | grep -Eq 'b took over from a at epoch [0-9]+: the counter of a stood still for takeover_timeout \(3000 ms\)'"
check "... and the claim among the last events" -- mail_has "$MAIL" "claimed (epoch"
check_mail standby-missing b
check "... saying why" -- mail_has "$MAIL" "no standby has renewed its row within takeover_timeout"
is "$(problem_kinds b)" "standby-missing takeover" "vipctl status on b lists both problems"
check "human status shows them too" -- sh -c "'$HS_BIN/vipctl' -c '$T/b/hotstandby.conf' status | grep -Eq '^  standby-missing +on b since'"
check "hs_event has the raised problems" -- event_has b problem "standby-missing:"

# 2. a wakes: it fences first, then rejoins as a standby; everything resolves.
node_kill a CONT
check_mail self-fence a
check "... with the reason" -- mail_has "$MAIL" "a stopped acting at epoch"
check "a is a standby again" -- wait_role a standby 30
check_mail self-fence a resolved
check "... saying who holds the cluster now" -- mail_has "$MAIL" "a is a standby again; b holds the cluster"
check_mail takeover b resolved
check "... the cluster is protected again" -- mail_has "$MAIL" "the cluster is protected again"
check_mail standby-missing b resolved
check "hs_event has the resolutions" -- event_has b resolved "standby-missing:"
no_problems() { [ -z "$(problem_kinds "$1")" ]; }
check "no problems left in b's status" -- wait_for 10 no_problems b

# 3. Planned switchover back to a.
vipctl_node b switchover --to a >/dev/null 2>&1
check "a active after the switchover" -- wait_role a active 30
check_mail switchover a
check "... by planned switchover" -- mail_has "$MAIL" "took over by planned switchover"
check_mail switchover a resolved

# 4. a's health check fails: it gives the cluster up.
touch "$T/a/broken"
check "b active after a's check fails" -- wait_role b active 30
check_mail health-demotion a
check "... with the count of failed checks" -- mail_has "$MAIL" "after 2 failed checks in a row"
rm -f "$T/a/broken"
check_mail health-demotion a resolved

# 5. Paused past pause_alert_after (2 s): the holder mails; resume resolves it.
check "a standby, b active" -- wait_role a standby 30
vipctl_node b pause >/dev/null
check_mail paused b
check "... saying for how long" -- mail_has "$MAIL" "pause_alert_after 2 s"
check "... and the pause shows in the facts" -- mail_has "$MAIL" "paused:    YES"
vipctl_node b resume >/dev/null
check_mail paused b resolved
check "... because of the resume" -- mail_has "$MAIL" "the cluster was resumed"

check "never two active nodes (hook log)" -- hooks_no_overlap
if [ $_tap_failed -ne 0 ]; then
    dump_logs
    mail_subjects | sed 's/^/# mail: /' >&2
fi
done_testing
