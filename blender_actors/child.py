"""The job child: forked from the zygote for one job, confines itself, runs the program,
renders, replies, exits. Stdlib + bpy (+ the jail); runs only in the forked child.

Before any program code: own session, death with the zygote, every inherited fd closed
but the reply pipe, stdout/stderr to a log in the job dir, `random` reseeded from the
job's seed, then the kernel layers (`jail.confine`). The first frame on the reply pipe
says which layers were applied; it is written, and read by the parent (`wait_drained`),
before the program runs, so the program cannot forge it. The program runs under
restricted builtins (sandbox "full") or full builtins ("os_only", tests of the kernel
layers alone); the worker's own render settings follow; the requested writers
(`child_outputs`) prepare the scene (passes, instance ids); the render and the writers'
outputs are written as files in the job dir, and the second frame only names them.
Every failure becomes an error reply; a real crash (signal) is seen by the parent. The
process never returns: `os._exit`.
"""
from __future__ import annotations

import array
import builtins
import fcntl
import json
import os
import random
import resource
import signal
import struct
import termios
import time
import traceback
import warnings
from dataclasses import dataclass

from blender_actors import child_outputs, jail

MAX_STDOUT = 16 * 1024
MAX_ERROR = 2000
SAFE_BUILTINS = (
    "abs all any bool bytes callable chr complex dict divmod enumerate filter float frozenset hash int "
    "isinstance issubclass iter len list map max min next ord pow print range repr reversed round set "
    "slice sorted str sum tuple zip True False None Ellipsis NotImplemented ArithmeticError AssertionError "
    "AttributeError Exception IndexError KeyError LookupError NameError OverflowError RuntimeError "
    "StopIteration TypeError ValueError ZeroDivisionError"
).split()
ALLOWED_IMPORTS = ("bpy", "bmesh", "mathutils", "math", "random", "colorsys",
                   "mathutils.noise", "mathutils.geometry", "mathutils.kdtree", "mathutils.bvhtree")
# `from bpy import app` would reach bpy's attributes through a name the static check never sees.
NO_FROM_IMPORTS = ("bpy", "bmesh")
# What the child may read of its own /proc entry: not the whole directory, whose `net/` lists
# every socket of the network namespace (the host's, in a pod without one: listeners, peers'
# addresses, Unix socket paths), nor `environ`, `mem`, `fd/`.
PROC_SELF = ("status", "stat", "statm", "maps", "smaps", "smaps_rollup", "limits", "cgroup", "cmdline", "comm",
             "auxv")


def clean_text(text: str) -> str:
    """Strings that encode as UTF-8 (a lone surrogate becomes an escape): the parent
    rejects anything else as a forged reply."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class _Output:
    """A bounded sink for the program's print(): a flood is cut, never buffered whole."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def print(self, *args, sep=" ", end="\n", **_ignored) -> None:
        text = clean_text(sep.join(str(a) for a in args) + end)
        if self.size >= MAX_STDOUT:
            self.dropped += len(text)
            return
        self.parts.append(text[: MAX_STDOUT - self.size])
        self.size += len(self.parts[-1])

    def text(self) -> str:
        tail = f"\n[... {self.dropped} characters of output dropped]" if self.dropped else ""
        return "".join(self.parts) + tail


def _restricted_globals(out: _Output, sandbox: str) -> dict:
    if sandbox == "os_only":  # tests of the OS layer alone; never used for model output
        return {"__name__": "seig_scene", "__builtins__": builtins, "print": out.print}
    real_import = builtins.__import__

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        """The static rules again, at run time: exact modules, no relative or private imports."""
        names = [str(item) for item in fromlist or ()]
        if level or name not in ALLOWED_IMPORTS or (names and (
                name in NO_FROM_IMPORTS or any(item == "*" or item.startswith("_") for item in names))):
            raise ImportError(f"import of {name!r} is not allowed in a scene program")
        return real_import(name, globals, locals, fromlist, level)

    safe = {name: getattr(builtins, name) for name in SAFE_BUILTINS}
    safe["print"] = out.print
    safe["__import__"] = guarded_import
    return {"__name__": "seig_scene", "__builtins__": safe}


def _program_error(exc: BaseException) -> dict:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<scene>":
            line = frame.lineno
    where = f" (line {line})" if line else ""
    text = clean_text(str(exc))
    if len(text) > MAX_ERROR:  # a program's exception text goes into the next prompt: keep it short
        text = text[:MAX_ERROR] + f" [... {len(text) - MAX_ERROR} characters cut]"
    return {"kind": "program", "message": f"{type(exc).__name__}: {text}{where}", "line": line}



EXR_LIB = "libOpenEXR.so.32"
EXR_SET_THREADS = "_ZN7Imf_3_320setGlobalThreadCountEi"  # Imf::setGlobalThreadCount(int), OpenEXR 3.3


