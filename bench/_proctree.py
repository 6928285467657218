"""CPU accounting for the benchmarks: this process tree's CPU seconds and the machine's busy share.

Not a benchmark itself. `CpuSampler` polls /proc every `interval` seconds in a thread:
for every descendant of this process (Ray's raylet, GCS, workers, actors, the Blender
children; a Ray cluster started from here is a descendant too) it keeps the largest
utime+stime seen, so a process that exits between two polls loses at most `interval`
of CPU. /proc/stat gives the whole machine's busy time over the same span (other
people's work included), so "job CPU / machine busy" says how much of the machine the
job actually got.
"""
from __future__ import annotations

import os
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            data = fh.read()
    except OSError:
        return None
    rest = data[data.rfind(")") + 2:].split()
    return int(rest[1]), (int(rest[11]) + int(rest[12])) / TICK  # ppid, utime+stime


def _machine() -> tuple[float, float]:
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    return (sum(f) - idle) / TICK, sum(f) / TICK


def _kind(pid: int, root: int) -> str:
    """A coarse label from the command line: driver, blender, ray worker, ray system."""
    if pid == root:
        return "driver (this process)"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    if "blender_actors.zygote" in cmd or "blender_actors.child" in cmd:
        return "Blender children"
    if "BlenderActor" in cmd:
        return "ray actor processes (BlenderActor)"
    if cmd.startswith("ray::") or "default_worker.py" in cmd:
        return "ray task workers (stage tasks)"
    if any(k in cmd for k in ("raylet", "gcs_server", "dashboard", "log_monitor", "runtime_env", "monitor.py",
                              "reaper")):
        return "ray system (raylet, GCS, agents)"
    return "other"


class CpuSampler:
    def __init__(self, interval: float = 0.5):
        self.interval = interval
        self.root = os.getpid()
        self.cpu: dict[int, float] = {}
        self.kinds: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _poll(self) -> None:
        procs = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                st = _stat(int(name))
                if st:
                    procs[int(name)] = st
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in procs.items():
            children.setdefault(ppid, []).append(pid)
        stack = [self.root]
        while stack:
            pid = stack.pop()
            if pid in procs:
                self.cpu[pid] = max(self.cpu.get(pid, 0.0), procs[pid][1])
                kind = _kind(pid, self.root)  # re-read: a worker's title changes to ray::<task> once it runs one
                if kind != "other" or pid not in self.kinds:
                    self.kinds[pid] = kind
            stack.extend(children.get(pid, []))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._poll()

    def __enter__(self) -> "CpuSampler":
        self._poll()
        self.base = dict(self.cpu)  # CPU already used before the span
        self.t0 = time.monotonic()
        self.m0 = _machine()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._poll()
        self.wall = time.monotonic() - self.t0
        m1 = _machine()
        self.machine_busy_s = m1[0] - self.m0[0]
        self.machine_total_s = m1[1] - self.m0[1]

    @property
    def tree_cpu_s(self) -> float:
        return sum(v - self.base.get(pid, 0.0) for pid, v in self.cpu.items())

    def by_kind(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for pid, v in self.cpu.items():
            k = self.kinds.get(pid, "other")
            out[k] = round(out.get(k, 0.0) + v - self.base.get(pid, 0.0), 1)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def report(self) -> dict:
        cores = os.cpu_count() or 1
        return {"tree_cpu_s": round(self.tree_cpu_s, 1), "wall_s": round(self.wall, 1),
                "tree_cores": round(self.tree_cpu_s / self.wall, 2) if self.wall else None,
                "machine_busy_cores": round(self.machine_busy_s / self.wall, 2) if self.wall else None,
                "machine_cores": cores, "by_kind_cpu_s": self.by_kind()}
