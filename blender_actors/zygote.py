"""The warm Blender process: imports bpy once, then forks one confined child per job.

Runs as `python -m blender_actors.zygote` (bpy module) or inside a Blender binary
(`blender -b --factory-startup --python zygote.py -- ...`); stdlib + bpy + pyseccomp.

The zygote never runs a program, never renders and never reads a byte a program wrote:
it only talks to its parent (BlenderWorker) over an AF_UNIX SOCK_SEQPACKET control
channel, whose messages are small JSON objects and whose only file descriptors are the
ones the parent passes for a job. Per job it forks; the child (`child.job_main`)
confines itself and talks to the parent directly over the pipe it was given. The
zygote reports the child's pid, kills it when the parent asks (it is the real parent,
so the pid cannot have been reused), reaps it, and kills whatever the job left behind:
it is a child subreaper, so every orphaned descendant of a job becomes its child.

Fork safety: the zygote is single-threaded when it forks. Blender starts OpenEXR's
thread pool at import (stopped here, restarted in the child) and oneTBB starts workers
for the CPUs it sees (the import runs on one CPU, so it starts none; the child's render
raises TBB's limit to its thread count); numpy's OpenBLAS is kept to one thread.
`threads_at_fork` in the ready message, and a check before every fork, keep it honest.
No GPU is touched here: a CUDA/OptiX context does not survive fork, so each child
initialises the device itself.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import selectors
import signal
import socket
import sys
import time

PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 4, 36
MAX_CONTROL = 64 * 1024


def preload() -> dict:
    """Import bpy and reset it to factory state on one CPU, leaving one thread."""
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        import pyseccomp  # noqa: F401  (finds libseccomp with a subprocess: before bpy, before any job)
    except (ImportError, OSError, AttributeError):
        pass
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    t0 = time.perf_counter()
    import bpy
    import bmesh  # noqa: F401  (what programs import, loaded once here)
    import colorsys  # noqa: F401
    import math  # noqa: F401
    import mathutils  # noqa: F401
    import mathutils.bvhtree  # noqa: F401
    import mathutils.geometry  # noqa: F401
    import mathutils.kdtree  # noqa: F401
    import mathutils.noise  # noqa: F401
    import random  # noqa: F401

    import_s = time.perf_counter() - t0
    bpy.ops.wm.read_factory_settings(use_empty=True)
    from blender_actors import child, child_outputs, dataset_writers, jail  # noqa: F401  (before any jail)

    dataset = dataset_writers.preload()  # OpenEXR's bindings, the glTF exporter: no threads
    exr = child.set_exr_threads(0)

    os.sched_setaffinity(0, cpus)
    deadline = time.monotonic() + 2.0
    while child.thread_count() > 1 and time.monotonic() < deadline:  # stopped pools exit asynchronously
        time.sleep(0.01)
    return {"import_s": round(import_s, 4), "blender": bpy.app.version_string, "exr_pool_stopped": exr,
            "cpus": len(cpus), "threads_at_fork": child.thread_count(), "dataset_preload": dataset}


def read_paths(cfg: dict) -> list[str]:
    """What a job child may read: Python, bpy, system libraries, CPU (and GPU) information."""
    import site
    import sysconfig

    import bpy

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.dirname(bpy.__file__)),
             sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"], *site.getsitepackages()}
    paths |= {"/usr/lib", "/lib", "/lib64", "/usr/lib64", "/usr/local/lib", "/usr/share/zoneinfo",
              "/usr/lib/locale", "/etc/ld.so.cache", "/etc/localtime", "/proc/cpuinfo", "/proc/meminfo",
              "/proc/stat", "/sys/devices/system/cpu", "/sys/devices/system/node", "/sys/fs/cgroup",
              "/dev/urandom", "/dev/random", "/dev/zero",
              # EGL/Mesa for Workbench and EEVEE renders (found with strace: glvnd's vendor files)
              "/usr/share/glvnd", "/etc/glvnd", "/usr/share/egl", "/usr/share/drirc.d", "/etc/drirc",
              "/usr/share/vulkan", "/etc/vulkan"}
    if cfg.get("device") == "gpu":  # driver libraries and device information (unmeasured here: no GPU)
        paths |= {"/proc/driver/nvidia", "/sys/bus/pci", "/sys/devices", "/usr/local/nvidia", "/usr/local/cuda",
                  "/etc/OpenCL", "/usr/share/nvidia", "/usr/share/glvnd", "/usr/share/vulkan"}
    return sorted(p for p in paths if p and os.path.exists(p))


def device_paths(cfg: dict) -> list[str]:
    """Device nodes a job child may open for read, write and ioctl."""
    nodes = ["/dev/null"]
    if cfg.get("device") == "gpu":
        nodes += [f"/dev/{n}" for n in sorted(os.listdir("/dev")) if n.startswith("nvidia")] + ["/dev/dri", "/dev/kfd"]
    return [n for n in nodes if os.path.exists(n)]


class Zygote:
    def __init__(self, ctrl: socket.socket, workdir: str, cfg: dict, kernel: dict):
        from blender_actors import jail
        from blender_actors.jail import Policy

        self.ctrl = ctrl
        self.workdir = workdir
        self.cfg = cfg
        self.kernel = kernel
        self.policy = Policy(job_dir="", read=read_paths(cfg), write=list(cfg.get("writable_dirs", [])),
                             devices=device_paths(cfg), allow_weaker=bool(cfg.get("allow_weaker")),
                             skip=list(cfg.get("skip_layers", [])), memory_limited=bool(cfg.get("memory_mb")))
        try:  # once here, not in every job (~0.1 s); a child without it compiles its own or reports the layer missing
            self.policy.seccomp_bpf = jail.compile_filter(self.policy.memory_limited)
        except (ImportError, OSError, AttributeError, ValueError):
            pass
        self.jobs = 0

    def send(self, msg: dict) -> None:
        self.ctrl.send(json.dumps(msg).encode())

    def serve(self) -> int:
        while True:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self.ctrl, MAX_CONTROL, 4)
            except (ConnectionError, OSError):
                return 0
            if not data:  # the parent is gone
                return 0
            msg = json.loads(data)
            if msg.get("op") == "exit":
                return 0
            if msg.get("op") == "fork" and len(fds) == 1:
                if not self.run_job(msg, fds[0]):
                    return 0
            elif msg.get("op") == "kill" and not fds:
                # the parent's deadline passed as the job ended on its own (a CPU-bound job meets its
                # RLIMIT_CPU there): the job is gone and "exited" already sent. Answering would leave
                # an "error" for the next job's fork to read, and fail that job.
                continue
            else:
                for fd in fds:
                    os.close(fd)
                self.send({"op": "error", "message": f"unexpected control message {msg.get('op')!r}"})

    def run_job(self, msg: dict, reply_fd: int) -> bool:
        """Fork, report, wait for exit or a kill request, clean up. False: the parent is gone."""
        from blender_actors import child

        if child.thread_count() != 1:  # fork with threads could copy a held lock into the child
            os.close(reply_fd)
            self.send({"op": "error", "message": f"zygote has {child.thread_count()} threads: refusing to fork"})
            return True

        self.jobs += 1
        policy = self.policy.__class__(**{**self.policy.__dict__, "job_dir": msg["job_dir"]})
        ctx = child.JobContext(job_dir=msg["job_dir"], reply_fd=reply_fd, zygote_pid=os.getpid(), policy=policy,
                               landlock_abi=int(self.kernel["landlock_abi"]), job_index=self.jobs)
        pid = os.fork()
        if pid == 0:  # the job child: never returns
            child.job_main(ctx, keep_fds=(reply_fd,))
        os.close(reply_fd)
        pidfd = os.pidfd_open(pid)
        self.send({"op": "forked", "pid": pid})
        alive = True
        with selectors.DefaultSelector() as sel:
            sel.register(self.ctrl, selectors.EVENT_READ)
            sel.register(pidfd, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in sel.select()}
                if pidfd in ready:
                    break
                data = self.ctrl.recv(MAX_CONTROL)
                op = json.loads(data).get("op") if data else "exit"
                if op == "exit":  # or EOF: the parent is gone
                    alive = False
                if op in ("exit", "kill"):
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)  # not reaped yet: the pid is still ours
        _, status = os.waitpid(pid, 0)
        os.close(pidfd)
        leftovers = kill_leftovers()
        if alive:
            self.send({"op": "exited", "pid": pid, "status": status, "leftovers": leftovers})
        return alive


def _children() -> list[int]:
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def kill_leftovers() -> int:
    """SIGKILL and reap every process a job left (orphans come to us: we are the subreaper)."""
    killed = 0
    for _ in range(100):
        kids = _children()
        if not kids:
            break
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)  # our unreaped child: the pid is still ours
                killed += 1
            except ProcessLookupError:
                pass
        for pid in kids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    while True:  # zombies reparented to us between the scans
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
    return killed


def _prctl(option: int, arg: int) -> bool:
    return ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0) == 0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--ctrl-fd", type=int, required=True)
    p.add_argument("--parent-pid", type=int, required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--config", default="{}")
    args = p.parse_args(argv)
    cfg = json.loads(args.config)
    ctrl = socket.socket(fileno=args.ctrl_fd)

    from blender_actors import jail, limits

    limits.die_with_parent(args.parent_pid)  # PDEATHSIG; EOF on the control channel covers the rest
    info: dict = {"op": "ready", "pid": os.getpid(), "subreaper": _prctl(PR_SET_CHILD_SUBREAPER, 1)}
    extras = []  # namespaces: extra layers where the kernel grants them; nothing relies on them
    if cfg.get("isolate_network", True) and limits.isolate_network():
        extras.append("netns")
    info["limits"] = limits.apply_rlimits(cfg.get("memory_mb"), cfg.get("file_size_mb", 256), cfg.get("max_processes"))
    info["limits"]["filesystem"] = limits.confine_filesystem(args.workdir, tuple(cfg.get("writable_dirs", ())))
    if info["limits"]["filesystem"] == "read-only outside the workdir":
        extras.append("mountns")
    info["limits"]["capabilities"] = limits.drop_capabilities()
    info["nondumpable"] = _prctl(PR_SET_DUMPABLE, 0)
    info["extras"] = extras
    os.chdir(args.workdir)
    log_fd = os.open(os.path.join(args.workdir, "blender.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    info.update(preload())
    info["kernel"] = kernel = jail.probe()
    for name in cfg.get("skip_layers", []):
        if name in kernel["available"]:
            kernel["available"].remove(name)
    kernel["missing_required"] = [n for n in jail.REQUIRED if n not in kernel["available"]]
    kernel["why_missing"] = {n: kernel.get("why_missing", {}).get(n, "skipped by worker.skip_layers (tests only)")
                             for n in kernel["missing_required"]}
    zygote = Zygote(ctrl, args.workdir, cfg, kernel)
    info["read_paths"] = zygote.policy.read
    zygote.send(info)
    return zygote.serve()


if __name__ == "__main__":
    if "--" in sys.argv:  # inside a Blender binary: our args follow "--"; our package root is passed in
        rest = sys.argv[sys.argv.index("--") + 1:]
        if rest and rest[0].startswith("--import-root="):
            sys.path.insert(0, rest.pop(0).split("=", 1)[1])
        sys.exit(main(rest))
    sys.exit(main(sys.argv[1:]))
