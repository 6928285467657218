# mode: os_only
# result: any
# tries: watch directories it may not list (the secret's, the target, the worker's dir, /tmp, /etc) with inotify, whose events name the files others make or open there
import ctypes
import os
import struct
import time

libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK)
print("inotify_init1", fd, ctypes.get_errno())
if fd >= 0:
    for path in ["@TARGET_DIR@", os.path.dirname("@SECRET_FILE@"), "..", "/tmp", "/etc"]:
        print("watch", path, libc.inotify_add_watch(fd, path.encode(), 0x100 | 0x20 | 0x2), ctypes.get_errno())
    time.sleep(0.5)
    try:
        data = os.read(fd, 65536)
        names, pos = [], 0
        while pos < len(data):
            _wd, _mask, _cookie, length = struct.unpack_from("iIII", data, pos)
            names.append(data[pos + 16:pos + 16 + length].rstrip(b"\0").decode(errors="replace"))
            pos += 16 + length
        print("saw", names[:20])
    except BlockingIOError:
        print("saw nothing")
