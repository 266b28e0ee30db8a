#!/usr/bin/python3
"""The drill's long-running helpers (each started by tests/drill/drill):

  agents.py serve DIR NODE PORT      in NODE's namespace: answers "NODE EPOCH" while the
                                     service is up at the newest epoch, "NODE stale" when its
                                     epoch is older (the fencing token: it refuses to act),
                                     "NODE down" when the service is stopped.
  agents.py client DIR ADDR PORT     in the client namespace: asks ADDR:PORT every 50 ms,
                                     appends "<boottime_ns> client <answer>" to DIR/client
                                     whenever the answer changes ("-" for no answer).
  agents.py writer DIR SYNCD NODE... on the host: writes self-checking files into the sync
                                     directory of the node serving the newest epoch, asks its
                                     syncd to flush, and records every acknowledged range.
  agents.py vipmon DIR NODE NS VIP   records "<boottime_ns> NODE vip-add|vip-del" as the
                                     address appears on and leaves NODE's namespace.
"""
import hashlib
import json
import os
import socket
import subprocess
import sys
import time


def now():
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def record(d, line, name="records"):
    with open(os.path.join(d, name), "a") as f:
        f.write(line + "\n")


def read(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def serve(d, node, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(port)))
    s.listen(128)
    while True:
        c, _ = s.accept()
        epoch = read(os.path.join(d, "state-" + node))
        newest = read(os.path.join(d, "newest"), "0")
        if not epoch:
            ans = "down"
        elif int(epoch) < int(newest):
            ans = "stale"
        else:
            ans = epoch
        try:
            c.sendall(("%s %s\n" % (node, ans)).encode())
        except OSError:
            pass
        c.close()


def client(d, addr, port):
    last = None
    while True:
        t = now()
        try:
            c = socket.create_connection((addr, int(port)), timeout=0.1)
            c.settimeout(0.1)
            ans = c.recv(64).decode().strip() or "-"
            c.close()
        except OSError:
            ans = "-"
        if ans != last:
            record(d, "%d client %s" % (t, ans.replace(" ", ":")), "client")
            last = ans
        time.sleep(max(0, 0.05 - (now() - t) / 1e9))


def content(seq):
    """Self-checking contents of file w-SEQ: its own name, then bytes derived from it."""
    h = hashlib.sha256(str(seq).encode()).hexdigest()
    size = 64 + int(h[:4], 16) % 3000
    body = (h * (size // len(h) + 1))[:size]
    return ("w-%d %d\n%s\n" % (seq, size, body)).encode()


def active_node(d, nodes):
    """The node serving the newest epoch, and that epoch. The service's start rewrites
    newest in place: read while it is empty, newest once equalled the "" read for a node
    without a state file, and the writer acked files under no epoch (seed 110426837)."""
    newest = read(os.path.join(d, "newest"), "0")
    if not newest.isdigit() or newest == "0":
        return None, None
    for n in nodes:
        if read(os.path.join(d, "state-" + n)) == newest:
            return n, newest
    return None, None


def writer(d, syncd, nodes):
    """Writes ~8 files/s, flushes every ~0.3 s; 'acked' lines name contiguous seq ranges
    written to one node and acknowledged by its syncd (all peers have them)."""
    seq = int(read(os.path.join(d, "writer-seq"), "0"))
    cur, first = None, None
    while not os.path.exists(os.path.join(d, "writer-stop")):
        node, epoch = active_node(d, nodes)
        if node is None:
            time.sleep(0.1)
            continue
        if node != cur:
            cur, first = node, seq + 1
        for _ in range(3):
            seq += 1
            p = os.path.join(d, "..", node, "root", "data", "w-%d" % seq)
            try:
                with open(p, "wb") as f:
                    f.write(content(seq))
            except OSError as e:
                # as an application would: no partial file left behind (a full disk)
                record(d, "%d writer write-failed %s %d %s" % (now(), node, seq, e.strerror))
                try:
                    os.unlink(p)
                except OSError:
                    pass
            time.sleep(0.1)
        t = now()
        conf = os.path.join(d, "..", node, "hotstandby.conf")
        try:
            r = subprocess.run([syncd, "ctl", "-c", conf, '{"cmd":"flush","timeout_ms":1500}'],
                               capture_output=True, text=True, timeout=5)
            reply = json.loads(r.stdout or "{}")
        except (subprocess.TimeoutExpired, ValueError):
            reply = {}
        # acknowledged only when every peer has it: flush does not wait for unreachable ones
        if reply.get("ok") and reply.get("unreachable") == [] and active_node(d, nodes)[0] == node:
            # acknowledged: everything written to this node since it became the writer's target
            record(d, "%d %s acked %s %d-%d" % (t, node, epoch, first, seq))
        with open(os.path.join(d, "writer-seq"), "w") as f:
            f.write(str(seq))


def vipmon(d, node, ns, vip):
    p = subprocess.Popen(["ip", "-n", ns, "-o", "monitor", "address"], stdout=subprocess.PIPE,
                         text=True)
    with open(os.path.join(d, "vipmon-%s.pid" % node), "w") as f:
        f.write(str(p.pid))   # the nemesis spares it when it freezes or kills the node
    # the address may already be there when the monitor starts (a restart)
    out = subprocess.run(["ip", "-n", ns, "-o", "addr", "show"], capture_output=True, text=True).stdout
    if (" %s/" % vip) in out:
        record(d, "%d %s vip-add - present" % (now(), node))
    for line in p.stdout:
        if (" %s/" % vip) not in line:
            continue
        kind = "vip-del" if line.startswith("Deleted") else "vip-add"
        record(d, "%d %s %s -" % (now(), node, kind))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "writer":
        writer(args[0], args[1], args[2:])
    else:
        {"serve": serve, "client": client, "vipmon": vipmon}[cmd](*args)
