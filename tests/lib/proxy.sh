# tests/lib/proxy.sh: a node's own path to the database through tcpproxy.py, so a test
# can cut it (SIGSTOP: connections stall, nothing is closed) and restore it (SIGCONT).
#   proxy_node NAME      starts a proxy for NAME and points NAME's conninfo at it
#   start_proxied_pair [B_PRIORITY]   the database, a through its proxy (active), b direct (standby)
#   proxy_cut NAME / proxy_restore NAME
#   proxy_lose_event_reply NAME   the next hs_event write commits, its reply is lost
#                                 ($T/NAME/lose-reply.done appears when it happened)
#   proxy_slow_start NAME MS      new sessions reach the server MS ms after their connect
#                                 (0: at once); $T/NAME/slow-start.accepted counts connects
#   proxy_slow_reply NAME MS      what the server sends reaches NAME MS ms later (0: at once)
# start_proxied_pair [B_PRIORITY]: a (priority 100, its sessions through the proxy) active,
# b (B_PRIORITY, default 90) standby
start_proxied_pair() {
    pg_start
    node_conf a 100
    node_conf b "${1:-90}"
    proxy_node a
    node_start a
    check "a active" -- wait_role a active 10
    node_start b
    check "b standby" -- wait_role b standby 10
}
proxy_node() {
    local name=$1 port
    port=$(free_port)
    /usr/bin/python3 "$HS_TOP/tests/lib/tcpproxy.py" "$port" "$PG_PORT" "$T/$name/lose-reply" "$T/$name/slow-start" "$T/$name/slow-reply" >>"$T/$name/proxy.log" 2>&1 &
    echo $! >"$T/$name/proxy.pid"
    at_exit "kill -CONT $! 2>/dev/null; kill -9 $! 2>/dev/null"
    disown $!
    wait_for 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" || return 1
    sed -i "s|^database = .*|database = host=127.0.0.1 port=$port dbname=hs user=postgres|" \
        "$T/$name/hotstandby.conf"
}
proxy_cut() { kill -STOP "$(cat "$T/$1/proxy.pid")"; }
proxy_restore() { kill -CONT "$(cat "$T/$1/proxy.pid")"; }
proxy_lose_event_reply() { touch "$T/$1/lose-reply"; }
proxy_slow_start() { echo "$2" >"$T/$1/slow-start"; }
proxy_slow_reply() { echo "$2" >"$T/$1/slow-reply"; }
proxy_accepted() { cat "$T/$1/slow-start.accepted" 2>/dev/null || echo 0; }
