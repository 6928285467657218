# expect: rejected
# tries: a fork bomb (as root RLIMIT_NPROC is not enforced: only the static layer stops this)
# rule: import
import os

while True:
    os.fork()
