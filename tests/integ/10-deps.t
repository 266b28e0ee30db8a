#!/usr/bin/env bash
# builds: build
# scripts/deps.sh on a machine where sshd and PostgreSQL run as the packaged services:
# after it has gone through its install path, both still run, and the machine's own
# policy-rc.d is back byte for byte (also after a run that was killed half way).
# The "machine" is a private mount namespace: /run, /etc/postgresql, /var/lib/postgresql,
# /var/log/postgresql and /usr/sbin are private there, so the init scripts deps.sh could
# call see only this test's sshd and cluster, and systemctl cannot reach the host's systemd.
. "$(dirname "$0")/../lib/common.sh"
need unshare /usr/sbin/sshd ssh-keygen pg_createcluster pg_ctlcluster
PG_VER=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
SSH_PORT=$(free_port)
PG_PORT=$(free_port)
mkdir -p "$T/sbin" "$T/run" "$T/etcpg" "$T/libpg" "$T/logpg" "$T/ssh"
cp -a /usr/sbin/. "$T/sbin/"
rm -f "$T/sbin/policy-rc.d"
printf '#!/bin/sh\n# the machine'"'"'s own policy\nexit 101\n' > "$T/sbin/policy-rc.d"
chmod 755 "$T/sbin/policy-rc.d"
cp "$T/sbin/policy-rc.d" "$T/policy.orig"
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/host" || bail ssh-keygen


# Everything below runs only where the private mounts are (the marker lives in the private
# /run): never on this machine's own /etc/postgresql or /run.
cat > "$T/start.sh" <<SH
set -e
[ -e /run/hs-deps-private ] || { echo "not in the private namespace" >&2; exit 1; }
/usr/sbin/sshd -o Port=$SSH_PORT -o ListenAddress=127.0.0.1 -o HostKey=$T/ssh/host \
    -o PidFile=/run/sshd.pid -o UsePAM=no -E $T/ssh/log
pg_createcluster -p $PG_PORT $PG_VER hsdeps >/dev/null
pg_ctlcluster $PG_VER hsdeps start
SH
cat > "$T/cleanup.sh" <<SH
[ -e /run/hs-deps-private ] || exit 1
pg_ctlcluster $PG_VER hsdeps stop -m immediate
kill \$(cat /run/sshd.pid)
SH
# The namespace lives as long as a process in it: a sleeper holds it for the whole test.
unshare -m --propagation private bash -c "set -e
    mount -t tmpfs none /run; mount --bind $T/sbin /usr/sbin; mount --bind $T/etcpg /etc/postgresql
    mount --bind $T/libpg /var/lib/postgresql; mount --bind $T/logpg /var/log/postgresql
    mkdir -p /run/sshd /run/lock /run/postgresql; chown postgres: /run/postgresql $T/libpg $T/logpg
    touch /run/hs-deps-private
    echo \$\$ > $T/holder.pid
    exec sleep 3600" &
at_exit "kill $!"
# the holder writes its pid once every mount is in place (not before: /run/sshd exists here too)
wait_for 60 test -s "$T/holder.pid" || bail "namespace did not come up"
HOLDER=$(cat "$T/holder.pid")
[ -e "/proc/$HOLDER/root/run/hs-deps-private" ] || bail "namespace without its private /run"
machine() { nsenter -t "$HOLDER" -m -- "$@"; }
at_exit "machine bash $T/cleanup.sh"
machine bash "$T/start.sh" >"$T/start.log" 2>&1 || bail "start: $(tail -n 3 "$T/start.log")"

sshd_up() { machine sh -c 'kill -0 $(cat /run/sshd.pid)' && (exec 3<>/dev/tcp/127.0.0.1/$SSH_PORT); }
pg_up() { machine runuser -u postgres -- psql -qAt -p "$PG_PORT" -h /run/postgresql -c 'select 1' >/dev/null; }
check "before: the machine's sshd runs" -- wait_for 60 sshd_up
check "before: the machine's PostgreSQL runs" -- wait_for 60 pg_up

machine env HS_DEPS_FORCE=1 bash "$HS_TOP/scripts/deps.sh" >"$T/deps.log" 2>&1
ok $? "deps.sh went through its install path"; grep -q 'deps: installing' "$T/deps.log" || diag "$(cat "$T/deps.log")"
sleep 1
check "after: sshd still runs" -- sshd_up
check "after: PostgreSQL still runs" -- pg_up
check "the machine's policy-rc.d is back, unchanged" -- cmp "$T/policy.orig" "$T/sbin/policy-rc.d"
check "and nothing else is left beside it" -- test ! -e "$T/sbin/policy-rc.d.hotstandby-orig"

# A run killed while apt-get ran leaves its policy in place: the next run puts the old one back.
machine bash -c "mv /usr/sbin/policy-rc.d /usr/sbin/policy-rc.d.hotstandby-orig
    printf '#!/bin/sh\n# hotstandby deps.sh policy\nexit 101\n' > /usr/sbin/policy-rc.d"
machine env HS_DEPS_FORCE=1 bash "$HS_TOP/scripts/deps.sh" >"$T/deps2.log" 2>&1
check "after a killed run, the next run restores the machine's policy-rc.d" -- cmp "$T/policy.orig" "$T/sbin/policy-rc.d"
check "sshd still runs" -- sshd_up
check "PostgreSQL still runs" -- pg_up

# The groups: --runtime is libraries only (what a server needs), and every group is listed.
rt=$(bash "$HS_TOP/scripts/deps.sh" --runtime --list)
check "--runtime lists the shared libraries only" -- sh -c "! printf '%s\n' '$rt' | grep -qvE '^lib'"
check "--runtime includes libpq5 and libssh2-1" -- sh -c "printf '%s\n' '$rt' | grep -qx libpq5 && printf '%s\n' '$rt' | grep -qx libssh2-1"
check "the default installs build, test and bench too" -- sh -c "bash '$HS_TOP/scripts/deps.sh' --list | grep -qx postgresql"
bash "$HS_TOP/scripts/deps.sh" --bogus >/dev/null 2>&1
is $? 2 "an unknown argument is a usage error"
done_testing
