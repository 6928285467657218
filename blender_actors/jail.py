"""Kernel confinement of one job child, applied by the child to itself before any program
code runs. Every layer works without privileges (a default Kubernetes pod).

Order (each step needs the previous ones, none can be undone):
  1. no_new_privs          nothing it runs can gain privileges (Landlock and seccomp need it)
  2. Landlock              filesystem: read only what Blender needs, write only the job dir,
                           no symlinks, sockets, FIFOs or devices made there; ABI >= 4: no TCP
                           bind/connect; ABI >= 6: abstract Unix sockets and signals scoped
  3. PR_SET_DUMPABLE 0     no same-uid process may open its /proc files or ptrace it
  4. seccomp-bpf           no socket of any family, no new process (threads only), no exec,
                           no ptrace or cross-process memory, signals only to itself (kill and
                           SIGIO ownership), no file leases, no mount/namespace/bpf/perf/io_uring/keyring/
                           userfaultfd, no way back to dumpable, no file metadata changes
                           (chmod, chown, xattrs, times: Landlock does not cover them), no
                           System V IPC or POSIX message queues (objects that outlive the job),
                           no scheduling, priority or limits of another process, no set-id
                           modes on new files, no inotify, no memfd where RLIMIT_AS bounds memory, and
                           ENOSYS for every syscall this libseccomp cannot name (newer than
                           the list: the filter is a denylist). Built by libseccomp (through
                           `pyseccomp`), which also kills the process on a foreign syscall ABI
                           (i386, x32); compiled once by the zygote (`compile_filter`), loaded
                           by each child with a small second filter for its own pid.
The rlimits and dropped capabilities are inherited from the zygote and checked here.

`probe()` says what this kernel offers (the zygote reports it at start); `confine()`
applies everything and returns the names of the layers really applied, for the record.
"""
from __future__ import annotations

import ctypes
import errno
import os
import resource
import tempfile
from dataclasses import dataclass, field

from blender_actors import landlock

PR_SET_DUMPABLE, PR_GET_SECCOMP, PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS = 4, 21, 22, 38
SECCOMP_MODE_FILTER = 2
CLONE_THREAD = 0x00010000
TIOCSTI, TIOCLINUX = 0x5412, 0x541C

# Layer names, as they appear in RenderRecord.layers.
REQUIRED = ("no_new_privs", "landlock_fs", "nondumpable", "seccomp", "rlimits", "no_capabilities")
CONDITIONAL = ("landlock_net", "landlock_scope")  # only where the kernel's Landlock ABI has them (4, 6)

# Denied outright with EPERM (names libseccomp does not know on this system are skipped).
DENIED = (
    # networking: no socket of any family (TCP, Unix path or abstract, netlink, raw)
    "socket", "socketpair",
    # processes: no fork (clone without CLONE_THREAD is below), no exec
    "fork", "vfork", "execve", "execveat",
    # other processes: no tracing, memory access, fd theft or comparison
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_open", "pidfd_getfd", "pidfd_send_signal",
    "kcmp", "process_madvise", "process_mrelease", "tkill",
    # namespaces and mounts
    "mount", "umount2", "unshare", "setns", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "mount_setattr",
    # kernel attack surface a scene never needs
    "bpf", "perf_event_open", "io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl", "add_key",
    "request_key", "userfaultfd", "name_to_handle_at", "open_by_handle_at", "init_module", "finit_module",
    "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct", "quotactl",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname", "iopl",
    "ioperm", "syslog", "vhangup", "lookup_dcookie", "migrate_pages", "move_pages", "modify_ldt", "uselib",
    "fanotify_init", "quotactl_fd",
    # file metadata: Landlock governs reading and writing contents, not chmod/chown/xattrs/times. Without
    # these a job could chmod any file its uid owns anywhere (root without capabilities owns the system:
    # /etc/shadow 0666, a set-uid python), or chmod its own dirs to 0 so that the parent cannot remove them
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    "utime", "utimes", "utimensat", "futimesat",
    # System V IPC and POSIX message queues: objects that outlive the job (memory nothing bounds, a
    # channel to the next job) and reach every same-uid object of the IPC namespace
    "shmget", "shmat", "shmctl", "shmdt", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop",
    "semtimedop", "semctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify",
    "mq_getsetattr",
    # inotify: Landlock does not govern watches, which name the files made or opened in any dir the
    # uid may read by its mode bits (/tmp, /etc, other workers' dirs), none of which the job may list
    "inotify_init", "inotify_init1", "inotify_add_watch",
)
# Signals: only to itself (pid argument == own pid).
SELF_ONLY = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")
# Only on itself (pid argument 0): another same-uid process's limits (RLIMIT_CPU=1 kills it), nice,
# CPUs and scheduling policy are otherwise the job's to change, and outlive it.
SELF_ZERO = ("prlimit64", "sched_setaffinity", "sched_setscheduler", "sched_setparam", "sched_setattr")
# (syscall, argument index of the file mode): no set-uid or set-gid file (a job dir that outlived
# its job would hold an executable that runs as the worker's uid, for anyone who can reach it).
MODE_ARG = (("open", 2), ("openat", 3), ("creat", 1), ("mknod", 1), ("mknodat", 2))
# Memory RLIMIT_AS does not see: pages of a memfd that is written, never mapped.
MEMFD = ("memfd_create", "memfd_secret")
F_SETOWN, F_SETOWN_EX, F_SETLEASE, F_NOTIFY = 8, 15, 1024, 1026
PRIO_PROCESS, IOPRIO_WHO_PROCESS = 0, 1
S_ISUID, S_ISGID = 0o4000, 0o2000
LOW32 = 0xFFFFFFFF  # the kernel reads an int argument's low half only: compare that, or high bits dodge the rule
MAX_SYSCALL = 1024  # every number below this that libseccomp cannot name is refused (ENOSYS)


