#!/usr/bin/python3
"""The drill's checkers (run by tests/drill/drill).

  check.py settle D T FAULT SECONDS NODE... -- PSQL...
                                     waits (up to SECONDS) until the cluster has settled after
                                     FAULT, prints the holder, then checks the files as below;
                                     exit 1 if it did not settle
  check.py files  D T NODE FAULT     after FAULT settled: every file acknowledged between the
                                     previous settle and FAULT is on NODE (the active), intact
  check.py report D T SEED INTERVAL_MS TAKEOVER_MS SLACK_MS NODE...
                                     the timeline per fault, the checkers, the summary line;
                                     exit 1 on any violation

Records (D/records): "<boottime_ns> <who> <kind> ...". Acting (DESIGN §3), per node: from
the start hook's spawn ("start") to the stop hook's end ("stop"), and from the address
appearing ("vip-add") to its removal ("vip-del"). A node that is frozen whole ("freeze") or
powered off ("off") does not act; after "thaw" it acts again only if no newer epoch started
meanwhile — otherwise its service refuses its stale epoch (the fencing token), and the
time until its stop hook ends is a "stale window", bounded by takeover_timeout.
"""
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agents import content, now, read  # noqa: E402

MS = 1000000


def load(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) >= 3 and p[0].isdigit():
                    out.append((int(p[0]), p[1], p[2], p[3:]))
    except OSError:
        pass
    out.sort(key=lambda r: r[0])
    return out


def faults_of(recs):
    """[(index, t, kind, role, node, expect, params, t_ref, t_settled)]"""
    fs = []
    for t, who, kind, rest in recs:
        if who != "nemesis":
            continue
        if kind == "fault":
            fs.append({"i": int(rest[0]), "t": t, "kind": rest[1], "role": rest[2], "node": rest[3],
                       "expect": rest[4], "params": rest[5:], "ref": t, "settled": None})
        elif kind == "cut" and fs:
            fs[-1]["ref"] = t
        elif kind == "settled" and fs and int(rest[0]) == fs[-1]["i"]:
            fs[-1]["settled"] = t
        elif kind == "vipctl-switchover-rc" and fs:
            fs[-1]["switchover_rc"] = int(rest[0])
    return fs


def acked(recs):
    """[(t_ack, node, seq)] minus the seqs whose write failed."""
    failed = {int(r[3][1]) for r in recs if r[1] == "writer" and r[2] == "write-failed"}
    out = []
    for t, who, kind, rest in recs:
        if kind == "acked":
            lo, hi = (int(x) for x in rest[-1].split("-"))   # "EPOCH LO-HI"
            out += [(t, who, s) for s in range(lo, hi + 1) if s not in failed]
    return out


def file_ok(path, seq):
    try:
        with open(path, "rb") as f:
            return f.read() == content(seq)
    except OSError:
        return False


def cmd_files(d, t, node, fault):
    recs = load(os.path.join(d, "records"))
    fs = faults_of(recs)
    cur = [f for f in fs if f["i"] == int(fault)]
    if not cur or node == "-":
        return 0
    prev = [f for f in fs if f["i"] < int(fault) and f["settled"]]
    since = prev[-1]["settled"] if prev else 0
    lost = 0
    for ta, _, seq in acked(recs):
        if since <= ta < cur[0]["t"]:
            if not file_ok(os.path.join(t, node, "root", "data", "w-%d" % seq), seq):
                lost += 1
                with open(os.path.join(d, "records"), "a") as f:
                    f.write("%d checker lost %s w-%d fault=%s acked=%d\n"
                            % (ta, node, seq, fault, ta))
    if lost:
        print("# LOST: %d acknowledged files are missing or wrong on %s after fault %s" % (lost, node, fault))
    return 0


