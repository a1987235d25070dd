#!/usr/bin/env python3
"""A forwarding SMTP relay that alters what it forwards (a test tool).

It plays a mailing list or a forwarder that breaks DKIM signatures: every
message it receives for USER@LISTEN_DOMAIN is passed on, at once and over the
same connection's lifetime, to USER@TARGET_DOMAIN at TARGET_HOST:25 with the
envelope sender relay@LISTEN_DOMAIN (as a forwarder that rewrites the sender,
so SPF passes for its own domain and not for the author's), after one line
was added to the end of the body. The target's answer to the data is given
back to the client as the relay's own answer and written to the log, so that
a test sees whether the target accepted or refused the altered message.

Standard library only (smtpd is gone from Python 3.12): a small
socketserver-based SMTP server, enough for Postfix as a client (EHLO, MAIL,
RCPT, DATA, RSET, NOOP, QUIT; no TLS, no AUTH). Bounded: lines over 8 KiB
and messages over 10 MiB are refused; every socket has a timeout.

usage: twohosts-relay.py LISTEN_IP LISTEN_DOMAIN TARGET_HOST TARGET_DOMAIN
"""

import smtplib
import socketserver
import sys

MAX_LINE = 8192
MAX_MESSAGE = 10 * 1024 * 1024
TAMPER_LINE = b"This line was added by a relay after the message was signed."


def log(text):
    print(text, flush=True)


class RelayHandler(socketserver.StreamRequestHandler):
    timeout = 60

    def reply(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def read_line(self):
        line = self.rfile.readline(MAX_LINE + 1)
        if not line or len(line) > MAX_LINE:
            return None
        return line.rstrip(b"\r\n")

    def read_data(self):
        lines, size = [], 0
        while True:
            line = self.read_line()
            if line is None:
                return None
            if line == b".":
                return lines
            if line.startswith(b"."):
                line = line[1:]
            size += len(line) + 2
            if size > MAX_MESSAGE:
                return None
            lines.append(line)

    def forward(self, recipients, lines):
        # Change the body: one more line at its end breaks the body hash.
        message = b"\r\n".join(lines + [TAMPER_LINE]) + b"\r\n"
        targets = [r.split("@")[0] + "@" + self.server.target_domain for r in recipients]
        try:
            with smtplib.SMTP(self.server.target_host, 25, "relay." + self.server.listen_domain,
                              timeout=60) as smtp:
                smtp.ehlo()
                code, _ = smtp.mail("relay@" + self.server.listen_domain)
                if code != 250:
                    raise smtplib.SMTPSenderRefused(code, b"", "")
                for rcpt in targets:
                    code, text = smtp.rcpt(rcpt)
                    if code not in (250, 251):
                        return code, text.decode(errors="replace")
                code, text = smtp.data(message)
                return code, text.decode(errors="replace")
        except smtplib.SMTPResponseException as err:
            return err.smtp_code, err.smtp_error.decode(errors="replace")
        except OSError as err:
            return 451, "4.4.1 relay could not reach the target: %s" % err

    def handle(self):
        sender, recipients = None, []
        self.reply("220 relay." + self.server.listen_domain + " ESMTP test relay")
        while True:
            line = self.read_line()
            if line is None:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.reply("250 relay." + self.server.listen_domain)
            elif verb == b"MAIL":
                sender, recipients = line[10:].decode(errors="replace").strip("<> "), []
                self.reply("250 2.1.0 Ok")
            elif verb == b"RCPT":
                rcpt = line[8:].decode(errors="replace").strip().strip("<>")
                if sender is None or not rcpt.lower().endswith("@" + self.server.listen_domain):
                    self.reply("550 5.1.1 not a forwarded address")
                else:
                    recipients.append(rcpt)
                    self.reply("250 2.1.5 Ok")
            elif verb == b"DATA":
                if not recipients:
                    self.reply("503 5.5.1 no recipients")
                    continue
                self.reply("354 go ahead")
                lines = self.read_data()
                if lines is None:
                    self.reply("552 5.3.4 message too big or line too long")
                    return
                code, text = self.forward(recipients, lines)
                log("forwarded from=<%s> rcpt=%s result=%d %s" % (sender, ",".join(recipients), code, text))
                self.reply("%d %s" % (code, text.replace("\n", " ")))
                sender, recipients = None, []
            elif verb == b"RSET":
                sender, recipients = None, []
                self.reply("250 2.0.0 Ok")
            elif verb == b"NOOP":
                self.reply("250 2.0.0 Ok")
            elif verb == b"QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("502 5.5.2 command not recognized")


class RelayServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    listen_ip, listen_domain, target_host, target_domain = sys.argv[1:]
    server = RelayServer((listen_ip, 25), RelayHandler)
    server.listen_domain = listen_domain.lower()
    server.target_host = target_host
    server.target_domain = target_domain.lower()
    log("listening on %s:25 for @%s, forwarding to @%s at %s" % (listen_ip, listen_domain,
                                                                 target_domain, target_host))
    server.serve_forever()


if __name__ == "__main__":
    main()
