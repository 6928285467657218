"""The kernel jail around each job, with real Blender: programs that already have full
Python (sandbox="os_only", as after an escape; and real escapes through Blender's own
functions in sandbox="full") still cannot read, write, connect, leak, persist, lie or hang.

Bait in every test: canary credentials in the parent's environment (and in a same-uid
helper process), a secret file outside the job dir, listeners on 127.0.0.1, on a
path-based and on an abstract Unix socket. A program passes only if none of it is
reached, nothing of it is left running, and the next job renders normally.

This module runs twice: as is (root here) and again with every capability dropped
(`test_jail_holds_with_every_capability_dropped` re-runs it under setpriv).
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import io
import json
import os
import resource
import signal
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from blender_actors import framing, jail
from blender_actors.cleanup import remove_tree
from blender_actors.config import WorkerConfig
from blender_actors.outputs import png_cap
from blender_actors.protocol import RenderRequest
from blender_actors.worker import BlenderWorker
from blender_actors.zygote_process import session_members
from tests import jail_state

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "tests" / "hostile" / "jail"
JAIL = sorted(HOSTILE.glob("*.py"))
CROSS = ROOT / "tests" / "hostile" / "cross_job"
TINY = dict(width=32, height=24, samples=1)
LIMIT_S = 8.0
NOCAPS = os.environ.get("SEIG_JAIL_PASS") == "nocaps"
CANARY = uuid.uuid4().hex
SECRETS = {"AWS_SECRET_ACCESS_KEY": f"aws-{CANARY}", "OPENAI_API_KEY": f"sk-{CANARY}",
           "SEIG_BLENDER_PASSWORD": f"pw-{CANARY}", "CYCLES_SECRET_TOKEN": f"tok-{CANARY}"}
SECRET_TEXT = f"zQ7-secret-file-{CANARY}"
IPC_KEY = int(CANARY[:7], 16)  # System V keys the hostile programs use (+0..3)
FORGED = "forged-by-the-program"  # the layer name pipe_reopen_forge.py tries to slip into the record


def header(path: Path, key: str) -> str:
    for line in path.read_text().splitlines():
        if line.startswith(f"# {key}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{path.name} has no '# {key}:' line")


def _header_or_none(path: Path, key: str) -> str | None:
    try:
        return header(path, key)
    except AssertionError:
        return None


@dataclass
class Bait:
    base: Path
    secret: Path
    target: Path
    tcp: socket.socket
    unix: socket.socket
    abstract: socket.socket
    abstract_name: str
    helper: subprocess.Popen

    def tokens(self) -> dict[str, str]:
        return {"@SECRET_FILE@": str(self.secret), "@TARGET_DIR@": str(self.target), "@REPO@": str(ROOT),
                "@TCP_PORT@": str(self.tcp.getsockname()[1]), "@UNIX_PATH@": str(self.base / "host.sock"),
                "@ABSTRACT_NAME@": self.abstract_name, "@PARENT_PID@": str(os.getpid()),
                "@HELPER_PID@": str(self.helper.pid), "@IPC_KEY@": str(IPC_KEY)}

    def snapshot(self, worker: BlenderWorker) -> dict:
        """What a job must not change although it reads, writes and connects nothing."""
        return {"secret": jail_state.file_state(self.secret), "target": jail_state.file_state(self.target),
                "helper": jail_state.process_state(self.helper.pid), "zygote": jail_state.process_state(worker.pid),
                "zygote_pid": worker.pid}

    def program(self, path: Path) -> str:
        text = path.read_text()
        for token, value in self.tokens().items():
            text = text.replace(token, value)
        return text


@pytest.fixture(scope="module")
def bait():
    with pytest.MonkeyPatch.context() as mp:
        for name, value in SECRETS.items():
            mp.setenv(name, value)  # in the parent before any worker starts
        base = Path(tempfile.mkdtemp(prefix="seig-jail-bait-"))
        secret = base / "secret.txt"
        secret.write_text(SECRET_TEXT)
        target = base / "target"
        target.mkdir()
        tcp = socket.create_server(("127.0.0.1", 0))
        unix = socket.socket(socket.AF_UNIX)
        unix.bind(str(base / "host.sock"))
        unix.listen()
        name = f"seig-jail-{CANARY}"
        abstract = socket.socket(socket.AF_UNIX)
        abstract.bind("\0" + name)
        abstract.listen()
        helper = subprocess.Popen(["sleep", "600"], env={**os.environ, **SECRETS})
        yield Bait(base, secret, target, tcp, unix, abstract, name, helper)
        helper.kill()
        helper.wait()
        for s in (tcp, unix, abstract):
            s.close()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def workers(bait):
    config = dict(threads=1, job_timeout_s=LIMIT_S, memory_limit_mb=3072, file_size_limit_mb=16)
    with BlenderWorker(WorkerConfig(sandbox="os_only", **config)) as os_only, \
            BlenderWorker(WorkerConfig(**config)) as full:
        os_only.start()
        full.start()
        yield {"os_only": os_only, "full": full}


def _problems(bait: Bait, worker: BlenderWorker, result, took: float, before: dict | None = None) -> list[str]:
    problems = []
    if before:
        for name in ("secret", "target"):
            if jail_state.file_state(getattr(bait, name)) != before[name]:
                now = jail_state.file_state(getattr(bait, name))
                problems.append(f"changed the {name}'s metadata: {before[name]} -> {now}")
        after = {"helper": jail_state.process_state(bait.helper.pid), "zygote": jail_state.process_state(worker.pid)}
        for name in ("helper", "zygote"):
            if name == "helper" or worker.pid == before["zygote_pid"]:
                diff = jail_state.changed(before[name], after[name])
                if diff:
                    problems.append(f"changed the {name} process: {diff}")
    left = jail_state.sysv_left({IPC_KEY + i for i in range(4)}, result.record.pid)
    if left:
        problems.append(f"left System V IPC objects: {left}")
    problems += jail_state.workdir_problems(worker.workdir)
    if FORGED in result.record.layers:
        problems.append(f"forged the record's layers: {result.record.layers}")
    if result.files:  # these tests ask for no extra output
        problems.append(f"handed back outputs nobody asked for: {sorted(result.files)}")
    if result.png and len(result.png) > png_cap(TINY):
        problems.append(f"a {len(result.png)}-byte render for {TINY['width']}x{TINY['height']} pixels")
    seen = b"".join([result.record.stdout.encode(), str(result.error).encode(), result.png or b"",
                     *result.files.values(), repr(result.record.warnings).encode()])
    for value in [*SECRETS.values(), SECRET_TEXT, CANARY]:
        if value.encode() in seen:
            problems.append(f"leaked {value[:12]}...")
    for label, sock in [("tcp", bait.tcp), ("unix", bait.unix), ("abstract", bait.abstract)]:
        sock.setblocking(False)
        try:
            conn, _ = sock.accept()
            conn.close()
            problems.append(f"connected to the {label} listener")
        except BlockingIOError:
            pass
    if list(bait.target.iterdir()):
        problems.append(f"wrote {[p.name for p in bait.target.iterdir()]}")
    if [p for p in Path("/tmp").glob("pwned*")] or list(ROOT.glob("pwned*")):
        problems.append("wrote a pwned file")
    if result.record.pid and session_members(result.record.pid):
        problems.append(f"left processes in its session: {session_members(result.record.pid)}")
    kids = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    if kids:
        problems.append(f"the zygote still has children {kids}")
    state = Path(f"/proc/{bait.helper.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    if state not in ("S", "R"):
        problems.append(f"the helper process was signalled (state {state})")
    if took > LIMIT_S + 10:
        problems.append(f"took {took:.1f} s")
    if not bait.secret.exists():
        problems.append("the secret file was moved")
    return problems


@pytest.mark.parametrize("path", JAIL, ids=[p.stem for p in JAIL])
def test_hostile_program_is_contained(path, bait, workers, box_program):
    worker = workers[header(path, "mode")]
    before = bait.snapshot(worker)
    t0 = time.monotonic()
    result = worker.render(RenderRequest(program=bait.program(path), **TINY))
    took = time.monotonic() - t0
    problems = _problems(bait, worker, result, took, before)
    quick = _header_or_none(path, "ended within")  # seconds: a child that gives itself away is not waited on
    if quick is not None and took > float(quick):
        problems.append(f"held the worker {took:.1f} s (job limit {LIMIT_S:g} s; should end within {quick} s)")
    if header(path, "result") == "failed":
        assert not result.ok, f"{path.name}: a forged or broken reply was accepted"
    if result.ok and result.png:  # pixels must not carry the secret's bytes
        pixel = Image.open(io.BytesIO(result.png)).convert("RGB").getpixel((0, 0))
        if all(abs(a - b) <= 2 for a, b in zip(pixel, SECRET_TEXT.encode()[:3])):
            problems.append(f"the render's pixels carry the secret: {pixel}")
    assert not problems, f"{path.name}: {problems}; result {result.error}; stdout {result.record.stdout[:800]}"
    after = worker.render(RenderRequest(program=box_program, **TINY))
    assert after.ok and after.record.zygote_pid == result.record.zygote_pid, after.error


def test_a_job_cannot_skew_the_worker_statistics_or_fake_its_cause(bait, workers):
    """What a job says of itself is the job's claim: absurd timings are a bad reply and leave
    the worker's counters as they were, and a job that lowered its own CPU limit is not
    reported as one that ran past the wall-clock deadline."""
    worker = workers["os_only"]
    render_s, peak = worker.stats.render_s, worker.stats.peak_rss_mb
    forged = worker.render(RenderRequest(program=bait.program(ROOT / "tests/hostile/jail/forged_timings.py"), **TINY))
    assert forged.error is not None and forged.error.kind == "protocol" and "render_s" in forged.error.message
    assert worker.stats.render_s - render_s < 1.0 and worker.stats.peak_rss_mb <= max(peak, 10**5)
    spun = worker.render(RenderRequest(program=bait.program(ROOT / "tests/hostile/jail/lower_cpu_limit.py"), **TINY))
    assert spun.error is not None and spun.error.kind == "timeout", spun.error
    assert "CPU time" in spun.error.message and "exceeded" not in spun.error.message, spun.error.message


def test_the_pixel_channel_is_real(bait, workers):
    """Positive control: where reading is allowed (/proc/cpuinfo), the bytes do come out as pixels,
    so the same program's failure to leak the secret is the jail's doing, not a broken channel."""
    program = bait.program(ROOT / "tests/hostile/jail/pixels_from_secret.py").replace(str(bait.secret), "/proc/cpuinfo")
    result = workers["os_only"].render(RenderRequest(program=program, **TINY))
    assert result.ok, result.error
    pixel = Image.open(io.BytesIO(result.png)).convert("RGB").getpixel((0, 0))
    assert all(abs(a - b) <= 2 for a, b in zip(pixel, b"pro")), pixel


def test_the_gadget_is_a_real_escape_from_layer_one(bait, workers):
    """The full-mode gadget passes the static check and the restricted builtins and runs
    arbitrary Python: shown by reading a file the jail allows (bpy's own version file)."""
    path = ROOT / "tests/hostile/jail/gadget_eval_read_secret.py"
    program = bait.program(path).replace(str(bait.secret), "/proc/self/status")
    result = workers["full"].render(RenderRequest(program=program, **TINY))
    assert result.ok and "Name:" in result.record.stdout and "denied" in result.record.stdout, result.record.stdout


def test_every_job_records_its_layers(workers, box_program):
    result = workers["full"].render(RenderRequest(program=box_program, **TINY))
    layers = " ".join(result.record.layers)
    for name in ["no_new_privs", "landlock_fs", "nondumpable", "seccomp", "rlimits", "no_capabilities"]:
        assert name in layers, (name, result.record.layers)
    if workers["full"].info["kernel"]["landlock_abi"] >= 6:
        assert "landlock_net" in layers and "landlock_scope" in layers
    assert result.record.layers_missing == [] and workers["full"].info["threads_at_fork"] == 1
    if NOCAPS:
        status = Path("/proc/self/status").read_text()
        assert "CapEff:\t0000000000000000" in status and "CapBnd:\t0000000000000000" in status


def test_dataset_writers_need_nothing_the_jail_refuses(workers, box_program):
    """The passes (EXR read back with OpenEXR), the glTF and USD exporters run confined, as
    root and without capabilities: every file comes back and passes the parent's validators,
    and Blender's log has no complaint but USD's chmod of its temporary file (seccomp), which
    leaves scene.usdc at mode 0600. What the zygote preloaded for them left it one thread."""
    worker = workers["full"]
    result = worker.render(RenderRequest(program=box_program, **TINY, outputs=["passes", "glb", "usd"]))
    assert result.ok, result.error
    assert set(result.files) == {"passes.npy", "scene.json", "scene.glb", "scene.usdc"}
    assert result.record.layers_missing == [] and "seccomp" in result.record.layers
    assert {"passes_s", "glb_s", "usd_s"} <= set(result.record.timings)
    facts = json.loads(result.files["scene.json"])
    assert facts["objects"] and facts["world"] is not None
    others = [w for w in result.record.blender_warnings if "Unable to set permissions for temporary file" not in w]
    assert others == [], others
    preload = worker.info["dataset_preload"]
    assert preload["openexr"] and preload["gltf"] and worker.info["threads_at_fork"] == 1


def test_a_missing_required_layer_refuses_jobs_unless_weaker_is_allowed(bait, box_program):
    with BlenderWorker(WorkerConfig(threads=1, skip_layers=["seccomp"])) as strict:
        result = strict.render(RenderRequest(program=box_program, **TINY))
        assert result.error.kind == "startup" and "seccomp" in result.error.message
        assert "allow_weaker" in result.error.message
    config = WorkerConfig(threads=1, skip_layers=["seccomp"], allow_weaker=True, sandbox="os_only", job_timeout_s=LIMIT_S)
    with BlenderWorker(config) as weak:
        ok = weak.render(RenderRequest(program=box_program, **TINY))
        assert ok.ok and ok.record.layers_missing == ["seccomp"] and "seccomp" not in " ".join(ok.record.layers)
        assert any("weaker" in w for w in ok.record.warnings)
        # without seccomp a program can fork: the daemon is found and killed, and the job fails
        daemon = weak.render(RenderRequest(program=bait.program(ROOT / "tests/hostile/jail/fork_daemon.py"), **TINY))
        assert daemon.error is not None and daemon.error.kind == "protocol" and "behind" in daemon.error.message
        assert not session_members(daemon.record.pid) and not list(bait.target.iterdir())
        kids = Path(f"/proc/{weak.pid}/task/{weak.pid}/children").read_text().split()
        assert kids == []


def _seig(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_nothing_crosses_jobs_through_seig_render(tmp_path):
    """`seig render A.py B.py`: one warm worker; a class patched or random.seed() in A is gone in B."""
    args = ["--width", "32", "--height", "24", "--samples", "1"]
    alone = _seig("render", str(CROSS / "victim_b.py"), "--out", f"{tmp_path}/alone/", *args, cwd=ROOT)
    patched = _seig("render", str(CROSS / "patch_class_a.py"), str(CROSS / "victim_b.py"), "--out",
                    f"{tmp_path}/patched/", *args, cwd=ROOT)
    seeded = _seig("render", str(CROSS / "seed_random_a.py"), str(CROSS / "victim_b.py"), "--out",
                   f"{tmp_path}/seeded/", *args, cwd=ROOT)
    for res in (alone, patched, seeded):
        assert res.returncode == 0 and res.stderr == "", res.stderr
    reference = (tmp_path / "alone/victim_b.png").read_bytes()
    assert (tmp_path / "patched/victim_b.png").read_bytes() == reference
    assert (tmp_path / "seeded/victim_b.png").read_bytes() == reference


def test_seig_render_failures_are_one_clear_line_each(tmp_path, bait):
    bad = tmp_path / "surrogate.py"
    bad.write_text('import bpy\nraise ValueError("lone \\ud800 surrogate")\n')
    loop = tmp_path / "loop.py"
    loop.write_text("while True:\n    pass\n")
    gadget = tmp_path / "gadget.py"
    gadget.write_text(bait.program(ROOT / "tests/hostile/jail/gadget_eval_write.py"))
    res = _seig("render", str(bad), str(loop), str(gadget), str(CROSS / "victim_b.py"), "--out", f"{tmp_path}/out/",
                "--width", "32", "--height", "24", "--samples", "1", "--timeout", "4", cwd=ROOT)
    lines = res.stderr.splitlines()
    assert res.returncode == 1 and "Traceback" not in res.stderr and len(lines) == 2, res.stderr
    assert lines[0].startswith(f"seig render: {bad}:2: program: ValueError") and "\\ud800" in lines[0]
    assert lines[1].startswith(f"seig render: {loop}: timeout")
    assert (tmp_path / "out/victim_b.png").exists() and (tmp_path / "out/gadget.png").exists()
    assert not list(bait.target.iterdir())


def test_the_node_settings_gadget_is_a_real_escape_from_layer_one(bait, workers):
    """A second route to full Python past the static checker and the restricted builtins: the
    node-add operator's helper evals each setting's `value`, and a function object carries any
    attribute. What the payload then tries is refused by the kernel layers, one by one."""
    result = workers["full"].render(RenderRequest(program=bait.program(HOSTILE / "gadget_node_settings.py"), **TINY))
    assert jail_state.sysv_left({IPC_KEY + 3}, result.record.pid) == []
    message = result.error.message if result.error else ""
    assert "ESCAPED" in message, result.error
    for refused in ("read refused", "chmod refused", "renice helper refused", "shmget -1"):
        assert refused in message, message


def test_signals_through_sigio_need_no_landlock_scope(bait):
    """Landlock scopes signals only from ABI 6 (Linux 6.12): seccomp alone must keep a job from
    having the kernel signal another process for it (F_SETOWN + F_SETSIG on a pipe it writes)."""
    config = WorkerConfig(threads=1, sandbox="os_only", job_timeout_s=LIMIT_S, skip_layers=["landlock_scope"])
    states = {}
    with BlenderWorker(config) as worker:
        worker.start()
        zygote = worker.pid
        try:
            result = worker.render(RenderRequest(program=bait.program(HOSTILE / "sigio_owner.py"), **TINY))
            for name, pid in [("helper", bait.helper.pid), ("zygote", zygote)]:
                stat_line = Path(f"/proc/{pid}/stat")
                states[name] = stat_line.read_text().rsplit(")", 1)[1].split()[0] if stat_line.exists() else "gone"
        finally:
            for pid in (bait.helper.pid, zygote):
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
    assert "landlock_scope" not in " ".join(result.record.layers) and "seccomp" in result.record.layers
    assert all(state in ("S", "R") for state in states.values()), states


def test_a_slow_parent_still_gets_the_layers_the_child_wrote(bait, workers, monkeypatch):
    """A program can open its own reply pipe for reading. If the parent has not read the
    "confined" frame yet when the program starts (a loaded machine: here a parent that waits
    a second), the program must not be able to take it and write other layers."""
    read = framing.read_until_eof

    def slow_read(fd, deadline, *args, **kwargs):
        time.sleep(1.0)
        return read(fd, deadline, *args, **kwargs)

    monkeypatch.setattr(framing, "read_until_eof", slow_read)
    result = workers["os_only"].render(RenderRequest(program=bait.program(HOSTILE / "pipe_reopen_forge.py"), **TINY))
    assert FORGED not in result.record.layers, result.record.layers
    assert result.ok is False and result.error.kind == "protocol", result.error  # its extra frame is refused


def test_a_kill_that_comes_after_the_job_ended_does_not_fail_the_next_job(workers, box_program):
    """The parent kills at its deadline; a job can end on its own at that very moment (its
    RLIMIT_CPU runs out with the wall clock). The late "kill" once got an "error" reply that the
    next job's fork read as a refusal: one program could fail another's job."""
    worker = workers["os_only"]
    assert worker.render(RenderRequest(program=box_program, **TINY)).ok
    worker._zygote.kill_job()  # as the parent does when its deadline passes just after the exit
    after = worker.render(RenderRequest(program=box_program, **TINY))
    assert after.ok, after.error


def _raw(number: int, *args) -> object:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    value = libc.syscall(number, *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    return errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()) if value < 0 else value


def _under_the_filter(checks: dict, memory_limited: bool) -> dict:
    """Run each check in a forked child under the job child's seccomp filter alone (no
    Landlock): name -> its value, or the errno name it failed with."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read_end)
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(38, 1, 0, 0, 0)  # no_new_privs, as confine() does first
            libc.prctl(4, 0, 0, 0, 0)  # not dumpable
            jail._seccomp(os.getpid(), jail.compile_filter(memory_limited))
            out = {}
            for name, call in checks.items():
                try:
                    out[name] = call()
                except OSError as exc:
                    out[name] = errno.errorcode.get(exc.errno, exc.errno)
            os.write(write_end, json.dumps(out, default=str).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    data = b"".join(iter(lambda: os.read(read_end, 65536), b""))
    os.close(read_end)
    os.waitpid(pid, 0)
    assert data, "the filtered child reported nothing (the filter did not load?)"
    return json.loads(data)


def test_the_seccomp_filter_alone(tmp_path):
    """Each rule without Landlock behind it: 32-bit arguments compared on their low half (a high
    bit set once made prctl(PR_SET_DUMPABLE) pass), syscalls newer than libseccomp's table
    refused (setxattrat passed), metadata, System V IPC, other processes, set-uid modes, SIGIO
    owners, file leases (a lease on a library stalls every process that opens it), inotify (its
    watches named files in dirs Landlock hides) and memfd refused; what a render needs works."""
    parent = os.getpid()
    nice = os.getpriority(os.PRIO_PROCESS, parent)
    plain = tmp_path / "plain"
    plain.write_text("x")
    checks = {
        "dumpable, high bits set": lambda: _raw(157, 4 | (1 << 32), 1),
        "dumpable after": lambda: _raw(157, 3),
        "setxattrat": lambda: _raw(463, -100, b"/", 0, b"user.x", None, 0),
        "file_setattr": lambda: _raw(469, -100, b"/", None, 0, 0),
        "chmod": lambda: os.chmod(plain, 0o600),
        "utime": lambda: os.utime(plain, (0, 0)),
        "shmget": lambda: _raw(29, 0, 4096, 0o1600),
        "prlimit of another": lambda: resource.prlimit(parent, resource.RLIMIT_CORE),
        "own rlimit": lambda: resource.getrlimit(resource.RLIMIT_CORE)[0] >= 0,
        "renice another": lambda: os.setpriority(os.PRIO_PROCESS, parent, nice),
        "renice itself": lambda: os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0)) or "ok",
        "affinity of another": lambda: os.sched_setaffinity(parent, os.sched_getaffinity(parent)),
        "set-uid file": lambda: os.open(tmp_path / "suid", os.O_CREAT | os.O_WRONLY, 0o4755),
        "plain new file": lambda: os.open(tmp_path / "new", os.O_CREAT | os.O_WRONLY, 0o644) > 0,
        "F_SETOWN": lambda: fcntl.fcntl(os.pipe()[0], fcntl.F_SETOWN, parent),
        "F_SETOWN, high bits set": lambda: _raw(72, os.pipe()[0], 8 | (1 << 32), parent),
        "lease": lambda: fcntl.fcntl(os.open(plain, os.O_RDONLY), fcntl.F_SETLEASE, fcntl.F_RDLCK),
        "fork": lambda: os.fork(),
        "memfd": lambda: os.memfd_create("x") > 0,
        "inotify": lambda: _raw(294, 0),
        "a thread": lambda: _thread_runs(),
    }
    got = _under_the_filter(checks, memory_limited=True)
    assert got == {
        "dumpable, high bits set": "EPERM", "dumpable after": 0, "setxattrat": "ENOSYS", "file_setattr": "ENOSYS",
        "chmod": "EPERM", "utime": "EPERM", "shmget": "EPERM", "prlimit of another": "EPERM", "own rlimit": True,
        "renice another": "EPERM", "renice itself": "ok", "affinity of another": "EPERM", "set-uid file": "EPERM",
        "plain new file": True, "F_SETOWN": "EPERM", "F_SETOWN, high bits set": "EPERM", "lease": "EPERM",
        "fork": "EPERM",
        "memfd": "EPERM", "inotify": "EPERM", "a thread": True}, got
    assert not (tmp_path / "suid").exists()
    # no RLIMIT_AS on a GPU worker, so nothing for memfd to dodge there: it stays allowed
    assert _under_the_filter({"memfd": lambda: os.memfd_create("x") > 0}, memory_limited=False) == {"memfd": True}


def _thread_runs() -> bool:
    done = []
    thread = threading.Thread(target=lambda: done.append(1))
    thread.start()
    thread.join()
    return done == [1]


def test_remove_tree_takes_whatever_a_job_leaves(tmp_path):
    """Dirs of mode 0 and 0311, a tree deeper than Python's recursion limit, a FIFO and a link
    to a file outside: all removed (without CAP_DAC_OVERRIDE too), the link's target untouched."""
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    job = tmp_path / "job"
    (job / "locked" / "inner").mkdir(parents=True)
    (job / "locked" / "inner" / "blob").write_text("x")
    (job / "traverse").mkdir()
    (job / "traverse" / "file").write_text("x")
    os.mkfifo(job / "fifo")
    os.symlink(outside, job / "link")
    level = os.open(job, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(sys.getrecursionlimit() + 50):
        os.mkdir("d", 0o700, dir_fd=level)
        deeper = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=level)
        os.close(level)
        level = deeper
    os.close(level)
    os.chmod(job / "locked", 0)
    os.chmod(job / "traverse", 0o311)
    os.chmod(job, 0o500)
    assert remove_tree(str(job)) == 0 and not job.exists()
    assert outside.read_text() == "keep" and remove_tree(str(job)) == 0


@pytest.mark.skipif(NOCAPS, reason="this is the re-run")
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is not installed")
def test_jail_holds_with_every_capability_dropped():
    """The whole module again, with an empty bounding set: how a default pod runs."""
    res = subprocess.run(["setpriv", "--bounding-set=-all", "--inh-caps=-all", sys.executable, "-m", "pytest", "-q",
                          "-p", "no:cacheprovider", str(Path(__file__)), "-k", "not every_capability_dropped"],
                         cwd=ROOT, capture_output=True, text=True, timeout=900,
                         env={**{k: v for k, v in os.environ.items() if not k.startswith(("SEIG_TEST_", "PYTEST_XDIST"))},
                              "SEIG_JAIL_PASS": "nocaps"})  # the inner run is not the suite's: no progress file
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert " passed" in res.stdout and " failed" not in res.stdout
