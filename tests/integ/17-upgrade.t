#!/usr/bin/env bash
# builds: build-san
# Upgrades (DESIGN §8; clone/upgrade.c, watchd/upgrade.c): two nodes, each running its
# daemons from an install directory of its own ($T/NODE/sbin), a real PostgreSQL, a real
# sshd whose only key for the nodes is the sync key restricted to a's `syncd --serve`
# (README "Set up a real pair"), and an SMTP sink. The new version is the same sources
# built with VERSION=9.0.0.
#   1. a older and active, b newer: a publishes its checksums and never upgrades itself.
#   2. a newer and active, b older with auto = no: b alerts (version-mismatch), nothing else.
#   3. auto = yes, one of a's files tampered with after it published: b keeps its version,
#      installs nothing, alerts (upgrade-failed) and does not retry at every interval.
#   4. the file repaired: b's next attempt installs a's files, restarts b (the restart
#      command) and b runs 9.0.0; the alerts are resolved.
#   5. b older again, its fetch hanging (a's sshd stopped), a crashes: b claims the
#      cluster and abandons the upgrade; nothing installed, no alert.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
HS_INTERVAL=300ms HS_TAKEOVER=3s     # margins for a loaded machine
. "$HS_TOP/tests/lib/cluster.sh"
. "$HS_TOP/tests/lib/sshd.sh"
. "$HS_TOP/tests/lib/smtp.sh"
. "$HS_TOP/tests/lib/alerts.sh"
need jq make cmp sha256sum unshare /usr/bin/python3
FILES="watchd heartbeatd vipctl vipctl-full syncd hotstandby-clone"
OLD=$(cat "$HS_TOP/Makefile" | sed -n 's/^VERSION *:= *//p')
NEW=9.0.0

NEWBIN=$(version_build $NEW) || bail "build of $NEW failed"
check "the new build reports $NEW" -- test "$("$NEWBIN/watchd" -V | head -n 1)" = "watchd $NEW"

pg_start
smtp_start
start_sshd
# The sync key may only run a's receiver: the upgrade must work through that alone.
echo "restrict,command=\"$T/a/sbin/syncd --serve -c $T/a/hotstandby.conf\" $(cat "$SSH_KEY.pub")" \
    >"$SSHD_DIR/authorized_keys"

# install_root NODE DIR: the node's install directory holds the binaries of DIR
install_root() {
    mkdir -p "$T/$1/sbin"
    local f
    for f in $FILES; do install -m 0755 "$2/$f" "$T/$1/sbin/$f"; done
}
# same_files DIR1 DIR2: the six binaries are byte for byte the same
same_files() {
    local f
    for f in $FILES; do cmp -s "$1/$f" "$2/$f" || return 1; done
}
# What systemctl restart does for the units, as [upgrade] restart of this test; the
# upgrade gives it HOTSTANDBY_NODE.
cat >"$T/restart.sh" <<SH
#!/bin/sh
n=\$HOTSTANDBY_NODE
echo "\$n \$(date +%s%3N)" >> $T/restarts.log
for d in watchd heartbeatd; do kill -TERM \$(cat $T/\$n/\$d.pid) 2>/dev/null; done
for i in \$(seq 200); do
    kill -0 \$(cat $T/\$n/watchd.pid) 2>/dev/null || kill -0 \$(cat $T/\$n/heartbeatd.pid) 2>/dev/null || break
    sleep 0.05
done
for d in watchd heartbeatd; do
    $T/\$n/sbin/\$d -c $T/\$n/hotstandby.conf >> $T/\$n/\$d.log 2>&1 &
    echo \$! > $T/\$n/\$d.pid
done
SH
chmod 755 "$T/restart.sh"
at_exit 'for p in "$T"/?/watchd.pid "$T"/?/heartbeatd.pid; do kill -9 $(cat "$p") 2>/dev/null; done'

