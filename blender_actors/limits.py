"""Run-time containment of the Blender child (sandbox layer 2). Stdlib only.

Applied by the child to itself at start-up, before bpy is imported, so that no
`preexec_fn` runs in a multi-threaded parent (Ray workers have threads):
- dies with its parent: PR_SET_PDEATHSIG(SIGKILL) plus a watchdog thread on getppid()
  (PDEATHSIG fires when the *thread* that forked exits, so the watchdog covers that case);
- rlimits: address space (memory), file size, per-job CPU seconds, processes;
- no network: unshare(CLONE_NEWNET) where the kernel allows it (root or CAP_SYS_ADMIN);
  the outcome is reported, never assumed.
The environment is stripped by the parent (`child_environment`) before exec.
"""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import threading
import time

PR_SET_PDEATHSIG = 1
CLONE_NEWNET = 0x40000000

# Variables the child may keep; everything else (AWS_*, OPENAI_*, tokens, Ray's auth) is dropped.
ENV_ALLOW_EXACT = frozenset({
    "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH", "PYTHONHASHSEED", "LD_LIBRARY_PATH",
    "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "HIP_VISIBLE_DEVICES",
    "OMP_NUM_THREADS", "VIRTUAL_ENV",
})
ENV_ALLOW_PREFIX = ("CYCLES_", "SEIG_BLENDER_")


def child_environment(parent_env: dict[str, str], workdir: str) -> dict[str, str]:
    """The environment the child starts with: an allowlist, HOME and TMPDIR in its workdir."""
    env = {
        k: v for k, v in parent_env.items()
        if k in ENV_ALLOW_EXACT or (k.startswith(ENV_ALLOW_PREFIX) and "KEY" not in k and "TOKEN" not in k)
    }
    env.update(HOME=workdir, TMPDIR=workdir, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    return env


def die_with_parent(parent_pid: int) -> None:
    """Arrange to be killed when the parent dies, however it dies (SIGKILL included)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(70)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(70)

    threading.Thread(target=watch, name="seig-parent-watchdog", daemon=True).start()


def _set(limit: int, soft: int) -> None:
    _, hard = resource.getrlimit(limit)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(limit, (soft, hard))


def apply_rlimits(memory_mb: int | None, file_size_mb: int, max_processes: int | None) -> dict[str, object]:
    """Apply process-wide limits; return what was applied, for the worker's record."""
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
