# tests/lib/sshd.sh: a real OpenSSH sshd on 127.0.0.1 for one test (source after common.sh).
# start_sshd generates an ed25519 host key and a user key, writes a known_hosts file and
# starts `/usr/sbin/sshd -D` on a free port; it is stopped (with its sessions) at exit.
# Sets: SSHD_DIR SSHD_PORT SSHD_PID SSH_KEY KNOWN_HOSTS.
# The drill (tests/drill/lib.sh) runs one sshd per namespace from the same keys and config:
# sshd_keys, then sshd_write_config with SSHD_PORT and SSHD_LISTEN set.

# sshd_keys: $T/sshd with a host key, a user key and authorized_keys (SSH_KEY, KNOWN_HOSTS).
sshd_keys() {
    need /usr/sbin/sshd ssh-keygen unshare
    SSHD_DIR=$T/sshd
    mkdir -p "$SSHD_DIR" /run/sshd
    chmod 700 "$SSHD_DIR"
    ssh-keygen -q -t ed25519 -N '' -C test-host -f "$SSHD_DIR/host_ed25519" || bail "ssh-keygen"
    ssh-keygen -q -t ed25519 -N '' -C test-user -f "$SSHD_DIR/user_ed25519" || bail "ssh-keygen"
    cp "$SSHD_DIR/user_ed25519.pub" "$SSHD_DIR/authorized_keys"
    SSH_KEY=$SSHD_DIR/user_ed25519
    KNOWN_HOSTS=$SSHD_DIR/known_hosts
}

sshd_write_config() {
    cat > "$SSHD_DIR/sshd_config" <<EOF
Port $SSHD_PORT
ListenAddress ${SSHD_LISTEN:-127.0.0.1}
HostKey $SSHD_DIR/host_ed25519
AuthorizedKeysFile $SSHD_DIR/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile $SSHD_DIR/sshd.pid
LogLevel ERROR
MaxStartups 100
MaxSessions 100
Subsystem sftp internal-sftp
EOF
}

start_sshd() {
    sshd_keys
    at_exit stop_sshd
    local try
    for try in 1 2 3 4 5; do   # free_port races with other test runs: retry on a bind failure
        SSHD_PORT=$(free_port)
        echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$SSHD_DIR/host_ed25519.pub")" > "$KNOWN_HOSTS"
        sshd_write_config
        run_sshd && return 0
    done
    bail "sshd did not start (see $SSHD_DIR/sshd.log)"
}

# run_sshd: starts sshd on $SSHD_PORT; fails if it is not our sshd that listens there.
# Its sessions start root's shell, which reads root's dotfiles (bash does for ssh sessions
# even when not interactive): they get a /root of their own, as on a fresh server (this
# machine's .bashrc runs pyenv, which can wait a minute on a lock).
run_sshd() {
    unshare -m --propagation slave sh -c 'mount -t tmpfs -o mode=0700 none /root &&
        exec /usr/sbin/sshd -D -f "$1" -E "$2"' sh "$SSHD_DIR/sshd_config" "$SSHD_DIR/sshd.log" &
    SSHD_PID=$!
    wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SSHD_PORT" || return 1
    sleep 0.1
    kill -0 "$SSHD_PID" 2>/dev/null && ss -ltnp "sport = :$SSHD_PORT" | grep -q "pid=$SSHD_PID," && return 0
    kill "$SSHD_PID" 2>/dev/null
    SSHD_PID=
    return 1
}

# Stops the listener and every session it forked (as a network failure would).
stop_sshd() {
    [ -n "${SSHD_PID:-}" ] || return 0
    local kids
    kids=$(pgrep -P "$SSHD_PID" 2>/dev/null || true)
    kill -9 "$SSHD_PID" $kids 2>/dev/null || true
    wait "$SSHD_PID" 2>/dev/null || true
    SSHD_PID=
}

# Replaces the host key (the server now presents a key known_hosts does not pin).
change_host_key() {
    rm -f "$SSHD_DIR/host_ed25519" "$SSHD_DIR/host_ed25519.pub"
    ssh-keygen -q -t ed25519 -N '' -C other-host -f "$SSHD_DIR/host_ed25519"
}

# start_sshd_ns NAME COMMAND: one more sshd with the same keys, inside network namespace
# NAME (netns.sh) on its address, port 22 - where a peer taken from hs_node is reached. The
# test key may only run COMMAND there (authorized_keys command=, as in production). Its
# sessions get a private /root, as run_sshd's do. Call after start_sshd; adds the address
# to $KNOWN_HOSTS. Stopped at exit.
start_sshd_ns() {
    local name=$1 cmd=$2 addr dir
    addr=$(netns_addr4 "$name")
    dir=$SSHD_DIR/ns-$name
    mkdir -p "$dir"
    echo "command=\"$cmd\",restrict $(cat "$SSHD_DIR/user_ed25519.pub")" >"$dir/authorized_keys"
    sed -e "s|^Port .*|Port 22|" -e "s|^ListenAddress .*|ListenAddress $addr|" \
        -e "s|^AuthorizedKeysFile .*|AuthorizedKeysFile $dir/authorized_keys|" \
        -e "s|^PidFile .*|PidFile $dir/sshd.pid|" "$SSHD_DIR/sshd_config" >"$dir/sshd_config"
    echo "$addr $(cut -d' ' -f1,2 "$SSHD_DIR/host_ed25519.pub")" >>"$KNOWN_HOSTS"
    # its sessions get a /root of their own, as run_sshd's do (ip netns exec's mount
    # namespace keeps the tmpfs to this sshd): without it each session's bash ran pyenv
    # from root's .bashrc, which waited 60 s on a lock before the command started
    netns_exec "$name" sh -c 'mount -t tmpfs -o mode=0700 none /root &&
        exec /usr/sbin/sshd -D -f "$1" -E "$2"' sh "$dir/sshd_config" "$dir/sshd.log" &
    at_exit "kill $! 2>/dev/null"
    wait_for 10 netns_exec "$name" bash -c "exec 3<>/dev/tcp/$addr/22" ||
        bail "sshd in $name did not start ($(cat "$dir/sshd.log"))"
}
