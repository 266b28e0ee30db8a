#!/usr/bin/env bash
# builds: build
# make install / uninstall under DESTDIR, checked file by file; the generated units pass
# systemd-analyze verify (with the installed binaries and man pages in place, in a private
# mount namespace); every man page is lint-clean; install variables reach the units.
. "$(dirname "$0")/../lib/common.sh"
need make sha256sum systemd-analyze mandoc unshare
B=$(basename "$HS_BIN")
D=$T/dest
mk() { make -s -C "$HS_TOP" B="$B" "$@"; }

mk install DESTDIR="$D" >"$T/install.log" 2>&1
ok $? "make install DESTDIR=... succeeds" || diag "$(tail -n 5 "$T/install.log")"

bins="heartbeatd watchd vipctl vipctl-full syncd"
[ -x "$HS_BIN/hotstandby-clone" ] && bins="$bins hotstandby-clone"
units="hotstandby-heartbeatd.service hotstandby-watchd.service hotstandby-syncd.service
       hotstandby-syncd-once.service hotstandby-syncd-once.timer"
want=$(
    for b in $bins Clone_primary_server.sh Configure_failover_server.sh; do echo "/usr/local/sbin/$b"; done
    for m in $(cd "$HS_TOP" && ls */*.8); do echo "/usr/local/share/man/man8/$(basename "$m")"; done
    for m in $(cd "$HS_TOP" && ls */*.5); do echo "/usr/local/share/man/man5/$(basename "$m")"; done
    for u in $units; do echo "/etc/systemd/system/$u"; done
    echo /usr/local/share/hotstandby/schema.sql
    echo /usr/local/share/hotstandby/installed-files
    echo /usr/local/share/hotstandby/created-config
    echo /etc/hotstandby/hotstandby.conf.example
    echo /etc/hotstandby/hotstandby.conf
)
got=$(cd "$D" && find . -type f | sed 's|^\.||' | sort)
is "$got" "$(echo "$want" | sort)" "exactly the expected files are installed"
for b in $bins; do
    cmp -s "$HS_BIN/$b" "$D/usr/local/sbin/$b"; ok $? "$b installed from the build"
done
is "$(stat -c %a "$D/usr/local/sbin/watchd")" 755 "binaries are 0755"
is "$(stat -c %a "$D/etc/hotstandby/hotstandby.conf")" 640 "the created config is 0640"
check "schema.sql is the repository's" -- cmp "$HS_TOP/common/schema.sql" "$D/usr/local/share/hotstandby/schema.sql"
check "installed-files lists every installed file with a matching sha256" -- \
    sh -c "cd '$D' && sed 's|  /|  |' usr/local/share/hotstandby/installed-files | sha256sum -c --quiet -"
is "$(wc -l <"$D/usr/local/share/hotstandby/installed-files")" \
    "$(echo "$want" | grep -vc -e installed-files -e created-config -e '/hotstandby.conf$')" \
    "installed-files has one line per installed file"
check "units run the binaries from sbindir with the config from sysconfdir" -- \
    grep -q '^ExecStart=/usr/local/sbin/watchd -c /etc/hotstandby/hotstandby.conf$' "$D/etc/systemd/system/hotstandby-watchd.service"
check "watchd's unit takes the address down however watchd stopped" -- \
    grep -q '^ExecStopPost=-/usr/local/sbin/vipctl -c /etc/hotstandby/hotstandby.conf down$' "$D/etc/systemd/system/hotstandby-watchd.service"
check "watchd starts after heartbeatd (and so stops before it)" -- \
    grep -q '^After=.*hotstandby-heartbeatd.service' "$D/etc/systemd/system/hotstandby-watchd.service"