class JailError(RuntimeError):
    """A required layer could not be applied: the job must not run."""


@dataclass
class Policy:
    """What the job child may touch. Paths are resolved in the zygote, once."""

    job_dir: str
    read: list[str] = field(default_factory=list)  # files and directories, read-only
    write: list[str] = field(default_factory=list)  # besides job_dir (e.g. the GPU kernel cache)
    devices: list[str] = field(default_factory=list)  # read, write and ioctl (GPU device nodes)
    list_only: list[str] = field(default_factory=list)  # directories that may be listed, nothing read beneath
    memory_limited: bool = True  # RLIMIT_AS bounds memory (CPU workers): then no memfd either
    seccomp_bpf: bytes = b""  # compile_filter(memory_limited), compiled once by the zygote
    allow_weaker: bool = False
    skip: list[str] = field(default_factory=list)  # layers treated as unavailable (tests of old kernels)


def probe() -> dict[str, object]:
    """What this kernel and this install offer, without applying anything."""
    abi = landlock.abi_version()
    libc = ctypes.CDLL(None, use_errno=True)
    why: dict[str, str] = {}
    if libc.prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0:
        why["seccomp"] = "the kernel has no seccomp (CONFIG_SECCOMP_FILTER)"
    else:
        try:
            import pyseccomp  # noqa: F401  (loads libseccomp.so.2)
        except (ImportError, OSError, AttributeError) as exc:
            why["seccomp"] = (f"the seccomp binding does not load ({type(exc).__name__}: {exc}); install the "
                              "project's dependencies (pyseccomp) and Debian's libseccomp2")
    if abi < 1:
        why["landlock_fs"] = "the kernel has no Landlock (Linux 5.13+ with lsm=landlock)"
    available = ["no_new_privs", "nondumpable", "rlimits", "no_capabilities"]
    available += ["landlock_fs"] if abi >= 1 else []
    available += ["landlock_net"] if abi >= 4 else []
    available += ["landlock_scope"] if abi >= 6 else []
    available += ["seccomp"] if "seccomp" not in why else []
    missing = [name for name in REQUIRED if name not in available]
    return {"landlock_abi": abi, "available": available, "missing_required": missing,
            "why_missing": {name: why.get(name, "not available here") for name in missing}}


def _prctl(option: int, arg: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, arg, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


def _landlock(policy: Policy, abi: int, skip: set[str]) -> list[str]:
    rules = landlock.Ruleset(abi, net="landlock_net" not in skip, scopes="landlock_scope" not in skip)
    for path in policy.read:
        rules.allow(path, landlock.READ)
    for path in policy.list_only:
        rules.allow(path, landlock.READ_DIR)
    for path in [policy.job_dir, *policy.write]:
        rules.allow(path, landlock.READ | landlock.WRITE)
    for path in policy.devices:
        rules.allow(path, landlock.READ | landlock.WRITE_FILE | landlock.IOCTL_DEV)
    rules.restrict_self()
    applied = [f"landlock_fs(abi={abi})"]
    applied += ["landlock_net"] if rules.handled_net else []
    applied += ["landlock_scope"] if rules.scoped else []
    return applied


def _new_filter(sc):
    f = sc.SyscallFilter(sc.ALLOW)
    f.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)  # i386/x32 entry points: not ours, kill
    return f


