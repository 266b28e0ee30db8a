# tests/lib/syncframes.py CONF EXPR: runs `syncd --serve -c CONF`, feeds it the frames that
# the Python expression EXPR builds (with the helpers below; D is $D, the wire path of the
# test's data directory), prints "rc=N" and one line per reply frame:
#   HELLO_OK flags | ERROR code path message | ACK token | IDNAME kind id name |
#   ENTRY path kind mode size uid:gid hash | NAME
# The receiver's stderr goes to our stderr.
import os, struct, subprocess, sys
NAMES = ("HELLO HELLO_OK ERROR MANIFEST_REQ MANIFEST MANIFEST_END PUT DATA END MKDIR SYMLINK "
         "DELETE RENAME SYNC ACK RECONCILED IDNAME").split()
T = {n: i + 1 for i, n in enumerate(NAMES)}
N = {v: k for k, v in T.items()}
VERSION = int(os.environ.get("PROTO_VERSION", "2"))
D = os.environ.get("D", "data")
def s(x): x = x.encode() if isinstance(x, str) else x; return struct.pack(">H", len(x)) + x
def fr(t, p=b""): return struct.pack(">IB", len(p), T[t]) + p
def hello(epoch=9, cluster="t", node="a"):
    return fr("HELLO", struct.pack(">I", VERSION) + s(cluster) + s(node) + struct.pack(">Q", epoch))
def put(path, data, size=None, mode=0o644, uid=0, gid=0):
    size = len(data) if size is None else size
    return (fr("PUT", s(path) + struct.pack(">IIIqQ", mode, uid, gid, 1_000_000_000, size)) +
            fr("DATA", data) + fr("END", b"\x01"))
def sync(tok=7): return fr("SYNC", struct.pack(">Q", tok))
def symlink(path, target, uid=0, gid=0): return fr("SYMLINK", s(path) + s(target) + struct.pack(">IIq", uid, gid, 0))
def mkdir(path, mode=0o755, uid=0, gid=0): return fr("MKDIR", s(path) + struct.pack(">IIIq", mode, uid, gid, 0))
def rename(a, b): return fr("RENAME", s(a) + s(b) + struct.pack(">Qq", 2**64 - 1, 0))
def delete(p): return fr("DELETE", s(p))
def manifest_req(p, hashed=True): return fr("MANIFEST_REQ", s(p) + bytes([1 if hashed else 0]))
def idname(kind, ident, name): return fr("IDNAME", bytes([kind]) + struct.pack(">I", ident) + s(name))

def entries(pl):
    while pl:
        l = struct.unpack(">H", pl[:2])[0]; path = pl[2:2 + l].decode(errors="replace"); pl = pl[2 + l:]
        kind, mode, uid, gid, mtime, size = struct.unpack(">BIIIqQ", pl[:29]); pl = pl[29:]
        l = struct.unpack(">H", pl[:2])[0]; pl = pl[2 + l:]
        hl = pl[0]; h = pl[1:1 + hl].hex() or "-"; pl = pl[1 + hl:]
        yield "ENTRY %s %d %o %d %d:%d %s" % (path, kind, mode, size, uid, gid, h)

def main():
    conf, expr = sys.argv[1], sys.argv[2]
    data = eval("(" + expr + "\n)")
    p = subprocess.run([os.environ["HS_BIN"] + "/syncd", "--serve", "-c", conf], input=data,
                       capture_output=True, timeout=float(os.environ.get("SERVE_TIMEOUT", "120")))
    print("rc=%d" % p.returncode)
    out = p.stdout
    while len(out) >= 5:
        n, t = struct.unpack(">IB", out[:5]); pl = out[5:5 + n]; out = out[5 + n:]
        name = N.get(t, str(t))
        if name == "ERROR":
            c = pl[0]; l = struct.unpack(">H", pl[1:3])[0]; path = pl[3:3 + l]; m = pl[5 + l:]
            print("ERROR", c, path.decode(errors="replace"), m.decode(errors="replace"))
        elif name == "ACK":
            print("ACK", struct.unpack(">Q", pl)[0])
        elif name == "HELLO_OK":
            print("HELLO_OK", pl[-1])
        elif name == "IDNAME":
            l = struct.unpack(">H", pl[5:7])[0]
            print("IDNAME", pl[0], struct.unpack(">I", pl[1:5])[0], pl[7:7 + l].decode(errors="replace"))
        elif name == "MANIFEST":
            for e in entries(pl): print(e)
        else:
            print(name)
    sys.stderr.write(p.stderr.decode(errors="replace"))

if __name__ == "__main__":
    main()
