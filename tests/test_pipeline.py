"""The batch job with real components: local Ray, real Blender, a real S3 endpoint."""
from __future__ import annotations

import os
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
from pipeline.manifest import ManifestError

ROOT = Path(__file__).resolve().parent.parent
FAST = [
    "reconstruct.long_side=48", "reconstruct.samples=1", "reconstruct.offline.candidates=1",
    "reconstruct.rounds={geometry: 1, materials: 1, composition: 0, lighting: 0}",
    "reconstruct.keep_round_renders=false", "run.results_flush_rows=1", "actors.count=2",
]


def _manifest(path: Path, ids: list, uris: list, **extra) -> str:
    cols = {"image_id": pa.array(ids, pa.string()), "uri": pa.array(uris, pa.string())}
    cols.update({k: pa.array(v) for k, v in extra.items()})
    pq.write_table(pa.table(cols), path)
    return str(path)


def _results(output: str, run_id: str, **opts):
    import fsspec

    fs, path = fsspec.core.url_to_fs(f"{output}/{run_id}/results", **opts)
    return pq.ParquetDataset(fs.glob(path + "/*.parquet"), filesystem=fs).read().to_pylist()


def _cfg(tmp_path, manifest, *more, output=None):
    return load_config(ROOT / "configs/local.yaml", FAST + [f"run.manifest={manifest}",
                                                            f"run.output={output or tmp_path / 'out'}", *more])


@pytest.fixture(scope="module")
def photos_dir(tmp_path_factory, photos):
    d = tmp_path_factory.mktemp("photos")
    for p in photos[:3]:
        shutil.copy(p, d / p.name)
    (d / "corrupt.jpg").write_bytes((d / photos[0].name).read_bytes()[:3000])
    (d / "notes.jpg").write_text("not an image")
    return d


def test_bad_rows_fail_alone_and_duplicates_run_once(ray_local, tmp_path, photos_dir):
    good = sorted(p for p in photos_dir.glob("*.jpg") if p.name not in ("corrupt.jpg", "notes.jpg"))
    ids = [good[0].stem, good[0].stem, "missing", "corrupt", "notes", None, "empty_uri", "a/b"]
    uris = [str(good[0]), str(good[0]), str(photos_dir / "nope.jpg"), str(photos_dir / "corrupt.jpg"),
            str(photos_dir / "notes.jpg"), str(good[1]), "", str(good[1])]
    manifest = _manifest(tmp_path / "m.parquet", ids, uris, lat=[1.5] * 8)
    summary = run_job(_cfg(tmp_path, manifest, "run.run_id=bad"), progress=False)
    rows = _results(str(tmp_path / "out"), "bad")
    by_id = {}
    for r in rows:
        by_id.setdefault(r["image_id"], []).append(r)
    assert summary.duplicates == 1 and summary.manifest_rows == 8 and summary.invalid_rows == 3
    assert len(by_id[good[0].stem]) == 1 and by_id[good[0].stem][0]["status"] == "ok"
    assert by_id[good[0].stem][0]["lat"] == 1.5  # passthrough column
    assert by_id["missing"][0]["error_kind"] == "photo_missing"
    assert by_id["corrupt"][0]["error_kind"] == "photo_corrupt"
    assert by_id["notes"][0]["error_kind"] == "photo_not_an_image"
    manifest_errors = [r["error_message"] for r in rows if r["error_kind"] == "manifest"]
    assert len(manifest_errors) == 3 and any("null" in m for m in manifest_errors)
    assert any("empty" in m for m in manifest_errors) and any("'a/b'" in m for m in manifest_errors)
    ok = by_id[good[0].stem][0]
    scene = Path(ok["scene_uri"])
    assert scene.exists() and (scene.parent / "record.json").exists() and Path(ok["render_uri"]).exists()
    assert ok["final_psnr"] >= ok["initial_psnr"]


