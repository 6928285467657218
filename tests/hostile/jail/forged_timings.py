# mode: os_only
# result: failed
# tries: a forged result with a valid PNG and absurd timings and memory, to corrupt the worker's own statistics
import json
import os
import stat
import struct
import zlib

w, h = 32, 24  # the size the tests ask for: only the forged numbers can give it away
raw = b"".join(b"\x00" + bytes([255, 0, 0]) * w for _ in range(h))


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
with open("render.png", "wb") as fh:
    fh.write(png)
body = json.dumps({"op": "result", "error": None, "files": ["render.png"],
                   "record": {"device": "OPTIX", "timings": {"render_s": 1e300}, "rss_mb": 1e7}}).encode()
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, struct.pack(">I", len(body)) + body)
    except OSError:
        pass
os._exit(0)
