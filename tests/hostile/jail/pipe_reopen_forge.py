# mode: os_only
# result: any
# tries: open its own reply pipe for reading through /proc/self/fd (Landlock does not govern pipes), take the "confined" frame before the parent reads it, and put one with forged layers in its place
import json
import os
import stat
import struct
import time

reply = []
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            reply.append(fd)
    except OSError:
        pass
stolen = b""
for fd in reply:
    try:
        reader = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        print("reopen refused", exc.errno)
        continue
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not stolen:
        try:
            stolen = os.read(reader, 65536)
        except BlockingIOError:
            time.sleep(0.01)
    print("took", len(stolen), "bytes from the pipe")
    forged = json.dumps({"op": "confined", "layers": ["forged-by-the-program"], "missing": []}).encode()
    os.write(fd, struct.pack(">I", len(forged)) + forged)
