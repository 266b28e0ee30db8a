# tests/lib/smtp.sh: an SMTP sink for one test (tests/lib/smtp-sink.py, Python aiosmtpd, on
# 127.0.0.1 at a free port, plain text: it offers no STARTTLS). Needs tests/lib/common.sh.
#   smtp_start [USER PASSWORD_FILE]  starts it (with AUTH required when USER is given);
#                                    sets SMTP_PORT, SMTP_URL, SMTP_DIR
#   smtp_messages                    prints how many messages it has received
#   smtp_wait_messages N SECS        waits until at least N have arrived
#   smtp_message I                   prints the path of the I-th message (1-based), .eml;
#                                    its envelope (JSON: from, to, login) is beside it, .env
SMTP_PYTHON=/usr/bin/python3    # the Debian interpreter: python3-aiosmtpd is installed for it

smtp_start() {
    "$SMTP_PYTHON" -c 'import aiosmtpd' 2>/dev/null ||
        bail "python3-aiosmtpd missing: run 'bash scripts/deps.sh'"
    SMTP_DIR=$T/smtp
    SMTP_PORT=$(free_port)
    SMTP_URL=smtp://127.0.0.1:$SMTP_PORT
    mkdir -p "$SMTP_DIR"
    "$SMTP_PYTHON" "$HS_TOP/tests/lib/smtp-sink.py" 127.0.0.1 "$SMTP_PORT" "$SMTP_DIR" "$@" \
        >"$T/smtp-sink.log" 2>&1 &
    SMTP_PID=$!
    at_exit "kill $SMTP_PID; wait $SMTP_PID"
    wait_for 15 test -e "$SMTP_DIR/ready" ||
        bail "SMTP sink did not start: $(tail -n 5 "$T/smtp-sink.log")"
    export SMTP_PORT SMTP_URL SMTP_DIR
}

smtp_messages() {
    local f n=0
    for f in "$SMTP_DIR"/*.eml; do [ -e "$f" ] && n=$((n + 1)); done
    echo "$n"
}

smtp_wait_messages() { wait_for "$2" _smtp_has "$1"; }
_smtp_has() { [ "$(smtp_messages)" -ge "$1" ]; }

smtp_message() { printf '%s/%04d.eml\n' "$SMTP_DIR" "$1"; }
