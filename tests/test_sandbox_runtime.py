"""The sandbox at run time, with real Blender: hostile programs are rejected or contained,
nothing is written outside the worker's directory, no secret is readable, and the OS layer
(sandbox="os_only": no static check, full builtins) holds on its own.

Tiny renders only (64x48, 1 sample): the machine has 2 shared cores.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from blender_actors.child import MAX_STDOUT, SAFE_BUILTINS
from blender_actors.config import WorkerConfig
from blender_actors.protocol import RenderRequest
from blender_actors.worker import BlenderWorker

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = sorted((ROOT / "tests" / "hostile").glob("*.py"))
TARGET = Path("/tmp/seig-hostile-target")  # where the hostile programs aim their writes
TINY = dict(width=64, height=48, samples=1)
CONTAIN_S = 4.0  # the wall-clock limit given to each contained program
# What an escape would leave in /tmp: the programs' own names, Blender's default outputs.
SUSPICIOUS = re.compile(r"pwned|hostile|file_name|\.(exr|blend1?|obj|dot|svg)$")
SECRETS = {name: f"{name.lower()}-{uuid.uuid4().hex}" for name in (
    "AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY", "SEIG_TEST_TOKEN", "SEIG_BLENDER_PASSWORD", "CYCLES_SECRET")}


def expect(path: Path) -> str:
    return path.read_text().splitlines()[0].split(":", 1)[1].strip()


def _tmp_entries() -> set[str]:
    return {p.name for p in Path("/tmp").iterdir()}


@pytest.fixture(scope="module", autouse=True)
def target():
    """The directory the hostile programs aim at: it must still be empty at the end."""
    TARGET.mkdir(exist_ok=True)
    yield TARGET
    try:
        TARGET.rmdir()
    except OSError:  # not empty: a test has failed on it; leave the evidence
        pass


@pytest.fixture(scope="module")
def box(box_program) -> str:
    return box_program


@pytest.fixture(scope="module")
def full_worker():
    config = WorkerConfig(threads=1, job_timeout_s=30, memory_limit_mb=3072, file_size_limit_mb=16)
    with BlenderWorker(config) as w:
        yield w


@pytest.fixture(scope="module")
def os_worker():
    """Layer 2 alone. The secrets are in the parent's environment before the child starts."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in SECRETS.items():
            mp.setenv(name, value)
        config = WorkerConfig(sandbox="os_only", threads=1, job_timeout_s=30, memory_limit_mb=3072,
                              file_size_limit_mb=8)
        with BlenderWorker(config) as w:
            w.start()
            yield w


def _run(worker: BlenderWorker, program: str, **kw):
    return worker.render(RenderRequest(program=program, **{**TINY, **kw}))


# --- layer 1 + 2 together: every hostile program -----------------------------------
def test_every_hostile_program_is_rejected_or_contained_and_writes_nothing(full_worker, box):
    before = _tmp_entries()
    problems = []
    for path in HOSTILE:
        t0 = time.monotonic()
        result = _run(full_worker, path.read_text(), timeout_s=CONTAIN_S)
        took = time.monotonic() - t0
        if expect(path) == "rejected":
            if result.error is None or result.error.kind != "rejected" or result.record.pid is not None:
                problems.append(f"{path.name}: not rejected before Blender: {result.error}")
            continue
        if result.error is None or result.error.kind not in ("timeout", "program", "crash"):
            problems.append(f"{path.name}: not contained: {result.error}")
        if took > CONTAIN_S + 10:
            problems.append(f"{path.name}: took {took:.1f} s")
        after = _run(full_worker, box)
        if not after.ok:
            problems.append(f"{path.name}: the next job failed: {after.error}")
    assert not problems, "\n".join(problems)
    assert list(TARGET.iterdir()) == []
    new = sorted(n for n in _tmp_entries() - before if SUSPICIOUS.search(n))
    assert not new, f"written outside the worker's directory: {new}"


def test_endless_loop_times_out_then_the_worker_recovers(full_worker, box):
    t0 = time.monotonic()
    result = _run(full_worker, (ROOT / "tests/hostile/endless_loop.py").read_text(), timeout_s=3)
    assert result.error.kind == "timeout" and time.monotonic() - t0 < 8
    assert _run(full_worker, box).ok


def test_print_flood_is_bounded(full_worker):
    result = _run(full_worker, (ROOT / "tests/hostile/print_flood.py").read_text(), timeout_s=20)
    assert result.error is not None and result.error.kind == "program"  # it builds no camera
    out = result.record.stdout
    assert out.startswith("0 flood") and len(out) <= MAX_STDOUT + 100
    assert re.search(r"\[\.\.\. \d+ characters of output dropped\]$", out)


def test_memory_bomb_becomes_an_error(full_worker, box):
    result = _run(full_worker, (ROOT / "tests/hostile/memory_bomb.py").read_text(), timeout_s=20)
    assert result.error.kind in ("program", "crash") and "emory" in result.error.message
    assert _run(full_worker, box).ok


