# tests/lib/smtp-sink.py HOST PORT DIR [USER PASSWORD_FILE]: an SMTP sink for the tests
# (aiosmtpd, plain text, no STARTTLS). Every accepted message becomes DIR/NNNN.eml (the
# data as received) and DIR/NNNN.env (envelope: from, to, login), written whole then renamed
# so a reader never sees half a message. With USER, AUTH (PLAIN/LOGIN) is required and
# checked against the password in PASSWORD_FILE; each attempt is logged to DIR/auth.log.
# DIR/ready appears once the server listens. Runs until SIGTERM.
import json, os, signal, sys, threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

host, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
user = sys.argv[4] if len(sys.argv) > 4 else ""
password = open(sys.argv[5]).read().strip() if len(sys.argv) > 5 else ""
os.makedirs(out, exist_ok=True)
lock = threading.Lock()
count = [0]


def write_whole(path, data):
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.rename(path + ".tmp", path)


class Sink:
    async def handle_DATA(self, server, session, envelope):
        with lock:
            count[0] += 1
            base = os.path.join(out, "%04d" % count[0])
        env = {"from": envelope.mail_from, "to": envelope.rcpt_tos,
               "login": getattr(session, "auth_data", None)}
        write_whole(base + ".env", json.dumps(env).encode())
        write_whole(base + ".eml", envelope.original_content or envelope.content)
        return "250 OK stored"


def authenticator(server, session, envelope, mechanism, auth_data):
    login = auth_data.login.decode(errors="replace")
    good = login == user and auth_data.password.decode(errors="replace") == password
    with lock, open(os.path.join(out, "auth.log"), "a") as f:
        f.write("%s %s %s\n" % (mechanism, login, "ok" if good else "refused"))
    return AuthResult(success=good, handled=False, auth_data=login if good else None)


kw = {}
if user:
    kw = dict(authenticator=authenticator, auth_required=True, auth_require_tls=False)
ctl = Controller(Sink(), hostname=host, port=port, **kw)
ctl.start()
open(os.path.join(out, "ready"), "w").close()
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())
signal.signal(signal.SIGINT, lambda *a: stop.set())
stop.wait()
ctl.stop()
