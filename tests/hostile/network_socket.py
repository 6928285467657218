# expect: rejected
# tries: open a TCP connection to exfiltrate data
# rule: import
import socket

conn = socket.create_connection(("127.0.0.1", 80), timeout=1)
conn.sendall(b"secret")
