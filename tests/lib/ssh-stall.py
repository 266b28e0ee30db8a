#!/usr/bin/python3
"""ssh-stall.py PORT: an SSH server that stalls in the key exchange, as a peer whose sshd
hangs would. On 127.0.0.1:PORT it accepts every connection, sends its version line and a
KEXINIT (curve25519, the common host key types, aes128-ctr), reads what the client sends
and never answers it. It prints "listening" once bound, "connection N" for each client and "kex init N" once that
client has sent its KEX_ECDH_INIT (the client then holds its ephemeral key pair and waits
for a reply that never comes). Connections stay open until the client closes them or this
is killed."""
import os
import selectors
import socket
import struct
import sys


def name_list(s):
    b = s.encode()
    return struct.pack(">I", len(b)) + b


def packet(payload):
    pad = 8 - (len(payload) + 5) % 8
    if pad < 4:
        pad += 8
    body = bytes([pad]) + payload + bytes(pad)
    return struct.pack(">I", len(body)) + body


def kexinit():
    lists = ["curve25519-sha256,curve25519-sha256@libssh.org",
             "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-256,rsa-sha2-512,ssh-rsa",
             "aes128-ctr", "aes128-ctr", "hmac-sha2-256", "hmac-sha2-256",
             "none", "none", "", ""]
    payload = bytes([20]) + os.urandom(16) + b"".join(name_list(x) for x in lists)
    return packet(payload + b"\0" + struct.pack(">I", 0))


class Client:
    def __init__(self, n):
        self.n, self.buf, self.banner_seen, self.kex_seen = n, b"", False, False

    def feed(self, data):
        self.buf += data
        if not self.banner_seen:
            if b"\n" not in self.buf:
                return
            self.buf = self.buf.split(b"\n", 1)[1]
            self.banner_seen = True
        while len(self.buf) >= 6:
            (length,) = struct.unpack(">I", self.buf[:4])
            if len(self.buf) < 4 + length:
                return
            msg = self.buf[5] if length > 1 else -1
            self.buf = self.buf[4 + length:]
            if msg == 30 and not self.kex_seen:   # SSH_MSG_KEX_ECDH_INIT
                self.kex_seen = True
                print("kex init %d" % self.n, flush=True)


def main():
    port = int(sys.argv[1])
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(8)
    print("listening", flush=True)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ, None)
    count = 0
    while True:
        for key, _ in sel.select():
            if key.data is None:
                c, _ = srv.accept()
                count += 1
                print("connection %d" % count, flush=True)
                c.sendall(b"SSH-2.0-OpenSSH_9.2 stall\r\n" + kexinit())
                sel.register(c, selectors.EVENT_READ, Client(count))
                continue
            try:
                data = key.fileobj.recv(65536)
            except OSError:
                data = b""
            if not data:
                print("closed %d" % key.data.n, flush=True)
                sel.unregister(key.fileobj)
                key.fileobj.close()
                continue
            key.data.feed(data)


main()
