#!/usr/bin/env bash
# Clone_primary_server.sh: run on the primary to make HOST its failover server (the product
# model's step of the same name). Stops hotstandby here, runs `hotstandby-clone primary
# --to HOST` (preflight, copy of the installation and the shared configuration, HOST's
# node.conf, registration in the database, HOST's units enabled), starts hotstandby again.
# On failure HOST is rolled back by hotstandby-clone and this node is left as it was.
set -u
prog=Clone_primary_server.sh
sbindir=${HOTSTANDBY_SBINDIR:-/usr/local/sbin}
conf=/etc/hotstandby/hotstandby.conf

usage() {
    cat <<USAGE
usage: $prog --to HOST [-c FILE] [-i KEY] [-k KNOWN_HOSTS] [-l USER] [-p PORT]
                 [--node NAME] [--address ADDR] [--priority N] [--interface IF]
Run as root on the primary. HOST must accept an SSH login (root by default) with KEY
(default ~/.ssh/id_ed25519), and its host key must be in KNOWN_HOSTS (default
~/.ssh/known_hosts). The new node's name defaults to HOST's short hostname.
Then run Configure_failover_server.sh on HOST (or start its units there).
Exit: 0 done, 1 failed (nothing changed on HOST; hotstandby here as before), 2 usage.
USAGE
}
die() { echo "$prog: $*" >&2; exit 1; }
# The usage and option parsing mirror Configure_failover_server.sh on purpose:
# Configure_failover_server.sh is copied alone to a server without hotstandby, so neither
# script sources a shared file.

host= ssh_opts=() node_opts=()
while [ $# -gt 0 ]; do
    case $1 in
    --to) host=${2:-}; shift ;;
    -c) conf=${2:-}; shift ;;
    -i | -k | -l | -p) ssh_opts+=("$1" "${2:-}"); shift ;;
    --node | --address | --priority | --interface) node_opts+=("$1" "${2:-}"); shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "$prog: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[ -n "$host" ] || { usage >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "run as root"
clone=$sbindir/hotstandby-clone
[ -x "$clone" ] || die "$clone not found: install hotstandby here first (make install)"
[ -r "$conf" ] || die "$conf not found: configure this node first (hotstandby.conf(5))"

was_running=0
"$clone" -c "$conf" running && was_running=1
if [ $was_running = 1 ]; then
    echo "$prog: stopping hotstandby on this node"
    "$clone" -c "$conf" stop || die "could not stop hotstandby here"
fi
restore() { [ $was_running = 1 ] && "$clone" -c "$conf" start; }

if ! "$clone" -c "$conf" "${ssh_opts[@]}" primary --to "$host" "${node_opts[@]}"; then
    restore
    die "cloning to $host failed: $host was rolled back, this node is as before"
fi
echo "$prog: starting hotstandby on this node"
"$clone" -c "$conf" start || die "$host is configured, but hotstandby did not start here"
echo "$prog: done; now run Configure_failover_server.sh --from $(hostname) on $host"
