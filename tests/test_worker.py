"""The warm Blender worker, for real: a zygote that forks a fresh child per job; isolation
between jobs, recycling, timeouts, crashes, and nothing that outlives its parent."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from blender_actors.config import WorkerConfig
from blender_actors.protocol import RenderRequest
from blender_actors.worker import BlenderWorker

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(width=64, height=48, samples=2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_renders_png_with_record(worker, street_program):
    result = worker.render(RenderRequest(program=street_program, **TINY))
    assert result.ok, result.error
    image = Image.open(io.BytesIO(result.png))
    assert image.size == (64, 48) and image.mode == "RGB"
    rec = result.record
    assert rec.counts["objects"] == 16 and rec.counts["lights"] == 1 and rec.counts["materials"] == 14
    assert rec.device == "CPU" and rec.threads == 1
    assert rec.timings["render_s"] > 0 and rec.timings["total_s"] >= rec.timings["render_s"]


def test_same_program_renders_bit_identically(worker, box_program):
    a = worker.render(RenderRequest(program=box_program, **TINY))
    b = worker.render(RenderRequest(program=box_program, **TINY))
    assert a.ok and b.ok and a.png == b.png


def test_nothing_leaks_from_one_job_to_the_next(worker, box_program):
    cut = box_program.rindex("    return objects\n")  # the end of build_scene()
    leaker = box_program[:cut] + (
        "    extra = bpy.data.objects.new('leak', None)\n"
        "    scene.collection.objects.link(extra)\n"
        "    bpy.data.materials.new('leak_material')\n"
        "    bpy.data.images.new('leak_image', 4, 4)\n"
        "    scene['leak'] = 1\n"
    ) + box_program[cut:]
    assert leaker != box_program
    probe = (
        "import bpy\n"
        "names = [o.name for o in bpy.data.objects] + [m.name for m in bpy.data.materials]\n"
        "names += [i.name for i in bpy.data.images] + list(bpy.context.scene.keys())\n"
        "if any('leak' in n for n in names) or len(bpy.data.objects) or len(bpy.data.meshes):\n"
        "    raise RuntimeError('leaked from the previous job: ' + ', '.join(names))\n"
        "cam = bpy.data.objects.new('camera', bpy.data.cameras.new('camera'))\n"
        "bpy.context.scene.collection.objects.link(cam)\n"
        "bpy.context.scene.camera = cam\n"
    )
    first = worker.render(RenderRequest(program=leaker, **TINY))
    assert first.ok and first.record.counts["objects"] == 5  # ground, box, camera, sun + leak
    second = worker.render(RenderRequest(program=probe, **TINY))
    assert second.ok, second.error
    assert second.record.zygote_pid == first.record.zygote_pid  # same warm zygote, a fresh child, a clean scene
    assert second.record.pid != first.record.pid
    assert second.record.counts == {"objects": 1, "meshes": 0, "materials": 0, "lights": 0}


def test_program_error_names_its_line(worker, box_program):
    result = worker.render(RenderRequest(program="import bpy\n\nx = 1\ny = x / 0\n"))
    assert result.error.kind == "program" and result.error.line == 4
    assert "ZeroDivisionError" in result.error.message and "line 4" in result.error.message
    assert "seccomp" in result.record.layers and "landlock_fs(abi=7)" in " ".join(result.record.layers)
    after = worker.render(RenderRequest(program=box_program, **TINY))
    assert after.ok and not after.record.restarted


def test_program_without_camera_fails_clearly(worker):
    result = worker.render(RenderRequest(program="import bpy\n", **TINY))
    assert result.error.kind == "program" and "camera" in result.error.message


def test_rejected_program_never_reaches_blender(worker):
    pid_before = worker.pid
    result = worker.render(RenderRequest(program="import os\nos.system('true')\n"))
    assert result.error.kind == "rejected" and result.error.line == 1 and "import" in result.error.message
    assert worker.pid == pid_before


def test_recycled_after_n_jobs(box_program):
    with BlenderWorker(WorkerConfig(max_jobs_per_process=2, threads=1)) as w:
        pids = [w.render(RenderRequest(program=box_program, **TINY)).record.zygote_pid for _ in range(5)]
        assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
        assert w.stats.recycles == 2 and w.stats.starts == 3


def test_recycled_above_rss_limit(box_program):
    with BlenderWorker(WorkerConfig(max_rss_mb=64, threads=1)) as w:  # bpy alone is ~300 MB
        first = w.render(RenderRequest(program=box_program, **TINY))
        second = w.render(RenderRequest(program=box_program, **TINY))
        assert first.ok and second.ok and first.record.zygote_pid != second.record.zygote_pid
        assert second.record.restarted and w.stats.recycles == 2


def _job_child(w: BlenderWorker, timeout: float = 20.0) -> int:
    """The pid of the job child the zygote is running now."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = Path(f"/proc/{w.pid}/task/{w.pid}/children").read_text().split()
        if kids:
            return int(kids[0])
        time.sleep(0.02)
    raise AssertionError("no job child appeared")


