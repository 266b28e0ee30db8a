#!/usr/bin/env bash
# builds: build-san
# Two hosts set up as README "Set up a real pair" says: each host is a network namespace
# (its own address and sshd with generated keys) plus a mount namespace, so they share
# neither /etc (hence /etc/hotstandby), /usr/local (the install prefix), /root, /srv nor
# /run, /var/log nor /var/tmp (overlays on this machine's /etc and /usr/local, tmpfs for
# /root and /run, directories of the test for the rest); a third namespace runs the PostgreSQL both reach over the LAN; a tmpfs both mount
# is the shared folder. a gets `make install` and its config; Clone_primary_server.sh on a
# and Configure_failover_server.sh on b make b a standby; b takes over when a loses power,
# and files written on a reach b. Then each preflight check is made to fail for real.
. "$(dirname "$0")/../lib/common.sh"
. "$HS_TOP/tests/lib/pg.sh"
. "$HS_TOP/tests/lib/netns.sh"
need nsenter unshare /usr/sbin/sshd ssh-keygen make socat mountpoint
# syncd's daemons inherit this (the known libinotifytools leak, as in tests/lib/syncd.sh)
export LSAN_OPTIONS="suppressions=$HS_TOP/tests/lib/lsan-syncd.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
netns_usable || bail "network namespaces cannot be created here (need root)"
B=$(basename "$HS_BIN")
netns_lan_setup a b db      # a 192.0.2.1, b 192.0.2.2, db 192.0.2.3
A=192.0.2.1 BB=192.0.2.2 DB=192.0.2.3 VIP=192.0.2.100

# ---- the database server ----
pg_start_ns db "$DB"

# ---- the shared folder (an "NFS mount" both hosts see) ----
mkdir -p "$T/shared"
mount -t tmpfs -o size=8m hs-shared "$T/shared" || bail "tmpfs"
umount_at_exit "$T/shared"

