# tests/lib/smtp.sh: SMTP sinks for one test (tests/lib/smtp-sink.py, Python aiosmtpd, on
# 127.0.0.1 at a free port). Needs tests/lib/common.sh.
#   smtp_start [--starttls|--smtps] [USER PASSWORD_FILE]
#       starts a sink: plain text offering no STARTTLS (default), STARTTLS required, or
#       TLS from the first byte; with USER, AUTH is required (over TLS when there is TLS).
#       Sets SMTP_PORT, SMTP_URL, SMTP_DIR (one directory per sink: smtp, smtp-starttls,
#       smtp-smtps) and, for TLS, SMTP_CA (the test CA that signed the sink's certificate).
#   smtp_messages [DIR]               prints how many messages the sink has received
#   smtp_wait_messages N SECS [DIR]   waits until at least N have arrived
#   smtp_message I [DIR]              prints the path of the I-th message (1-based), .eml;
#                                     its envelope (JSON: from, to, login, tls) is beside it, .env
#   smtp_with_test_ca COMMAND...      runs COMMAND in a private mount namespace where the
#                                     system CA bundle is SMTP_CA alone, so libcurl verifies
#                                     the sink's certificate exactly as it would a real one
SMTP_PYTHON=/usr/bin/python3    # the Debian interpreter: python3-aiosmtpd is installed for it
SMTP_SYSTEM_CA=/etc/ssl/certs/ca-certificates.crt

smtp_start() {
    local tls= name=smtp
    case ${1:-} in --starttls | --smtps) tls=${1#--}; name=smtp-$tls; shift ;; esac
    "$SMTP_PYTHON" -c 'import aiosmtpd' 2>/dev/null ||
        bail "python3-aiosmtpd missing: run 'bash scripts/deps.sh'"
    SMTP_DIR=$T/$name
    SMTP_PORT=$(free_port)
    SMTP_URL=smtp://127.0.0.1:$SMTP_PORT
    local opts=()
    if [ -n "$tls" ]; then
        _smtp_make_certs
        opts=(--tls "$tls" --cert "$T/smtp-ca/server.pem" --key "$T/smtp-ca/server.key")
        [ "$tls" = smtps ] && SMTP_URL=smtps://127.0.0.1:$SMTP_PORT
    fi
    mkdir -p "$SMTP_DIR"
    "$SMTP_PYTHON" "$HS_TOP/tests/lib/smtp-sink.py" "${opts[@]}" 127.0.0.1 "$SMTP_PORT" \
        "$SMTP_DIR" "$@" >"$T/$name.log" 2>&1 &
    SMTP_PID=$!
    at_exit "kill $SMTP_PID; wait $SMTP_PID"
    wait_for 15 test -e "$SMTP_DIR/ready" ||
        bail "SMTP sink did not start: $(tail -n 5 "$T/$name.log")"
    export SMTP_PORT SMTP_URL SMTP_DIR
}

# A throwaway CA and a certificate for 127.0.0.1 signed by it (once per test).
_smtp_make_certs() {
    local d=$T/smtp-ca
    SMTP_CA=$d/ca.pem
    export SMTP_CA
    [ -e "$d/server.pem" ] && return
    need openssl
    mkdir -p "$d"
    {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 -subj /CN=hotstandby-test-ca \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$d/server.key" -out "$d/server.csr" -subj /CN=127.0.0.1 &&
        printf '%s\n' 'subjectAltName=IP:127.0.0.1' 'basicConstraints=CA:FALSE' \
            'extendedKeyUsage=serverAuth' >"$d/ext" &&
        openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
            -CAcreateserial -days 2 -extfile "$d/ext" -out "$d/server.pem"
    } >"$d/openssl.log" 2>&1 || bail "cannot make test certificates: $(tail -n 3 "$d/openssl.log")"
}

smtp_with_test_ca() {
    need unshare
    unshare -m --propagation private sh -c 'mount --bind "$0" "$1" && shift && exec "$@"' \
        "$SMTP_CA" "$SMTP_SYSTEM_CA" "$@"
}

smtp_messages() {
    local f n=0
    for f in "${1:-$SMTP_DIR}"/*.eml; do [ -e "$f" ] && n=$((n + 1)); done
    echo "$n"
}

smtp_wait_messages() { wait_for "$2" _smtp_has "$1" "${3:-$SMTP_DIR}"; }
_smtp_has() { [ "$(smtp_messages "$2")" -ge "$1" ]; }

smtp_message() { printf '%s/%04d.eml\n' "${2:-$SMTP_DIR}" "$1"; }