def test_endless_loop_times_out_and_next_job_runs(box_program):
    with BlenderWorker(WorkerConfig(job_timeout_s=3, threads=1)) as w:
        w.start()
        zygote = w.pid
        seen = []
        threading.Thread(target=lambda: seen.append(_job_child(w)), daemon=True).start()
        t0 = time.monotonic()
        result = w.render(RenderRequest(program="while True:\n    pass\n"))
        assert result.error.kind == "timeout" and time.monotonic() - t0 < 10
        assert seen == [result.record.pid] and not _alive(seen[0])  # the child is gone
        after = w.render(RenderRequest(program=box_program, **TINY))
        assert after.ok and not after.record.restarted and after.record.zygote_pid == zygote  # the zygote stayed
        assert w.stats.timeouts == 1


def test_hung_render_times_out(street_program):
    with BlenderWorker(WorkerConfig(threads=1)) as w:
        result = w.render(RenderRequest(program=street_program, width=1024, height=768, samples=4096, timeout_s=3))
        assert result.error.kind == "timeout"


@pytest.mark.parametrize("sig,expect", [(signal.SIGSEGV, "SIGSEGV"), (signal.SIGABRT, "SIGABRT"),
                                        (signal.SIGKILL, "out of memory")])
def test_crash_mid_job_is_an_error_and_next_job_runs(street_program, box_program, sig, expect):
    with BlenderWorker(WorkerConfig(threads=1)) as w:
        w.start()
        zygote = w.pid

        def shoot() -> None:
            victim = _job_child(w)
            time.sleep(0.5)
            os.kill(victim, sig)

        threading.Thread(target=shoot, daemon=True).start()
        result = w.render(RenderRequest(program=street_program, width=512, height=384, samples=512, timeout_s=60))
        assert result.error.kind == "crash" and expect in result.error.message
        assert not _alive(result.record.pid)
        after = w.render(RenderRequest(program=box_program, **TINY))
        assert after.ok and after.record.zygote_pid == zygote and w.stats.crashes == 1


def test_zygote_killed_mid_job_is_a_crash_and_next_job_gets_a_fresh_one(street_program, box_program):
    with BlenderWorker(WorkerConfig(threads=1)) as w:
        w.start()
        zygote = w.pid
        threading.Timer(1.0, os.kill, (zygote, signal.SIGKILL)).start()
        result = w.render(RenderRequest(program=street_program, width=512, height=384, samples=512, timeout_s=60))
        assert result.error.kind == "crash" and not _alive(zygote) and not _alive(result.record.pid)
        after = w.render(RenderRequest(program=box_program, **TINY))
        assert after.ok and after.record.restarted and after.record.zygote_pid != zygote


