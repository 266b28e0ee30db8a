#!/usr/bin/python3
"""tcpproxy.py LISTEN_PORT TARGET_PORT: a user-space TCP forwarder on 127.0.0.1.

A node's database path in tests: SIGSTOP the proxy and every connection through it
stalls (a cut that neither side sees as closed), SIGCONT resumes it. No tc netem.
"""
import selectors
import socket
import sys

listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
sel = selectors.DefaultSelector()
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen_port))
srv.listen(64)
srv.setblocking(False)
sel.register(srv, selectors.EVENT_READ, None)
peer = {}


def close(s):
    for x in (s, peer.pop(s, None)):
        if x is None:
            continue
        peer.pop(x, None)
        try:
            sel.unregister(x)
        except (KeyError, ValueError):
            pass
        x.close()


while True:
    for key, _ in sel.select():
        s = key.fileobj
        if s is srv:
            c, _ = srv.accept()
            try:
                t = socket.create_connection(("127.0.0.1", target_port), timeout=5)
            except OSError:
                c.close()
                continue
            for x in (c, t):
                x.setblocking(True)
                sel.register(x, selectors.EVENT_READ, None)
            peer[c], peer[t] = t, c
            continue
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if not data or s not in peer:
            close(s)
            continue
        try:
            peer[s].sendall(data)
        except OSError:
            close(s)
