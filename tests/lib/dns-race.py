#!/usr/bin/python3
"""dns-race.py LISTEN_PORT UPSTREAM_PORT READY_FILE: a UDP responder on 127.0.0.1 that
answers every request at once with a forged, unsigned REFUSED carrying the request's id
(what anyone who sees the query can send), then forwards the request to the real server
and relays its answer. The real answer always arrives second."""
import socket
import sys
import threading

listen, upstream, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


def forged_refused(q):
    # header with QR set, RCODE 5 (REFUSED), one zone/question entry and nothing else
    end = 12
    while q[end] != 0:
        end += q[end] + 1
    end += 5   # root label, type, class
    hdr = q[:2] + bytes([q[2] | 0x80, (q[3] & 0xf0) | 5]) + b"\x00\x01" + b"\x00" * 6
    return hdr + q[12:end]


s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", listen))
open(ready, "w").close()


def relay(q, peer):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(5)
    u.sendto(q, ("127.0.0.1", upstream))
    try:
        s.sendto(u.recv(65535), peer)
    except socket.timeout:
        pass
    u.close()


while True:
    q, peer = s.recvfrom(65535)
    s.sendto(forged_refused(q), peer)
    threading.Thread(target=relay, args=(q, peer), daemon=True).start()
