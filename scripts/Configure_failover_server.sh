#!/usr/bin/env bash
# Configure_failover_server.sh: run on the failover server to set it up from the primary
# HOST (the product model's step of the same name), then start it. Works whether or not
# Clone_primary_server.sh ran first: if hotstandby is not installed here, hotstandby-clone
# is fetched from HOST over SSH (host key checked, checksum from HOST's installed-files),
# then `hotstandby-clone configure --from HOST` copies the installation and the shared
# configuration, writes this node's node.conf, runs the preflight checks, registers this
# node and enables its units; finally the daemons start (as standby: the primary keeps the
# cluster). On failure everything it changed is put back.
set -u
prog=Configure_failover_server.sh
sbindir=${HOTSTANDBY_SBINDIR:-/usr/local/sbin}
pkgdatadir=${HOTSTANDBY_PKGDATADIR:-/usr/local/share/hotstandby}
conf=/etc/hotstandby/hotstandby.conf

usage() {
    cat <<USAGE
usage: $prog --from HOST [-c FILE] [-i KEY] [-k KNOWN_HOSTS] [-l USER] [-p PORT]
                 [--node NAME] [--address ADDR] [--priority N] [--interface IF]
Run as root on the failover server. HOST (the primary) must accept an SSH login (root by
default) with KEY (default ~/.ssh/id_ed25519), and its host key must be in KNOWN_HOSTS
(default ~/.ssh/known_hosts). This node's name defaults to its short hostname, its address
to the one it uses to reach HOST.
Exit: 0 done, 1 failed (everything this script changed is put back), 2 usage.
USAGE
}
die() { echo "$prog: $*" >&2; exit 1; }
# The usage and option parsing mirror Clone_primary_server.sh on purpose:
# Configure_failover_server.sh is copied alone to a server without hotstandby, so neither
# script sources a shared file.

host= ssh_opts=() node_opts=() key=$HOME/.ssh/id_ed25519 kh=$HOME/.ssh/known_hosts user=root port=22
while [ $# -gt 0 ]; do
    case $1 in
    --from) host=${2:-}; shift ;;
    -c) conf=${2:-}; shift ;;
    -i) key=${2:-}; ssh_opts+=("$1" "${2:-}"); shift ;;
    -k) kh=${2:-}; ssh_opts+=("$1" "${2:-}"); shift ;;
    -l) user=${2:-}; ssh_opts+=("$1" "${2:-}"); shift ;;
    -p) port=${2:-}; ssh_opts+=("$1" "${2:-}"); shift ;;
    --node | --address | --priority | --interface) node_opts+=("$1" "${2:-}"); shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "$prog: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[ -n "$host" ] || { usage >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "run as root"
clone=$sbindir/hotstandby-clone

# Bootstrap: hotstandby-clone from the primary, checked against its installed-files.
bootstrapped=0
if [ ! -x "$clone" ]; then
    command -v ssh >/dev/null || die "ssh (openssh-client) is needed to fetch hotstandby-clone from $host"
    sshc=(ssh -q -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$kh"
          -i "$key" -p "$port" -l "$user" "$host")
    want=$("${sshc[@]}" cat "$pkgdatadir/installed-files" | awk -v f="$clone" '$2 == f {print $1}') ||
        die "cannot read $pkgdatadir/installed-files on $host (SSH login, host key in $kh?)"
    [ -n "$want" ] || die "$host has no $clone in $pkgdatadir/installed-files: install hotstandby there first"
    tmp=$(mktemp /tmp/hotstandby-clone.XXXXXX) || die "mktemp failed"
    trap 'rm -f "$tmp"' EXIT
    "${sshc[@]}" cat "$clone" >"$tmp" || die "cannot fetch $clone from $host"
    [ "$(sha256sum <"$tmp" | cut -d' ' -f1)" = "$want" ] ||
        die "$clone from $host does not match its checksum: not installed"
    install -D -m 0755 "$tmp" "$clone" || die "cannot install $clone"
    bootstrapped=1
    echo "$prog: fetched hotstandby-clone from $host"
fi
undo_bootstrap() { [ $bootstrapped = 1 ] && rm -f "$clone"; }

if ! "$clone" -c "$conf" "${ssh_opts[@]}" configure --from "$host" "${node_opts[@]}"; then
    undo_bootstrap
    die "configuring from $host failed: this node was rolled back"
fi
if ! "$clone" -c "$conf" start; then
    "$clone" -c "$conf" stop
    die "configured, but the daemons did not start: see the logs (journalctl -u 'hotstandby-*')"
fi
echo "$prog: done; this node runs as a standby of $host"
