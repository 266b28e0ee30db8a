#!/usr/bin/python3
"""dns-slow.py LISTEN_PORT UPSTREAM_PORT CONTROL_FILE LOG_FILE: a UDP proxy on 127.0.0.1 in
front of a DNS server whose answers to UPDATEs (opcode 5) do not come back in time. Every
request goes to the server at once (an UPDATE is applied); what happens to the answer of
an UPDATE depends on CONTROL_FILE, re-read for each request (a new content starts over):
  (missing or empty)   answered as usual
  drop N               the answers to the next N UPDATEs are lost, later ones come back
  freeze PID...        at the next UPDATE, SIGSTOP the PIDs at once and note the
                       CLOCK_BOOTTIME (ns) after it in LOG_FILE.frozen; answers are lost
LOG_FILE gets one line per UPDATE as it arrives: its CLOCK_BOOTTIME in ns and the DNS id."""
import os
import signal
import socket
import sys
import threading
import time

listen, upstream, control, log_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", listen))
log = open(log_file, "a", buffering=1)
state = {"text": "", "seen": 0}


def answer_lost():
    """For one UPDATE: whether its answer is lost (the control file decides)."""
    try:
        with open(control) as f:
            text = f.read().strip()
    except OSError:
        text = ""
    if text != state["text"]:
        state["text"], state["seen"] = text, 0
    state["seen"] += 1
    words = text.split()
    if not words:
        return False
    if words[0] == "drop":
        return state["seen"] <= int(words[1])
    if words[0] == "freeze":
        if state["seen"] == 1:
            for pid in words[1:]:
                os.kill(int(pid), signal.SIGSTOP)
            with open(log_file + ".frozen", "w") as f:
                f.write("%d\n" % time.clock_gettime_ns(time.CLOCK_BOOTTIME))
        return True
    return False


def relay(q, peer, lost):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(5)
    u.sendto(q, ("127.0.0.1", upstream))
    try:
        answer = u.recv(65535)
    except socket.timeout:
        return
    finally:
        u.close()
    if not lost:
        s.sendto(answer, peer)


while True:
    q, peer = s.recvfrom(65535)
    update = len(q) >= 12 and (q[2] >> 3) & 0x0f == 5
    if update:
        log.write("%d %d\n" % (time.clock_gettime_ns(time.CLOCK_BOOTTIME), (q[0] << 8) | q[1]))
    lost = answer_lost() if update else False
    threading.Thread(target=relay, args=(q, peer, lost), daemon=True).start()
