# mode: os_only
# result: failed
# tries: name 16 valid PNGs of the requested size, each padded to the file-size limit with a private chunk, in a forged "ok": the parent read them all into memory and handed them on as outputs nobody asked for
import json
import os
import struct
import zlib

job = json.load(open("request.json"))
width, height = job["width"], job["height"]


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


rows = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))
padding = b"\x00" * (15 * 1024 * 1024)
png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
       + chunk(b"prVt", padding) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
names = ["render.png"] + [f"extra{i}.png" for i in range(15)]
written = []
for name in names:
    try:
        with open(name, "wb") as fh:
            fh.write(png)
        written.append(name)
    except OSError as exc:
        print("write refused", name, exc.errno)
frame = json.dumps({"op": "result", "error": None, "record": {}, "files": written}).encode()
for fd in range(3, 64):
    try:
        if os.fstat(fd).st_mode & 0o170000 == 0o010000:  # the reply pipe
            os.write(fd, struct.pack(">I", len(frame)) + frame)
    except OSError:
        pass
os._exit(0)