# conf NODE AUTO
conf() {
    mkdir -p "$T/$1/root/data"
    mapfile -t NOTIFY < <(notify_lines)
    node_conf "$1" 100 "${NOTIFY[@]}" "[sync]" "root = $T/$1/root" "paths = /data" \
        "peers = a=127.0.0.1:$SSHD_PORT, b=127.0.0.1:$SSHD_PORT" "ssh_key = $SSH_KEY" \
        "known_hosts = $KNOWN_HOSTS" "[upgrade]" "auto = $2" "restart = $T/restart.sh"
}
start() { HS_BIN=$T/$1/sbin node_start "$1"; }
release() { psql_hs "SELECT node || ' ' || version FROM hs_release WHERE cluster = '$HS_CLUSTER'"; }
release_is() { [ "$(release)" = "$1" ]; }
version_of() { psql_hs "SELECT version FROM hs_node WHERE cluster = '$HS_CLUSTER' AND node = '$1'"; }
version_is() { [ "$(version_of "$1")" = "$2" ]; }
has_problem() { problem_kinds "$1" | grep -qw "$2"; }
upgraded_events() { psql_hs "SELECT count(*) FROM hs_event WHERE cluster = '$HS_CLUSTER' AND kind = 'upgraded'"; }
attempts() { grep -c 'upgrading (\[upgrade\] auto = yes)' "$T/b/watchd.log"; }

# ---- 1. a older and active, b newer: the active never upgrades itself ----
install_root a "$HS_BIN"
install_root b "$NEWBIN"
conf a yes
conf b yes
start a
check "a ($OLD) is active" -- wait_role a active 30
start b
check "b ($NEW) is standby" -- wait_role b standby 30
check "a publishes its release" -- wait_for 30 release_is "a $OLD"
manifest=$(psql_hs "SELECT manifest FROM hs_release WHERE cluster = '$HS_CLUSTER'")
want=$(cd "$T/a/sbin" && for f in $FILES; do echo "$f $(stat -c %s $f) $(sha256sum <$f | cut -d' ' -f1)"; done)
got=$(echo "$manifest" | jq -r '.files[] | "\(.name) \(.size) \(.sha256)"')
is "$got" "$want" "the published manifest holds name, size and SHA-256 of a's six binaries"
is "$(psql_hs "SELECT active_version FROM hs_cluster WHERE cluster = '$HS_CLUSTER'")" "$OLD" \
    "hs_cluster.active_version is a's version"
sleep 5   # 5 self-monitoring rounds of both nodes
check "a (active, older than b) did not upgrade itself" -- same_files "$T/a/sbin" "$HS_BIN"
check "b (newer) did not go back to a's version" -- same_files "$T/b/sbin" "$NEWBIN"
is "$(upgraded_events)" 0 "no upgrade happened"
check "no restart" -- test ! -e "$T/restarts.log"
check "no attempt was even made" -- test "$(grep -c 'hotstandby-clone upgrade' "$T/a/watchd.log" "$T/b/watchd.log" | awk -F: '{s+=$2} END {print s}')" = 0
node_stop b
node_stop a

# ---- 2. a newer and active, b older, auto = no: only the alert ----
install_root a "$NEWBIN"
install_root b "$HS_BIN"
conf a no
conf b no
start a
check "a ($NEW) is active" -- wait_role a active 30
start b
check "b ($OLD) is standby" -- wait_role b standby 30
check "a publishes its new release" -- wait_for 30 release_is "a $NEW"
check "b reports that it is older (version-mismatch in its status)" -- wait_for 30 has_problem b version-mismatch
check "... recorded in hs_event" -- event_has b problem "version-mismatch: b has $OLD, older than $NEW on the active a: upgrade it"
check_mail version-mismatch b
sleep 3
check "auto = no: b's files are unchanged" -- same_files "$T/b/sbin" "$HS_BIN"
is "$(upgraded_events)" 0 "no upgrade happened"
is "$(attempts)" 0 "no upgrade was attempted"

# ---- 3. auto = yes and a tampered file on the active: old version kept, alert ----
# same size, other bytes: only the checksum can tell
printf 'tampered' | dd of="$T/a/sbin/vipctl" bs=1 seek=4096 conv=notrunc status=none
node_stop b
conf a yes
conf b yes
t0=$SECONDS
start b
check "b is standby again" -- wait_role b standby 30
check "b raises upgrade-failed" -- wait_for 60 has_problem b upgrade-failed
sleep 3   # 10 more intervals
n=$(attempts) secs=$((SECONDS - t0))
# one attempt per interval would make secs / 0.3 of them; spaced, at most one per 10 s
ok $((n > 1 + secs / 10)) "attempts are spaced, not one per interval ($n in $secs s)"
check "... the log says when the next one comes (10 s or more)" -- \
    grep -qE 'upgrade failed \(next attempt in (9|[1-9][0-9]+) s\)' "$T/b/watchd.log"
