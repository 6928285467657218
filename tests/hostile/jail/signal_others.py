# mode: os_only
# result: any
# tries: signal the zygote, the worker, a helper and every process (kill -1), by kill, tgkill and rt_sigqueueinfo
import ctypes
import os
import signal

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
for pid in [os.getppid(), @PARENT_PID@, @HELPER_PID@]:
    for label, call in [("kill", lambda: os.kill(pid, signal.SIGSTOP)),
                        ("tgkill", lambda: libc.syscall(234, pid, pid, signal.SIGSTOP) or None),
                        ("sigqueue", lambda: libc.syscall(129, pid, signal.SIGSTOP, None) or None)]:
        try:
            r = call()
            print(label, pid, "->", r, ctypes.get_errno())
        except OSError as exc:
            print(label, pid, "refused", exc.errno)
try:
    os.kill(-1, signal.SIGSTOP)
    print("kill -1 sent")
except OSError as exc:
    print("kill -1 refused", exc.errno)
os.kill(os.getpid(), 0)  # itself: allowed
print("self ok")