def set_exr_threads(count: int) -> bool:
    """Stop (0) or start OpenEXR's global thread pool; False if this build has no such symbol."""
    import ctypes

    try:
        getattr(ctypes.CDLL(EXR_LIB), EXR_SET_THREADS)(ctypes.c_int(count))
        return True
    except (OSError, AttributeError):
        return False


def thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


@dataclass
class JobContext:
    job_dir: str
    reply_fd: int
    zygote_pid: int
    policy: jail.Policy
    landlock_abi: int
    job_index: int


def send_frame(fd: int, obj: dict) -> None:
    """One frame: 4-byte big-endian length, then JSON (ASCII). The parent caps both."""
    body = json.dumps(obj, ensure_ascii=True, allow_nan=False).encode()
    data = struct.pack(">I", len(body)) + body
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def wait_drained(fd: int) -> None:
    """Return once the parent has read everything written to the reply pipe so far.

    A program can open its own reply pipe for reading (/proc/self/fd/N of a pipe is the pipe,
    and Landlock does not govern pipes): had the parent not read the "confined" frame yet, the
    program could take it and write one with other layers. So it runs only once that frame is
    in the parent's hands. The parent reads continuously; its deadline bounds this wait."""
    pending = array.array("i", [0])
    pause = 0.0002
    while True:
        fcntl.ioctl(fd, termios.FIONREAD, pending, True)
        if pending[0] == 0:
            return
        time.sleep(pause)
        pause = min(pause * 2, 0.01)


def _prctl(option: int, arg: int) -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0)


def _enter(ctx: JobContext, keep_fds: tuple[int, ...]) -> None:
    """Leave the zygote's session and fds behind; log to the job dir. Nothing confined yet."""
    os.setsid()
    _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the zygote
    if os.getppid() != ctx.zygote_pid:
        os._exit(70)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    log_fd = os.open(os.path.join(ctx.job_dir, "blender.log"), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    keep = sorted({0, 1, 2, *keep_fds})
    low = 3
    for fd in keep:  # close every fd the zygote had: the control channel above all
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 1 << 20)
    os.chdir(ctx.job_dir)
    os.environ["HOME"] = os.environ["TMPDIR"] = ctx.job_dir


def job_main(ctx: JobContext, keep_fds: tuple[int, ...]) -> None:
    """The forked child's whole life. Never returns."""
    status = 0
    try:
        _enter(ctx, keep_fds)
        with open("request.json", "rb") as fh:  # written by the parent, read before any program code
            job = json.loads(fh.read())
        random.seed(job.get("seed", 0))  # no state from the zygote, none from another job
        cpu = job.get("cpu_seconds")
        if cpu:
            soft = int(cpu) + 1
            resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))  # hard too: cannot be raised back
        own = f"/proc/{os.getpid()}"
        ctx.policy.read += [f"{own}/{name}" for name in PROC_SELF]  # Cycles and SYCL read maps; the record, status
        ctx.policy.list_only.append(f"{own}/task")  # thread counts
        try:
            applied, missing = jail.confine(ctx.policy, ctx.landlock_abi)
        except (jail.JailError, OSError) as exc:
            send_frame(ctx.reply_fd, {"op": "jail_failed", "message": clean_text(str(exc))[:MAX_ERROR]})
            os._exit(71)
        send_frame(ctx.reply_fd, {"op": "confined", "layers": applied, "missing": missing})
        wait_drained(ctx.reply_fd)
        error, record, files = run_job(job, ctx)
        send_frame(ctx.reply_fd, {"op": "result", "error": error, "record": record, "files": files})
    except BaseException:  # noqa: BLE001 - nothing may escape into the zygote's code
        status = 1
    finally:
        os._exit(status)


def run_job(job: dict, ctx: JobContext) -> tuple[dict | None, dict, list[str]]:
    """Run the program, render, write outputs. Returns (error, record, files written)."""
    t = {"start": time.perf_counter()}
    record: dict = {}
    files: list[str] = []
    out = _Output()
    error = None
    try:
        error, files = _program_and_render(job, record, t, out)
    except MemoryError:
        error = {"kind": "program", "message": "MemoryError: the program exceeded its memory limit", "line": None}
    except SystemExit as exc:
        error = {"kind": "program", "message": f"SystemExit: the program called exit ({exc.code!r})"[:MAX_ERROR],
                 "line": None}
    return error, _finish(record, t, out), files


