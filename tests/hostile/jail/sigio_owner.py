# mode: os_only
# result: any
# tries: have the kernel signal another process for it: make a helper (and the zygote) the owner of a pipe with O_ASYNC and F_SETSIG=SIGSTOP, then write (no kill(2) at all)
import ctypes
import fcntl
import os
import signal
import struct
import time

F_SETSIG, F_SETOWN_EX, F_OWNER_PID = 10, 15, 1
for target in (@HELPER_PID@, os.getppid()):
    read_end, write_end = os.pipe()
    for label, call in [("F_SETOWN", lambda: fcntl.fcntl(read_end, fcntl.F_SETOWN, target)),
                        ("F_SETOWN_EX", lambda: fcntl.fcntl(read_end, F_SETOWN_EX, struct.pack("ii", F_OWNER_PID, target))),
                        ("F_SETSIG", lambda: fcntl.fcntl(read_end, F_SETSIG, signal.SIGSTOP)),
                        ("O_ASYNC", lambda: fcntl.fcntl(read_end, fcntl.F_SETFL, os.O_ASYNC | os.O_NONBLOCK))]:
        try:
            call()
            print(label, target, "set")
        except OSError as exc:
            print(label, target, "refused", exc.errno)
    os.write(write_end, b"x")
    time.sleep(0.05)
print("still running")
