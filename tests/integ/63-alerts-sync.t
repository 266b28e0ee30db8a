#!/usr/bin/env bash
# Sync alerts (syncd/alert.c detects, watchd/selfmon.c raises and mails): the standby's sshd
# stops (with its sessions) and files are written on the active: after sync_lag_alert (2 s)
# "sync-failure on a" (the standby is unreachable) and "sync-lag on a" (data written is not
# acknowledged); sshd back: both resolved once the standby has the files.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/sshd.sh"
HS_INTERVAL=500ms HS_TAKEOVER=5s     # margins for a loaded machine
. "$HS_TOP/tests/lib/cluster.sh"
. "$HS_TOP/tests/lib/smtp.sh"
. "$HS_TOP/tests/lib/alerts.sh"
need jq /usr/bin/python3
pg_start
start_sshd
smtp_start
node_conf a 100
node_conf b 100
# (peers and remote_command differ: both nodes share one sshd here, so the shared settings
# differ too and a config-mismatch alert is expected on the side)
node_sync_conf a b
node_sync_conf b a
for n in a b; do
    notify_lines "sync_lag_alert = 2s" >>"$T/$n/hotstandby.conf"
    node_start_syncd $n
done
node_start a
node_start b
check "a active" -- wait_role a active 30
check "b standby" -- wait_role b standby 30
echo one >"$T/a/root/data/f1"
check "sync works: a file reaches b" -- wait_for 15 cmp -s "$T/a/root/data/f1" "$T/b/root/data/f1"
sleep 3
sync_kinds() { problem_kinds "$1" | tr ' ' '\n' | grep '^sync-' | tr '\n' ' '; }
is "$(sync_kinds a)" "" "no sync problems while the standby acknowledges"

stop_sshd
for i in 1 2 3; do echo "data $i" >"$T/a/root/data/new$i"; done
check_mail sync-failure a
check "... naming the standby and how long" -- \
    sh -c "tr -d '\r' <'$MAIL' | grep -Eq '^detail:    b \(127\.0\.0\.1:$SSHD_PORT\) unreachable for [0-9]+ s'"
check_mail sync-lag a
check "... with the age and the limit" -- \
    sh -c "tr -d '\r' <'$MAIL' | grep -Eq 'b has not acknowledged data written [0-9]+ s ago \(sync_lag_alert 2 s'"
is "$(sync_kinds a)" "sync-failure sync-lag " "vipctl status lists both"
check "hs_event has them" -- event_has a problem "sync-lag: b has not acknowledged"
check "the files have not reached b" -- test ! -e "$T/b/root/data/new1"

run_sshd || bail "sshd did not restart"
check "sshd back: the files reach b" -- wait_for 30 cmp -s "$T/a/root/data/new3" "$T/b/root/data/new3"
check_mail sync-failure a resolved
check "... every standby reachable again" -- mail_has "$MAIL" "every standby is reachable and accepts the pushes"
check_mail sync-lag a resolved
check "... every standby acknowledged" -- mail_has "$MAIL" "every standby has acknowledged the data written"
check "hs_event has the resolutions" -- event_has a resolved "sync-lag:"
if [ $_tap_failed -ne 0 ]; then
    dump_logs
    tail -n 20 "$T"/?/syncd.log | sed 's/^/# /' >&2
    mail_subjects | sed 's/^/# mail: /' >&2
fi
done_testing