def _program_and_render(job: dict, record: dict, t: dict, out: _Output) -> tuple[dict | None, list[str]]:
    import bpy

    t["reset"] = time.perf_counter()  # the zygote's factory state is inherited: no reset needed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            code = compile(job["program"], "<scene>", "exec")
            env = _restricted_globals(out, job.get("sandbox", "full"))
            exec(code, env)
            build = env.get("build_scene")
            if callable(build):
                build()
        except SyntaxError as exc:
            return {"kind": "program", "message": clean_text(f"SyntaxError: {exc.msg} (line {exc.lineno})"),
                    "line": exc.lineno}, []
        except Exception as exc:  # noqa: BLE001 - any program failure is a failed round
            return _program_error(exc), []
        finally:
            record["warnings"] = [clean_text(f"{w.category.__name__}: {w.message} (line {w.lineno})")[:500]
                                  for w in caught][:50]
    t["exec"] = time.perf_counter()
    scene = bpy.context.scene
    if scene.camera is None:
        return {"kind": "program", "message": "the program built no camera (scene.camera is None)", "line": None}, []
    try:
        _render_settings(scene, job)
        record["device"] = select_device(scene, job.get("device", "auto"))
        record["threads"] = scene.render.threads
        writers = [child_outputs.WRITERS[name] for name in job.get("outputs", [])]
        for writer in writers:  # passes to turn on, instance ids: before the one render
            writer.prepare(scene, job)
        scene.render.filepath = os.path.join(os.getcwd(), "render.png")
        t["setup"] = time.perf_counter()
        bpy.ops.render.render(write_still=True)
        t["render"] = time.perf_counter()
        files = ["render.png"]
        for writer in writers:
            files += writer.write(scene, os.getcwd(), job)
        record["writer_timings"] = job.pop("_timings", {})  # each writer's own seconds (dataset_writers)
    except Exception as exc:  # noqa: BLE001
        return {"kind": "render", "message": clean_text(f"{type(exc).__name__}: {exc}")[:MAX_ERROR], "line": None}, []
    record["counts"] = {
        "objects": len(bpy.data.objects), "meshes": len(bpy.data.meshes), "materials": len(bpy.data.materials),
        "lights": sum(1 for o in bpy.data.objects if o.type == "LIGHT"),
    }
    return None, files


def _render_settings(scene, job: dict) -> None:
    scene.render.engine = job["engine"]
    scene.render.resolution_x = job["width"]
    scene.render.resolution_y = job["height"]
    scene.render.resolution_percentage = 100
    scene.render.use_compositing = False  # no compositor or sequencer output: file writers live there
    scene.render.use_sequencer = False
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    for flag in [a for a in dir(scene.render) if a.startswith("use_stamp")]:
        setattr(scene.render, flag, False)  # no date/render-time metadata: same scene, same bytes
    scene.cycles.samples = job["samples"]
    scene.cycles.seed = job["seed"]
    scene.cycles.use_denoising = bool(job.get("denoise"))
    scene.cycles.use_adaptive_sampling = False
    threads = job.get("threads") or os.cpu_count() or 1
    scene.render.threads_mode = "FIXED"  # also raises oneTBB's limit, which the zygote left at one CPU
    scene.render.threads = threads
    set_exr_threads(threads)  # the zygote stopped OpenEXR's pool before forking


def select_device(scene, want: str) -> str:
    """Cycles device for this job. On a GPU each child initialises the device itself (a GPU
    context does not survive fork); compiled kernels come from the on-disk cache."""
    import bpy

    if want == "cpu" or scene.render.engine != "CYCLES":
        scene.cycles.device = "CPU"
        return "CPU"
    prefs = bpy.context.preferences.addons["cycles"].preferences
    for kind in ["OPTIX", "CUDA", "HIP", "ONEAPI", "METAL"]:
        try:
            prefs.compute_device_type = kind
            prefs.refresh_devices()
        except (TypeError, ValueError, AttributeError):
            continue
        found = [d for d in prefs.devices if d.type == kind]
        if found:
            for d in prefs.devices:
                d.use = d.type == kind
            scene.cycles.device = "GPU"
            return kind
    if want == "gpu":
        raise RuntimeError("a GPU was requested but Cycles found no OptiX/CUDA/HIP device")
    scene.cycles.device = "CPU"
    return "CPU"


def _finish(record: dict, t: dict, out: _Output) -> dict:
    end = time.perf_counter()
    timings = {}
    prev = t["start"]
    for name in ["reset", "exec", "setup", "render"]:
        if name in t:
            timings[f"{name}_s"] = round(t[name] - prev, 5)
            prev = t[name]
    timings["encode_s"] = round(end - prev, 5) if "render" in t else 0.0  # writers included
    timings["total_s"] = round(end - t["start"], 5)
    timings.update({str(k)[:32]: float(v) for k, v in record.pop("writer_timings", {}).items()})
    record["timings"] = timings
    record["stdout"] = out.text()
    record["blender_warnings"] = _log_warnings()
    record["rss_mb"] = _rss_mb()
    return record


def _log_warnings() -> list[str]:
    try:
        with open("blender.log", "rb") as fh:
            tail = fh.read(256 * 1024).decode("utf-8", "replace")
    except OSError:
        return []
    keep = [clean_text(ln.strip())[:500] for ln in tail.splitlines() if "warning" in ln.lower() or "error" in ln.lower()]
    return keep[:50]


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0
