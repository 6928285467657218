"""The batch job with real components: local Ray, real Blender, and the faults an operator
meets: killed drivers and workers, bad rows, short resources, reruns. After every attempt
each manifest entry has exactly one results row. (Storage faults: test_pipeline_storage.py.)"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import load_config
from pipeline.driver import run_job
from pipeline.preflight import PreflightError
from pipeline.resources import ResourceError
from tests.pipeline_helpers import FAST, ROOT, closed_port, job_config, one_row_each, results_rows, write_manifest


@pytest.fixture(scope="module")
def photos_dir(tmp_path_factory, photos):
    d = tmp_path_factory.mktemp("photos")
    for p in photos[:3]:
        shutil.copy(p, d / p.name)
    (d / "corrupt.jpg").write_bytes((d / photos[0].name).read_bytes()[:3000])
    (d / "notes.jpg").write_text("not an image")
    return d


def test_bad_rows_duplicates_and_reruns_leave_one_row_per_entry(ray_local, tmp_path, photos_dir):
    """A manifest with a duplicate id (different uri), invalid rows, bad photos and an
    unreachable source, run three times under one run id."""
    good = sorted(p for p in photos_dir.glob("*.jpg") if p.name not in ("corrupt.jpg", "notes.jpg"))
    unreachable = f"http://127.0.0.1:{closed_port()}/photo.jpg"
    ids = [good[0].stem, good[0].stem, "missing", "corrupt", "notes", None, "empty_uri", "a/b", "offline"]
    uris = [str(good[0]), str(good[1]), str(photos_dir / "nope.jpg"), str(photos_dir / "corrupt.jpg"),
            str(photos_dir / "notes.jpg"), str(good[1]), "", str(good[1]), unreachable]
    manifest = write_manifest(tmp_path / "m.parquet", ids, uris, lat=[float(i) for i in range(9)])
    cfg = job_config(tmp_path, manifest, "run.run_id=bad", "tasks.max_retries=1")
    first = run_job(cfg, progress=False)
    assert first.check() == [], first.model_dump()
    assert (first.manifest_rows, first.unique_ids, first.invalid_rows, first.duplicates) == (9, 5, 3, 1)
    assert first.conflicting_ids == 1 and first.duplicate_examples[0]["image_id"] == good[0].stem
    assert sorted(first.duplicate_examples[0]["uris"]) == sorted([str(good[0]), str(good[1])])
    assert any("different uris" in w for w in first.warnings) and "WARNING" in first.text()
    rows = one_row_each(results_rows(str(tmp_path / "out"), "bad"))
    assert len(rows) == 8  # 5 images + 3 invalid rows; the duplicate row has none
    kinds = {k: (r["status"], r["error_kind"]) for k, r in rows.items()}
    assert kinds[good[0].stem] == ("ok", None) and rows[good[0].stem]["uri"] == str(good[0])  # the first row ran
    assert rows[good[0].stem]["lat"] == 0.0  # passthrough column of the first row
    assert kinds["missing"] == ("failed", "photo_missing") and kinds["corrupt"] == ("failed", "photo_corrupt")
    assert kinds["notes"] == ("failed", "photo_not_an_image")
    assert kinds["offline"] == ("failed", "source_unreachable") and rows["offline"]["attempts"] == 2  # Ray retried once
    assert rows["missing"]["attempts"] == 1 and rows[good[0].stem]["attempts"] == 1
    manifest_errors = sorted(r["error_message"] for r in rows.values() if r["error_kind"] == "manifest")
    assert len(manifest_errors) == 3 and any("null" in m for m in manifest_errors)
    assert any("empty" in m for m in manifest_errors) and any("'a/b'" in m for m in manifest_errors)
    ok = rows[good[0].stem]
    scene = Path(ok["scene_uri"])
    assert scene.exists() and (scene.parent / "record.json").exists() and Path(ok["render_uri"]).exists()
    assert ok["final_psnr"] >= ok["initial_psnr"]
    assert "transient" in first.text() and "--run-id bad" in first.text()
    for attempt in (2, 3):  # reruns: only the transient failure runs again; nothing is written twice
        again = run_job(cfg, progress=False)
        assert again.check() == [], again.model_dump()
        assert again.attempt == attempt and again.submitted == 1 and again.retried_by_kind == {"source_unreachable": 1}
        assert again.kept_ok == 1 and again.kept_failed == 6 and again.invalid_written == 0
        assert again.kept_failed_by_kind == {"manifest": 3, "photo_missing": 1, "photo_corrupt": 1,
                                             "photo_not_an_image": 1}
        rows = one_row_each(results_rows(str(tmp_path / "out"), "bad"))
        assert len(rows) == 8 and rows["offline"]["attempts"] == 2 * attempt  # attempts add up over reruns
        assert f"attempt {attempt}" in again.text() and "kept from earlier attempts" in again.text()


def test_preflight_names_the_field_before_ray_starts(tmp_path):
    import ray

    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"image_id": ["a"]}), bad)
    started = ray.is_initialized()
    with pytest.raises(PreflightError, match=r"^run\.manifest: .*missing required column\(s\) uri"):
        run_job(job_config(tmp_path, bad), progress=False)
    pq.write_table(pa.table({"image_id": ["a"], "uri": ["x.jpg"], "focal_length_35mm": ["35 mm"]}), bad)
    with pytest.raises(PreflightError, match=r"^run\.manifest: .*'focal_length_35mm' must be a number"):
        run_job(job_config(tmp_path, bad), progress=False)
    pq.write_table(pa.table({"image_id": ["a"], "uri": ["x.jpg"], "camera_height_m": ["2 m"]}), bad)
    with pytest.raises(PreflightError, match=r"^run\.manifest: .*'camera_height_m' must be a number \(metres\)"):
        run_job(job_config(tmp_path, bad), progress=False)
    with pytest.raises(PreflightError, match=r"^run\.manifest: .*nope\.parquet: no such file"):
        run_job(job_config(tmp_path, tmp_path / "nope.parquet"), progress=False)
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "file").write_text("a file where the output folder should be")
    good = write_manifest(tmp_path / "m.parquet", ["a"], ["x.jpg"])
    with pytest.raises(PreflightError, match=r"^run\.output: .* is not writable"):
        run_job(job_config(tmp_path, good, output=ro / "file"), progress=False)
    empty = write_manifest(tmp_path / "empty.parquet", [], [])
    summary = run_job(job_config(tmp_path, empty, "run.run_id=empty"), progress=False)
    assert summary.manifest_rows == 0 and summary.submitted == 0 and summary.check() == []
    assert ray.is_initialized() == started  # nothing to run: Ray was never started


def test_resources_are_checked_at_start_and_watched_while_running(ray_local, tmp_path, photos):
    manifest = write_manifest(tmp_path / "m.parquet", ["a", "b", "c"], [str(p) for p in photos[:3]])
    t0 = time.monotonic()
    with pytest.raises(ResourceError, match=r"actors.count 2 x actors.num_cpus 1 \+ tasks.num_cpus 0.1 = 2.1 CPUs"):
        run_job(job_config(tmp_path, manifest, "actors.num_cpus=1"), progress=False)
    assert time.monotonic() - t0 < 10
    # on a cluster (an autoscaler might add nodes) the same shortfall is caught while running:
    # tasks that can never fit beside the actors (a 2-CPU node: 2 x 1 held, each task needs 2.5),
    cfg = job_config(tmp_path, manifest, "ray.address=auto", "actors.num_cpus=1", "tasks.num_cpus=2.5",
               "ray.resource_wait_s=4", "metrics.actor_poll_s=1", "run.run_id=starved", "dataset.enabled=false")
    t0 = time.monotonic()
    summary = run_job(cfg, progress=False)
    assert time.monotonic() - t0 < 60
    assert summary.aborted and "no stage task could start" in summary.aborted and "actors.num_cpus" in summary.aborted
    assert summary.not_run == 3 and summary.check() == []
    rows = one_row_each(results_rows(str(tmp_path / "out"), "starved"))
    assert {r["error_kind"] for r in rows.values()} == {"aborted"} and len(rows) == 3
    # and an actor that can never start beside the first (1.5 + 1.5 CPUs on 2)
    cfg = job_config(tmp_path, manifest, "ray.address=auto", "actors.num_cpus=1.5", "tasks.num_cpus=0.1",
               "ray.resource_wait_s=4", "metrics.actor_poll_s=1", "run.run_id=starved2", "dataset.enabled=false")
    summary = run_job(cfg, progress=False)
    assert summary.aborted and "1 of 2 render actors did not start within 4 s" in summary.aborted, summary.aborted
    assert "actors.num_cpus" in summary.aborted and summary.check() == []


def test_a_config_with_only_reconstruct_runs_on_two_cores(ray_local, tmp_path, photos):
    """Every other section at its defaults (2 actors x 1 CPU would hold both cores)."""
    config = tmp_path / "only.yaml"
    config.write_text("reconstruct:\n  long_side: 48\n  samples: 1\n  offline: {candidates: 1}\n"
                      "  rounds: {geometry: 1, materials: 0, composition: 0, lighting: 0}\n")
    manifest = write_manifest(tmp_path / "m.parquet", ["a"], [str(photos[0])])
    cfg = load_config(config, [f"run.manifest={manifest}", f"run.output={tmp_path / 'out'}", "run.run_id=only"])
    assert cfg.actors.num_cpus == 1.0 and "num_cpus" not in cfg.actors.model_fields_set
    summary = run_job(cfg, progress=False)
    assert summary.ok == 1 and summary.check() == []


def _child_pids(pattern: str) -> list[int]:
    """Descendants of this process (Ray's raylet and workers, their Blender zygotes and job
    children) whose command line holds `pattern`: never another test run's processes."""
    parents, cmds = {}, {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                stat = Path(f"/proc/{pid}/stat").read_bytes()
                cmds[int(pid)] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            parents[int(pid)] = int(stat.rsplit(b")", 1)[1].split()[1])

    def ours(pid: int) -> bool:
        for _ in range(64):
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
            if pid <= 1:
                return False
        return False

    return sorted(pid for pid, cmd in cmds.items() if pattern in cmd and ours(pid))


def test_killing_blender_and_an_actor_mid_run_loses_no_image(ray_local, tmp_path, photos):
    ids = [f"img{i}" for i in range(6)]
    uris = [str(photos[i % len(photos)]) for i in range(6)]
    manifest = write_manifest(tmp_path / "m.parquet", ids, uris)
    cfg = job_config(tmp_path, manifest, "run.run_id=faults",
               "reconstruct.rounds={geometry: 2, materials: 1, composition: 1, lighting: 0}")
    killed = {"blender": 0, "actor": 0}

    def chaos():
        deadline = time.time() + 180
        while time.time() < deadline and not killed["blender"]:
            pids = _child_pids("blender_actors.zygote")  # a zygote or a job child forked from it
            if pids:
                time.sleep(1)
                os.kill(pids[0], 9)
                killed["blender"] += 1
            time.sleep(0.2)
        while time.time() < deadline and not killed["actor"]:  # mid-run: some images done, not all
            done = len(list((tmp_path / "out" / "faults" / "scenes").glob("*/record.json")))
            actors = _child_pids("ray::BlenderActor")
            if 1 <= done < len(ids) - 1 and actors:
                os.kill(actors[0], 9)
                killed["actor"] += 1
            time.sleep(0.2)

    t = threading.Thread(target=chaos, daemon=True)
    t.start()
    summary = run_job(cfg, progress=False)
    t.join(timeout=5)
    assert killed == {"blender": 1, "actor": 1}
    rows = one_row_each(results_rows(str(tmp_path / "out"), "faults"))
    assert sorted(rows) == ids and summary.ok + summary.failed == 6 and summary.check() == []
    assert all(r["status"] == "ok" for r in rows.values()), [(r["image_id"], r["error_message"]) for r in rows.values()]
    # real counts: an image whose task met the dying actor was retried by Ray (2 or more, when the
    # kill landed during one of its renders); the others ran once (not a blanket max_retries + 1)
    attempts = sorted(r["attempts"] for r in rows.values())
    assert attempts[0] == 1 and attempts[-1] <= 1 + 6 * cfg.tasks.max_retries, attempts


def _settled_records(scenes: Path, quiet_s: float = 5.0, limit_s: float = 90.0) -> dict[str, int]:
    """The images with a record.json once none has appeared or changed for `quiet_s`: the
    driver's SIGKILL does not stop a Ray task that is writing its image's last files."""
    def snapshot() -> dict[str, int]:
        return {p.parent.name: p.stat().st_mtime_ns for p in scenes.glob("*/record.json")}

    seen, since, start = snapshot(), time.time(), time.time()
    while time.time() - since < quiet_s and time.time() - start < limit_s:
        time.sleep(0.5)
        now = snapshot()
        if now != seen:
            seen, since = now, time.time()
    return seen


def test_driver_killed_mid_run_then_rerun_recovers_rows_with_every_column(tmp_path, photos):
    ids = [f"img{i}" for i in range(6)]
    unreachable = f"http://127.0.0.1:{closed_port()}/photo.jpg"
    uris = [str(photos[i % len(photos)]) for i in range(5)] + [unreachable]
    manifest = write_manifest(tmp_path / "m.parquet", ids, uris, note=[f"note {i}" for i in range(6)])
    out = tmp_path / "out"
    args = [sys.executable, "-m", "pipeline", "run", "--config", "configs/local.yaml", "--manifest", manifest,
            "--output", str(out), "--run-id", "killed", "--no-progress"] + [a for f in FAST for a in ("--set", f)]
    args += ["--set", "run.max_in_flight=2", "--set", "run.results_flush_rows=1000", "--set", "run.results_flush_s=1000",
             "--set", "tasks.max_retries=1", "--set", f"run.log_dir={tmp_path / 'logs'}"]
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    driver = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 240
    records = []
    while time.time() < deadline and len(records) < 2:
        records = sorted(out.glob("killed/scenes/*/record.json"))
        time.sleep(0.5)
    driver.kill()
    driver.wait()
    assert 2 <= len(records) < 5, "the driver should die mid-run"
    assert not list(out.glob("killed/results/*.parquet"))  # no row was flushed: every finished image needs its record
    finished = _settled_records(out / "killed" / "scenes")  # a task running at the kill may still finish its image
    res = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    rows = one_row_each(results_rows(str(out), "killed"))
    assert sorted(rows) == ids
    assert all(rows[i]["status"] == "ok" for i in ids[:5]) and rows["img5"]["error_kind"] == "source_unreachable"
    assert all(rows[i]["note"] == f"note {i[3:]}" for i in ids)  # recovered rows carry the manifest's columns
    for image_id, mtime in finished.items():  # finished before the kill: not redone
        assert (out / "killed/scenes" / image_id / "record.json").stat().st_mtime_ns == mtime
    assert f"{len(finished)} of them recovered from their records" in res.stdout
    # clean output: the summary alone on stdout; Ray's retry traceback of img5 went to the log
    assert not re.search(r"\(raylet\)|Traceback|retries remaining|Token authentication", res.stdout), res.stdout
    log = re.search(r"^log: (.+)$", res.stdout, re.M).group(1)
    assert Path(log).exists() and "retries remaining" in Path(log).read_text()
    assert res.stdout.startswith("run killed: ")


def test_nightly_increment_uses_the_done_index(ray_local, tmp_path, photos):
    from pipeline.done_index import DoneIndex, index_root

    out = tmp_path / "out"
    first = write_manifest(tmp_path / "night1.parquet", ["a", "b"], [str(photos[0]), str(photos[1])])
    run_job(job_config(tmp_path, first, "dataset.enabled=false", "run.run_id=night1"), progress=False)
    index = DoneIndex.load(str(out))
    assert set(index.runs) == {"night1"} and index.rows == 2
    grown = write_manifest(tmp_path / "night2.parquet", ["a", "b", "c"], [str(photos[0]), str(photos[1]), str(photos[2])])
    summary = run_job(job_config(tmp_path, grown, "dataset.enabled=false", "run.run_id=night2"), progress=False)
    assert summary.done_earlier_runs == 2 and summary.submitted == 1 and summary.check() == []
    assert [r["image_id"] for r in results_rows(str(out), "night2")] == ["c"]
    assert set(DoneIndex.load(str(out)).runs) == {"night1", "night2"}
    shutil.rmtree(index_root(str(out)))  # derived data: deleting it only costs a reread
    again = run_job(job_config(tmp_path, grown, "dataset.enabled=false", "run.run_id=night3"), progress=False)
    assert again.done_earlier_runs == 3 and again.submitted == 0
    assert set(DoneIndex.load(str(out)).runs) == {"night1", "night2", "night3"}
    none = run_job(job_config(tmp_path, grown, "dataset.enabled=false", "run.run_id=night4", "run.history=[]"), progress=False)
    assert none.submitted == 3  # history switched off: everything again
