#!/usr/bin/python3
"""fake-watchd.py SOCKET FINAL_JSON: stands in for watchd on its control socket to test
what syncd does with hostile input. For every client (syncd) that says hello it answers,
then sends garbage of every kind a broken or hostile peer could send (not JSON, not an
object, a message larger than the control protocol allows, peer lists of the wrong
shape, entries that cannot be peers, more entries than syncd keeps) and at last the
message FINAL_JSON as it is. It then keeps the connection open until it is killed."""
import json
import os
import socket
import sys


def hostile():
    yield b"\x00\xff not json"
    yield b"[1, 2, 3]"
    yield b'{"event": 7}'
    yield b'{"event": "peers"}'
    yield b'{"event": "peers", "peers": "b"}'
    yield b'{"event": "peers", "peers": [1, null, {"node": 3, "address": []}]}'
    yield b'{"event": "nonsense", "peers": []}'
    yield b'{"id": "x", "ok": true}'
    yield json.dumps({"event": "peers", "peers": [
        {"node": "x y", "address": "203.0.113.9"},
        {"node": "q", "address": "a\"b"},
        {"node": "z" * 300, "address": "203.0.113.9"},
        {"node": "w", "address": ""},
    ]}).encode()
    # more than syncd keeps (32): the rest is left out, nothing overflows
    yield json.dumps({"event": "peers", "peers": [
        {"node": "n%03d" % i, "address": "203.0.113.%d" % (i % 250 + 1)}
        for i in range(100)]}).encode()
    # larger than a control message may be (64 KiB): syncd's read is truncated
    yield b'{"event":"peers","peers":[' + b",".join(
        b'{"node":"big%05d","address":"203.0.113.1"}' % i for i in range(3000)) + b"]}"


def main():
    path, final = sys.argv[1], sys.argv[2].encode()
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(path)
    os.chmod(path, 0o600)
    srv.listen(4)
    conns = []
    while True:
        c, _ = srv.accept()
        conns.append(c)
        hello = json.loads(c.recv(1 << 16))
        c.send(json.dumps({"id": hello.get("id", 0), "ok": True}).encode())
        for m in hostile():
            try:
                c.send(m)
            except OSError as e:   # EMSGSIZE for the oversized one on small buffers
                print("fake-watchd: send of %d bytes: %s" % (len(m), e), flush=True)
        c.send(final)
        print("fake-watchd: sent everything", flush=True)


main()
