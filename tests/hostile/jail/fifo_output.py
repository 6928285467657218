# mode: os_only
# result: failed
# tries: make render.png a FIFO (the parent would block opening it) or a socket, then forge an "ok"
import json
import os
import socket
import stat
import struct

for label, make in [("fifo", lambda: os.mkfifo("render.png")),
                    ("sock", lambda: socket.socket(socket.AF_UNIX).bind("objects.json"))]:
    try:
        make()
        print("MADE", label)
    except OSError as exc:
        print("DENIED", label, exc.__class__.__name__)
body = json.dumps({"op": "result", "error": None, "record": {}, "files": ["render.png", "objects.json"]}).encode()
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, struct.pack(">I", len(body)) + body)
    except OSError:
        pass
os._exit(0)
