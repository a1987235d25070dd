#!/usr/bin/env python3
"""Plays Postfix's part of the milter protocol (version 6) against
`mailnest-policyd milter`, for policyd's integration tests: one connection,
one message, headers as given, and prints what the milter answered at the
end of the headers:

    accept | continue | reject | tempfail | discard | reply CODE TEXT

Usage: milter_client.py SOCKET [--login L] [--daemon NAME] [--mail ADDR]
                        [--messages N] [HEADER ...]
Each HEADER is "Name: value" (the value as it would follow the colon).
--messages N sends the same message N times on the one connection (one
answer line each). Exits 2 on a protocol error or a closed connection.

Why not Debian's miltertest (OpenDKIM's Lua-driven client): it reports a
reply given at the end of the headers only as "a reply code came" (its
eom_check sees the replies of the end of the message), so it cannot check
the code and text Postfix would relay, and it stops at any step the milter
negotiated away, where Postfix simply leaves the step out.
"""
import argparse
import socket
import struct
import sys

# Protocol steps the milter may ask us to leave out (SMFIP_NO*), and the
# ones it may ask us not to wait for an answer to (SMFIP_NR_*).
NO = {'C': 0x1, 'H': 0x2, 'M': 0x4, 'R': 0x8, 'B': 0x10, 'L': 0x20, 'N': 0x40,
      'U': 0x100, 'T': 0x200}
NR = {'C': 0x1000, 'H': 0x2000, 'M': 0x4000, 'R': 0x8000, 'T': 0x10000,
      'U': 0x20000, 'N': 0x40000, 'B': 0x80000, 'L': 0x80}
OFFERED = 0x1 | 0x2 | 0x8 | 0x10 | 0x100 | 0x200  # what Postfix may skip here


class Closed(Exception):
    pass


def recv_exact(sock, n):
    data = b''
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise Closed('connection closed by the milter')
        data += chunk
    return data


def send(sock, cmd, data=b''):
    sock.sendall(struct.pack('>I', len(data) + 1) + cmd.encode() + data)


def receive(sock):
    (length,) = struct.unpack('>I', recv_exact(sock, 4))
    body = recv_exact(sock, length)
    return chr(body[0]), body[1:]


def answer(sock):
    """The milter's answer to one step, skipping progress notes."""
    while True:
        cmd, data = receive(sock)
        if cmd != 'p':
            return cmd, data


def describe(cmd, data):
    names = {'a': 'accept', 'c': 'continue', 'r': 'reject', 't': 'tempfail',
             'd': 'discard'}
    if cmd == 'y':
        return 'reply ' + data.rstrip(b'\0').decode('utf-8', 'replace')
    return names.get(cmd, 'unknown ' + cmd)


def step(sock, proto, cmd, data=b''):
    """Send one step unless the milter asked us to leave it out; return its
    answer, or None when none is to be waited for."""
    if cmd in NO and proto & NO[cmd]:
        return None
    send(sock, cmd, data)
    if cmd in NR and proto & NR[cmd]:
        return None
    return answer(sock)


def one_message(sock, proto, args):
    macros = b'{auth_authen}\0' + args.login.encode() + b'\0' if args.login else b''
    macros += b'i\0' + b'4ABCDE\0'
    send(sock, 'D', b'M' + macros)
    got = step(sock, proto, 'M', b'<' + args.mail.encode() + b'>\0')
    if got is not None and got[0] != 'c':
        return describe(*got)
    got = step(sock, proto, 'R', b'<rcpt@elsewhere.test>\0')
    if got is not None and got[0] != 'c':
        return describe(*got)
    got = step(sock, proto, 'T')
    if got is not None and got[0] != 'c':
        return describe(*got)
    for header in args.headers:
        name, _, value = header.partition(':')
        got = step(sock, proto, 'L', name.encode() + b'\0' +
                   value.lstrip(' ').encode('utf-8', 'surrogateescape') + b'\0')
        if got is not None and got[0] != 'c':
            return describe(*got)
    got = step(sock, proto, 'N')
    if got is None:
        return 'continue'
    if got[0] == 'c':
        # Nothing decided at the end of the headers: finish the message.
        step(sock, proto, 'B', b'body\r\n')
        send(sock, 'E')
        got = answer(sock)
    send(sock, 'A')  # abort: ready for the next message
    return describe(*got)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('socket')
    parser.add_argument('--login', default='')
    parser.add_argument('--daemon', default='')
    parser.add_argument('--mail', default='sender@elsewhere.test')
    parser.add_argument('--messages', type=int, default=1)
    parser.add_argument('headers', nargs='*')
    args = parser.parse_intermixed_args()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    try:
        sock.connect(args.socket)
        send(sock, 'O', struct.pack('>III', 6, 0x1ff, OFFERED))
        cmd, data = answer(sock)
        if cmd != 'O' or len(data) < 12:
            raise Closed('bad option negotiation: ' + cmd)
        _, _, proto = struct.unpack('>III', data[:12])
        send(sock, 'D', b'C' + (b'{daemon_name}\0' + args.daemon.encode() + b'\0'
                                if args.daemon else b''))
        got = step(sock, proto, 'C', b'client.elsewhere.test\0U')
        if got is not None and got[0] != 'c':
            print(describe(*got))
            return 0
        for _ in range(args.messages):
            print(one_message(sock, proto, args), flush=True)
        send(sock, 'Q')
    except (Closed, OSError) as e:
        print('error ' + str(e), flush=True)
        return 2
    finally:
        sock.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
