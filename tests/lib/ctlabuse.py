#!/usr/bin/python3
"""ctlabuse.py MODE SOCKET [ARGS]: abuse of a control socket for the tests.
  flood SECS          open connections as fast as the daemon takes them, hold them for SECS
                      (1 ms between attempts), then close all; prints how many were accepted
  cap N               open N connections, wait 1 s, print how many the daemon closed
  idle SECS           open one connection, send nothing; print the seconds until the daemon
                      closed it, or "open" after SECS
  fill SECS           fill the backlog of a daemon that does not accept (stopped), hold SECS
  stopped SECS        stand in for a stopped daemon: listen on SOCKET, never accept, fill
                      the backlog; prints "ready" and holds it for SECS
  forge-renewal EPOCH hello as heartbeatd, then a "renewed" event with a send time far in
                      the future; prints the hello reply and then watchd's status reply"""
import json
import os
import select
import socket
import sys
import time


def conn(path, block=True):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.setblocking(block)
    s.connect(path)
    return s


def closed(s):
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return False
    try:
        return s.recv(65536) == b""
    except OSError:
        return True


def flood(path, secs):
    held, end = [], time.time() + secs
    while time.time() < end:
        try:
            held.append(conn(path, block=False))
        except OSError:
            pass
        time.sleep(0.001)
    print(len(held))
    for s in held:
        s.close()


def cap(path, n):
    held = [conn(path) for _ in range(n)]
    time.sleep(1)
    print(sum(1 for s in held if closed(s)))


def idle(path, secs):
    s, t0 = conn(path), time.time()
    while time.time() - t0 < secs:
        r, _, _ = select.select([s], [], [], 0.2)
        if r and s.recv(65536) == b"":
            print("%.1f" % (time.time() - t0))
            return
    print("open")


def fill(path, secs):
    held = []
    for _ in range(200):
        try:
            held.append(conn(path, block=False))
        except BlockingIOError:
            break
    print(len(held), flush=True)
    time.sleep(secs)


def stopped(path, secs):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(path)
    srv.listen(1)
    held = []
    for _ in range(64):
        try:
            held.append(conn(path, block=False))
        except BlockingIOError:
            break
    print("ready", flush=True)
    time.sleep(secs)


def call(s, msg):
    s.send(json.dumps(msg).encode())
    s.settimeout(2)
    while True:
        m = json.loads(s.recv(65536))
        if m.get("id") == msg.get("id"):
            return m


def forge_renewal(path, epoch):
    s = conn(path)
    print(json.dumps(call(s, {"id": 1, "cmd": "hello", "daemon": "heartbeatd"})))
    far = time.clock_gettime_ns(time.CLOCK_BOOTTIME) + 3600 * 10**9
    s.send(json.dumps({"event": "renewed", "epoch": epoch, "heartbeat": 1 << 40,
                       "sent_ns": far}).encode())
    time.sleep(0.1)
    print(json.dumps(call(s, {"id": 2, "cmd": "status"})))


mode, path = sys.argv[1], sys.argv[2]
arg = sys.argv[3] if len(sys.argv) > 3 else "0"
{"flood": lambda: flood(path, float(arg)), "cap": lambda: cap(path, int(arg)),
 "idle": lambda: idle(path, float(arg)), "fill": lambda: fill(path, float(arg)),
 "stopped": lambda: stopped(path, float(arg)),
 "forge-renewal": lambda: forge_renewal(path, int(arg))}[mode]()
