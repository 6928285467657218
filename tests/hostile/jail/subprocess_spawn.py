# mode: os_only
# result: any
# tries: start programs: subprocess, posix_spawn, os.system, multiprocessing
import multiprocessing
import os
import subprocess

for label, fn in [
    ("popen", lambda: subprocess.Popen(["sleep", "300"], start_new_session=True).pid),
    ("spawn", lambda: os.posix_spawn("/bin/sleep", ["sleep", "300"], {})),
    ("system", lambda: os.system("sleep 300 &")),
    ("mp", lambda: multiprocessing.Process(target=print).start()),
]:
    try:
        print("STARTED", label, fn())
    except Exception as exc:
        print("REFUSED", label, exc.__class__.__name__)
