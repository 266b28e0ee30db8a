#!/usr/bin/env bash
# [shared] folder alerts (watchd/shared.c, selfmon.c), in a mount namespace this test makes
# (unshare -m: nothing it mounts is seen outside). The folder is a tmpfs; node b runs in a
# namespace of its own holding a copy of the same mount. On a: remounted read-only ->
# "shared-folder on a"; read-write again -> resolved; unmounted -> "not a mount point";
# another filesystem mounted there -> resolved, and the active reports that the nodes see
# different filesystems ("shared-folder-mismatch on a"); the right one back -> resolved.
if [ -z "${HS_IN_MOUNT_NS:-}" ]; then
    command -v unshare >/dev/null || { echo "not ok - missing tool 'unshare': run 'bash scripts/deps.sh'"; exit 1; }
    HS_IN_MOUNT_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
HS_INTERVAL=500ms HS_TAKEOVER=5s     # margins for a loaded machine
. "$HS_TOP/tests/lib/cluster.sh"
. "$HS_TOP/tests/lib/smtp.sh"
. "$HS_TOP/tests/lib/alerts.sh"
need jq /usr/bin/python3 mount umount nsenter
SHARED=$T/shared
mkdir -p "$SHARED"
mount -t tmpfs -o size=1m hsshare "$SHARED" || bail "cannot mount a tmpfs in the test's mount namespace"
umount_at_exit "$SHARED"
pg_start
smtp_start
mapfile -t NOTIFY < <(notify_lines)
node_conf a 100 "[shared]" "folder = $SHARED" "${NOTIFY[@]}"
node_conf b 100 "[shared]" "folder = $SHARED" "${NOTIFY[@]}"
node_start a
check "a active" -- wait_role a active 30
# b's watchd in a mount namespace of its own: a private copy of the mounts as they are now
unshare -m --propagation private "$HS_BIN/watchd" -c "$T/b/hotstandby.conf" >>"$T/b/watchd.log" 2>&1 &
echo $! >"$T/b/watchd.pid"
at_exit "kill -9 $! 2>/dev/null"
node_start_heartbeatd b
check "b standby" -- wait_role b standby 30
fsid_of() { psql_hs "SELECT shared_fsid FROM hs_node WHERE cluster='$HS_CLUSTER' AND node='$1'"; }
_fsid_is() { [ "$(fsid_of "$1")" = "$2" ]; }
check "a publishes its folder as 'tmpfs hsshare /'" -- wait_for 10 _fsid_is a "tmpfs hsshare /"
check "b publishes the same" -- wait_for 10 _fsid_is b "tmpfs hsshare /"
sleep 2
is "$(problem_kinds a)" "" "no problems while the folder is mounted and writable"

# 1. read-only
mount -o remount,ro "$SHARED"
check_mail shared-folder a
check "... read-only" -- mail_has "$MAIL" "detail:    $SHARED is mounted read-only"
is "$(problem_kinds a)" "shared-folder" "vipctl status on a lists it"
mount -o remount,rw "$SHARED"
check_mail shared-folder a resolved
check "... mounted and writable again" -- mail_has "$MAIL" "the shared folder is mounted and writable"

# 2. unmounted: the same kind again within a minute is de-duplicated by the mailer (one
# mail with a count when the window ends), so this one is read from hs_event and status
umount "$SHARED"
check "a reports: not a mount point" -- wait_for 20 event_has a problem "is not a mount point"
check "... in vipctl status" -- wait_for 10 sh -c "'$HS_BIN/vipctl' -c '$T/a/hotstandby.conf' status --json | jq -e '.problems[] | select(.kind == \"shared-folder\") | .detail | test(\"not a mount point\")' >/dev/null"

# 3. a different filesystem on a than on b
mount -t tmpfs -o size=1m othershare "$SHARED"
check "a resolves: mounted again" -- wait_for 20 event_has a resolved "shared-folder: the shared folder is mounted and writable"
# the active reports it (a, unless the loaded machine made it fence meanwhile)
h=$(holder)
check_mail shared-folder-mismatch "$h"
check "... naming both filesystems" -- sh -c "tr -d '\r' <'$MAIL' | grep -Eq 'a has tmpfs othershare /; b has tmpfs hsshare /|b has tmpfs hsshare /; a has tmpfs othershare /'"
umount "$SHARED"
mount -t tmpfs -o size=1m hsshare "$SHARED"
check_mail shared-folder-mismatch "$h" resolved
check "... the same filesystem again" -- mail_has "$MAIL" "every node sees the same shared filesystem"
event_has "$h" problem "shared-folder-mismatch:" && event_has "$h" resolved "shared-folder-mismatch:"
ok $? "hs_event has the mismatch raised and resolved"
if [ $_tap_failed -ne 0 ]; then
    dump_logs
    mail_subjects | sed 's/^/# mail: /' >&2
fi
done_testing
