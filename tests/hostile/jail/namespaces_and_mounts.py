# mode: os_only
# result: any
# tries: new user namespace (to regain capabilities), mount, setns, chroot, pivot_root, open_tree
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
print("unshare user", libc.unshare(0x10000000), ctypes.get_errno())
print("unshare user+mnt", libc.unshare(0x10000000 | 0x00020000), ctypes.get_errno())
print("mount tmpfs", libc.mount(b"none", b"/tmp", b"tmpfs", 0, None), ctypes.get_errno())
print("chroot", libc.chroot(b"/"), ctypes.get_errno())
print("open_tree", libc.syscall(428, -100, b"/", 1), ctypes.get_errno())
try:
    fd = os.open("/proc/1/ns/mnt", os.O_RDONLY)
    print("setns", libc.setns(fd, 0), ctypes.get_errno())
except OSError as exc:
    print("DENIED ns", exc.__class__.__name__)
print("clone newuser", libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0), ctypes.get_errno())
