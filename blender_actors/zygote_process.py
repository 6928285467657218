"""The parent's handle on a zygote process: start, control channel, job exit, kill, cleanup.

The zygote is trusted code (it never runs a program), so its control messages are
plain JSON; still, every wait here has a deadline, and a zygote that misbehaves is
killed whole (its process group; each job child dies with it through PDEATHSIG).
Its work directory `/tmp/seig-blender-<parent pid>-*` is removed when it stops, and a
new worker sweeps those left by parents that died without cleaning up (their owner lock is free).
"""
from __future__ import annotations

import fcntl
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from blender_actors.cleanup import remove_tree
from blender_actors.config import WorkerConfig
from blender_actors.limits import child_environment

PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
PREFIX = "seig-blender-"
MAX_CONTROL = 1024 * 1024


def describe_exit(code: int | None) -> str:
    if code is None:
        return "did not exit"
    if code < 0:
        sig = signal.Signals(-code).name
        hint = {"SIGKILL": " (killed: out of memory or killed from outside)", "SIGSEGV": " (segmentation fault)",
                "SIGABRT": " (abort)", "SIGXCPU": " (CPU-time limit)", "SIGBUS": " (bus error)",
                "SIGSYS": " (a forbidden system call)"}.get(sig, "")
        return f"killed by {sig}{hint}"
    return f"exited with status {code}"


def session_members(sid: int) -> list[int]:
    """Pids of live processes in session `sid` (a job child's session is its own pid)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 3 and int(fields[3]) == sid and fields[0] != b"Z":
            found.append(int(name))
    return found


OWNER = ".owner"  # held under an exclusive flock by the live parent for the work dir's whole life


def _claim(workdir: str) -> int:
    """Lock the work dir's owner file; the lock dies with this process, however it dies."""
    fd = os.open(os.path.join(workdir, OWNER), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def sweep_stale_workdirs() -> int:
    """Remove work dirs whose parent died without cleaning up (SIGKILL, OOM).

    A dir is stale when nobody holds the flock on its owner file. A pid in the name would
    not do: parents in other PID namespaces (containers sharing /tmp) look dead from here,
    and pids are reused. Dirs without an owner file (being created) are left alone."""
    removed = 0
    for path in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            fd = os.open(path / OWNER, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its owner is alive
        finally:
            os.close(fd)
        removed += remove_tree(str(path)) == 0
    return removed


class ZygoteProcess:
    def __init__(self, proc: subprocess.Popen, sock: socket.socket, workdir: str):
        self.proc = proc
        self.sock = sock
        self.workdir = workdir
        self.owner_fd = -1
        self.info: dict = {}
        self.jobs = 0
        self.job_pid: int | None = None

    @classmethod
    def start(cls, config: WorkerConfig) -> "ZygoteProcess":
        sweep_stale_workdirs()
        workdir = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
        owner_fd = _claim(workdir)
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cfg = {
            "memory_mb": None if config.device == "gpu" else config.memory_limit_mb,
            "file_size_mb": config.file_size_limit_mb,
            "max_processes": config.max_processes,
            "isolate_network": config.isolate_network,
            "writable_dirs": config.writable_dirs + ([config.cache_dir] if config.cache_dir else []),
            "device": config.device,
            "allow_weaker": config.allow_weaker,
            "skip_layers": list(config.skip_layers),
        }
        fd = child_sock.fileno()
        args = ["--ctrl-fd", str(fd), "--parent-pid", str(os.getpid()), "--workdir", workdir,
                "--config", json.dumps(cfg)]
        if config.backend == "bpy":
            cmd = [sys.executable, "-m", "blender_actors.zygote", *args]
        else:
            cmd = [config.blender_binary, "-b", "--factory-startup", "--python-exit-code", "3", "--python",
                   str(Path(__file__).with_name("zygote.py")), "--", f"--import-root={PACKAGE_ROOT}", *args]
        env = child_environment(dict(os.environ), workdir)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, env.get("PYTHONPATH")]))
        if config.cache_dir:
            env["XDG_CACHE_HOME"] = config.cache_dir
        try:
            proc = subprocess.Popen(cmd, cwd=workdir, env=env, pass_fds=(fd,), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                                    close_fds=True)
        except OSError as exc:
            remove_tree(workdir)
            os.close(owner_fd)
            raise RuntimeError(f"Blender worker failed to start: {exc}") from exc
        finally:
            child_sock.close()
        zygote = cls(proc, parent_sock, workdir)
        zygote.owner_fd = owner_fd
        try:
            info = zygote.recv(config.startup_timeout_s)
            if info.get("op") != "ready":
                raise ValueError(f"unexpected first message {info.get('op')!r}")
        except (TimeoutError, OSError, ValueError) as exc:
            proc.poll()
            tail = zygote.log_tail()
            zygote.kill()
            raise RuntimeError(f"Blender worker failed to start: {exc}; {describe_exit(proc.returncode)}"
                               + (f"; log: {tail[-500:]}" if tail else "")) from exc
        zygote.info = info
        return zygote

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, msg: dict, fds: tuple[int, ...] = ()) -> None:
        socket.send_fds(self.sock, [json.dumps(msg).encode()], list(fds))

    def recv(self, timeout: float) -> dict:
        with selectors.DefaultSelector() as sel:
            sel.register(self.sock, selectors.EVENT_READ)
            if not sel.select(max(0.0, timeout)):
                raise TimeoutError(f"no word from the Blender zygote within {timeout:.1f} s")
        data = self.sock.recv(MAX_CONTROL)
        if not data:
            raise OSError("the Blender zygote closed its control channel (it died)")
        return json.loads(data)

    def fork(self, job_dir: str, reply_w: int) -> int:
        """Have the zygote fork a job child that replies on `reply_w`; return its pid."""
        self.send({"op": "fork", "job_dir": job_dir}, (reply_w,))
        msg = self.recv(30.0)
        if msg.get("op") != "forked":
            raise OSError(f"zygote refused the job: {msg.get('message', msg)}")
        self.job_pid = int(msg["pid"])
        return self.job_pid

    def kill_job(self) -> None:
        """Ask the zygote (the child's real parent: no pid-reuse race) to SIGKILL the job."""
        self.send({"op": "kill"})

    def wait_exit(self, deadline: float) -> tuple[int, int, bool]:
        """(exit code: negative = signal, processes left behind, whether it had to be killed)
        once the job child is reaped; kill the job when `deadline` (time.monotonic()) passes first."""
        killed = False
        try:
            msg = self.recv(deadline - time.monotonic())
        except TimeoutError:
            self.kill_job()
            killed = True
            msg = self.recv(15.0)
        if msg.get("op") != "exited":
            raise OSError(f"unexpected zygote message {msg.get('op')!r}")
        self.job_pid = None
        status = int(msg["status"])
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        return code, int(msg.get("leftovers", 0)), killed

    def rss_mb(self) -> float | None:
        try:
            with open(f"/proc/{self.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return round(int(line.split()[1]) / 1024, 1)
        except OSError:
            pass
        return None

    def kill(self) -> None:
        """Kill the zygote's process group (job children die with it) and clean up; idempotent."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.cleanup()

    def close(self) -> None:
        """Ask the zygote to exit, then make sure it did."""
        try:
            self.send({"op": "exit"})
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()

    def cleanup(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        remove_tree(self.workdir)  # what a job did to its dir cannot make this raise (see cleanup)
        if self.owner_fd >= 0:
            os.close(self.owner_fd)  # after the removal: a sweeper never sees it unowned
            self.owner_fd = -1

    def log_tail(self) -> str:
        try:
            return (Path(self.workdir) / "blender.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""
