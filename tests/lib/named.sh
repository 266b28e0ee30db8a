# tests/lib/named.sh: a throwaway BIND named on 127.0.0.1 with a zone that a TSIG key may
# update (RFC 2136), for the virtual-hostname tests. Source after common.sh.
#
#   named_start ZONE     starts named on a free port; sets
#       NAMED_PORT, NAMED_DIR, NAMED_SERVER (127.0.0.1:PORT; it also listens on [::1]:PORT),
#       NAMED_KEY (key name allowed to update ZONE), NAMED_SECRET_FILE (its base64, 0600),
#       NAMED_DENIED_KEY / NAMED_DENIED_SECRET_FILE (a key named knows but ZONE refuses),
#       NAMED_KEY512 / NAMED_SECRET512_FILE (an hmac-sha512 key also allowed to update).
#   named_query NAME TYPE   prints the answer's data, one per line (dig +short).
#   named_stop              stops it (also registered with at_exit).
# NAMED_RUN, when set, prefixes named and dig: e.g. NAMED_RUN="ip netns exec NS" runs the
# server on the loopback of a test's network namespace.

named_start() {
    local zone=$1
    need /usr/sbin/named tsig-keygen dig
    NAMED_DIR=$T/named
    mkdir -p "$NAMED_DIR"
    NAMED_PORT=$(free_port)
    NAMED_SERVER=127.0.0.1:$NAMED_PORT
    NAMED_KEY=hs-key
    NAMED_DENIED_KEY=hs-denied
    tsig-keygen -a hmac-sha256 "$NAMED_KEY" >"$NAMED_DIR/keys.conf"
    NAMED_KEY512=hs-key512
    tsig-keygen -a hmac-sha256 "$NAMED_DENIED_KEY" >>"$NAMED_DIR/keys.conf"
    tsig-keygen -a hmac-sha512 "$NAMED_KEY512" >>"$NAMED_DIR/keys.conf"
    NAMED_SECRET_FILE=$T/tsig.secret
    NAMED_DENIED_SECRET_FILE=$T/tsig-denied.secret
    NAMED_SECRET512_FILE=$T/tsig512.secret
    (umask 077
     _named_secret "$NAMED_KEY" >"$NAMED_SECRET_FILE"
     _named_secret "$NAMED_DENIED_KEY" >"$NAMED_DENIED_SECRET_FILE"
     _named_secret "$NAMED_KEY512" >"$NAMED_SECRET512_FILE")

    cat >"$NAMED_DIR/$zone.zone" <<EOF
\$TTL 300
@   IN SOA ns.$zone. hostmaster.$zone. 1 3600 600 86400 30
    IN NS  ns.$zone.
ns  IN A   127.0.0.1
EOF
    cat >"$NAMED_DIR/named.conf" <<EOF
options {
    directory "$NAMED_DIR";
    pid-file "$NAMED_DIR/named.pid";
    session-keyfile "$NAMED_DIR/session.key";
    managed-keys-directory "$NAMED_DIR";
    listen-on port $NAMED_PORT { 127.0.0.1; };
    listen-on-v6 port $NAMED_PORT { ::1; };
    recursion no;
    dnssec-validation no;
    notify no;
};
controls { };
include "$NAMED_DIR/keys.conf";
zone "$zone" {
    type primary;
    file "$NAMED_DIR/$zone.zone";
    allow-update { key $NAMED_KEY; key $NAMED_KEY512; };
};
EOF
    ${NAMED_RUN:-} /usr/sbin/named -g -n 1 -c "$NAMED_DIR/named.conf" >"$NAMED_DIR/named.log" 2>&1 &
    NAMED_PID=$!
    at_exit named_stop
    wait_for 10 ${NAMED_RUN:-} dig +time=1 +tries=1 -p "$NAMED_PORT" @127.0.0.1 "$zone" SOA +short ||
        { cat "$NAMED_DIR/named.log" >&2; bail "named did not start"; }
}

# The base64 secret of key NAME from keys.conf (never printed to the TAP stream).
_named_secret() {
    awk -v k="\"$1\"" '$1 == "key" && $2 == k { inkey = 1 }
        inkey && $1 == "secret" { gsub(/[";]/, "", $2); print $2; exit }' "$NAMED_DIR/keys.conf"
}

named_query() {
    ${NAMED_RUN:-} dig +time=1 +tries=2 -p "$NAMED_PORT" @127.0.0.1 "$1" "$2" +short | sort
}

named_stop() {
    [ -n "${NAMED_PID:-}" ] || return 0
    kill "$NAMED_PID" 2>/dev/null
    wait "$NAMED_PID" 2>/dev/null
    NAMED_PID=
}
