# shellcheck shell=bash
# A policy-protocol client for tests that must not stop at a closed socket
# (policyd/tests/integration and tests/policyd both use it).
# policy_blast SOCKET: send standard input (ignoring a peer that stops
# reading: an oversized request is answered and closed early), then print
# whatever policyd answered.
policy_blast() {
	/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(sys.stdin.buffer.read())
except (BrokenPipeError, ConnectionResetError):
    pass
out = b""
try:
    while chunk := s.recv(65536):
        out += chunk
except (ConnectionResetError, socket.timeout):
    pass
sys.stdout.write(out.decode(errors="replace"))
' "$1"
}
