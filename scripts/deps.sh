#!/usr/bin/env bash
# Installs every Debian package that hotstandby's build, tests, benchmarks and demo need.
# Used by .ci/run and `make demo`. Idempotent: installs only what is missing.
set -eu

packages=(
    # build
    build-essential pkg-config clang libclang-rt-14-dev
    libpq-dev libssh2-1-dev libcurl4-openssl-dev libinotifytools0-dev
    libldns-dev libmnl-dev libjansson-dev libsystemd-dev libcmocka-dev
    # real servers the tests start
    postgresql openssh-server openssh-client bind9 bind9-utils bind9-dnsutils
    python3 python3-aiosmtpd
    # test tooling
    iproute2 iputils-ping iputils-arping procps psmisc socat jq perl inotify-tools
    curl util-linux
    # benchmarks (side-by-side comparisons and plots)
    keepalived lsyncd rsync gnuplot-nox bc
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' ||
        missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#packages[@]} packages present"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages: ${missing[*]}" >&2
    echo "deps: run as root (or: sudo $0)" >&2
    exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packaged services must not run on their own: tests start their own instances.
for svc in postgresql ssh named bind9 keepalived lsyncd; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
    service "$svc" stop >/dev/null 2>&1 || true
done
echo "deps: done"
