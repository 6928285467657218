# mode: os_only
# result: failed
# tries: flood the reply pipe with endless valid frames (memory of the parent)
import os
import stat
import struct

body = b'{"op": "confined", "layers": [], "missing": []}'
frame = struct.pack(">I", len(body)) + body
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            while True:
                os.write(fd, frame * 1000)
    except OSError:
        pass
