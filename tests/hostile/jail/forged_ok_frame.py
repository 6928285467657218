# mode: os_only
# result: failed
# tries: write a forged "ok" result straight to the reply pipe, naming a render.png that is not a PNG, then exit 0
import json
import os
import stat
import struct

open("render.png", "w").write("not a png at all: " + open("@SECRET_FILE@", errors="replace").read()
                              if os.path.exists("@SECRET_FILE@") else "not a png")
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            body = json.dumps({"op": "result", "error": None, "record": {"stdout": "forged"},
                               "files": ["render.png"]}).encode()
            os.write(fd, struct.pack(">I", len(body)) + body)
    except OSError:
        pass
os._exit(0)
