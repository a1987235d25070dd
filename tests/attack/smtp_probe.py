#!/usr/bin/python3
"""A raw SMTP client for the attack suite (tests/attack/*.bats).

    smtp_probe.py rcpt HOST PORT MODE USER PASS FROM RCPT...
        For each RCPT: RSET, MAIL FROM:<FROM>, RCPT TO:RCPT sent verbatim
        (RCPT has its own <>; no quoting, no parsing), and one line "CODE
        RCPT REPLY" with RCPT's reply (or MAIL FROM's when that failed).
    smtp_probe.py data HOST PORT MODE USER PASS FROM RCPT PAUSE PIECE...
        MAIL FROM, RCPT TO, DATA, then each PIECE (Python escapes such as
        \\r\\n are decoded) written as its own TCP segment, PAUSE seconds
        apart; prints every reply line the server sends until it closes the
        connection or is quiet for 5 s, then QUIT.
    smtp_probe.py idle HOST PORT COUNT SECONDS
        Opens COUNT connections and holds them, saying nothing, for SECONDS
        (or until killed); prints how many connected.
    smtp_probe.py banner HOST PORT
        Prints the seconds until the first line of the banner, and the line.

MODE is plain, starttls or tls (implicit TLS); USER "-" means no AUTH.
Certificates are not verified (a trial's is self-signed). Exit status: 0 when
the dialogue could be held, 1 otherwise (a refused RCPT is not a failure).
"""

import socket
import ssl
import sys
import time


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Session:
    """An SMTP dialogue over a socket that may be switched to TLS."""

    def __init__(self, host, port, mode, timeout=30):
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if mode == "tls":
            self.sock = tls_context().wrap_socket(self.sock)
        self.buf = b""
        code, _ = self.reply()
        if code != 220:
            raise RuntimeError(f"banner {code}")
        self.ehlo()
        if mode == "starttls":
            code, _ = self.cmd("STARTTLS")
            if code != 220:
                raise RuntimeError(f"STARTTLS {code}")
            self.sock = tls_context().wrap_socket(self.sock)
            self.buf = b""
            self.ehlo()

    def ehlo(self):
        code, _ = self.cmd("EHLO stranger.elsewhere.test")
        if code != 250:
            raise RuntimeError(f"EHLO {code}")

    def line(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                raise EOFError("connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        lines = []
        while True:
            text = self.line()
            lines.append(text)
            if len(text) < 4 or text[3] != "-":
                return int(text[:3]), lines

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.reply()

    def auth(self, user, password):
        import base64

        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        code, lines = self.cmd(f"AUTH PLAIN {token}")
        if code != 235:
            raise RuntimeError(f"AUTH {code} {lines}")


def open_session(host, port, mode, user, password):
    s = Session(host, port, mode)
    if user != "-":
        s.auth(user, password)
    return s


def do_rcpt(args):
    host, port, mode, user, password, sender, *rcpts = args
    # A new session every 3 recipients: Postfix slows down (and at 10 cuts)
    # a session that makes more errors, as refused recipients are.
    for first in range(0, len(rcpts), 3):
        s = open_session(host, port, mode, user, password)
        for rcpt in rcpts[first : first + 3]:
            s.cmd("RSET")
            code, lines = s.cmd(f"MAIL FROM:<{sender}>")
            if code == 250:
                code, lines = s.cmd(f"RCPT TO:{rcpt}")
            print(code, rcpt, lines[-1], flush=True)
        s.cmd("QUIT")


def do_data(args):
    host, port, mode, user, password, sender, rcpt, pause, *pieces = args
    s = open_session(host, port, mode, user, password)
    for text in (f"MAIL FROM:<{sender}>", f"RCPT TO:<{rcpt}>", "DATA"):
        code, lines = s.cmd(text)
        print("\n".join(lines), flush=True)
        if code >= 400:
            return
    for piece in pieces:
        s.sock.sendall(piece.encode().decode("unicode_escape").encode("latin-1"))
        time.sleep(float(pause))
    s.sock.settimeout(5)
    try:
        while True:
            print(s.line(), flush=True)
    except (EOFError, OSError):
        pass
    try:
        s.sock.settimeout(5)
        s.cmd("QUIT")
    except (EOFError, OSError, ValueError):
        pass


def do_idle(args):
    host, port, count, seconds = args
    held = []
    for _ in range(int(count)):
        try:
            held.append(socket.create_connection((host, int(port)), timeout=5))
        except OSError:
            pass
    print(len(held), flush=True)
    time.sleep(float(seconds))


def do_banner(args):
    host, port = args
    start = time.monotonic()
    sock = socket.create_connection((host, int(port)), timeout=30)
    line = sock.makefile("rb").readline().decode("utf-8", "replace").rstrip()
    print(f"{time.monotonic() - start:.3f} {line}", flush=True)
    sock.close()


def main():
    commands = {"rcpt": do_rcpt, "data": do_data, "idle": do_idle, "banner": do_banner}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    try:
        commands[sys.argv[1]](sys.argv[2:])
    except (OSError, EOFError, RuntimeError, ValueError) as e:
        print(f"smtp_probe: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
