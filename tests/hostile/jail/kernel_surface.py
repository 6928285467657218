# mode: os_only
# result: any
# tries: bpf, perf_event_open, io_uring, keyctl, userfaultfd, and becoming dumpable again
import ctypes

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
for label, nr, args in [("bpf", 321, (0, 0, 0)), ("perf_event_open", 298, (0, 0, -1, -1, 0)),
                        ("io_uring_setup", 425, (8, 0)), ("keyctl", 250, (0, 0)), ("add_key", 248, (0, 0, 0, 0, 0)),
                        ("userfaultfd", 323, (0,)), ("kcmp", 312, (1, 1, 0, 0, 0))]:
    print(label, libc.syscall(nr, *args), ctypes.get_errno())
print("dumpable", libc.prctl(4, 1, 0, 0, 0), ctypes.get_errno(), libc.prctl(3, 0, 0, 0, 0))
