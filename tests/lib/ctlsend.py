#!/usr/bin/python3
"""ctlsend.py SOCKET [--raw] MESSAGE...: sends each MESSAGE (a string, or with --hex
raw bytes) as one SOCK_SEQPACKET message and prints each reply on its own line
("<no reply>" after 2 s). Used by the tests to speak to (and abuse) control sockets."""
import socket
import sys

def main():
    path = sys.argv[1]
    args = sys.argv[2:]
    hexmode = False
    if args and args[0] == "--hex":
        hexmode = True
        args = args[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(2)
    s.connect(path)
    for a in args:
        if a.startswith("@big:"):
            data = b"{" + b" " * int(a[5:]) + b"}"
        else:
            data = bytes.fromhex(a) if hexmode else a.encode()
        s.send(data)
        try:
            print(s.recv(1 << 20).decode(errors="replace"))
        except socket.timeout:
            print("<no reply>")
    s.close()

main()
