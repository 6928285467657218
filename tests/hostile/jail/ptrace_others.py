# mode: os_only
# result: any
# tries: attach to the zygote and the worker with ptrace, read their memory with process_vm_readv, steal fds with pidfd_getfd
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
for pid in [os.getppid(), @PARENT_PID@]:
    print("ptrace attach", pid, libc.ptrace(16, pid, None, None), ctypes.get_errno())
    buf = ctypes.create_string_buffer(64)
    local = (ctypes.c_void_p * 2)(ctypes.cast(buf, ctypes.c_void_p), 64)
    remote = (ctypes.c_void_p * 2)(0x400000, 64)
    print("process_vm_readv", pid, libc.syscall(310, pid, local, 1, remote, 1, 0), ctypes.get_errno())
    pidfd = libc.syscall(434, pid, 0)
    print("pidfd_open", pid, pidfd, ctypes.get_errno())
    if pidfd >= 0:
        print("pidfd_getfd", libc.syscall(438, pidfd, 3, 0), ctypes.get_errno())
