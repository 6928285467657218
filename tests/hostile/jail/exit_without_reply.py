# mode: os_only
# result: failed
# ended within: 5.5
# tries: close the reply pipe and keep running past the job (a silent child that never exits)
import os
import stat
import time

for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.close(fd)
    except OSError:
        pass
time.sleep(300)
