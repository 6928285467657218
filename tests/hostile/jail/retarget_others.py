# mode: os_only
# result: any
# tries: change another same-uid process through pid-taking syscalls that are not signals: its limits (prlimit: RLIMIT_CPU=1 would kill it), nice, CPUs, scheduling policy and I/O priority, on a helper and on the zygote
import ctypes
import os
import resource

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
helper, zygote = @HELPER_PID@, os.getppid()
first_cpu = min(os.sched_getaffinity(0))
attempts = {
    "prlimit helper NOFILE": lambda: resource.prlimit(helper, resource.RLIMIT_NOFILE, (64, 64)),
    "prlimit zygote NOFILE": lambda: resource.prlimit(zygote, resource.RLIMIT_NOFILE, (1000, 1000)),
    "setpriority helper": lambda: os.setpriority(os.PRIO_PROCESS, helper, 15),
    "setpriority zygote": lambda: os.setpriority(os.PRIO_PROCESS, zygote, 3),
    "setpriority user": lambda: os.setpriority(os.PRIO_USER, os.getuid(), 2),
    "affinity helper": lambda: os.sched_setaffinity(helper, {first_cpu}),
    "affinity zygote": lambda: os.sched_setaffinity(zygote, {first_cpu}),
    "SCHED_IDLE helper": lambda: os.sched_setscheduler(helper, os.SCHED_IDLE, os.sched_param(0)),
    "ioprio helper idle": lambda: libc.syscall(251, 1, helper, 3 << 13) or None,
}
for label, call in attempts.items():
    try:
        print(label, "->", call(), ctypes.get_errno())
    except OSError as exc:
        print(label, "refused", exc.errno)
print("own limits, nice and CPUs stay adjustable:", resource.prlimit(0, resource.RLIMIT_CORE), os.nice(0))
