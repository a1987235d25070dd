#!/usr/bin/env python3
"""IMAP logins per second: PARALLEL clients log in and out again and again,
for SECONDS, round-robin over a few accounts, on a plain IMAP port of the
loopback (Dovecot treats a client on the server's own address as secure, so
no TLS is needed and the figure is the cost of authentication).

usage: imap_logins.py HOST PORT SECONDS PARALLEL USER:PASSWORD...
Prints: "<logins per second> logins/s (<n> ok, <m> failed)".
"""
import imaplib
import sys
import threading
import time


def worker(host, port, deadline, accounts, offset, result, index):
    ok = failed = 0
    i = offset
    while time.monotonic() < deadline:
        user, password = accounts[i % len(accounts)]
        i += 1
        try:
            conn = imaplib.IMAP4(host, port, timeout=30)
            conn.login(user, password)
            conn.logout()
            ok += 1
        except (imaplib.IMAP4.error, OSError):
            failed += 1
    result[index] = (ok, failed)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    seconds, parallel = float(sys.argv[3]), int(sys.argv[4])
    accounts = [a.split(":", 1) for a in sys.argv[5:]]
    result = [(0, 0)] * parallel
    start = time.monotonic()
    deadline = start + seconds
    pool = [threading.Thread(target=worker,
                             args=(host, port, deadline, accounts, i, result, i))
            for i in range(parallel)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - start
    ok = sum(r[0] for r in result)
    failed = sum(r[1] for r in result)
    print(f"{ok / elapsed:.1f} logins/s ({ok} ok, {failed} failed)")


if __name__ == "__main__":
    main()