@pytest.mark.parametrize("table,needle", [
    (pa.table({"image_id": ["a"]}), "missing required column(s) uri"),
    (pa.table({"image_id": pa.array([1], pa.int64()), "uri": ["x.jpg"]}), "'image_id' must be string"),
])
def test_manifest_schema_errors_are_named(tmp_path, table, needle):
    path = tmp_path / "bad.parquet"
    pq.write_table(table, path)
    with pytest.raises(ManifestError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        run_job(_cfg(tmp_path, path), progress=False)


def test_empty_manifest_and_missing_manifest(tmp_path):
    empty = _manifest(tmp_path / "empty.parquet", [], [])
    summary = run_job(_cfg(tmp_path, empty, "run.run_id=empty"), progress=False)
    assert summary.manifest_rows == 0 and summary.submitted == 0
    with pytest.raises(ManifestError, match="no such file"):
        run_job(_cfg(tmp_path, tmp_path / "nope.parquet"), progress=False)


def test_cli_config_errors_name_the_field(tmp_path):
    res = subprocess.run([sys.executable, "-m", "pipeline", "run", "--config", "configs/local.yaml",
                          "--set", "actors.count=0", "--set", "run.max_in_flight=x"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert "actors.count" in res.stderr and "run.max_in_flight" in res.stderr


def _child_pids(pattern: str) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if pattern in cmd:
                out.append(int(pid))
    return out


def test_killing_blender_and_an_actor_mid_run_loses_no_image(ray_local, tmp_path, photos):
    ids = [f"img{i}" for i in range(6)]
    uris = [str(photos[i % len(photos)]) for i in range(6)]
    manifest = _manifest(tmp_path / "m.parquet", ids, uris)
    cfg = _cfg(tmp_path, manifest, "run.run_id=faults",
               "reconstruct.rounds={geometry: 2, materials: 1, composition: 1, lighting: 0}")
    killed = {"blender": 0, "actor": 0}

    def chaos():
        deadline = time.time() + 120
        while time.time() < deadline and not killed["blender"]:
            pids = _child_pids("blender_actors.child")
            if pids:
                time.sleep(2)
                os.kill(pids[0], 9)
                killed["blender"] += 1
        time.sleep(3)
        actors = _child_pids("ray::BlenderActor")
        if actors:
            os.kill(actors[0], 9)
            killed["actor"] += 1

    t = threading.Thread(target=chaos, daemon=True)
    t.start()
    summary = run_job(cfg, progress=False)
    t.join(timeout=5)
    assert killed == {"blender": 1, "actor": 1}
    rows = _results(str(tmp_path / "out"), "faults")
    assert sorted(r["image_id"] for r in rows) == ids  # exactly one row per image
    assert summary.ok + summary.failed == 6
    assert all(r["status"] == "ok" for r in rows), [(r["image_id"], r["error_message"]) for r in rows]


def test_driver_killed_mid_run_then_rerun_finishes_without_redoing(tmp_path, photos):
    ids = [f"img{i}" for i in range(6)]
    manifest = _manifest(tmp_path / "m.parquet", ids, [str(photos[i % len(photos)]) for i in range(6)])
    out = tmp_path / "out"
    args = [sys.executable, "-m", "pipeline", "run", "--config", "configs/local.yaml", "--manifest", manifest,
            "--output", str(out), "--run-id", "killed", "--no-progress"] + [a for f in FAST for a in ("--set", f)]
    args += ["--set", "run.max_in_flight=2", "--set", "run.results_flush_rows=1000", "--set", "run.results_flush_s=1000"]
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    driver = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 240
    records = []
    while time.time() < deadline and len(records) < 2:
        records = sorted(out.glob("killed/scenes/*/record.json"))
        time.sleep(0.5)
    driver.kill()
    driver.wait()
    assert 2 <= len(records) < 6, "the driver should die mid-run"
    finished = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("killed/scenes/*/record.json")}
    res = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    rows = _results(str(out), "killed")
    assert sorted(r["image_id"] for r in rows) == ids and all(r["status"] == "ok" for r in rows)
    for image_id, mtime in finished.items():  # finished before the kill: not redone
        assert (out / "killed/scenes" / image_id / "record.json").stat().st_mtime_ns == mtime
    assert f"{len(finished)} finished images recovered" in res.stdout


def test_nightly_increment_processes_only_new_ids(ray_local, tmp_path, photos):
    out = tmp_path / "out"
    first = _manifest(tmp_path / "night1.parquet", ["a", "b"], [str(photos[0]), str(photos[1])])
    run_job(_cfg(tmp_path, first, "run.run_id=night1"), progress=False)
    grown = _manifest(tmp_path / "night2.parquet", ["a", "b", "c"], [str(photos[0]), str(photos[1]), str(photos[2])])
    summary = run_job(_cfg(tmp_path, grown, "run.run_id=night2"), progress=False)
    assert summary.skipped_done_earlier_runs == 2 and summary.submitted == 1
    assert [r["image_id"] for r in _results(str(out), "night2")] == ["c"]
    none = run_job(_cfg(tmp_path, grown, "run.run_id=night3", "run.history=[]"), progress=False)
    assert none.submitted == 3  # history switched off: everything again


def test_end_to_end_on_s3_with_transient_errors(ray_local, tmp_path, photos, monkeypatch):
    import s3fs

    from tests.s3_server import FaultyProxy, MotoS3

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    moto = MotoS3()
    proxy = FaultyProxy(moto.endpoint, fail_every=5)
    try:
        s3 = s3fs.S3FileSystem(client_kwargs={"endpoint_url": moto.endpoint})
        s3.mkdir("seig-in")
        s3.mkdir("seig-out")
        for p in photos[:2]:
            s3.put(str(p), f"seig-in/photos/{p.name}")
        local = _manifest(tmp_path / "m.parquet", [p.stem for p in photos[:2]],
                          [f"s3://seig-in/photos/{p.name}" for p in photos[:2]])
        s3.put(local, "seig-in/manifest.parquet")
        opts = f"run.storage_options={{client_kwargs: {{endpoint_url: '{proxy.endpoint}'}}}}"
        # the workers of ray_local have moto's credentials from conftest: secrets never travel with tasks
        cfg = _cfg(tmp_path, "s3://seig-in/manifest.parquet", "run.run_id=s3run", opts, output="s3://seig-out/runs")
        summary = run_job(cfg, progress=False)
        assert summary.ok == 2 and summary.failed == 0
        assert proxy.injected >= 3  # the run met real 503s and went on
        rows = _results("s3://seig-out/runs", "s3run", client_kwargs={"endpoint_url": moto.endpoint})
        assert sorted(r["image_id"] for r in rows) == sorted(p.stem for p in photos[:2])
        for r in rows:
            assert r["scene_uri"].startswith("s3://seig-out/runs/s3run/scenes/")
            assert s3.exists(r["scene_uri"]) and s3.exists(r["record_uri"])
        missing = _cfg(tmp_path, "s3://no-such-bucket/manifest.parquet",
                       f"run.storage_options={{client_kwargs: {{endpoint_url: '{moto.endpoint}'}}}}")
        with pytest.raises(ManifestError, match="no-such-bucket"):
            run_job(missing, progress=False)
    finally:
        proxy.stop()
        moto.stop()
