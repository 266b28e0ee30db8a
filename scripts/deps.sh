#!/usr/bin/env bash
# Installs the Debian packages hotstandby needs, by group:
#   runtime  the shared libraries the installed binaries link against (a server needs only these)
#   build    compilers and -dev packages (make)
#   test     the real servers and tools make check starts privately on its own ports
#   bench    the side-by-side comparisons and plots of make bench
# Used by .ci/run and `make demo` (all groups). Idempotent: installs only what is missing.
#
# It never stops, restarts or disables a service that existed before it ran. Packages it
# installs fresh (e.g. postgresql on a build box) are not started: during apt-get a
# policy-rc.d forbids starting any service that did not exist before (services that did keep
# the policy they had), and the private-server services that appeared are left disabled,
# since the tests start their own instances.
set -eu

runtime=(libpq5 libssh2-1 libcurl4 libinotifytools0 libldns3 libmnl0 libjansson4
         libgssapi-krb5-2 libkrb5-3)
build=(
    build-essential pkg-config
    libpq-dev libssh2-1-dev libcurl4-openssl-dev libinotifytools0-dev
    libldns-dev libmnl-dev libjansson-dev libcmocka-dev
    libkrb5-dev
)
test=(
    clang libclang-rt-14-dev
    postgresql pgbouncer openssh-server openssh-client bind9 bind9-utils bind9-dnsutils
    python3 python3-aiosmtpd
    samba-ad-dc samba-ad-provision libfaketime krb5-kdc krb5-admin-server
    iproute2 iputils-ping iputils-arping procps psmisc socat jq perl inotify-tools
    curl util-linux mandoc systemd strace
)
bench=(keepalived lsyncd rsync gnuplot-nox bc linux-perf)
# Services the tests run privately: when their package is installed by this script, they stay off.
private_servers=(postgresql pgbouncer ssh named keepalived lsyncd samba-ad-dc smbd nmbd krb5-kdc krb5-admin-server)

POLICY=${HS_DEPS_POLICY:-/usr/sbin/policy-rc.d}
SAVED=$POLICY.hotstandby-orig
MARK='# hotstandby deps.sh policy'

usage() {
    cat <<EOF
usage: deps.sh [--runtime | --build | --test | --bench | --all] [--list]
  Installs the Debian packages of the chosen groups (default --all: runtime build test bench).
  --runtime  only what the installed binaries need on a server: ${runtime[*]}
  --list     print the packages of the chosen groups and exit
Services that existed before are never stopped, restarted or disabled.
EOF
}

groups=() list=0
for a in "$@"; do
    case $a in
    --runtime | --build | --test | --bench) groups+=("${a#--}") ;;
    --all) groups+=(runtime build test bench) ;;
    --list) list=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "deps: unknown argument '$a'" >&2; usage >&2; exit 2 ;;
    esac
done
[ ${#groups[@]} -gt 0 ] || groups=(runtime build test bench)

packages=()
for g in "${groups[@]}"; do
    eval "packages+=(\"\${${g}[@]}\")"
done

if [ $list = 1 ]; then
    printf '%s\n' "${packages[@]}"
    exit 0
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' ||
        missing+=("$p")
done
# Test hook: take the install path even when nothing is missing (apt-get then installs nothing).
[ "${HS_DEPS_FORCE:-0}" = 1 ] && [ ${#missing[@]} -eq 0 ] && missing=(${packages[0]})

if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#packages[@]} packages present (${groups[*]})"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages: ${missing[*]}" >&2
    echo "deps: run as root (or: sudo $0)" >&2
    exit 1
fi

# Every service name known now: init scripts and systemd units (without the suffix).
list_services() {
    {
        ls /etc/init.d 2>/dev/null
        ls /lib/systemd/system /etc/systemd/system 2>/dev/null | sed -n 's/\.\(service\|socket\)$//p'
    } | sort -u
}

# A policy left behind by a killed run is undone first.
restore_policy() {
    if [ -f "$POLICY" ] && grep -qF "$MARK" "$POLICY"; then
        if [ -e "$SAVED" ]; then mv -f "$SAVED" "$POLICY"; else rm -f "$POLICY"; fi
    fi
}

# policy-rc.d (Debian policy 9.3.3, honoured by invoke-rc.d and deb-systemd-invoke): exit 101
# forbids the action. Services that existed before fall through to the policy they had.
install_policy() {
    local known=$1
    [ -e "$POLICY" ] && mv -f "$POLICY" "$SAVED"
    cat >"$POLICY.tmp" <<EOF
#!/bin/sh
$MARK (removed when it finishes; the machine's own policy, if any, is $SAVED)
for a; do case \$a in -*) ;; *) id=\${a%.service}; id=\${id%.socket}; break ;; esac; done
if grep -qxF "\$id" '$known' 2>/dev/null; then
    [ -x '$SAVED' ] && exec '$SAVED' "\$@"
    exit 0
fi
exit 101
EOF
    chmod 755 "$POLICY.tmp"
    mv -f "$POLICY.tmp" "$POLICY"
}

exec 9>/run/lock/hotstandby-deps.lock
flock 9
restore_policy
state=$(mktemp -d /tmp/hs-deps.XXXXXX)
trap 'restore_policy; rm -rf "$state"' EXIT
list_services >"$state/before"
install_policy "$state/before"

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
[ "${HS_DEPS_FORCE:-0}" = 1 ] || apt-get update -qq
noup=; [ "${HS_DEPS_FORCE:-0}" = 1 ] && noup=--no-upgrade
apt-get install -y -qq --no-install-recommends $noup "${missing[@]}" >/dev/null
restore_policy

# Private-server services that this run brought onto the machine stay disabled (never stopped:
# the policy kept them from starting). Everything that existed before is left as it was.
list_services >"$state/after"
for svc in "${private_servers[@]}"; do
    if grep -qxF "$svc" "$state/after" && ! grep -qxF "$svc" "$state/before"; then
        echo "deps: $svc was installed now: left disabled (tests start their own)"
        systemctl disable --quiet "$svc" >/dev/null 2>&1 || update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
done
echo "deps: done"
