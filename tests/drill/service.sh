#!/bin/sh
# The drill's service: an epoch-aware stand-in for the real one (fencing token end to end).
#   service.sh DIR start|stop|check   (run by watchd/heartbeatd as [service] hooks)
# DIR holds: records (one line per event: "<boottime_ns> <node> <kind> <epoch> [detail]"),
# newest (the newest epoch any start has seen), state-<node> (epoch the node serves, read
# by the node's TCP server), slow-start/slow-stop (seconds to sleep: slow hooks),
# hang-check-<node> (the check hangs). A start with an epoch older than the newest is
# refused, recorded, and fails.
d=$1 verb=$2
node=${HOTSTANDBY_NODE:-?} epoch=${HOTSTANDBY_EPOCH:-0}
if [ "$verb" = check ]; then   # the most frequent hook: no fork but the hang
    [ -e "$d/hang-check-$node" ] && sleep 3600
    exit 0
fi
t=$("$d/hsclock")
rec() { echo "$1 $node $2 $epoch${3:+ $3}" >>"$d/records"; }
slow() { [ -s "$d/slow-$1" ] && sleep "$(cat "$d/slow-$1")"; return 0; }

case $verb in
start)
    rec "$t" start "pid=$$"
    exec 9>>"$d/lock"
    flock 9
    newest=$(cat "$d/newest" 2>/dev/null || echo 0)
    if [ "$epoch" -lt "$newest" ]; then
        rec "$("$d/hsclock")" refuse "newest=$newest"
        exit 1
    fi
    echo "$epoch" >"$d/newest"
    echo "$epoch" >"$d/state-$node"
    flock -u 9
    slow start
    rec "$("$d/hsclock")" up
    ;;
stop)
    rec "$t" stop-begin "role=${HOTSTANDBY_ROLE:-?}"
    slow stop
    rm -f "$d/state-$node"
    rec "$("$d/hsclock")" stop
    ;;
*)
    echo "service.sh: unknown verb '$verb'" >&2
    exit 2
    ;;
esac
