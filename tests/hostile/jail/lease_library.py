# mode: os_only
# result: any
# tries: take a write lease on files it may read and its uid owns (system libraries, for root without capabilities): every other process that opens one then waits up to lease-break-time (45 s), for as long as the job lives
import fcntl
import glob
import os
import signal

signal.signal(signal.SIGIO, signal.SIG_IGN)  # a lease break signals the holder; ignored, the opener waits
F_SETLEASE = 1024
held = 0
for path in sorted(glob.glob("/usr/lib/x86_64-linux-gnu/libz*"))[:2] + ["/etc/ld.so.cache"]:
    try:
        fd = os.open(path, os.O_RDONLY)
        fcntl.fcntl(fd, F_SETLEASE, fcntl.F_RDLCK)
        held += 1
        print("lease on", path)
    except OSError as exc:
        print("lease refused", path, exc.errno)
print("leases held", held)
