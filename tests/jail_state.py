"""What a hostile job could change outside its directory without reading, writing or connecting:
file metadata, other processes' scheduling and limits, System V IPC objects, the worker's dirs.
Snapshots taken before a job and compared after it (test_sandbox_jail.py)."""
from __future__ import annotations

import ctypes
import os
import stat
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
SYS_IOPRIO_GET, IOPRIO_WHO_PROCESS, IPC_RMID = 252, 1, 0


def file_state(path: Path) -> tuple:
    """Mode, owner, times and extended attributes: what chmod/chown/utime/setxattr change."""
    st = os.lstat(path)
    try:
        xattrs = sorted(os.listxattr(path, follow_symlinks=False))
    except OSError:
        xattrs = []
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns, xattrs


def process_state(pid: int) -> dict | None:
    """Nice, scheduling policy, CPUs, limits and I/O priority of a live process (None if gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()  # fields[0] is field 3
        return {"nice": fields[16], "policy": fields[38], "cpus": sorted(os.sched_getaffinity(pid)),
                "limits": Path(f"/proc/{pid}/limits").read_text(),
                "ioprio": _libc.syscall(SYS_IOPRIO_GET, IOPRIO_WHO_PROCESS, pid)}
    except (OSError, IndexError):
        return None


def changed(before: dict | None, after: dict | None) -> list[str]:
    if before is None or after is None:
        return []
    return [key for key in before if before[key] != after[key]]


def sysv_left(keys: set[int], creator: int | None) -> list[str]:
    """System V IPC objects with one of `keys`, or shared memory created by pid `creator`;
    each found is removed, so that one failure does not leak into the machine."""
    found = []
    for kind in ("shm", "msg", "sem"):
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            key, ident = int(fields[0]), int(fields[1])
            if key in keys or (kind == "shm" and creator and int(fields[4]) == creator):
                found.append(f"{kind} key={key}")
                if kind == "shm":
                    _libc.shmctl(ident, IPC_RMID, None)
                elif kind == "msg":
                    _libc.msgctl(ident, IPC_RMID, None)
                else:
                    _libc.semctl(ident, 0, IPC_RMID, 0)
    return found


def workdir_problems(workdir: str | None) -> list[str]:
    """The worker's dir keeps its mode, and no job dir outlives its job."""
    if not workdir or not os.path.isdir(workdir):
        return []
    problems = []
    mode = stat.S_IMODE(os.stat(workdir).st_mode)
    if mode != 0o700:
        problems.append(f"the worker's dir is now mode {mode:o}")
    left = [p for p in os.listdir(workdir) if p.startswith("job-")]
    if left:
        problems.append(f"job dirs left behind: {left}")
    return problems
