# mode: os_only
# result: any
# tries: connect to an abstract Unix socket (no file at all; shared by everything in the network namespace)
import socket

try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("\0@ABSTRACT_NAME@")
    s.sendall(b"leak")
    print("CONNECTED")
except OSError as exc:
    print("BLOCKED", exc.__class__.__name__, exc.errno)
