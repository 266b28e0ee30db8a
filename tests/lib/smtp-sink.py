# tests/lib/smtp-sink.py [--tls starttls|smtps --cert PEM --key PEM] HOST PORT DIR
#                        [USER PASSWORD_FILE]
# An SMTP sink for the tests (aiosmtpd). Plain text by default, offering no STARTTLS; with
# --tls starttls it offers STARTTLS and requires it before MAIL (and AUTH); with --tls smtps
# it speaks TLS from the first byte. Every accepted message becomes DIR/NNNN.eml (the data
# as received) and DIR/NNNN.env (JSON: from, to, login, tls), written whole then renamed so
# a reader never sees half a message. With USER, AUTH (PLAIN/LOGIN) is required and checked
# against the password in PASSWORD_FILE; each attempt is logged to DIR/auth.log.
# Recipients whose address starts with "rejected" get 550.
# DIR/ready appears once the server listens. Runs until SIGTERM.
import argparse, json, os, signal, ssl, threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

ap = argparse.ArgumentParser()
ap.add_argument("--tls", choices=["starttls", "smtps"])
ap.add_argument("--cert")
ap.add_argument("--key")
ap.add_argument("host")
ap.add_argument("port", type=int)
ap.add_argument("dir")
ap.add_argument("user", nargs="?", default="")
ap.add_argument("password_file", nargs="?")
args = ap.parse_args()
password = open(args.password_file).read().strip() if args.password_file else ""
out = args.dir
os.makedirs(out, exist_ok=True)
lock = threading.Lock()
count = [0]


def write_whole(path, data):
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.rename(path + ".tmp", path)


class Sink:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("rejected"):  # a mailbox that does not exist
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with lock:
            count[0] += 1
            base = os.path.join(out, "%04d" % count[0])
        env = {"from": envelope.mail_from, "to": envelope.rcpt_tos,
               "login": getattr(session, "auth_data", None),
               "tls": server.transport.get_extra_info("ssl_object") is not None}
        write_whole(base + ".env", json.dumps(env).encode())
        write_whole(base + ".eml", envelope.original_content or envelope.content)
        return "250 OK stored"


def authenticator(server, session, envelope, mechanism, auth_data):
    login = auth_data.login.decode(errors="replace")
    good = login == args.user and auth_data.password.decode(errors="replace") == password
    with lock, open(os.path.join(out, "auth.log"), "a") as f:
        f.write("%s %s %s\n" % (mechanism, login, "ok" if good else "refused"))
    return AuthResult(success=good, handled=False, auth_data=login if good else None)


kw = {}
if args.user:
    # aiosmtpd counts only STARTTLS as TLS for AUTH; smtps is TLS from the first byte.
    kw.update(authenticator=authenticator, auth_required=True,
              auth_require_tls=args.tls == "starttls")
if args.tls:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    if args.tls == "starttls":
        kw.update(tls_context=ctx, require_starttls=True)
    else:
        kw.update(ssl_context=ctx)
ctl = Controller(Sink(), hostname=args.host, port=args.port, **kw)
ctl.start()
open(os.path.join(out, "ready"), "w").close()
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())
signal.signal(signal.SIGINT, lambda *a: stop.set())
stop.wait()
ctl.stop()
