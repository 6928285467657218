# mode: os_only
# result: any
# tries: make sockets with raw syscalls: socket(2), socketpair(2), and the x32 and i386-numbered entry points
import ctypes

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
for label, nr in [("socket", 41), ("x32 socket", 0x40000000 | 41)]:
    fd = libc.syscall(nr, 2, 1, 0)  # AF_INET, SOCK_STREAM
    print(label, fd, ctypes.get_errno())
    if fd >= 0:
        addr = (ctypes.c_ubyte * 16)(2, 0, @TCP_PORT@ >> 8, @TCP_PORT@ & 255, 127, 0, 0, 1)
        print("connect", libc.syscall(42, fd, addr, 16))
pair = (ctypes.c_int * 2)()
print("socketpair", libc.syscall(53, 1, 1, 0, pair), ctypes.get_errno())
