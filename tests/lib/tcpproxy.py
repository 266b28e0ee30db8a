#!/usr/bin/python3
"""tcpproxy.py LISTEN_PORT TARGET_PORT [LOSE_REPLY_FLAG [SLOW_START_FLAG [SLOW_REPLY_FLAG]]]: a user-space
TCP forwarder on 127.0.0.1.

A node's database path in tests: SIGSTOP the proxy and every connection through it
stalls (a cut that neither side sees as closed), SIGCONT resumes it. No tc netem.
LOSE_REPLY_FLAG: while that file exists, the next client message that writes hs_event (by its
text, or by the name of a statement prepared with it) is
forwarded (the server commits it) but nothing the server sends on that connection reaches
the client any more: a reply lost after the write. The file is then renamed to FLAG.done.
SLOW_START_FLAG: while that file exists, a new connection is accepted at once (the client's
connect succeeds and it sends its start-up message) but reaches the server only after the
number of milliseconds the file holds: a server that is slow to start sessions. Every
connection accepted is counted in SLOW_START_FLAG.accepted.
SLOW_REPLY_FLAG: while that file exists, what the server sends reaches the client the number
of milliseconds the file holds later (in order): a server that answers slowly.
"""
import os
import re
import selectors
import socket
import sys
import time

listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
lose_flag = sys.argv[3] if len(sys.argv) > 3 else None
slow_flag = sys.argv[4] if len(sys.argv) > 4 else None
reply_flag = sys.argv[5] if len(sys.argv) > 5 else None
servers = set()  # the server side of each connection
delayed = []     # (due, server side, data): server data held back by SLOW_REPLY_FLAG
pending = []    # (due, client): accepted, not yet connected to the server
accepted = 0
muted = set()   # server sides whose data no longer reaches the client
sel = selectors.DefaultSelector()
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen_port))
srv.listen(64)
srv.setblocking(False)
sel.register(srv, selectors.EVENT_READ, None)
peer = {}
event_stmts = {}  # client side -> names of the statements it prepared to write hs_event
PARSE = re.compile(rb"P....([^\0]*)\0([^\0]*)\0", re.S)
QUERY = re.compile(rb"Q....[^\0]*INSERT INTO hs_event", re.S)
BIND = re.compile(rb"B....[^\0]*\0([^\0]+)\0", re.S)


def writes_event(s, data):
    """Whether this client data writes hs_event: as text, or by binding a statement the
    client prepared for it earlier (the daemons prepare each statement once per session
    and then send only its name)."""
    names = event_stmts.setdefault(s, set())
    for m in PARSE.finditer(data):
        if b"INSERT INTO hs_event" in m.group(2):
            if not m.group(1):
                return True   # the unnamed statement is bound and run in the same message
            names.add(m.group(1))   # prepared only: nothing is written yet
    if QUERY.search(data):
        return True
    return any(m.group(1) in names for m in BIND.finditer(data))


def close(s):
    for x in (s, peer.pop(s, None)):
        if x is None:
            continue
        servers.discard(x)
        peer.pop(x, None)
        event_stmts.pop(x, None)
        if x in muted and x is not s:
            # the server may not have read the client's last messages yet (the commit):
            # it gets an orderly end after them and is closed at its own EOF, never reset
            try:
                x.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            continue
        muted.discard(x)
        try:
            sel.unregister(x)
        except (KeyError, ValueError):
            pass
        x.close()


def flag_ms(flag):
    try:
        with open(flag) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError, TypeError):
        return 0


def join(c):
    try:
        t = socket.create_connection(("127.0.0.1", target_port), timeout=5)
    except OSError:
        c.close()
        return
    for x in (c, t):
        x.setblocking(True)
        sel.register(x, selectors.EVENT_READ, None)
    peer[c], peer[t] = t, c
    servers.add(t)


def send(s, data):
    try:
        peer[s].sendall(data)
    except (OSError, KeyError):
        close(s)


while True:
    now = time.monotonic()
    for due, c in [p for p in pending if p[0] <= now]:
        pending.remove((due, c))
        join(c)
    while delayed and delayed[0][0] <= now:
        _, s, data = delayed.pop(0)
        if s in peer:
            send(s, data)
    wait = min([due for due, _ in pending] + [d[0] for d in delayed[:1]], default=None)
    for key, _ in sel.select(None if wait is None else max(0.0, wait - time.monotonic())):
        s = key.fileobj
        if s is srv:
            c, _ = srv.accept()
            accepted += 1
            if slow_flag:
                with open(slow_flag + ".accepted", "w") as f:
                    f.write("%d\n" % accepted)
            delay = flag_ms(slow_flag) if slow_flag else 0
            if delay > 0:
                pending.append((time.monotonic() + delay / 1000.0, c))
            else:
                join(c)
            continue
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if s in muted and s not in peer:   # a muted server side draining to its EOF
            if not data:
                close(s)
            continue
        if not data or s not in peer:
            close(s)
            continue
        if lose_flag and s not in servers and writes_event(s, data) and os.path.exists(lose_flag):
            os.rename(lose_flag, lose_flag + ".done")
            muted.add(peer[s])
        if s in muted:
            continue
        hold = flag_ms(reply_flag) if reply_flag and s in servers else 0
        if hold > 0 or any(d[1] is s for d in delayed):
            delayed.append((time.monotonic() + hold / 1000.0, s, data))
            continue
        send(s, data)
