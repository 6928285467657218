# mode: os_only
# result: any
# tries: change file metadata outside the job dir, which Landlock does not govern: chmod/chown/utime/xattrs on a secret and a dir elsewhere (without capabilities root owns every system file), chmod of the worker's dir and its own, and setxattrat, newer than the seccomp library's syscall table
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


class XattrArgs(ctypes.Structure):
    _fields_ = [("value", ctypes.c_uint64), ("size", ctypes.c_uint32), ("flags", ctypes.c_uint32)]


value = ctypes.create_string_buffer(b"pwned")
args = XattrArgs(ctypes.cast(value, ctypes.c_void_p).value, 5, 0)
attempts = {
    "chmod secret 0666": lambda: os.chmod("@SECRET_FILE@", 0o666),
    "chmod target 0777": lambda: os.chmod("@TARGET_DIR@", 0o777),
    "chown secret": lambda: os.chown("@SECRET_FILE@", os.getuid(), os.getgid()),
    "utime secret": lambda: os.utime("@SECRET_FILE@", (0, 0)),
    "setxattr secret": lambda: os.setxattr("@SECRET_FILE@", "user.pwned", b"1"),
    "setxattrat secret": lambda: libc.syscall(463, -100, b"@SECRET_FILE@", 0, b"user.pwnedat", ctypes.byref(args),
                                              ctypes.c_size_t(16)),
    "chmod worker dir 0711": lambda: os.chmod("..", 0o711),
    "chmod own job dir 0777": lambda: os.chmod(".", 0o777),
    "utime worker dir": lambda: os.utime("..", (0, 0)),
}
for label, call in attempts.items():
    try:
        result = call()
        print(label, "->", result, ctypes.get_errno())
    except OSError as exc:
        print(label, "refused", exc.errno)
