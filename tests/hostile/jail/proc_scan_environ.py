# mode: os_only
# result: any
# tries: scan every process's environ and fds under /proc for credentials
import os

try:
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
except OSError as exc:
    pids = [str(n) for n in range(1, 4096)]
    print("DENIED listdir", exc.__class__.__name__)
for pid in pids:
    try:
        print("READ", pid, open(f"/proc/{pid}/environ", "rb").read())
    except OSError:
        pass
    try:
        print("FDS", pid, os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
