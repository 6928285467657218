# mode: os_only
# result: any
# tries: read the worker's (and a same-uid helper's) /proc/PID/environ, where the credentials are
import os

for pid in [@PARENT_PID@, @HELPER_PID@, os.getppid(), 1]:
    for leaf in ["environ", "cmdline", "mem", "maps"]:
        try:
            with open(f"/proc/{pid}/{leaf}", "rb") as fh:
                print("READ", pid, leaf, fh.read(4000))
        except OSError as exc:
            print("DENIED", pid, leaf, exc.__class__.__name__)
