# mode: os_only
# result: failed
# tries: a forged result whose strings hold a lone surrogate (crashed the old CLI with a traceback)
import os
import stat
import struct

body = b'{"op": "result", "error": {"kind": "program", "message": "bad \\ud800 text", "line": 1}, ' \
       b'"record": {"stdout": "\\udfff"}, "files": []}'
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, struct.pack(">I", len(body)) + body)
    except OSError:
        pass
os._exit(0)
