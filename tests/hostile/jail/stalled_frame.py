# mode: os_only
# result: failed
# tries: start a valid-looking frame, then stall one byte at a time (the old deadline covered only the first byte)
import os
import stat
import struct
import time

body = b'{"op": "result", "error": null, "record": {}, "files": ["render.png"]}'
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, struct.pack(">I", len(body)))
            for byte in body:
                os.write(fd, bytes([byte]))
                time.sleep(1)
    except OSError:
        pass