# --- layer 2's builtins ----------------------------------------------------------
PROBE_BUILTINS = """
import bpy

outcome = []
try:
    open("/etc/hostname")
    outcome.append("open: allowed")
except NameError:
    outcome.append("open: NameError")
try:
    import os
    outcome.append("import os: allowed")
except Exception as exc:
    outcome.append("import os: " + exc.__class__.__name__)
try:
    from bpy import app
    outcome.append("from bpy: allowed")
except Exception as exc:
    outcome.append("from bpy: " + exc.__class__.__name__)
from mathutils import Vector
import mathutils.noise
outcome.append("mathutils: " + str(Vector((3, 4, 0)).length))
print(outcome)
print(sorted(__builtins__))
"""


def test_restricted_builtins_stop_open_when_layer1_misses(full_worker, box, monkeypatch):
    """Simulate a hole in the static check: the child alone must still refuse open and os."""
    import blender_actors.worker as worker_module

    monkeypatch.setattr(worker_module, "check_program", lambda source: [])
    result = _run(full_worker, PROBE_BUILTINS)
    assert result.error.kind == "program"  # no camera: the probe ran to its end
    first, second = result.record.stdout.splitlines()[:2]
    assert first == "['open: NameError', 'import os: ImportError', 'from bpy: ImportError', 'mathutils: 5.0']"
    assert eval(second) == sorted(set(SAFE_BUILTINS) | {"print", "__import__"})  # noqa: S307 (our own output)
    monkeypatch.undo()
    assert _run(full_worker, box).ok


def test_a_builtin_the_checker_allows_is_still_missing_at_run_time(full_worker):
    program = "import bpy\nprint(hex(255))\n"
    result = _run(full_worker, program)
    assert result.error.kind == "program" and "NameError" in result.error.message and result.error.line == 2


def test_restricted_globals_in_process():
    """The same, without Blender: the globals a program gets in sandbox="full"."""
    from blender_actors.child import _Output, _restricted_globals

    for source, error in [("open('/etc/passwd')", NameError), ("import os", ImportError),
                          ("__import__('subprocess')", ImportError), ("exec('1')", NameError),
                          ("getattr(print, 'x')", NameError), ("from . import x", ImportError),
                          ("from bpy import app", ImportError), ("import bpy.utils", ImportError),
                          ("from random import _os", ImportError), ("from math import *", ImportError),
                          ("type(1)", NameError), ("__build_class__", NameError)]:
        with pytest.raises(error):
            exec(compile(source, "<scene>", "exec"), _restricted_globals(_Output(), "full"))  # noqa: S102
    env = _restricted_globals(_Output(), "full")
    exec(compile("import math\nimport colorsys\nfrom math import pi\nfrom random import Random as R\n",  # noqa: S102
                 "<scene>", "exec"), env)  # what a scene does import still works (mathutils needs bpy loaded)
    assert env["pi"] > 3 and env["R"](1).random() < 1 and env["colorsys"].rgb_to_hsv(1, 0, 0)[2] == 1


# --- layer 2 alone (sandbox="os_only"): the kernel jail, tested in test_sandbox_jail.py ----
def test_os_layer_environment_is_an_allowlist(os_worker):
    """The child's own environment holds no credential (HOME and TMPDIR are its job dir)."""
    program = "import os\nprint('ENV', sorted(os.environ.items()))\nprint('CWD', os.getcwd())\n"
    out = _run(os_worker, program).record.stdout
    workdir = next(line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("CWD "))
    assert f"('HOME', '{workdir}')" in out and f"('TMPDIR', '{workdir}')" in out and "/job-" in workdir
    for name, value in SECRETS.items():
        assert value not in out and name not in out, f"{name} is visible to the program"


def test_os_layer_file_size_limit(os_worker):
    program = """
import os
try:
    with open("big.bin", "wb") as fh:
        fh.write(bytes(9 * 1024 * 1024))
    print("WROTE 9 MB")
except OSError as exc:
    print("REFUSED", exc.strerror)
print("SIZE", os.path.getsize("big.bin"))
"""
    out = _run(os_worker, program).record.stdout
    assert "REFUSED File too large" in out and f"SIZE {8 * 1024 * 1024}" in out


def test_os_layer_cannot_undo_its_own_confinement(os_worker):
    """Root in a container: no capability, no way to lift a limit or leave the jail."""
    program = """
import ctypes, resource
libc = ctypes.CDLL(None, use_errno=True)
print("REMOUNT", libc.mount(None, b"/", None, 32 | 4096, None))
print("UNSHARE", libc.unshare(0x00020000 | 0x40000000))
for limit in (resource.RLIMIT_AS, resource.RLIMIT_FSIZE, resource.RLIMIT_CPU):
    try:
        resource.setrlimit(limit, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        print("RAISED", limit)
    except (ValueError, OSError):
        print("LOCKED", limit)
print([line for line in open("/proc/self/status").read().splitlines() if line.startswith("CapEff")])
"""
    out = _run(os_worker, program).record.stdout
    assert "REMOUNT -1" in out and "UNSHARE -1" in out and "RAISED" not in out and out.count("LOCKED") == 3
    assert "CapEff:\\t0000000000000000" in out
    assert os_worker.info["limits"]["capabilities"] == "all dropped"