def test_memory_limit_turns_a_bomb_into_a_program_error(box_program):
    with BlenderWorker(WorkerConfig(memory_limit_mb=2048, threads=1)) as w:
        bomb = "import bpy\nblocks = []\nwhile True:\n    blocks.append(bytes(100000000))\n"
        result = w.render(RenderRequest(program=bomb, timeout_s=60))
        assert result.error is not None and result.error.kind in ("program", "crash")
        assert "MemoryError" in result.error.message or "memory" in result.error.message
        assert w.render(RenderRequest(program=box_program, **TINY)).ok


def test_child_dies_with_a_sigkilled_parent():
    """SIGKILL leaves no chance to clean up: the child must go by itself (PDEATHSIG)."""
    script = (
        "import sys, time\n"
        "from blender_actors.worker import BlenderWorker\n"
        "from blender_actors.config import WorkerConfig\n"
        "w = BlenderWorker(WorkerConfig())\n"
        "w.start()\n"
        "print(w.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=ROOT, text=True)
    child_pid = int(parent.stdout.readline())
    assert _alive(child_pid)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child_pid), "Blender child outlived its SIGKILLed parent"


def test_close_leaves_no_process_and_no_workdir(box_program):
    w = BlenderWorker(WorkerConfig(threads=1))
    result = w.render(RenderRequest(program=box_program, **TINY))
    assert result.ok and not _alive(result.record.pid)  # the job child is gone after its job
    pid, workdir = w.pid, w.workdir
    assert Path(workdir).is_dir() and not list(Path(workdir).glob("job-*"))  # job dirs go after each job
    w.close()
    assert not _alive(pid) and not Path(workdir).exists()


def test_workdirs_of_dead_parents_are_swept(box_program):
    """A parent killed by SIGKILL cannot clean up: the next worker removes its work dir."""
    script = ("import time\nfrom blender_actors.worker import BlenderWorker\n"
              "w = BlenderWorker()\nw.start()\nprint(w.workdir, flush=True)\ntime.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=ROOT, text=True)
    workdir = Path(parent.stdout.readline().strip())
    assert workdir.is_dir()
    parent.kill()
    parent.wait()
    with BlenderWorker(WorkerConfig(threads=1)) as w:
        w.start()
        assert not workdir.exists() and Path(w.workdir).is_dir()


def test_a_live_workers_dir_is_never_swept_whatever_its_name_says(box_program):
    """Ownership is the flock, not the pid in the name: a parent in another PID namespace (a
    container sharing /tmp) looks dead by pid, yet its work dir must survive a sweep."""
    from blender_actors.zygote_process import sweep_stale_workdirs

    with BlenderWorker(WorkerConfig(threads=1)) as w:
        w.start()
        live = Path(w.workdir)
        masked = live.with_name("seig-blender-999999999-" + live.name.rsplit("-", 1)[1])
        live.rename(masked)  # the name now points at a pid that does not exist
        try:
            sweep_stale_workdirs()
            assert masked.is_dir()
        finally:
            masked.rename(live)
        assert w.render(RenderRequest(program=box_program, **TINY)).ok


def test_ray_actor_uses_assigned_cpus(ray_local, box_program):
    from blender_actors.actor import ActorResources, remote_actor_class

    actor = remote_actor_class(ActorResources(num_cpus=1)).remote(WorkerConfig())
    result = ray_local.get(actor.render.remote(RenderRequest(program=box_program, **TINY)))
    info = ray_local.get(actor.info.remote())
    assert result.ok and result.record.threads == 1 and result.record.device == "CPU"
    assert info["device"] == "cpu" and info["gpu_ids"] == []
    ray_local.get(actor.shutdown.remote())
    assert not _alive(info["blender_pid"])


def test_workbench_renders_inside_the_jail(worker, box_program):
    """Workbench (EGL) reads glvnd's vendor files: the job child's Landlock rules must allow them
    (stages.masks renders object masks with it)."""
    result = worker.render(RenderRequest(program=box_program, engine="BLENDER_WORKBENCH", **TINY))
    assert result.ok, result.error
    assert Image.open(io.BytesIO(result.png)).size == (64, 48)
