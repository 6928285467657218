"""The Blender child process: serves render jobs over a pipe, one at a time.

Runs as `python -m blender_actors.child` (bpy module) or inside a Blender binary via
`blender -b --factory-startup --python child.py -- ...`; stdlib + bpy only. Each job:
factory reset, exec of the program under restricted builtins, the
worker's own render settings (resolution, samples, device, threads), render to a file in
the workdir, PNG bytes back. Every failure becomes an error reply, never an exit; a real
crash (signal) is detected by the parent.
"""
from __future__ import annotations

import argparse
import builtins
import json
import os
import sys
import time
import traceback
import warnings

MAX_STDOUT = 16 * 1024
OUTPUT_DIR = "outputs"  # under the workdir: the files a job's output writers wrote
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


class _Output:
    """A bounded sink for the program's print(): a flood is cut, never buffered whole."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def print(self, *args, sep=" ", end="\n", **_ignored) -> None:
        text = sep.join(str(a) for a in args) + end
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
    text = str(exc)
    if len(text) > MAX_ERROR:  # a program's exception text goes into the next prompt: keep it short
        text = text[:MAX_ERROR] + f" [... {len(text) - MAX_ERROR} characters cut]"
    return {"kind": "program", "message": f"{type(exc).__name__}: {text}{where}", "line": line}


class Server:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.jobs = 0
        self.device_kind: str | None = None  # cached after the first GPU probe
        self.log_path = os.path.join(args.workdir, "blender.log")
        self.extra_timings: dict[str, float] = {}

    # --- device -----------------------------------------------------------------
    def select_device(self, scene, want: str) -> str:
        import bpy

        if want == "cpu" or scene.render.engine != "CYCLES":
            scene.cycles.device = "CPU"
            return "CPU"
        prefs = bpy.context.preferences.addons["cycles"].preferences
        kinds = [self.device_kind] if self.device_kind else ["OPTIX", "CUDA", "HIP", "ONEAPI", "METAL"]
        for kind in kinds:
            if kind == "CPU":
                break
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
                self.device_kind = kind
                return kind
        self.device_kind = "CPU"
        if want == "gpu":
            raise RuntimeError("a GPU was requested but Cycles found no OptiX/CUDA/HIP device")
        scene.cycles.device = "CPU"
        return "CPU"

    # --- one job ----------------------------------------------------------------
    def render(self, job: dict) -> tuple[dict, bytes]:
        import bpy
        from blender_actors import limits

        t = {"start": time.perf_counter()}
        record = {"pid": os.getpid(), "job_index": self.jobs}
        self.jobs += 1
        os.ftruncate(1, 0)
        os.lseek(1, 0, os.SEEK_SET)
        if job.get("cpu_seconds"):
            limits.set_job_cpu_budget(job["cpu_seconds"])
        program = job["program"]  # statically checked by the parent (BlenderWorker) before it was sent
        bpy.ops.wm.read_factory_settings(use_empty=True)
        t["reset"] = time.perf_counter()
        out = _Output()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                code = compile(program, "<scene>", "exec")
                env = _restricted_globals(out, job.get("sandbox", "full"))
                exec(code, env)
                build = env.get("build_scene")
                if callable(build):
                    build()
            except SyntaxError as exc:
                return self._reply(record, t, {"kind": "program", "message": f"SyntaxError: {exc.msg} (line {exc.lineno})",
                                               "line": exc.lineno}, out)
            except Exception as exc:  # noqa: BLE001 - any program failure is a failed round
                return self._reply(record, t, _program_error(exc), out)
        record["warnings"] = [f"{w.category.__name__}: {w.message} (line {w.lineno})" for w in caught][:50]
        t["exec"] = time.perf_counter()
        scene = bpy.context.scene
        if scene.camera is None:
            return self._reply(record, t, {"kind": "program", "message": "the program built no camera (scene.camera is None)",
                                           "line": None}, out)
        try:
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
            if job.get("threads"):
                scene.render.threads_mode = "FIXED"
                scene.render.threads = job["threads"]
            record["device"] = self.select_device(scene, job.get("device", "auto"))
            record["threads"] = scene.render.threads
            writers = _output_writers(job)
            for writer in writers:  # e.g. instance ids and passes: set before the one render
                writer.prepare(scene, job)
            path = os.path.join(self.args.workdir, f"render-{self.jobs}.png")
            scene.render.filepath = path
            t["setup"] = time.perf_counter()
            bpy.ops.render.render(write_still=True)
            t["render"] = time.perf_counter()
            with open(path, "rb") as fh:
                png = strip_png_text(fh.read())
            os.unlink(path)
            if writers:
                record["files"] = self._write_outputs(scene, job, writers)
        except Exception as exc:  # noqa: BLE001
            return self._reply(record, t, {"kind": "render", "message": f"{type(exc).__name__}: {exc}", "line": None}, out)
        record["counts"] = {
            "objects": len(bpy.data.objects), "meshes": len(bpy.data.meshes),
            "materials": len(bpy.data.materials),
            "lights": sum(1 for o in bpy.data.objects if o.type == "LIGHT"),
        }
        return self._reply(record, t, None, out, png)

    def _write_outputs(self, scene, job: dict, writers: list) -> list[str]:
        """Run each requested output writer into a fresh output folder of this job; the
        parent reads the named files from there and checks them (dataset_outputs)."""
        out_dir = os.path.join(self.args.workdir, OUTPUT_DIR)
        os.makedirs(out_dir, exist_ok=True)
        for name in os.listdir(out_dir):
            os.unlink(os.path.join(out_dir, name))
        files: list[str] = []
        for writer in writers:
            files += writer.write(scene, out_dir, job)
        self.extra_timings = {k: float(v) for k, v in job.pop("_timings", {}).items()}
        return files

    def _reply(self, record: dict, t: dict, error: dict | None, out: _Output | None = None, png: bytes = b""):
        end = time.perf_counter()
        marks = ["start", "reset", "exec", "setup", "render"]
        timings = {}
        prev = t["start"]
        for name in marks[1:]:
            if name in t:
                timings[f"{name}_s"] = round(t[name] - prev, 5)
                prev = t[name]
        timings["encode_s"] = round(end - prev, 5) if "render" in t else 0.0
        timings["total_s"] = round(end - t["start"], 5)
        timings.update(self.extra_timings)
        self.extra_timings = {}
        record["timings"] = timings
        record["stdout"] = out.text() if out else ""
        record["blender_warnings"] = self._log_warnings()
        record["rss_mb"] = _rss_mb()
        return {"op": "result", "error": error, "record": record, "files": record.pop("files", [])}, png

    def _log_warnings(self) -> list[str]:
        try:
            with open(self.log_path, "rb") as fh:
                tail = fh.read(256 * 1024).decode("utf-8", "replace")
        except OSError:
            return []
        keep = [ln.strip() for ln in tail.splitlines() if "warning" in ln.lower() or "error" in ln.lower()]
        return keep[:50]


def _output_writers(job: dict) -> list:
    """The writers of the outputs a job asked for (blender_actors.dataset_writers)."""
    names = job.get("outputs") or []
    if not names:
        return []
    from blender_actors.dataset_writers import WRITERS

    return [WRITERS[name] for name in names]


def strip_png_text(png: bytes) -> bytes:
    """Drop text/time chunks (Cycles writes its render time there): same pixels, same bytes."""
    import struct

    out, pos = [png[:8]], 8
    while pos + 8 <= len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        end = pos + 12 + length
        if kind not in (b"tEXt", b"zTXt", b"iTXt", b"tIME"):
            out.append(png[pos:end])
        pos = end
    return b"".join(out)


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--req-fd", type=int, required=True)
    p.add_argument("--resp-fd", type=int, required=True)
    p.add_argument("--parent-pid", type=int, required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--limits", default="{}")
    args = p.parse_args(argv)
    cfg = json.loads(args.limits)

    from blender_actors import framing, limits

    limits.die_with_parent(args.parent_pid)
    info = {"op": "ready", "pid": os.getpid()}
    info["network_isolated"] = limits.isolate_network() if cfg.get("isolate_network", True) else False
    info["limits"] = limits.apply_rlimits(cfg.get("memory_mb"), cfg.get("file_size_mb", 256), cfg.get("max_processes"))
    # After the namespaces (they need CAP_SYS_ADMIN), before bpy and any program:
    info["limits"]["filesystem"] = limits.confine_filesystem(args.workdir, tuple(cfg.get("writable_dirs", ())))
    info["limits"]["capabilities"] = limits.drop_capabilities()
    os.chdir(args.workdir)
    log_fd = os.open(os.path.join(args.workdir, "blender.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    t0 = time.perf_counter()
    import bpy  # noqa: F401  (the expensive part of start-up: done once per process)

    info["import_s"] = round(time.perf_counter() - t0, 4)
    info["blender"] = bpy.app.version_string
    framing.send(args.resp_fd, info)
    server = Server(args)
    while True:
        try:
            job, _ = framing.recv(args.req_fd)
        except framing.ChannelClosed:
            return 0
        if job.get("op") == "exit":
            return 0
        try:
            header, png = server.render(job)
        except MemoryError:
            header, png = {"op": "result", "error": {"kind": "program", "message": "MemoryError: the program exceeded its memory limit",
                                                     "line": None}, "record": {"pid": os.getpid()}}, b""
        framing.send(args.resp_fd, header, png)


if __name__ == "__main__":
    if "--" in sys.argv:  # inside a Blender binary: our args follow "--"; our package root is passed in
        rest = sys.argv[sys.argv.index("--") + 1 :]
        if rest and rest[0].startswith("--import-root="):
            sys.path.insert(0, rest.pop(0).split("=", 1)[1])
        sys.exit(main(rest))
    sys.exit(main(sys.argv[1:]))
