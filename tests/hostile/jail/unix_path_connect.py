# mode: os_only
# result: any
# tries: connect to a path-based Unix socket on the host (a network namespace does not cover these)
import socket

try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("@UNIX_PATH@")
    s.sendall(b"leak")
    print("CONNECTED")
except OSError as exc:
    print("BLOCKED", exc.__class__.__name__, exc.errno)
