"""A warm Blender child process behind a lock: start, serve, time out, recycle, restart.

`BlenderWorker.render` never raises for anything a program or Blender does: a rejected
program, a failing one, a timeout, a crash all come back as a RenderResult with an
error, and the next call gets a working (fresh if need be) process. Only a worker that
cannot start at all is reported as a `startup` error, so callers can count restarts.
"""
from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from blender_actors import framing
from blender_actors.child import OUTPUT_DIR
from blender_actors.config import WorkerConfig
from blender_actors.dataset_outputs import OutputError, read_outputs
from blender_actors.limits import child_environment
from blender_actors.protocol import RenderError, RenderRecord, RenderRequest, RenderResult, WorkerStats
from blender_actors.sandbox import check_program

PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


class _Child:
    """One live child process and its pipes."""

    def __init__(self, config: WorkerConfig):
        self.workdir = tempfile.mkdtemp(prefix="seig-blender-")
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        limits = {
            "memory_mb": None if config.device == "gpu" else config.memory_limit_mb,
            "file_size_mb": config.file_size_limit_mb,
            "max_processes": config.max_processes,
            "isolate_network": config.isolate_network,
            "writable_dirs": config.writable_dirs + ([config.cache_dir] if config.cache_dir else []),
        }
        import json

        args = ["--req-fd", str(req_r), "--resp-fd", str(resp_w), "--parent-pid", str(os.getpid()),
                "--workdir", self.workdir, "--limits", json.dumps(limits)]
        if config.backend == "bpy":
            cmd = [sys.executable, "-m", "blender_actors.child", *args]
        else:
            cmd = [config.blender_binary, "-b", "--factory-startup", "--python-exit-code", "3",
                   "--python", str(Path(__file__).with_name("child.py")), "--", f"--import-root={PACKAGE_ROOT}", *args]
        env = child_environment(dict(os.environ), self.workdir)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, env.get("PYTHONPATH")]))
        if config.cache_dir:
            env["XDG_CACHE_HOME"] = config.cache_dir
        self.proc = subprocess.Popen(
            cmd, cwd=self.workdir, env=env, pass_fds=(req_r, resp_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
        )
        os.close(req_r)
        os.close(resp_w)
        self.jobs = 0
        self.info: dict = {}

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_readable(self, timeout: float) -> bool:
        with selectors.DefaultSelector() as sel:
            sel.register(self.resp_r, selectors.EVENT_READ)
            return bool(sel.select(timeout))

    def kill(self) -> None:
        """Kill the child's whole process group and reap it; idempotent."""
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
        """Ask the child to exit, then make sure it did."""
        try:
            framing.send(self.req_w, {"op": "exit"})
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()

    def cleanup(self) -> None:
        for fd in (self.req_w, self.resp_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.req_w = self.resp_r = -1
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self) -> str:
        try:
            return (Path(self.workdir) / "blender.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""


def _read_files(workdir: str, names, job: dict) -> tuple[dict[str, bytes], RenderError | None]:
    """The job's output files, checked (dataset_outputs), then removed from the child's folder."""
    out_dir = os.path.join(workdir, OUTPUT_DIR)
    try:
        if not names:
            raise OutputError("the job asked for outputs but the child named no files")
        return read_outputs(out_dir, names, job), None
    except (OutputError, OSError) as exc:
        return {}, RenderError(kind="protocol", message=f"bad output from the job: {exc}"[:2000])
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "did not exit"
    if code < 0:
        sig = signal.Signals(-code).name
        hint = {"SIGKILL": " (killed: out of memory or killed from outside)", "SIGSEGV": " (segmentation fault)",
                "SIGABRT": " (abort)", "SIGXCPU": " (CPU-time limit)", "SIGBUS": " (bus error)"}.get(sig, "")
        return f"killed by {sig}{hint}"
    return f"exited with status {code}"


class BlenderWorker:
    """Thread-safe facade over one child at a time. Use as a context manager or call close()."""

    def __init__(self, config: WorkerConfig | None = None):
        self.config = config or WorkerConfig()
        self.stats = WorkerStats()
        self._child: _Child | None = None
        self._lock = threading.Lock()

    # --- lifecycle --------------------------------------------------------------
    def __enter__(self) -> "BlenderWorker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._child:
                self._child.close()
                self._child = None

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child else None

    def start(self) -> float:
        """Start the child if none is running; return the seconds it took (0 if warm)."""
        if self._child and self._child.proc.poll() is None:
            return 0.0
        if self._child:
            self._child.kill()
        t0 = time.perf_counter()
        child = _Child(self.config)
        self.stats.starts += 1
        try:
            if not child.wait_readable(self.config.startup_timeout_s):
                raise TimeoutError(f"Blender did not start within {self.config.startup_timeout_s} s")
            info, _ = framing.recv(child.resp_r)
        except (TimeoutError, framing.ChannelClosed, OSError) as exc:
            child.proc.poll()
            tail = child.log_tail()
            child.kill()
            raise RuntimeError(f"Blender worker failed to start: {exc}; {_describe_exit(child.proc.returncode)}"
                               + (f"; log: {tail[-500:]}" if tail else "")) from exc
        child.info = info
        self._child = child
        return time.perf_counter() - t0

    @property
    def info(self) -> dict:
        """What the running child reported at start: pid, Blender version, limits, network."""
        return dict(self._child.info) if self._child else {}

    # --- jobs -------------------------------------------------------------------
    def render(self, request: RenderRequest) -> RenderResult:
        with self._lock:
            t0 = time.perf_counter()
            result = self._render_locked(request)
            result.record.wall_s = round(time.perf_counter() - t0, 5)
            self.stats.busy_s += result.record.wall_s
            self.stats.render_s += result.record.timings.get("render_s", 0.0)
            self.stats.jobs += 1
            self.stats.failed += 0 if result.ok else 1
            return result

    def _render_locked(self, request: RenderRequest) -> RenderResult:
        try:
            return self._run(request)
        except Exception as exc:  # noqa: BLE001 - the contract: a result, never an exception
            if self._child:
                self._discard(self._child)
            return RenderResult(error=RenderError(kind="crash", message=f"worker error: {type(exc).__name__}: {exc}"))

    def _run(self, request: RenderRequest) -> RenderResult:
        if self.config.sandbox == "full":
            violations = check_program(request.program)
            if violations:
                msg = "; ".join(map(str, violations))
                return RenderResult(error=RenderError(kind="rejected", message=msg, line=violations[0].line or None))
        restarted = self._child is None
        try:
            startup = self.start()
        except RuntimeError as exc:
            return RenderResult(error=RenderError(kind="startup", message=str(exc)))
        child = self._child
        assert child is not None
        timeout = request.timeout_s or self.config.job_timeout_s
        job = request.model_dump()
        job.update(op="render", device=self.config.device, threads=self.config.threads,
                   sandbox=self.config.sandbox,
                   cpu_seconds=self.config.cpu_seconds_per_job or timeout * max(1, self.config.threads or os.cpu_count() or 1))
        try:
            framing.send(child.req_w, job)
            if not child.wait_readable(timeout):
                self.stats.timeouts += 1
                self._discard(child)
                return self._failed("timeout", f"job exceeded its {timeout:g} s limit; the Blender process was killed "
                                    "and the next job gets a fresh one", startup, restarted)
            header, png = framing.recv(child.resp_r)
        except (framing.ChannelClosed, OSError):
            child.proc.poll()
            try:
                child.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
            code = child.proc.returncode
            self._discard(child)
            kind = "timeout" if code == -signal.SIGXCPU else "crash"
            if kind == "timeout":
                self.stats.timeouts += 1
            else:
                self.stats.crashes += 1
            return self._failed(kind, f"Blender process {_describe_exit(code)} during the job", startup, restarted)
        child.jobs += 1
        record = RenderRecord(**header.get("record", {}), startup_s=round(startup, 4), restarted=restarted)
        self.stats.rss_mb = record.rss_mb or 0.0
        self.stats.peak_rss_mb = max(self.stats.peak_rss_mb, self.stats.rss_mb)
        error = RenderError(**header["error"]) if header.get("error") else None
        files: dict[str, bytes] = {}
        if request.outputs and error is None:
            files, error = _read_files(child.workdir, header.get("files"), job)
        if child.jobs >= self.config.max_jobs_per_process or (record.rss_mb or 0) > self.config.max_rss_mb:
            self.stats.recycles += 1
            child.close()
            self._child = None
        return RenderResult(png=png or None, files=files, error=error, record=record)

    def _discard(self, child: _Child) -> None:
        child.kill()
        self._child = None

    @staticmethod
    def _failed(kind: str, message: str, startup: float, restarted: bool) -> RenderResult:
        return RenderResult(error=RenderError(kind=kind, message=message),
                            record=RenderRecord(startup_s=round(startup, 4), restarted=restarted))