# ---- two hosts ----
host_up() {
    local h=$1 d=$T/$1
    mkdir -p "$d"/{etc,usr,varlib}/{up,work} "$d/srv/shared" "$d/srv/data" "$d/ssh" "$d/log" "$d/vartmp"
    cat >"$d/boot.sh" <<SH
set -e
mount --make-rprivate /
for m in etc:/etc usr:/usr/local varlib:/var/lib; do   # /var/lib: syncd state_dir, per host
    mount -t overlay overlay -o lowerdir=\${m#*:},upperdir=$d/\${m%%:*}/up,workdir=$d/\${m%%:*}/work \${m#*:}
done
mount --bind $d/srv /srv
rm -rf /var/lib/hotstandby   # in this host's /var/lib overlay only: a fresh server keeps no syncd state
mount --bind $d/log /var/log
mount --bind $d/vartmp /var/tmp
mount --bind $T/shared /srv/shared
mount -t tmpfs none /run
mount -t tmpfs -o mode=0700 none /root   # a fresh server's root: none of this machine's dotfiles
mkdir -p /run/sshd /run/lock /root/.ssh
hostname $h
echo \$\$ > $d/holder.pid
exec sleep 100000
SH
    netns_exec "$h" unshare -m -u bash "$d/boot.sh" &
    wait_for 60 test -s "$d/holder.pid" || bail "host $h did not come up"
}
in_host() { local h=$1; shift; nsenter -t "$(cat "$T/$h/holder.pid")" -m -u -n -- "$@"; }
host_up a
host_up b
for h in a b; do
    in_host $h sh -c "printf '$A a\n$BB b\n$DB db\n' >> /etc/hosts"
    ssh-keygen -q -t ed25519 -N '' -C "$h-host" -f "$T/$h/ssh/host_ed25519"
    in_host $h ssh-keygen -q -t ed25519 -N '' -C "$h-admin" -f /root/.ssh/id_ed25519
    addr=$([ $h = a ] && echo $A || echo $BB)
    cat >"$T/$h/ssh/sshd_config" <<CONF
ListenAddress $addr
Port 22
HostKey $T/$h/ssh/host_ed25519
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile /run/sshd.pid
MaxStartups 100
CONF
    in_host $h /usr/sbin/sshd -f "$T/$h/ssh/sshd_config" -E "$T/$h/ssh/sshd.log" || bail "sshd $h"
done
# Keys both ways (the operator's login), and the cluster's sync key with its restriction.
ssh-keygen -q -t ed25519 -N '' -C sync -f "$T/sync_ed25519"
for h in a b; do
    o=$([ $h = a ] && echo b || echo a)
    { in_host $o cat /root/.ssh/id_ed25519.pub
      echo "restrict,command=\"/usr/local/sbin/syncd --serve -c /etc/hotstandby/hotstandby.conf\" $(cat "$T/sync_ed25519.pub")"
    } | in_host $h sh -c 'cat >> /root/.ssh/authorized_keys'
    for n in a b; do
        addr=$([ $n = a ] && echo $A || echo $BB)
        echo "$n,$addr $(cut -d' ' -f1,2 "$T/$n/ssh/host_ed25519.pub")"
    done | in_host $h sh -c 'cat >> /root/.ssh/known_hosts'
done

# ---- a: make install and the cluster configuration (README "Set up a real pair") ----
in_host a make -s -C "$HS_TOP" B="$B" install >"$T/install.log" 2>&1
ok $? "make install on a" || diag "$(tail -n 5 "$T/install.log")"
check "b has no hotstandby installed (separate prefix)" -- in_host b test ! -e /usr/local/sbin/watchd
in_host a sh -c "cat > /etc/hotstandby/hotstandby.conf" <<CONF
include = node.conf
[cluster]
name = pair
primary = a
connection = vip
database_file = /etc/hotstandby/database.conninfo
[heartbeat]
interval = 200ms
takeover_timeout = 2s
[vip]
address = $VIP
netmask = 24
garp_count = 1
[sync]
paths = /srv/data
peers = a=$A, b=$BB
ssh_key = /etc/hotstandby/sync_ed25519
known_hosts = /etc/hotstandby/known_hosts
[shared]
folder = /srv/shared
[service]
start = setsid -f socat TCP-LISTEN:8080,fork,reuseaddr SYSTEM:hostname; for i in \$(seq 100); do socat -u /dev/null TCP:127.0.0.1:8080 2>/dev/null && exit 0; sleep 0.1; done; exit 1
stop = fuser -k -n tcp 8080 >/dev/null 2>&1; true
hook_timeout = 5s
port = 8080
CONF
in_host a sh -c "printf '[cluster]\nnode = a\naddress = $A\n[vip]\ninterface = eth0\n' > /etc/hotstandby/node.conf"
in_host a sh -c "echo 'host=$DB port=5432 dbname=hs user=postgres' > /etc/hotstandby/database.conninfo; chmod 600 /etc/hotstandby/database.conninfo"
in_host a install -m 0600 "$T/sync_ed25519" /etc/hotstandby/sync_ed25519
in_host a cp /root/.ssh/known_hosts /etc/hotstandby/known_hosts
check "a's configuration is valid" -- in_host a /usr/local/sbin/watchd -t
in_host a /usr/local/sbin/hotstandby-clone start >"$T/a-start.log" 2>&1
role() { in_host "$1" /usr/local/sbin/vipctl status --json 2>/dev/null | jq -r '.watchd.role // empty'; }
is_role() { [ "$(role "$1")" = "$2" ]; }
check "a runs as active" -- wait_for 30 is_role a active

# ---- Clone_primary_server.sh on a, Configure_failover_server.sh on b ----
in_host a /usr/local/sbin/Clone_primary_server.sh --to b >"$T/clone.log" 2>&1
ok $? "Clone_primary_server.sh --to b succeeds on a" || diag "$(cat "$T/clone.log")"
check "its preflight printed PASS lines" -- grep -q '^PASS  database ' "$T/clone.log"
check "b got the binaries (same checksums as a's installed-files)" -- \
    in_host b sh -c "cd / && sed 's|  /|  |' /usr/local/share/hotstandby/installed-files | sha256sum -c --quiet -"
check "b got the shared config unchanged" -- \
    cmp "$T/a/etc/up/hotstandby/hotstandby.conf" "$T/b/etc/up/hotstandby/hotstandby.conf"
check "b's node.conf names b" -- grep -qx 'node = b' "$T/b/etc/up/hotstandby/node.conf"
check "b is registered in the database" -- test "$(psql_hs "SELECT address FROM hs_node WHERE cluster='pair' AND node='b'")" = $BB
check "a is active again after the clone" -- wait_for 30 is_role a active

$HS_TOP/scripts/Configure_failover_server.sh --help >"$T/help.log" 2>&1
ok $? "Configure_failover_server.sh --help"
in_host b "$HS_TOP/scripts/Configure_failover_server.sh" --from a >"$T/configure.log" 2>&1
ok $? "Configure_failover_server.sh --from a succeeds on b" || diag "$(cat "$T/configure.log")"
check "b's preflight passed" -- grep -q '^preflight passed' "$T/configure.log"
check "b runs as standby" -- wait_for 30 is_role b standby
check "a is still active (no preemption)" -- is_role a active
digests=$(psql_hs "SELECT count(DISTINCT config_digest) || ' ' || min(length(config_digest)) FROM hs_node WHERE cluster='pair'")
is "$digests" "1 64" "both nodes publish the same configuration digest"

# ---- files written on the active reach the standby ----
in_host a sh -c 'echo hello > /srv/data/greeting'
check "a file written on a reaches b" -- wait_for 30 grep -qx hello "$T/b/srv/data/greeting"

# ---- every preflight check failing for real (run on b, peer a) ----
pf() { in_host b /usr/local/sbin/hotstandby-clone "$@"; }
pf preflight --peer a >"$T/pf-ok.log" 2>&1
ok $? "preflight --peer a passes on b" || diag "$(cat "$T/pf-ok.log")"
check "vip free: the VIP answers from a, the active" -- grep -q "^PASS  vip free .*$VIP is held by a (MAC $(netns_mac a)), the cluster's active" "$T/pf-ok.log"

other=$(version_build 9.0.0) || bail "build of 9.0.0 failed"
in_host a cp /usr/local/sbin/hotstandby-clone /root/clone.keep
in_host a cp "$other/hotstandby-clone" /usr/local/sbin/hotstandby-clone
pf preflight --peer a >"$T/pf.log" 2>&1
is $? 1 "wrong version on the peer: preflight exits 1"
check "and says which versions" -- grep -q '^FAIL  version .*9.0.0' "$T/pf.log"
in_host a cp /root/clone.keep /usr/local/sbin/hotstandby-clone

pg_stop
pf preflight --peer a >"$T/pf.log" 2>&1
is $? 1 "database down: preflight exits 1"
check "FAIL database: not reachable" -- grep -q '^FAIL  database .*not reachable' "$T/pf.log"
pg_ctl_start || bail "postgres restart"

in_host b sh -c ': > /root/empty_known_hosts'
pf -k /root/empty_known_hosts preflight --peer a >"$T/pf.log" 2>&1
is $? 1 "unknown host key: preflight exits 1"
check "FAIL ssh naming the host and the file" -- grep -q '^FAIL  ssh .*empty_known_hosts' "$T/pf.log"

in_host b sh -c 'mkdir -p /root/alt && sed "s/^address = 192.0.2.100/address = 203.0.113.10/" /etc/hotstandby/hotstandby.conf > /root/alt/hotstandby.conf && cp /etc/hotstandby/node.conf /etc/hotstandby/database.conninfo /root/alt/'
in_host b sed -i 's|/etc/hotstandby/database.conninfo|/root/alt/database.conninfo|' /root/alt/hotstandby.conf
pf -c /root/alt/hotstandby.conf preflight >"$T/pf.log" 2>&1
is $? 1 "VIP outside the subnet: preflight exits 1"
check "FAIL vip subnet" -- grep -q '^FAIL  vip subnet .*203.0.113.10 is outside' "$T/pf.log"

in_host b mount -o remount,bind,ro /srv/shared
pf preflight --peer a >"$T/pf.log" 2>&1
is $? 1 "shared folder read-only: preflight exits 1"
check "FAIL shared folder: not writable" -- grep -q '^FAIL  shared folder .*not writable' "$T/pf.log"
in_host b mount -o remount,bind,rw /srv/shared

in_host a sed -i 's/^port = 8080/port = 8443/' /etc/hotstandby/hotstandby.conf
pf preflight --peer a >"$T/pf.log" 2>&1
is $? 1 "different service port on the peer: preflight exits 1"
check "FAIL service port with both ports" -- grep -q '^FAIL  service port .*8080.*8443' "$T/pf.log"
in_host a sed -i 's/^port = 8443/port = 8080/' /etc/hotstandby/hotstandby.conf

in_host b env HS_TEST_CLOCK_OFFSET_MS=5000 /usr/local/sbin/hotstandby-clone preflight --peer a >"$T/pf.log" 2>&1
is $? 1 "clock skewed by 5 s (test-only offset): preflight exits 1"
check "FAIL clock peer and clock database" -- sh -c "grep -q '^FAIL  clock peer' '$T/pf.log' && grep -q '^FAIL  clock database' '$T/pf.log'"

in_host b /usr/local/sbin/vipctl forget a >"$T/forget.log" 2>&1
is $? 3 "vipctl forget refuses a live node (exit 3)"

# ---- a loses power: b takes over ----
netns_power_cut a
check "b takes over when a loses power" -- wait_for 30 is_role b active
check "the VIP is on b" -- wait_for 10 in_host b sh -c "ip -br addr show dev eth0 | grep -q '$VIP/24'"
check "the service answers on b's port 8080" -- wait_for 10 in_host b bash -c "exec 3<>/dev/tcp/$VIP/8080"
in_host b /usr/local/sbin/vipctl forget b >"$T/forget.log" 2>&1
is $? 3 "vipctl forget refuses the holder (exit 3)"
sleep 2.5   # a's row ages past takeover_timeout
check "vipctl forget removes a node that is gone" -- in_host b /usr/local/sbin/vipctl forget a
is "$(psql_hs "SELECT count(*) FROM hs_node WHERE cluster='pair' AND node='a'")" 0 "a is no longer in hs_node"
done_testing