class Settle:
    """Settled: the row names a holder at epoch E, that node serves E (the newest), no other
    node serves, the address is only on the holder, the client is answered by it at E; then
    every watchd says active (the holder) or standby; and all that still holds after the
    row's counter moved (a renewal committed since: after a database restart the server
    can answer slowly enough for the active to fence a moment after looking settled, and
    the next fault would be blamed for it). One process polls every 100 ms (a
    shell doing this forked psql, vipctl and awk each time: seconds per poll on a loaded
    machine); what held it up last goes to D/settle.log."""

    def __init__(self, d, t, nodes, psql):
        self.d, self.t, self.nodes, self.psql = d, t, nodes, psql
        self.vip = {}
        self.records_at = 0
        self.why = "-"
        self.heartbeat = ""

    def vip_on(self):
        """Nodes whose last address record is an add (the records file, read on from where
        the previous poll stopped)."""
        with open(os.path.join(self.d, "records")) as f:
            f.seek(self.records_at)
            data = f.read()
        cut = data.rfind("\n") + 1
        self.records_at += len(data[:cut].encode())
        for line in data[:cut].splitlines():
            p = line.split()
            if len(p) >= 3 and p[2] in ("vip-add", "vip-del", "off"):
                self.vip[p[1]] = p[2] == "vip-add"
        return "".join(sorted(n for n, on in self.vip.items() if on))

    def client_last(self):
        with open(os.path.join(self.d, "client"), "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 256))
            lines = f.read().decode(errors="replace").splitlines()
        return lines[-1].split()[2] if lines and len(lines[-1].split()) >= 3 else ""

    def role(self, n):
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.settimeout(3)
            s.connect(os.path.join(self.t, n, "run", "watchd.sock"))
            s.send(b'{"cmd":"status"}')
            reply = json.loads(s.recv(1 << 16).decode())
            s.close()
        except (OSError, ValueError):
            return "stopped"
        return reply.get("role") or (reply.get("watchd") or {}).get("role") or "?"

    def once(self):
        try:
            r = subprocess.run(self.psql + ["-c", "SELECT coalesce(holder, '') || ':' || epoch "
                                            "|| ' ' || heartbeat FROM hs_cluster WHERE cluster='drill'"],
                               capture_output=True, text=True, timeout=10)
            row, _, self.heartbeat = r.stdout.strip().partition(" ")
        except subprocess.TimeoutExpired:
            row = ""
        holder, _, e = row.rpartition(":")
        newest = read(os.path.join(self.d, "newest"), "0")
        self.why = "row '%s', newest %s" % (row, newest)
        if not holder or newest != e:
            return None
        for n in self.nodes:
            st = read(os.path.join(self.d, "state-" + n), None)
            self.why = "%s serves '%s', holder %s@%s" % (n, st, holder, e)
            if (n == holder and st != e) or (n != holder and st is not None):
                return None
        on = self.vip_on()
        self.why = "address on '%s', holder %s" % (on, holder)
        if on != holder:
            return None
        c = self.client_last()
        self.why = "client answered '%s', want %s" % (c, row)
        if c != row:
            return None
        for n in self.nodes:
            r = self.role(n)
            self.why = "watchd on %s says %s, holder %s" % (n, r, holder)
            if r != ("active" if n == holder else "standby"):
                return None
        return holder

    def wait(self, fault, seconds):
        t0, polls, holder, held, first = now(), 0, None, "-", None
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            polls += 1
            holder = self.once()
            if holder and first and first[0] == holder and first[1] != self.heartbeat:
                break
            if holder and (not first or first[0] != holder):
                first = (holder, self.heartbeat)
            elif not holder:
                first = None
            if holder:
                self.why = "settled, waiting for a renewal by %s (counter %s)" % first
            held = self.why
            holder = None
            time.sleep(0.1)
        with open(os.path.join(self.d, "settle.log"), "a") as f:
            f.write("fault %s: %d ms, %d polls, %s, last wait: %s\n"
                    % (fault, (now() - t0) // MS, polls, "settled" if holder else "NOT settled",
                       held if holder else self.why))
        return holder


def cmd_settle(d, t, fault, seconds, rest):
    k = rest.index("--")
    holder = Settle(d, t, rest[:k], rest[k + 1:]).wait(fault, float(seconds))
    if not holder:
        return 1
    print(holder)
    sys.stdout.flush()
    if int(fault) > 0:
        cmd_files(d, t, holder, fault)
    return 0


class Report:
    def __init__(self, d, t, seed, interval, takeover, slack, nodes):
        self.d, self.t, self.seed, self.nodes = d, t, seed, nodes
        self.interval, self.takeover, self.slack = interval * MS, takeover * MS, slack * MS
        self.recs = load(os.path.join(d, "records"))
        self.client = load(os.path.join(d, "client"))
        self.fs = faults_of(self.recs)
        rt0, bt0 = (int(x) for x in open(os.path.join(d, "clocks")).read().split())
        self.steps = {}               # node -> [(boottime, offset ns)]: its clock steps
        for t, who, kind, rest in self.recs:
            if kind == "clock":
                self.steps.setdefault(who, [(0, 0)]).append((t, int(rest[0]) * MS))
        self.events = []
        prev = 0
        try:
            for line in open(os.path.join(d, "events")):   # in id order: nearly in time order
                p = line.split()
                if len(p) >= 4:
                    prev = self.unstep(p[0], int(p[3]) * MS - (rt0 - bt0), prev)
                    self.events.append((prev, p[0], int(p[1]), p[2]))
        except OSError:
            pass
        self.events.sort()
        self.violations = []   # (kind, t, text)
        self.figs = {}         # takeover expected? -> {"detect"|"claim"|...: [ms after the fault]}
        self.stale_max = 0

    def unstep(self, node, t, prev):
        """An hs_event time (the node's wall clock, mapped to boottime) taken back through
        the clock steps of that node: the offset in force when the node read its clock is
        one whose span the corrected time falls in. Within a step's size after it, two spans
        fit; the events are read in id order (the order they were inserted), so the one
        nearest the previous event's time is taken. A read that raced the step falls in no
        span: the nearest one is taken."""
        steps = self.steps.get(node)
        if not steps:
            return t
        fits, near, miss = [], t, None
        for k, (since, off) in enumerate(steps):
            until = steps[k + 1][0] if k + 1 < len(steps) else 1 << 62
            c = t - off
            m = since - c if c < since else (c - until if c >= until else 0)
            if m == 0:
                fits.append(c)
            if miss is None or m < miss:
                near, miss = c, m
        return min(fits, key=lambda c: abs(c - prev)) if fits else near

    def fault_at(self, t):
        cur = None
        for f in self.fs:
            if f["t"] <= t:
                cur = f
        return cur

    def violation(self, kind, t, text):
        self.violations.append((kind, t, text))

    # (1) no two nodes acting at once
    def acting(self):
        spans = []                    # (from, to, node, what)
        open_ = {}                    # (node, what) -> (from, epoch)
        frozen = {}                   # node -> {(node, what): (from, epoch)}
        newest = 0
        stale = {}                    # node -> thaw time
        for t, who, kind, rest in self.recs:
            if kind == "start":
                e = int(rest[0])
                newest = max(newest, e)
                open_.setdefault((who, "service"), (t, e))
            elif kind == "refuse":
                self.violation("epoch", t, "%s: start at epoch %s refused (%s): a stale epoch was acted on"
                               % (who, rest[0], " ".join(rest[1:])))
            elif kind == "stop":
                if (who, "service") in open_:
                    f, e = open_.pop((who, "service"))
                    spans.append((f, t, who, "service@%d" % e))
                # a stop hook that escaped the freeze (spawned as it began) ended the service:
                # nothing of it comes back at the thaw
                frozen.get(who, {}).pop((who, "service"), None)
                if who in stale:
                    w = t - stale.pop(who)
                    self.stale_max = max(self.stale_max, w)
                    if w > self.takeover:
                        self.violation("overlap", t, "%s: stale after thaw for %d ms before its stop ended"
                                       % (who, w // MS))
            elif kind == "vip-add":
                open_.setdefault((who, "vip"), (t, 0))
            elif kind == "vip-del":
                if (who, "vip") in open_:
                    f, _ = open_.pop((who, "vip"))
                    spans.append((f, t, who, "vip"))
            elif kind in ("freeze", "off"):
                held = {k: v for k, v in open_.items() if k[0] == who}
                for k, (f, e) in held.items():
                    spans.append((f, t, who, k[1] + ("@%d" % e if e else "")))
                    del open_[k]
                if kind == "freeze":
                    frozen[who] = held
                stale.pop(who, None)
            elif kind == "thaw":
                held = frozen.pop(who, {})
                svc = held.get((who, "service"))
                if svc and svc[1] < newest:
                    stale[who] = t       # its service refuses: not acting, but must stop soon
                    continue
                if not svc and (who, "vip") in held and newest > 0:
                    stale[who] = t
                    continue
                for k, (_, e) in held.items():
                    open_[k] = (t, e)
        end = max([r[0] for r in self.recs] + [0]) + 1
        for (who, what), (f, e) in open_.items():
            spans.append((f, end, who, what + ("@%d" % e if e else "")))
        spans.sort()
        for i, a in enumerate(spans):
            for b in spans[i + 1:]:
                if b[0] >= a[1]:
                    continue
                if a[2] != b[2]:
                    lo, hi = max(a[0], b[0]), min(a[1], b[1])
                    self.violation("overlap", lo, "%s %s and %s %s acting together for %.1f ms"
                                   % (a[2], a[3], b[2], b[3], (hi - lo) / MS))

    # (2) epochs strictly increase; none handed out twice
    def epochs(self):
        last, seen = 0, {}
        for t, node, e, kind in self.events:
            if kind not in ("claimed", "granted"):
                continue
            if e in seen and seen[e] == node:
                continue   # the same event written again (watchd re-sends events kept during an outage)
            if e in seen:
                self.violation("epoch", t, "epoch %d handed out twice (%s, then %s)" % (e, seen[e], node))
            elif e <= last:
                self.violation("epoch", t, "epoch %d claimed by %s after epoch %d" % (e, node, last))
            seen[e] = node
            last = max(last, e)
        last_node, last_e = None, 0
        for t, who, kind, rest in self.recs:
            if kind == "start":
                e = int(rest[0])
                if who != last_node and e <= last_e:
                    self.violation("epoch", t, "%s started at epoch %d after %s at %d" % (who, e, last_node, last_e))
                last_node, last_e = who, max(e, last_e)

    # (4) liveness, and the timeline
    def timeline(self):
        stuck, bound = 0, self.takeover + 2 * self.interval + self.slack
        lines = []
        for k, f in enumerate(self.fs):
            nxt = self.fs[k + 1]["t"] if k + 1 < len(self.fs) else 1 << 62
            ref = f["ref"]
            ev = [e for e in self.events if ref <= e[0] < nxt]
            claims = [e for e in ev if e[3] == "claimed"]
            grants = [e for e in ev if e[3] == "granted"]
            gains = [e for e in ev if e[3] in ("claimed", "granted")]
            detect = ev[0] if ev else None
            gain = gains[0] if gains else None
            parts = ["fault %d: %s %s%s %s" % (f["i"], f["kind"], f["node"],
                                               "(%s)" % f["role"] if f["role"] != "-" else "",
                                               " ".join(f["params"]))]
            rel = lambda t: "+%d ms" % ((t - ref) // MS)   # noqa: E731
            fig = self.figs.setdefault(f["expect"] == "takeover", {})
            if detect:
                fig.setdefault("detect", []).append((detect[0] - ref) // MS)
                parts.append("detect %s (%s %s)" % (rel(detect[0]), detect[1], detect[3]))
            if gain:
                parts.append("%s %s by %s@%d" % (gain[3].replace("claimed", "claim").replace("granted", "handoff"),
                                                 rel(gain[0]), gain[1], gain[2]))
                up = [r for r in self.recs if r[2] == "up" and r[1] == gain[1] and r[0] >= gain[0]
                      and int(r[3][0]) == gain[2] and r[0] < nxt]
                fig.setdefault("claim", []).append((gain[0] - ref) // MS)
                if up:
                    parts.append("service up %s" % rel(up[0][0]))
                    fig.setdefault("service up", []).append((up[0][0] - ref) // MS)
                want = "%s:%d" % (gain[1], gain[2])
                served = [c for c in self.client if c[0] >= gain[0] and c[2] == want]
                if served and served[0][0] < nxt:
                    parts.append("client served %s" % rel(served[0][0]))
                    fig.setdefault("client served", []).append((served[0][0] - ref) // MS)
            else:
                parts.append("no takeover")
            lines.append(" -> ".join(parts))
            if f["expect"] == "takeover":
                if len(claims) != 1:
                    stuck += 1
                    self.violation("stuck", ref, "fault %d (%s): %d takeovers, want exactly one"
                                   % (f["i"], f["kind"], len(claims)))
                elif claims[0][0] - ref > bound:
                    stuck += 1
                    self.violation("stuck", ref, "fault %d (%s): takeover after %d ms, bound %d ms"
                                   % (f["i"], f["kind"], (claims[0][0] - ref) // MS, bound // MS))
            elif f["expect"] == "handoff":
                # done (exit 0): exactly one handoff; refused (exit 3: no live standby yet):
                # none; anything else (timed out on a busy machine): at most one
                rc = f.get("switchover_rc", 0)
                want = {0: [1], 3: [0]}.get(rc, [0, 1])
                if len(grants) not in want:
                    self.violation("stuck", ref, "fault %d (%s): %d handoffs after vipctl exit %d, want %s"
                                   % (f["i"], f["kind"], len(grants), f.get("switchover_rc", 0), want))
            elif f["expect"] == "still" and gains:
                self.violation("stuck", ref, "fault %d (%s): %d spurious changes of holder, want none"
                               % (f["i"], f["kind"], len(gains)))
            elif f["expect"] == "demote" and not gains:
                self.violation("stuck", ref, "fault %d (%s): no new holder after the demotion"
                               % (f["i"], f["kind"]))
        for t, who, kind, rest in self.recs:
            if who == "nemesis" and kind == "stuck":
                self.violation("stuck", t, "fault %s: the cluster did not settle" % rest[0])
        return lines

    # (3) files; (5) crashes and leaks
    def files_and_crashes(self):
        for t, who, kind, rest in self.recs:
            if who == "checker" and kind == "lost":
                self.violation("lost", t, " ".join(rest))
            elif kind == "crash":
                self.violation("crash", t, "%s: %s" % (who, " ".join(rest)))
            elif kind == "leak":
                self.violation("crash", t, "%s leaked %s" % (who, " ".join(rest)))
            elif who == "sanitizer":
                self.violation("crash", t, "sanitizer report in %s" % " ".join(rest))
        # at the end, every acknowledged file on the active; no torn file anywhere
        newest = read(os.path.join(self.d, "newest"), "0")
        act = [n for n in self.nodes if newest != "0" and read(os.path.join(self.d, "state-" + n)) == newest]
        for ta, _, seq in acked(self.recs):
            for n in act:
                if not file_ok(os.path.join(self.t, n, "root", "data", "w-%d" % seq), seq):
                    self.violation("lost", ta, "w-%d (acknowledged) missing or wrong on the final active %s" % (seq, n))
        # the writer stops between two files; if it had to be killed, its last file may be cut.
        # A file whose write failed (a full disk) was cut by the writer itself: it removes it,
        # but syncd may have copied the part, and its removal, faithfully; not a torn copy.
        done = int(read(os.path.join(self.d, "writer-seq"), "0"))
        failed = {int(r[3][1]) for r in self.recs if r[1] == "writer" and r[2] == "write-failed"}
        for n in self.nodes:
            data = os.path.join(self.t, n, "root", "data")
            for name in os.listdir(data):
                if name.startswith("w-") and name[2:].isdigit() and int(name[2:]) <= done \
                        and int(name[2:]) not in failed:
                    if not file_ok(os.path.join(data, name), int(name[2:])):
                        self.violation("lost", 0, "%s: %s is torn or wrong" % (n, name))

    def context(self, t):
        lo, hi = t - 2000 * MS, t + 2000 * MS
        rows = [r for r in self.recs if lo <= r[0] <= hi and r[2] not in ("acked",)]
        rows += [(e[0], e[1], "event:" + e[3], [str(e[2])]) for e in self.events if lo <= e[0] <= hi]
        rows += [(c[0], "client", c[2], []) for c in self.client if lo <= c[0] <= hi]
        rows.sort(key=lambda r: r[0])
        for r in rows[:60]:
            print("#     %+8.1f ms  %s %s %s" % ((r[0] - t) / MS, r[1], r[2], " ".join(r[3])))

    def figures(self):
        """Faults by kind; per step, p50/p99 of the time from the fault (its start; for a
        cut during a full disk, the cut) to it: for the faults that must cause a takeover,
        and for all others that led to a new holder (switchovers, demotions, outages)."""
        kinds = {}
        for f in self.fs:
            kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
        print("# figures: faults by kind: " + ", ".join("%s %d" % kv for kv in sorted(kinds.items())))

        def pct(v, q):
            v = sorted(v)
            return v[min(len(v) - 1, int(q * len(v)))]
        for key, what in ((True, "takeover expected"), (False, "other faults with a new holder")):
            fig = self.figs.get(key, {})
            cells = ["%s p50 %d / p99 %d ms (n=%d)" % (k, pct(fig[k], .5), pct(fig[k], .99), len(fig[k]))
                     for k in ("detect", "claim", "service up", "client served") if fig.get(k)]
            if key is False:   # detection of the others includes faults with no takeover
                cells = cells[1:] if fig.get("detect") else cells
            print("# figures: %s: %s" % (what, "; ".join(cells) or "none"))

    def run(self):
        lines = self.timeline()
        self.acting()
        self.epochs()
        self.files_and_crashes()
        for line in lines:
            print("# " + line)
        count = lambda k: sum(1 for v in self.violations if v[0] == k)   # noqa: E731
        print("# stale windows after a thaw: longest %d ms" % (self.stale_max // MS))
        self.figures()
        for kind, t, text in self.violations:
            f = self.fault_at(t)
            print("# VIOLATION (%s) seed %s, fault %s: %s" % (kind, self.seed,
                  "%d %s %s" % (f["i"], f["kind"], " ".join(f["params"])) if f else "-", text))
            if t:
                self.context(t)
        print("faults %d, overlaps %d, lost %d, stuck %d, crashes %d"
              % (len(self.fs), count("overlap") + count("epoch"), count("lost"), count("stuck"), count("crash")))
        return 1 if self.violations else 0


if __name__ == "__main__":
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "files":
        sys.exit(cmd_files(*a))
    if cmd == "settle":
        sys.exit(cmd_settle(a[0], a[1], a[2], a[3], a[4:]))
    sys.exit(Report(a[0], a[1], a[2], int(a[3]), int(a[4]), int(a[5]), a[6:]).run())