for u in heartbeatd watchd syncd; do
    f=$D/etc/systemd/system/hotstandby-$u.service
    check "$u: Type=notify, WatchdogSec, Restart=on-failure, NoNewPrivileges" -- sh -c \
        "grep -qx Type=notify '$f' && grep -q '^WatchdogSec=' '$f' && grep -qx Restart=on-failure '$f' && grep -qx NoNewPrivileges=yes '$f'"
    check "$u: GnuTLS not initialised at load (Environment=GNUTLS_NO_IMPLICIT_INIT=1)" -- \
        grep -qx Environment=GNUTLS_NO_IMPLICIT_INIT=1 "$f"
done
is "$(grep '^CapabilityBoundingSet=' "$D/etc/systemd/system/hotstandby-heartbeatd.service")" \
    "CapabilityBoundingSet=" "heartbeatd has no capabilities"

# systemd-analyze verify needs the binaries and man pages at their installed paths.
cat >"$T/verify.sh" <<SH
mount --make-rprivate /
mount --bind "$D/usr/local" /usr/local
cd /
MANPATH=/usr/local/share/man SYSTEMD_LOG_LEVEL=notice systemd-analyze verify $(for u in $units; do printf '%s ' "$D/etc/systemd/system/$u"; done)
SH
unshare -m sh "$T/verify.sh" >"$T/verify.log" 2>&1
ok $? "systemd-analyze verify passes for every unit" || diag "$(cat "$T/verify.log")"
is "$(cat "$T/verify.log")" "" "and says nothing"

check "every man page is lint-clean (mandoc -T lint -W warning)" -- \
    sh -c "cd '$HS_TOP' && mandoc -T lint -W warning */*.[58] >&2"

# A second install keeps an edited config; uninstall keeps it too (it is no longer ours).
echo "# edited" >>"$D/etc/hotstandby/hotstandby.conf"
mk install DESTDIR="$D" >"$T/install2.log" 2>&1
check "a second install keeps the existing config" -- grep -q '^# edited' "$D/etc/hotstandby/hotstandby.conf"
mk uninstall DESTDIR="$D" >"$T/uninstall.log" 2>&1
ok $? "make uninstall succeeds"
is "$(cd "$D" && find . -type f)" "./etc/hotstandby/hotstandby.conf" "uninstall removes everything but the edited config"
check "and says it kept it" -- grep -q "kept .*hotstandby.conf (edited" "$T/uninstall.log"

# Unedited: uninstall leaves nothing at all of what install created.
rm -rf "$D"
mk install DESTDIR="$D" >/dev/null 2>&1
mk uninstall DESTDIR="$D" >/dev/null 2>&1
is "$(cd "$D" && find . -type f)" "" "after install + uninstall no file is left"
check "nor the directories install created for hotstandby" -- \
    sh -c "! [ -e '$D/etc/hotstandby' ] && ! [ -e '$D/usr/local/share/hotstandby' ]"
mk uninstall DESTDIR="$D" >/dev/null 2>&1
is $? 2 "uninstall with nothing installed fails (make: 2)"

# The install variables reach the units (generated in a scratch build dir, nothing rebuilt).
make -s -C "$HS_TOP" B="$T/b" sbindir=/opt/hs/bin sysconfdir=/srv/etc "$T/b/units/hotstandby-watchd.service" >/dev/null 2>&1
check "sbindir and sysconfdir are used by the generated units" -- \
    grep -q '^ExecStart=/opt/hs/bin/watchd -c /srv/etc/hotstandby/hotstandby.conf$' "$T/b/units/hotstandby-watchd.service"

# -V: the version, a blank line, then the licence exactly as LICENSE has it.
for b in heartbeatd watchd vipctl syncd hotstandby-clone; do
    [ -x "$HS_BIN/$b" ] || continue
    out=$("$HS_BIN/$b" -V)
    is "$(echo "$out" | head -n 1)" "$b $(sed -n 's/^VERSION[[:space:]]*:=[[:space:]]*//p' "$HS_TOP/Makefile")" "$b -V prints its version"
    check "$b -V prints the licence (LICENSE, ISC)" -- sh -c "'$HS_BIN/$b' -V | tail -n +3 | cmp -s - '$HS_TOP/LICENSE'"
done
done_testing
