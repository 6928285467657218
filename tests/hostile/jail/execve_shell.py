# mode: os_only
# result: any
# tries: replace the child with a shell (execve) and with an in-memory binary (memfd_create + execveat)
import ctypes
import os

try:
    os.execv("/bin/sh", ["sh", "-c", "touch @TARGET_DIR@/pwned-exec"])
except OSError as exc:
    print("EXEC refused", exc.__class__.__name__, exc.errno)
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
fd = os.memfd_create("x")
os.write(fd, open("/bin/true", "rb").read() if os.path.exists("/bin/true") else b"")
argv = (ctypes.c_char_p * 2)(b"true", None)
print("EXECVEAT", libc.syscall(322, fd, b"", argv, None, 0x1000), ctypes.get_errno())
