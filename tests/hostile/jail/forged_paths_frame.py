# mode: os_only
# result: failed
# tries: a forged "ok" naming files outside the job dir (../, absolute, /proc) for the parent to read back
import json
import os
import stat
import struct

for names in (["../../../../@SECRET_FILE@"], ["@SECRET_FILE@"], ["render.png", "/proc/self/environ"]):
    body = json.dumps({"op": "result", "error": None, "record": {}, "files": names}).encode()
    for fd in range(3, 64):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, struct.pack(">I", len(body)) + body)
        except OSError:
            pass
os._exit(0)
