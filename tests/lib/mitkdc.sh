# tests/lib/mitkdc.sh: a throwaway MIT Kerberos KDC (Debian krb5-kdc) and a BIND named that
# accepts GSS-TSIG updates with its keytab (tkey-gssapi-keytab), both on 127.0.0.1: the
# RFC-conformant GSS-TSIG server beside Samba (samba.sh). Source after common.sh.
#
#   mitkdc_start REALM       KDC for REALM on a free port; sets MITKDC_DIR, MITKDC_ADDR
#                            (127.0.0.1:PORT), MITKDC_CONF (a krb5.conf for kadmin/named)
#   mitkdc_addprinc NAME [PASSWORD]   a principal (random key without a password)
#   mitkdc_ktadd KEYTAB NAME          exports NAME's key into KEYTAB (0600)
#   named_gss_start ZONE PRINCIPAL KEYTAB GRANTED
#                            named for ZONE whose SOA names ns.ZONE; GSS-TSIG with KEYTAB for
#                            service PRINCIPAL; update-policy lets GRANTED change any name
#                            in the zone. Sets GSSNAMED_PORT, GSSNAMED_SERVER, GSSNAMED_DIR.
#   gssnamed_query NAME TYPE  its answer (dig +short), sorted

mitkdc_start() {
    need krb5kdc kdb5_util kadmin.local
    MITKDC_REALM=$1
    MITKDC_DIR=$T/mitkdc
    mkdir -p "$MITKDC_DIR"
    local port
    port=$(free_port)
    MITKDC_ADDR=127.0.0.1:$port
    MITKDC_CONF=$MITKDC_DIR/krb5.conf
    cat >"$MITKDC_DIR/kdc.conf" <<EOF
[kdcdefaults]
    kdc_listen = $MITKDC_ADDR
    kdc_tcp_listen = $MITKDC_ADDR
[realms]
    $1 = {
        database_name = $MITKDC_DIR/principal
        key_stash_file = $MITKDC_DIR/stash
        acl_file = $MITKDC_DIR/kadm5.acl
    }
[logging]
    kdc = FILE:$MITKDC_DIR/kdc.log
EOF
    cat >"$MITKDC_CONF" <<EOF
[libdefaults]
    default_realm = $1
    dns_lookup_kdc = false
    dns_lookup_realm = false
[realms]
    $1 = {
        kdc = $MITKDC_ADDR
    }
EOF
    _mitkdc kdb5_util create -s -r "$1" -P "mk-$RANDOM$RANDOM" >"$MITKDC_DIR/create.log" 2>&1 ||
        bail "kdb5_util create failed: $(tail -n 3 "$MITKDC_DIR/create.log")"
    # not through _mitkdc: $! must be krb5kdc itself (a function in the background is a
    # subshell, and killing that left the KDC running after the test)
    KRB5_CONFIG=$MITKDC_CONF KRB5_KDC_PROFILE=$MITKDC_DIR/kdc.conf \
        krb5kdc -n -P "$MITKDC_DIR/kdc.pid" >>"$MITKDC_DIR/kdc.out" 2>&1 &
    MITKDC_PID=$!
    at_exit mitkdc_stop
    wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" || bail "krb5kdc did not start"
}

_mitkdc() { KRB5_CONFIG=$MITKDC_CONF KRB5_KDC_PROFILE=$MITKDC_DIR/kdc.conf "$@"; }

mitkdc_stop() {
    [ -n "${MITKDC_PID:-}" ] || return 0
    kill "$MITKDC_PID" 2>/dev/null
    wait "$MITKDC_PID" 2>/dev/null
    MITKDC_PID=
}

mitkdc_addprinc() {
    if [ -n "${2:-}" ]; then
        _mitkdc kadmin.local -q "addprinc -pw $2 $1" >/dev/null 2>&1
    else
        _mitkdc kadmin.local -q "addprinc -randkey $1" >/dev/null 2>&1
    fi || bail "kadmin.local addprinc $1 failed"
}

mitkdc_ktadd() {
    (umask 077; _mitkdc kadmin.local -q "ktadd -k $1 $2" >/dev/null 2>&1) ||
        bail "kadmin.local ktadd $2 failed"
}

named_gss_start() {
    local zone=$1 principal=$2 keytab=$3 granted=$4
    need /usr/sbin/named dig
    GSSNAMED_DIR=$T/gssnamed
    mkdir -p "$GSSNAMED_DIR"
    GSSNAMED_PORT=$(free_port)
    GSSNAMED_SERVER=127.0.0.1:$GSSNAMED_PORT
    cat >"$GSSNAMED_DIR/$zone.zone" <<EOF
\$TTL 300
@   IN SOA ns.$zone. hostmaster.$zone. 1 3600 600 86400 30
    IN NS  ns.$zone.
ns  IN A   127.0.0.1
EOF
    cat >"$GSSNAMED_DIR/named.conf" <<EOF
options {
    directory "$GSSNAMED_DIR";
    pid-file "$GSSNAMED_DIR/named.pid";
    session-keyfile "$GSSNAMED_DIR/session.key";
    managed-keys-directory "$GSSNAMED_DIR";
    listen-on port $GSSNAMED_PORT { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion no;
    dnssec-validation no;
    notify no;
    tkey-gssapi-keytab "$keytab";
};
controls { };
zone "$zone" {
    type primary;
    file "$GSSNAMED_DIR/$zone.zone";
    update-policy { grant $granted zonesub ANY; };
};
EOF
    KRB5_CONFIG=$MITKDC_CONF /usr/sbin/named -g -n 1 -c "$GSSNAMED_DIR/named.conf" \
        >"$GSSNAMED_DIR/named.log" 2>&1 &
    GSSNAMED_PID=$!
    at_exit gssnamed_stop
    wait_for 10 dig +time=1 +tries=1 -p "$GSSNAMED_PORT" @127.0.0.1 "$zone" SOA +short ||
        { tail -n 20 "$GSSNAMED_DIR/named.log" >&2; bail "named (GSS-TSIG) did not start"; }
}

gssnamed_stop() {
    [ -n "${GSSNAMED_PID:-}" ] || return 0
    kill "$GSSNAMED_PID" 2>/dev/null
    wait "$GSSNAMED_PID" 2>/dev/null
    GSSNAMED_PID=
}

gssnamed_query() {
    dig +time=1 +tries=2 -p "$GSSNAMED_PORT" @127.0.0.1 "$1" "$2" +short | sort
}
