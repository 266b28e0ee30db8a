# tests/lib/alert-mail.py: reads the mails an SMTP sink (smtp-sink.py) stored, for alerts.sh.
#   find DIR SUBJECT                  prints the path of the first mail with that subject
#   subjects DIR                      prints every subject, one a line
#   facts FILE CLUSTER NODE [resolved] checks the facts every alert mail carries; prints
#                                     what is missing and exits 1
import email, email.policy, glob, json, os, re, sys


def load(path):
    with open(path, "rb") as f:
        return email.message_from_binary_file(f, policy=email.policy.default)


def mails(d):
    return sorted(glob.glob(os.path.join(d, "*.eml")))


def facts(path, cluster, node, resolved):
    m = load(path)
    body = m.get_content()
    env = json.load(open(path[:-4] + ".env"))
    want = [
        (r"^cluster:   %s$" % re.escape(cluster), "cluster"),
        (r"^node:      %s \(" % re.escape(node), "node and role"),
        (r"^holder:    .*, epoch \d+", "holder and epoch"),
        (r"^raised:    \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(.+\)$", "raised, UTC and local"),
        (r"^detail:    .+", "detail"),
        (r"^What to do: .+", "advice"),
        (r"^Last events on %s:$" % re.escape(node), "recent events"),
    ]
    if resolved:
        want += [(r"^resolved:  .* UTC \(.+\)$", "resolved time"), (r"^lasted:    [\d.]+ s$", "duration")]
    missing = [what for rx, what in want if not re.search(rx, body, re.M)]
    if env["to"] != ["ops@example.test", "oncall@example.test"]:
        missing.append("recipients %s" % env["to"])
    if missing:
        print("missing: " + ", ".join(missing))
        sys.exit(1)


cmd = sys.argv[1]
if cmd == "find":
    for p in mails(sys.argv[2]):
        if load(p)["Subject"] == sys.argv[3]:
            print(p)
            sys.exit(0)
    sys.exit(1)
elif cmd == "subjects":
    for p in mails(sys.argv[2]):
        print(load(p)["Subject"])
elif cmd == "facts":
    facts(sys.argv[2], sys.argv[3], sys.argv[4], len(sys.argv) > 5)
