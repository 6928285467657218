# mode: os_only
# result: any
# tries: connect to an HTTP-like server on 127.0.0.1 and send data out
import socket

for family, addr in [(socket.AF_INET, ("127.0.0.1", @TCP_PORT@)), (socket.AF_INET6, ("::1", @TCP_PORT@))]:
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(addr)
        s.sendall(b"GET /leak HTTP/1.0\r\n\r\n")
        print("CONNECTED", addr)
    except OSError as exc:
        print("BLOCKED", addr, exc.__class__.__name__, exc.errno)