def compile_filter(memory_limited: bool = True) -> bytes:
    """Every rule that does not name the child's own pid, compiled to BPF by libseccomp.

    With the ENOSYS rules for the syscalls libseccomp cannot name (~650) building and
    compiling takes it ~0.1 s: too much for every job, so the zygote compiles once and each
    child loads the program (`_seccomp`), then adds a small filter for its own pid."""
    import pyseccomp as sc

    f = _new_filter(sc)
    f.set_attr(sc.Attr.CTL_OPTIMIZE, 2)  # a binary tree: ~700 rules cost a few comparisons per syscall
    deny = sc.ERRNO(errno.EPERM)
    for name in DENIED + (MEMFD if memory_limited else ()):
        try:
            f.add_rule(deny, name)
        except (OSError, ValueError):  # a syscall this libseccomp/arch does not know (refused below)
            continue
    f.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))  # a thread is fine, a process is not
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # flags in memory, not inspectable: glibc falls back to clone
    f.add_rule(sc.ERRNO(errno.ENOSYS), "openat2")  # mode in memory, not inspectable: glibc never uses it
    for name in SELF_ZERO:
        f.add_rule(deny, name, sc.Arg(0, sc.NE, 0))  # high bits set: != too, denied
    f.add_rule(deny, "setpriority", sc.Arg(0, sc.NE, PRIO_PROCESS))  # not a process group or a user
    f.add_rule(deny, "setpriority", sc.Arg(1, sc.NE, 0))  # not another process
    f.add_rule(deny, "ioprio_set", sc.Arg(0, sc.NE, IOPRIO_WHO_PROCESS))
    f.add_rule(deny, "ioprio_set", sc.Arg(1, sc.NE, 0))
    # F_SETOWN(_EX): SIGIO/SIGURG (or any F_SETSIG signal) sent to another process. F_SETLEASE: a
    # lease on a file its uid owns and it may read (a system library, for root without capabilities)
    # stalls every other process that opens it, 45 s a time. F_NOTIFY: dnotify, signals on changes.
    for cmd in (F_SETOWN, F_SETOWN_EX, F_SETLEASE, F_NOTIFY):
        f.add_rule(deny, "fcntl", sc.Arg(1, sc.MASKED_EQ, LOW32, cmd))
    for name, index in MODE_ARG:
        for bit in (S_ISUID, S_ISGID):
            f.add_rule(deny, name, sc.Arg(index, sc.MASKED_EQ, bit, bit))
    f.add_rule(deny, "prctl", sc.Arg(0, sc.MASKED_EQ, LOW32, PR_SET_DUMPABLE))
    for request in (TIOCSTI, TIOCLINUX):
        f.add_rule(deny, "ioctl", sc.Arg(1, sc.MASKED_EQ, LOW32, request))
    for number in _unnamed_syscalls(sc):
        f.add_rule(sc.ERRNO(errno.ENOSYS), number)
    with tempfile.TemporaryFile() as fh:
        f.export_bpf(fh)
        fh.seek(0)
        return fh.read()


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _seccomp(own_pid: int, program: bytes) -> None:
    """Load the compiled filter (`compile_filter`), then one for the rules on its own pid:
    seccomp runs every filter loaded and the most restrictive answer wins."""
    import pyseccomp as sc

    if not program or len(program) % 8:
        raise OSError(errno.EINVAL, "no compiled seccomp filter")
    code = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(code, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"loading the seccomp filter: {os.strerror(err)}")
    f = _new_filter(sc)
    deny = sc.ERRNO(errno.EPERM)
    for name in SELF_ONLY:
        f.add_rule(deny, name, sc.Arg(0, sc.NE, own_pid))  # high bits set: != too, denied
    f.load()


def _unnamed_syscalls(sc) -> list[int]:
    """Syscall numbers this libseccomp cannot name: newer than its table (setxattrat, file_setattr
    ... on a 6.18 kernel with libseccomp 2.5) or unused. The filter allows by default, so these
    would pass unreviewed; the kernel's own answer for a missing syscall is ENOSYS."""
    out = []
    for number in range(MAX_SYSCALL):
        try:
            sc.resolve_syscall(sc.Arch.NATIVE, number)
        except ValueError:
            out.append(number)
    return out


def _check_inherited() -> list[str]:
    """rlimits and capabilities come from the zygote: check them, do not trust them."""
    out = []
    if all(resource.getrlimit(r)[0] == resource.getrlimit(r)[1] for r in (resource.RLIMIT_FSIZE, resource.RLIMIT_CORE)):
        out.append("rlimits")
    with open("/proc/self/status") as fh:
        caps = {k: v.strip() for k, v in (line.split(":", 1) for line in fh if line.startswith("Cap"))}
    if int(caps.get("CapEff", "1"), 16) == 0 and int(caps.get("CapPrm", "1"), 16) == 0:
        out.append("no_capabilities")
    return out


def confine(policy: Policy, abi: int) -> tuple[list[str], list[str]]:
    """Apply every available layer; return (applied, missing required). Raise JailError when a
    required layer is missing and weaker isolation is not allowed."""
    skip = set(policy.skip)
    applied = _check_inherited()
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    applied.append("no_new_privs")
    if abi >= 1 and "landlock_fs" not in skip:
        applied += _landlock(policy, abi, skip)
    if "nondumpable" not in skip:
        _prctl(PR_SET_DUMPABLE, 0)
        applied.append("nondumpable")
    if "seccomp" not in skip:
        try:
            _seccomp(os.getpid(), policy.seccomp_bpf or compile_filter(policy.memory_limited))
            applied.append("seccomp")
        except (ImportError, OSError, AttributeError) as exc:
            if not policy.allow_weaker:
                raise JailError(f"seccomp filter not loaded: {exc}") from exc
    names = {a.split("(")[0] for a in applied}
    missing = [name for name in REQUIRED if name not in names]
    if missing and not policy.allow_weaker:
        raise JailError("required sandbox layers missing: " + ", ".join(missing))
    return applied, missing
