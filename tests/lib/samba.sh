# tests/lib/samba.sh: a throwaway Samba Active Directory domain controller (Debian
# samba-ad-dc), provisioned for this test run only, serving DNS (internal server) and
# Kerberos in a network namespace of netns.sh. Source after common.sh and netns.sh.
#
#   samba_provision NAME REALM   provisions a DC for REALM (e.g. HS.TEST; DNS domain =
#       realm in lower case) with the address of netns NAME; sets SAMBA_DIR, SAMBA_ADDR,
#       SAMBA_REALM, SAMBA_DOMAIN, SAMBA_ADMIN_PASS_FILE (0600). Nothing outside $T but
#       the provisioned template in build/samba-cache (HS_SAMBA_CACHE).
#   samba_tool ARGS...           samba-tool against the DC's database (users, ACLs)
#   samba_start [FAKETIME]       starts the DC in NAME's namespace and waits until DNS (53)
#       and the KDC (88) answer; with FAKETIME (e.g. +10m) the DC runs with its clock that
#       far off (libfaketime), for the clock-skew tests.
#   samba_stop                   stops it (also registered with at_exit)
#   samba_dig NAME TYPE          what the DC's DNS answers (dig +short), sorted, from NAME's ns

SAMBA_PID=

samba_provision() {
    need samba samba-tool dig flock
    SAMBA_NS=$1
    SAMBA_REALM=$2
    SAMBA_DOMAIN=$(echo "$2" | tr 'A-Z' 'a-z')
    SAMBA_ADDR=$(netns_addr4 "$1")
    SAMBA_DIR=$T/samba
    SAMBA_ADMIN_PASS_FILE=$SAMBA_DIR/admin.pass
    # Provisioning takes one to two minutes (more on a loaded machine), so a provisioned
    # DC is kept in the build tree, one per realm and address, and each test starts from a
    # copy of it with its paths rewritten: what a test changes (users, ACLs, records) stays
    # in its own copy.
    local cache=${HS_SAMBA_CACHE:-$HS_TOP/build/samba-cache}/$SAMBA_REALM-$SAMBA_ADDR
    mkdir -p "$(dirname "$cache")"
    (
        flock 9
        [ -e "$cache/provisioned" ] && exit 0
        rm -rf "$cache"
        _samba_provision_into "$cache" || exit 1
        echo "$cache" >"$cache/provisioned"
    ) 9>"$cache.lock" || bail "samba-tool domain provision failed"
    cp -a "$cache" "$SAMBA_DIR"
    grep -rlI -- "$cache" "$SAMBA_DIR" | xargs -r sed -i "s|$cache|$SAMBA_DIR|g"
    rm -f "$SAMBA_DIR/provisioned" "$SAMBA_DIR"/run/*.pid
}

# _samba_provision_into DIR: a DC for $SAMBA_REALM at $SAMBA_ADDR, everything under DIR.
_samba_provision_into() {
    local dir=$1
    mkdir -p "$dir/run"
    (umask 077; echo "Adm-$RANDOM$RANDOM-x!" >"$dir/admin.pass")
    # Every path the DC writes lives under DIR (pid files and sockets default to
    # /run/samba and /var/lib/samba); only the DNS server and the KDC run; queries for
    # names outside its zones go nowhere (a forwarder on the DC's own loopback: refused).
    netns_exec "$SAMBA_NS" samba-tool domain provision --targetdir="$dir" \
        --realm="$SAMBA_REALM" --domain="$(echo "${SAMBA_REALM%%.*}" | cut -c1-15)" \
        --server-role=dc --dns-backend=SAMBA_INTERNAL --host-name=dc1 \
        --host-ip="$SAMBA_ADDR" --adminpass="$(cat "$dir/admin.pass")" \
        --option="interfaces = eth0" --option="bind interfaces only = yes" \
        --option="server services = kdc dns" --option="dns forwarder = 127.0.0.9" \
        --option="pid directory = $dir/run" --option="ncalrpc dir = $dir/run/ncalrpc" \
        --option="winbindd socket directory = $dir/run/winbindd" \
        --option="ntp signd socket directory = $dir/run/ntp_signd" \
        --option="log file = $dir/log.%m" --option="logging = file" \
        >"$dir.provision.log" 2>&1 ||
        { tail -n 20 "$dir.provision.log" >&2; return 1; }
}

samba_tool() {
    netns_exec "$SAMBA_NS" samba-tool "$@" -s "$SAMBA_DIR/etc/smb.conf"
}

_samba_ready() {
    netns_exec "$SAMBA_NS" dig +time=1 +tries=1 +short @"$SAMBA_ADDR" "$SAMBA_DOMAIN" SOA | grep -q . &&
        netns_exec "$SAMBA_NS" bash -c "exec 3<>/dev/tcp/$SAMBA_ADDR/88"
}

samba_start() {
    local fake=${1:-}
    local pre=()
    if [ -n "$fake" ]; then
        local lib=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
        [ -e "$lib" ] || lib=$(dpkg -L libfaketime 2>/dev/null | grep -m1 'libfaketimeMT.so')
        [ -e "$lib" ] || bail "libfaketime missing: run 'bash scripts/deps.sh'"
        pre=(env FAKETIME="$fake" LD_PRELOAD="$lib")
    fi
    rm -f "$SAMBA_DIR/samba.pid"
    # sh records samba's own pid (netns_exec's would be a subshell's) and becomes samba.
    netns_exec "$SAMBA_NS" sh -c 'echo $$ >"$0"; exec "$@"' "$SAMBA_DIR/samba.pid" "${pre[@]}" \
        samba -s "$SAMBA_DIR/etc/smb.conf" -i -M single >>"$SAMBA_DIR/samba.out" 2>&1 &
    wait_for 10 test -s "$SAMBA_DIR/samba.pid" || bail "samba did not start"
    SAMBA_PID=$(cat "$SAMBA_DIR/samba.pid")
    at_exit samba_stop
    wait_for 30 _samba_ready || { tail -n 20 "$SAMBA_DIR/samba.out" >&2; bail "samba did not start"; }
}

samba_stop() {
    [ -n "${SAMBA_PID:-}" ] || return 0
    kill "$SAMBA_PID" 2>/dev/null
    local i
    for i in $(seq 100); do kill -0 "$SAMBA_PID" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$SAMBA_PID" 2>/dev/null
    SAMBA_PID=
}

samba_dig() {
    netns_exec "$SAMBA_NS" dig +time=1 +tries=2 +short @"$SAMBA_ADDR" "$1" "$2" | sort
}
