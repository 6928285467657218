"""A warm Blender zygote behind a lock; one forked, self-confining child per job.

`BlenderWorker.render` never raises for anything a program or Blender does: a rejected
program, a failing one, a timeout, a crash, a forged reply all come back as a
RenderResult with an error, and the next call gets a working (fresh if need be)
zygote. Only a zygote that cannot start is reported as a `startup` error.

Per job the parent makes a fresh job directory (the request goes in as
`request.json`) and a fresh reply pipe, hands the pipe's write end to the zygote over
the control socket, and reads the reply directly from the child: under one deadline,
size-capped, parsed strictly (`framing`, `protocol`), outputs validated by type
(`outputs`). Then the zygote reports the child's exit and what it had to kill, the
parent checks /proc for anything left in the child's session, and deletes the job dir.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

from pydantic import ValidationError

from blender_actors import framing, outputs
from blender_actors.child_outputs import WRITERS
from blender_actors.cleanup import remove_tree
from blender_actors.config import WorkerConfig
from blender_actors.protocol import (ChildConfined, ChildResult, RenderError, RenderRecord, RenderRequest,
                                     RenderResult, WorkerStats)
from blender_actors.sandbox import check_program
from blender_actors.zygote_process import ZygoteProcess, describe_exit, session_members

# An honest job child closes its reply pipe by exiting (os._exit right after its last frame):
# one still running this long after the pipe closed is killed, not waited on to its deadline.
EXIT_GRACE_S = 3.0

log = logging.getLogger("seig.blender")


def gpu_present() -> bool:
    """An NVIDIA or AMD compute device node exists (what Cycles' GPU backends open)."""
    dev = Path("/dev")
    return any(dev.glob("nvidia[0-9]*")) or (dev / "kfd").exists()


class _JobFailed(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class BlenderWorker:
    """Thread-safe facade over one zygote at a time. Use as a context manager or call close()."""

    def __init__(self, config: WorkerConfig | None = None):
        self.config = config or WorkerConfig()
        self.stats = WorkerStats()
        self._zygote: ZygoteProcess | None = None
        self._lock = threading.Lock()
        self._job_index = 0
        # "auto" is settled here, from device nodes the parent can see: a job child probing
        # every GPU API on a CPU-only machine would pay for it in every job.
        self._device = self.config.device if self.config.device != "auto" else ("gpu" if gpu_present() else "cpu")

    # --- lifecycle --------------------------------------------------------------
    def __enter__(self) -> "BlenderWorker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._zygote:
                self._zygote.close()
                self._zygote = None

    @property
    def pid(self) -> int | None:
        """The zygote's pid (each job runs in its own child; see RenderRecord.pid)."""
        return self._zygote.pid if self._zygote else None

    @property
    def workdir(self) -> str | None:
        return self._zygote.workdir if self._zygote else None

    def start(self) -> float:
        """Start the zygote if none is running; return the seconds it took (0 if warm)."""
        if self._zygote and self._zygote.alive():
            return 0.0
        if self._zygote:
            self._zygote.kill()
            self._zygote = None
        t0 = time.perf_counter()
        self.stats.starts += 1
        self._zygote = ZygoteProcess.start(self.config.model_copy(update={"device": self._device}))  # RuntimeError: why
        missing = self._zygote.info["kernel"]["missing_required"]
        if missing and self.config.allow_weaker:
            log.warning("Blender worker runs with WEAKER isolation than required (allow_weaker): missing %s",
                        ", ".join(missing))
        return time.perf_counter() - t0

    @property
    def info(self) -> dict:
        """What the zygote reported at start: pid, Blender version, limits, kernel layers."""
        return dict(self._zygote.info) if self._zygote else {}

    # --- jobs -------------------------------------------------------------------
    def render(self, request: RenderRequest) -> RenderResult:
        with self._lock:
            t0 = time.perf_counter()
            result = self._render_locked(request)
            result.record.wall_s = round(time.perf_counter() - t0, 5)
            self.stats.busy_s += result.record.wall_s
            # the job reports its own render time: believe it only as far as the wall time we measured
            self.stats.render_s += min(max(result.record.timings.get("render_s", 0.0), 0.0), result.record.wall_s)
            self.stats.jobs += 1
            self.stats.failed += 0 if result.ok else 1
            return result

    def _render_locked(self, request: RenderRequest) -> RenderResult:
        try:
            return self._run(request)
        except Exception as exc:  # noqa: BLE001 - the contract: a result, never an exception
            self._discard()
            return RenderResult(error=RenderError(kind="crash", message=f"worker error: {type(exc).__name__}: {exc}"))

    def _run(self, request: RenderRequest) -> RenderResult:
        if self.config.sandbox == "full":
            violations = check_program(request.program)
            if violations:
                msg = "; ".join(map(str, violations))
                return RenderResult(error=RenderError(kind="rejected", message=msg, line=violations[0].line or None))
        restarted = self._zygote is None or not self._zygote.alive()
        try:
            startup = self.start()
        except RuntimeError as exc:
            return RenderResult(error=RenderError(kind="startup", message=str(exc)))
        zygote = self._zygote
        assert zygote is not None
        missing = zygote.info["kernel"]["missing_required"]
        record = RenderRecord(startup_s=round(startup, 4), restarted=restarted, zygote_pid=zygote.pid,
                              layers_missing=list(missing))
        if missing and not self.config.allow_weaker:
            why = zygote.info["kernel"].get("why_missing", {})
            reasons = "; ".join(f"{name}: {why.get(name, 'not available here')}" for name in missing)
            return RenderResult(record=record, error=RenderError(kind="startup", message=(
                f"required sandbox layers are unavailable ({reasons}): refusing to run model programs; "
                "worker.allow_weaker: true runs them with weaker isolation")))
        if missing:
            record.warnings.append(f"sandbox weaker than required: missing {', '.join(missing)}")
        self._job_index += 1
        record.job_index = self._job_index
        result = self._job(zygote, request, record)
        zygote.jobs += 1
        record.zygote_rss_mb = zygote.rss_mb()
        # the job reports its own RSS: no more than its address-space limit allows
        self.stats.rss_mb = min(result.record.rss_mb or 0.0, float(self.config.memory_limit_mb or 10**7))
        self.stats.peak_rss_mb = max(self.stats.peak_rss_mb, self.stats.rss_mb)
        if self._zygote is zygote and (zygote.jobs >= self.config.max_jobs_per_process
                                       or (record.zygote_rss_mb or 0) > self.config.max_rss_mb):
            self.stats.recycles += 1
            self._discard(graceful=True)
        return result

    def _job(self, zygote: ZygoteProcess, request: RenderRequest, record: RenderRecord) -> RenderResult:
        timeout = request.timeout_s or self.config.job_timeout_s
        threads = self.config.threads or os.cpu_count() or 1
        job = request.model_dump()
        job.update(device=self._device, threads=threads, sandbox=self.config.sandbox,
                   cpu_seconds=self.config.cpu_seconds_per_job or timeout * threads)
        job_dir = tempfile.mkdtemp(prefix="job-", dir=zygote.workdir)
        try:
            dir_fd = os.open(job_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                (Path(job_dir) / "request.json").write_text(json.dumps(job))
                result = self._fork_and_collect(zygote, job, job_dir, dir_fd, timeout, record)
            finally:
                os.close(dir_fd)
        finally:
            left = remove_tree(job_dir)  # iterative, fd-based, never follows a link, undoes modes; never raises
        if left:
            self.stats.protocol_errors += 1
            return RenderResult(record=result.record, error=RenderError(
                kind="protocol", message=f"the job left {left} entries in its directory that could not be removed"))
        return result

    def _fork_and_collect(self, zygote: ZygoteProcess, job: dict, job_dir: str, dir_fd: int, timeout: float,
                          record: RenderRecord) -> RenderResult:
        deadline = time.monotonic() + timeout
        reply_r, reply_w = os.pipe()
        try:
            try:
                pid = zygote.fork(job_dir, reply_w)
            finally:
                os.close(reply_w)
            record.pid = pid
            timed_out, bad, data = False, None, b""
            try:
                data = framing.read_until_eof(reply_r, deadline)
            except framing.ReplyTimeout as exc:
                timed_out, data = True, exc.args[0]
            except framing.ProtocolError as exc:
                bad = str(exc)
            if timed_out or bad:
                zygote.kill_job()
                status, leftovers, _ = zygote.wait_exit(max(deadline, time.monotonic() + 2.0))
            else:  # an honest child closes the pipe by exiting: one that lingers after it is killed
                closed = time.monotonic()
                status, leftovers, lingered = zygote.wait_exit(min(max(deadline, closed + 2.0),
                                                                   closed + EXIT_GRACE_S))
                if lingered:
                    bad = f"it closed its reply pipe but did not exit within {EXIT_GRACE_S:g} s"
        except (OSError, TimeoutError, ValueError) as exc:  # the zygote itself failed: start afresh next time
            self._discard()
            self.stats.crashes += 1
            return RenderResult(record=record, error=RenderError(kind="crash", message=f"Blender zygote failed: {exc}"))
        finally:
            os.close(reply_r)
        stray = session_members(pid)
        try:
            return self._judge(job, dir_fd, record, data, status, leftovers + len(stray), timed_out, bad, timeout)
        except _JobFailed as exc:
            if exc.kind == "protocol":
                self.stats.protocol_errors += 1
            return RenderResult(record=record, error=RenderError(kind=exc.kind, message=str(exc)))

    def _judge(self, job: dict, dir_fd: int, record: RenderRecord, data: bytes, status: int, leftovers: int,
               timed_out: bool, bad: str | None, timeout: float) -> RenderResult:
        """Turn what came back into a result; raise _JobFailed for a failed job."""
        if timed_out:
            self.stats.timeouts += 1
            raise _JobFailed("timeout", f"job exceeded its {timeout:g} s limit; its process was killed")
        if status == -signal.SIGXCPU:  # before the wall-clock deadline: CPU time, or a limit the program lowered
            self.stats.timeouts += 1
            raise _JobFailed("timeout", f"job ran out of CPU time (SIGXCPU) before its {timeout:g} s wall-clock "
                                        "limit: its CPU time is capped at that, unless the program lowered the cap")
        if leftovers:  # the cause of whatever else went wrong: a forked copy may have written to the reply pipe
            also = f"; its reply was bad too ({bad})" if bad else ""
            raise _JobFailed("protocol", f"the job left {leftovers} process(es) behind (killed){also}")
        if bad:
            raise _JobFailed("protocol", f"bad reply from the job ({bad}); its process was killed")
        try:
            frames = [framing.strict_json(f) for f in framing.split_frames(data)]
        except framing.ProtocolError as exc:
            raise _JobFailed("protocol", f"bad reply from the job ({exc})") from exc
        if frames and isinstance(frames[0], dict) and frames[0].get("op") == "jail_failed":
            raise _JobFailed("startup", f"the job could not confine itself: {str(frames[0].get('message'))[:500]}")
        try:
            confined = ChildConfined.model_validate(frames[0]) if frames else None
            result = ChildResult.model_validate(frames[1]) if len(frames) > 1 else None
        except ValidationError as exc:
            raise _JobFailed("protocol", f"bad reply from the job ({_first_error(exc)})") from exc
        if confined:
            record.layers = [*confined.layers, *self._zygote_extras()]
        if result is None or status != 0:
            self.stats.crashes += 1
            raise _JobFailed("crash", f"Blender process {describe_exit(status)} during the job")
        record.device, record.threads = result.record.device, result.record.threads
        record.timings, record.counts = result.record.timings, result.record.counts
        record.warnings += result.record.warnings
        record.blender_warnings, record.stdout = result.record.blender_warnings, result.record.stdout
        record.rss_mb = result.record.rss_mb
        if result.error:
            return RenderResult(record=record, error=RenderError(**result.error.model_dump()))
        try:
            expected = {"render.png"}.union(*(WRITERS[name].names for name in job.get("outputs", [])))
            files = outputs.read_outputs(dir_fd, list(result.files), job, expected)
        except outputs.OutputError as exc:
            raise _JobFailed("protocol", f"bad output from the job: {exc}") from exc
        png = files.pop("render.png", None)
        if png is None:
            raise _JobFailed("protocol", "the job reported success without render.png")
        return RenderResult(png=png, files=files, record=record)

    def _zygote_extras(self) -> list[str]:
        return list(self._zygote.info.get("extras", [])) if self._zygote else []

    def _discard(self, graceful: bool = False) -> None:
        if self._zygote:
            (self._zygote.close if graceful else self._zygote.kill)()
            self._zygote = None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(map(str, err['loc']))}: {err['msg']}"[:300]


