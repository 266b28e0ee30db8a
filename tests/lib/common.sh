# tests/lib/common.sh: sourced by every tests/integ/*.t (bash, TAP output).
# Gives: TAP helpers, a private temp dir $T, cleanup via at_exit, free ports,
# and HS_BIN (the build whose binaries are under test).
set -u
HS_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HS_BIN=${HS_BIN:-$HS_TOP/build}
export HS_TOP HS_BIN
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

T=$(mktemp -d /tmp/hs-test.XXXXXX)
chmod 755 "$T"
_tap_n=0
_tap_failed=0
_cleanups=()

at_exit() { _cleanups+=("$*"); }
_run_cleanups() {
    local i
    for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[$i]}" >/dev/null 2>&1 || true; done
    if [ "${HS_KEEP:-0}" = 1 ]; then echo "# kept $T" >&2; else rm -rf "$T"; fi
}
trap _run_cleanups EXIT
# umount_at_exit DIR: what the test mounts on DIR (a tmpfs under $T) is unmounted before
# $T is removed (rm cannot remove a mount point: "Device or resource busy"), also when
# several mounts are stacked there.
umount_at_exit() { at_exit "for _ in 1 2 3 4; do mountpoint -q '$1' || break; umount -l '$1'; done"; }
trap 'exit 130' INT TERM

plan() { echo "1..$1"; }
diag() { printf '# %s\n' "$*" >&2; }
ok() {
    local cond=$1; shift
    _tap_n=$((_tap_n + 1))
    if [ "$cond" = 0 ]; then echo "ok $_tap_n - $*"; else
        echo "not ok $_tap_n - $*"; _tap_failed=$((_tap_failed + 1))
        diag "FAILED $_tap_n - $*"; fi   # stderr: seen in a quiet prove run (CI's log)
}
# check DESCRIPTION -- command...: ok if the command succeeds.
check() { local d=$1; shift; [ "$1" = -- ] && shift; "$@"; ok $? "$d"; }
is() {
    local got=$1 want=$2; shift 2
    if [ "$got" = "$want" ]; then ok 0 "$*"; else ok 1 "$*"; diag "got '$got', want '$want'"; fi
}
# Under the sanitizer build, every test also checks that no daemon it started reported
# a memory error, a leak or undefined behaviour in its log (files under $T).
_no_sanitizer_reports() {
    local hits
    hits=$(grep -rlE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T" 2>/dev/null)
    [ -z "$hits" ] && return 0
    diag "sanitizer reports in: $hits"
    grep -rhE -A12 "ERROR: (Address|Leak)Sanitizer|runtime error:" $hits | head -n 40 | sed 's/^/#   /' >&2
    return 1
}
done_testing() {
    if [[ $HS_BIN == *-san ]]; then
        _no_sanitizer_reports
        ok $? "no sanitizer reports in the logs of what this test started"
    fi
    echo "1..$_tap_n"
    [ $_tap_failed -eq 0 ]
}
# bail MSG: this test cannot go on; it fails (the rest of the suite still runs: TAP's
# "Bail out!" would stop every other test file too).
bail() { echo "not ok - cannot go on: $*"; exit 1; }

# need TOOL... : fails the test (never skips) with an install hint.
need() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || [ -x "$t" ] ||
            bail "missing tool '$t': run 'bash scripts/deps.sh'"
    done
}

# A TCP port that nothing listens on right now (random, in 20000..32499: below the
# kernel's ephemeral range, so no outgoing connection can be holding it).
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 12500))
        ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && { echo "$p"; return; }
    done
}

# wait_for SECONDS command...: polls every 50 ms until the command succeeds.
# The limit is a bound for a loaded machine, never a timing assertion: it is multiplied by
# HS_WAIT_SCALE (default 2; tests/run-all sets it to the number of tests it runs at once).
wait_for() {
    local limit=$1; shift
    local end=$((SECONDS + limit * ${HS_WAIT_SCALE:-2}))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge "$end" ] && return 1
        sleep 0.05
    done
}

# Milliseconds since the epoch (for timelines in diag output).
now_ms() { date +%s%3N; }

# version_build VERSION: prints the directory of these sources built with VERSION=VERSION
# (no sanitizer), for the tests between two versions (16, 17). $HS_TOP/build/version-VERSION
# is built once and reused: make rebuilds only what changed since, and a lock makes a test
# of the other build that wants it at the same time wait for it rather than build it again.
version_build() {
    local dir=$HS_TOP/build/version-$1
    mkdir -p "$dir" || return 1
    flock "$dir.lock" make -s -C "$HS_TOP" -j2 B="$dir" VERSION="$1" all >"$T/version-$1.log" 2>&1 ||
        { tail -n 5 "$T/version-$1.log" >&2; return 1; }
    echo "$dir"
}
