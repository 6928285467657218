"""Process-wide limits of the Blender zygote, inherited by every job child. Stdlib only.

The kernel jail proper (seccomp, Landlock, non-dumpable) is `jail.py`, applied by each
job child to itself. These are applied by the zygote to itself at start-up, before bpy
is imported, so that no `preexec_fn` runs in a multi-threaded parent (Ray workers have
threads):
- dies with its parent: PR_SET_PDEATHSIG(SIGKILL), plus EOF on the zygote's control channel;
- rlimits: address space (memory), file size, per-job CPU seconds, processes; hard limits
  are locked to the soft ones, or any program could raise its own soft limits back;
- extras where the kernel grants them (root or CAP_SYS_ADMIN; nothing relies on them):
  a network namespace, and a private mount namespace in which every mount is read-only
  except the workdir and a fresh /dev/shm;
- then every capability is dropped (bounding set, effective, permitted; no_new_privs):
  the child runs as root in a container, and root with CAP_SYS_ADMIN / CAP_SYS_RESOURCE
  could simply remount read-write, leave the namespaces or raise its hard limits.
Each outcome is reported in the worker's info, never assumed.
The environment is stripped by the parent (`child_environment`) before exec.
"""
from __future__ import annotations

import ctypes
import os
import re
import resource
import signal

PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18)
# Per-mount flags a remount must keep (the kernel refuses to clear locked ones).
_MOUNT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": 1024,
                "nodiratime": 2048, "relatime": 1 << 21}
_CAP_VERSION_3 = 0x20080522

# Variables the child may keep; everything else (AWS_*, OPENAI_*, tokens, Ray's auth) is dropped.
ENV_ALLOW_EXACT = frozenset({
    "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH", "PYTHONHASHSEED", "LD_LIBRARY_PATH",
    "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "HIP_VISIBLE_DEVICES",
    "OMP_NUM_THREADS", "VIRTUAL_ENV",
    # GPU kernel caches on a persistent volume (k8s/): compiled kernels survive restarts
    "XDG_CACHE_HOME", "CUDA_CACHE_PATH", "CUDA_CACHE_MAXSIZE", "OPTIX_CACHE_PATH",
})
ENV_ALLOW_PREFIX = ("CYCLES_", "SEIG_BLENDER_")
# Even under an allowed prefix, a name with one of these words is a credential.
ENV_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASS", "CREDENTIAL", "AUTH", "SESSION", "COOKIE", "CERT")


def child_environment(parent_env: dict[str, str], workdir: str) -> dict[str, str]:
    """The environment the child starts with: an allowlist, HOME and TMPDIR in its workdir."""
    env = {
        k: v for k, v in parent_env.items()
        if k in ENV_ALLOW_EXACT
        or (k.startswith(ENV_ALLOW_PREFIX) and not any(word in k.upper() for word in ENV_SECRET_WORDS))
    }
    env.update(HOME=workdir, TMPDIR=workdir, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    return env


def die_with_parent(parent_pid: int) -> None:
    """Arrange to be killed when the parent dies, however it dies (SIGKILL included).

    PR_SET_PDEATHSIG fires when the thread that forked this process exits; the zygote
    also sees EOF on its control channel when the parent process is gone, so no
    watchdog thread is needed (the zygote must stay single-threaded to fork safely)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(70)


def _set(limit: int, soft: int) -> None:
    """Set the limit and lock it: hard = soft, so the program cannot raise it again."""
    _, hard = resource.getrlimit(limit)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(limit, (soft, soft))


def apply_rlimits(memory_mb: int | None, file_size_mb: int, max_processes: int | None) -> dict[str, object]:
    """Apply process-wide limits (hard = soft: a program cannot raise them back);
    return what was applied, for the worker's record."""
    applied: dict[str, object] = {}
    if memory_mb:
        _set(resource.RLIMIT_AS, memory_mb * 1024 * 1024)
        applied["memory_mb"] = memory_mb
    _set(resource.RLIMIT_FSIZE, file_size_mb * 1024 * 1024)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails with EFBIG, no kill
    applied["file_size_mb"] = file_size_mb
    _set(resource.RLIMIT_CORE, 0)
    if max_processes:
        # RLIMIT_NPROC counts every task of this uid, so the limit is "what exists now + margin".
        # The kernel does not enforce it for root: reported so the record tells the truth.
        uid = os.getuid()
        tasks = 0
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    if os.stat(f"/proc/{pid}").st_uid == uid:
                        tasks += len(os.listdir(f"/proc/{pid}/task"))
                except OSError:
                    pass
        _set(resource.RLIMIT_NPROC, tasks + max_processes)
        applied["processes"] = "not enforced for root" if uid == 0 else tasks + max_processes
    return applied


def _mount(libc, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> bool:
    args = [v.encode() if v is not None else None for v in (source, target, fstype)]
    return libc.mount(*args, flags, data.encode() if data else None) == 0


def _mount_points() -> list[tuple[str, int]]:
    """(mount point, flags to keep) for every mount this process sees."""
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            keep = sum(_MOUNT_FLAGS.get(opt, 0) for opt in fields[5].split(","))
            out.append((point, keep))
    return out


def confine_filesystem(workdir: str, writable: tuple[str, ...] = ()) -> str:
    """Make every mount read-only, in a private mount namespace, except `workdir` and the
    configured `writable` directories (e.g. Cycles' GPU kernel cache volume).

    /dev/shm gets a fresh private tmpfs (shared memory must stay writable, but not shared
    with the host). Device nodes (/dev/null, GPUs) stay usable: a read-only mount only
    refuses writes to files and directories. Returns what was done, for the record.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNS) != 0:
            return "not confined: unshare(CLONE_NEWNS) not permitted"
    except (OSError, AttributeError) as exc:
        return f"not confined: {exc}"
    wd = os.path.realpath(workdir)
    if not (_mount(libc, None, "/", None, MS_REC | MS_PRIVATE) and _mount(libc, wd, wd, None, MS_BIND | MS_REC)):
        return "not confined: mount not permitted"
    keep_writable = {wd, "/dev/shm"}
    for extra in writable:
        real = os.path.realpath(extra)
        if os.path.isdir(real) and _mount(libc, real, real, None, MS_BIND | MS_REC):
            keep_writable.add(real)
    if os.path.isdir("/dev/shm"):
        _mount(libc, "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=256m")
    writable = [point for point, keep in _mount_points() if point not in keep_writable
                and not _mount(libc, None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | keep)]
    if writable:
        return "partly confined: still writable: " + ", ".join(sorted(set(writable)))
    return "read-only outside the workdir"


def drop_capabilities() -> str:
    """Give up every capability of this thread (and so of everything it starts later: bpy,
    its threads, any process a program might spawn). Threads started before keep theirs:
    here only the parent watchdog, which runs no program code."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.capset  # noqa: B018 - fail here, not half-way, where libc lacks it
    except (OSError, AttributeError) as exc:
        return f"not dropped: {exc}"
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break  # past the last capability this kernel knows (EINVAL), or not permitted
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable; two 32-bit halves
    if libc.capset(header, data) != 0:
        return f"not dropped: capset failed ({os.strerror(ctypes.get_errno())})"
    return "all dropped"


def isolate_network() -> bool:
    """Move into a fresh network namespace (loopback only, down). False if not permitted."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.unshare(CLONE_NEWNET) == 0
    except (OSError, AttributeError):
        return False


def set_job_cpu_budget(seconds: float) -> None:
    """Allow this process `seconds` more CPU time from now (SIGXCPU kills it past that)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(used + seconds) + 1
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
