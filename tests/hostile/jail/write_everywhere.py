# mode: os_only
# result: any
# tries: write outside the job dir: the target dir, /tmp, /dev/shm, the repository, the worker's dir, the home dir
import os

targets = ["@TARGET_DIR@/pwned-write", "/tmp/pwned-jail-write", "/dev/shm/pwned-jail-write", "@REPO@/pwned-jail-write",
           os.path.join(os.path.dirname(os.getcwd()), "pwned-jail-write"), "/root/pwned-jail-write"]
for path in targets:
    try:
        with open(path, "w") as fh:
            fh.write("pwned")
        print("WROTE", path)
    except OSError as exc:
        print("DENIED", path, exc.__class__.__name__)
for path in ["@TARGET_DIR@/pwned-dir", "../pwned-dir"]:
    try:
        os.mkdir(path)
        print("MKDIR", path)
    except OSError as exc:
        print("DENIED mkdir", path, exc.__class__.__name__)
