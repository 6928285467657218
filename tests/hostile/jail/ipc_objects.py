# mode: os_only
# result: any
# tries: System V shared memory, message queues and semaphores and a POSIX message queue: objects that outlive the job (memory no rlimit bounds, a channel to the next job) and reach every same-uid object in the IPC namespace
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
IPC_CREAT, IPC_PRIVATE, KEY = 0o1000, 0, @IPC_KEY@
shm = libc.shmget(KEY, 1 << 20, IPC_CREAT | 0o666)
print("shmget", shm, ctypes.get_errno())
if shm >= 0:
    address = libc.shmat(shm, None, 0)
    if address not in (None, ctypes.c_void_p(-1).value):
        ctypes.memmove(address, b"left for the next job", 21)
        libc.shmdt(ctypes.c_void_p(address))
print("shmget private", libc.shmget(IPC_PRIVATE, 1 << 20, IPC_CREAT | 0o600), ctypes.get_errno())
queue = libc.msgget(KEY + 1, IPC_CREAT | 0o666)
print("msgget", queue, ctypes.get_errno())
if queue >= 0:
    message = ctypes.create_string_buffer(b"\x01\x00\x00\x00\x00\x00\x00\x00hello next job")
    print("msgsnd", libc.msgsnd(queue, message, 14, 0o4000), ctypes.get_errno())
print("semget", libc.semget(KEY + 2, 1, IPC_CREAT | 0o666), ctypes.get_errno())
libc.mq_open.restype = ctypes.c_int
print("mq_open", libc.mq_open(b"/seig-pwned", os.O_CREAT | os.O_RDWR, 0o600, None), ctypes.get_errno())