check "... recorded in hs_event, naming the file and the checksum" -- \
    event_has b problem "upgrade-failed: upgrade to $NEW failed: vipctl from a: SHA-256"
check_mail upgrade-failed b
check "... saying nothing was installed" -- mail_has "$MAIL" "nothing installed, $OLD kept"
check "b's files are unchanged" -- same_files "$T/b/sbin" "$HS_BIN"
check "no temporary or backup file was left" -- test -z "$(ls -A "$T/b/sbin" | grep -v -x -e watchd -e heartbeatd -e vipctl -e vipctl-full -e syncd -e hotstandby-clone)"
check "b was not restarted" -- test ! -e "$T/restarts.log"
is "$(version_of b)" "$OLD" "b still runs $OLD"

# ---- 4. the file repaired: the next attempt upgrades b ----
install -m 0755 "$NEWBIN/vipctl" "$T/a/sbin/vipctl"
check "b restarts itself through [upgrade] restart" -- wait_for 90 grep -q '^b ' "$T/restarts.log"
check "b's files are now a's, byte for byte" -- same_files "$T/b/sbin" "$T/a/sbin"
check "the old files are kept beside them as *.hs-old" -- \
    bash -c "for f in $FILES; do cmp -s $T/b/sbin/\$f.hs-old $HS_BIN/\$f || exit 1; done"
check "b's restarted heartbeatd reports $NEW" -- wait_for 30 version_is b "$NEW"
check "b is standby after its restart" -- wait_role b standby 30
status_version=$(vipctl_node b status --json | jq -r '.nodes[] | select(.name == "b") | .version')
is "$status_version" "$NEW" "vipctl status shows b at $NEW"
check "hs_event records the upgrade" -- event_has b upgraded "$OLD -> $NEW: the files of a"
check "upgrade-failed is resolved once b runs $NEW" -- wait_for 30 event_has b resolved "upgrade-failed: this node runs $NEW"
check_mail upgrade-failed b resolved
check "version-mismatch of b is resolved" -- wait_for 30 event_has b resolved "version-mismatch"
check "a is still the active" -- test "$(holder)" = a

# ---- 5. b claims the cluster while it upgrades: the upgrade is abandoned ----
node_stop b
install_root b "$HS_BIN"
rm -f "$T"/b/sbin/*.hs-old
kill -STOP "$SSHD_PID"   # a's sshd hangs: b's fetch waits for it
at_exit "kill -CONT $SSHD_PID"
n=$(attempts)
start b
check "b ($OLD) is standby" -- wait_role b standby 30
check "b starts an upgrade (its fetch waits for a's sshd)" -- wait_for 60 bash -c "[ \$(grep -c 'upgrading (\[upgrade\] auto = yes)' $T/b/watchd.log) -gt $n ]"
node_crash a
check "b takes over" -- wait_role b active 30
check "b abandoned the upgrade when it claimed the cluster" -- \
    wait_for 30 grep -q 'the upgrade in progress is abandoned' "$T/b/watchd.log"
check "... and its child is gone" -- wait_for 30 grep -q 'upgrade not done' "$T/b/watchd.log"
check "nothing was installed on b" -- same_files "$T/b/sbin" "$HS_BIN"
check "no temporary file was left" -- test -z "$(ls -A "$T/b/sbin" | grep -v -x -e watchd -e heartbeatd -e vipctl -e vipctl-full -e syncd -e hotstandby-clone)"
is "$(upgraded_events)" 1 "no upgrade was recorded"
is "$(wc -l <"$T/restarts.log")" 1 "b was not restarted"
has_problem b upgrade-failed
is "$?" 1 "no upgrade-failed alert for it"
kill -CONT "$SSHD_PID"
done_testing