# Hostile programs that write, run with no static check and full builtins: the jail must stop them.
WRITERS = ["write_outside", "os_system", "subprocess_shell", "match_class_traceback", "async_generator_frame",
           "save_mainfile", "image_save", "image_save_render", "depsgraph_debug_write", "export_obj",
           "text_block_exec"]


def test_os_layer_alone_contains_the_hostile_writers(os_worker, box):
    before = _tmp_entries()
    for name in WRITERS:
        result = _run(os_worker, (ROOT / "tests" / "hostile" / f"{name}.py").read_text(), timeout_s=15)
        assert result.error is not None and result.error.kind in ("program", "render"), (name, result.error)
    assert list(TARGET.iterdir()) == []
    assert not sorted(n for n in _tmp_entries() - before if SUSPICIOUS.search(n))
    assert _run(os_worker, box).ok  # and the confined process still renders


# --- drift: Blender's own API, introspected --------------------------------------------
RNA_FILE_API = r"""
import json, bpy
FILE = ("FILE_PATH", "DIR_PATH", "FILE_NAME")
# containers that hold code, files, preferences or the UI
KINDS = {"Text", "Library", "PackedFile", "CacheFile", "WindowManager", "Preferences", "Screen", "WorkSpace",
         "SequenceEditor", "GeometryNodeTree", "CompositorNodeTree", "Window", "Area", "Space"}
props, funcs, sockets, pointers = set(), set(), set(), set()
for name in dir(bpy.types):
    rna = getattr(getattr(bpy.types, name), "bl_rna", None)
    if rna is None:
        continue
    for p in rna.properties:
        if p.type == "STRING" and p.subtype in FILE:
            props.add((name, p.identifier))
        if p.type in ("POINTER", "COLLECTION") and p.fixed_type is not None and p.fixed_type.identifier in KINDS:
            pointers.add((name, p.identifier))
    for f in rna.functions:
        if any(p.type == "STRING" and p.subtype in FILE for p in f.parameters):
            funcs.add((name, f.identifier))
bpy.ops.wm.read_factory_settings(use_empty=True)
trees = [bpy.data.materials.new("m").node_tree, bpy.data.worlds.new("w").node_tree]
for name in dir(bpy.types):
    for tree in trees:
        try:
            node = tree.nodes.new(name)
        except Exception:
            continue
        if any("FilePath" in s.bl_idname for s in list(node.inputs) + list(node.outputs)):
            sockets.add(name)
        tree.nodes.remove(node)
print("RNA" + json.dumps({"properties": sorted(props), "functions": sorted(funcs), "sockets": sorted(sockets),
                         "pointers": sorted(pointers)}))
"""
# Structs with a file-path member whose name is not denied, and why a program cannot reach them.
UNREACHABLE = {
    "AssetRepresentation": "asset browser UI (assets, spaces denied)",
    "FileBrowserFSMenuEntry": "file browser UI (spaces, preferences denied)",
    "FileSelectEntry": "file browser UI (spaces denied)",
    "OperatorFileListElement": "an operator's `files` collection (keyword and attribute denied)",
    "LibraryWeakReference": "via `library_weak_reference` (library denied)",
    "PreferencesFilePaths": "preferences (denied; bpy.context.copy/path_resolve closed)",
    "NodeSocketStringFilePath": "sockets of geometry/compositor nodes only (node trees unreachable; checked below)",
    "NodeTreeInterfaceSocketStringFilePath": "interfaces of node groups (node_groups denied)",
    "AreaSpaces": "an area's spaces (areas, spaces denied)",
    "Library": "libraries (denied)",
    "Window": "windows (denied)",
}


def test_every_file_path_in_blenders_api_is_denied_or_unreachable():
    """Blender 5.0's RNA, introspected: a new version adding a file API, or a new route to text
    blocks, libraries, node trees, the UI or preferences, fails here, not in production."""
    from blender_actors.sandbox import CONTEXT_MEMBERS, denied_name

    out = subprocess.run([sys.executable, "-c", RNA_FILE_API], capture_output=True, text=True, timeout=120).stdout
    api = json.loads(out[out.index("RNA{") + 3:].splitlines()[0])
    assert len(api["properties"]) > 50 and len(api["functions"]) > 5  # the probe really looked
    open_props = [(s, p) for s, p in api["properties"] if not denied_name(p) and s not in UNREACHABLE]
    open_funcs = [(s, f) for s, f in api["functions"] if not denied_name(f) and s not in UNREACHABLE]
    assert not open_props, f"file-path properties a program could set: {open_props}"
    assert not open_funcs, f"functions taking a file path a program could call: {open_funcs}"
    assert api["sockets"] == [], f"material/world nodes with a file-path socket: {api['sockets']}"
    open_pointers = [(s, p) for s, p in api["pointers"] if not denied_name(p) and s not in UNREACHABLE
                     and not (s == "Context" and p not in CONTEXT_MEMBERS)]
    assert len(api["pointers"]) > 20 and not open_pointers, f"routes to texts, libraries, UI or preferences: {open_pointers}"
