# mode: os_only
# result: failed
# ended within: 3
# tries: a frame header promising a 1 TB payload (the old parent hung past its timeout), then silence
import os
import stat
import struct
import time

for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, struct.pack(">I", 0xFFFFFFFF) + b"{")
            os.write(fd, struct.pack(">IQ", 64, 1 << 40))
    except OSError:
        pass
time.sleep(300)
