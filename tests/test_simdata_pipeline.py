"""The main job writes the dataset: every sample's files before record.json, the index
and the card, and a run recovered from records gets its dataset rows back, once."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from simdata.reader import open_dataset
from pipeline.config import load_config
from pipeline.driver import run_job

ROOT = Path(__file__).resolve().parent.parent
FAST = [
    "reconstruct.long_side=48", "reconstruct.samples=1", "reconstruct.offline.candidates=1",
    "reconstruct.rounds={geometry: 1, materials: 0, composition: 0, lighting: 0}",
    "reconstruct.keep_round_renders=false", "actors.count=1",
    "dataset.long_side=64", "dataset.samples=1", "dataset.variants=1",
]
FILES = {"rgb.png", "depth.png", "depth.npy", "depth_preview.png", "semantic.png", "semantic_preview.png",
         "instance.png", "normal.png", "camera.json", "objects.json", "scene.glb", "scene.usdc"}


def test_main_job_writes_a_dataset_the_reader_loads(ray_local, tmp_path, photos):
    manifest = tmp_path / "m.parquet"
    pq.write_table(pa.table({"image_id": ["street"], "uri": [str(photos[-1])]}), manifest)
    cfg = load_config(ROOT / "configs/local.yaml", FAST + [f"run.manifest={manifest}", f"run.output={tmp_path / 'out'}",
                                                           "run.run_id=ds"])
    assert cfg.dataset.enabled and load_config(ROOT / "configs/local.yaml").dataset.variants == 2
    summary = run_job(cfg, progress=False)
    assert summary.ok == 1, summary
    run = tmp_path / "out" / "ds"
    image = run / "scenes" / "street"
    record = json.loads((image / "record.json").read_text())
    assert record["dataset"]["failed"] == []
    for n in ("00", "01"):
        folder = image / "samples" / n
        assert {p.name for p in folder.iterdir()} == FILES
        for f in folder.iterdir():  # listed in the record, and written before it (the done marker)
            entry = record["artifacts"][f"samples/{n}/{f.name}"]
            assert entry["bytes"] == f.stat().st_size
            assert f.stat().st_mtime_ns <= (image / "record.json").stat().st_mtime_ns
    assert "variants/01.py" in record["artifacts"] and (image / "variants" / "01.py").exists()
    ds = open_dataset(str(run / "dataset"))
    assert [(s.row["image_id"], s.row["variant"]) for s in ds] == [("street", 0), ("street", 1)]
    sample = ds[1]
    assert sample.rgb.shape[1] == 64 and sample.depth.shape == sample.semantic.shape == sample.rgb.shape[:2]
    assert abs(sum(v for k, v in sample.row.items() if k.startswith("frac_")) - 1.0) < 1e-6
    card = (run / "dataset" / "README.md").read_text()
    assert "samples: 2; images: 1" in card

    # A driver killed before it flushed: no results or index parts. The rerun recovers the
    # image from its record, rebuilds both, and renders nothing again.
    crash = [run / "results", tmp_path / "out" / "_seig"]  # a killed driver never updates the done-index
    for folder in crash:
        shutil.rmtree(folder)
    shutil.rmtree(run / "dataset")
    done_at = (image / "record.json").stat().st_mtime_ns
    again = run_job(cfg, progress=False)
    assert again.recovered == 1 and again.ok == 1  # the image's task finds its record and renders nothing
    assert len(open_dataset(str(run / "dataset"))) == 2
    # The index is flushed before the results: a driver killed between the two leaves
    # samples without a row. The rerun recovers the row and does not index them twice.
    for folder in crash:
        shutil.rmtree(folder)
    third = run_job(cfg, progress=False)
    assert third.recovered == 1 and third.ok == 1
    assert (image / "record.json").stat().st_mtime_ns == done_at
    assert len(open_dataset(str(run / "dataset"))) == 2
    run_job(cfg, progress=False)
    assert len(open_dataset(str(run / "dataset"))) == 2  # nothing added twice


def test_seig_dataset_renders_an_edited_program(tmp_path):
    import subprocess
    import sys

    from scene_program.examples import street_scene
    from scene_program.writer import write_program

    program = tmp_path / "07.py"
    program.write_text(write_program(street_scene()).replace("'focal_mm': 24.0", "'focal_mm': 30.0"))
    seig = [sys.executable, "-m", "pipeline.cli", "dataset"]
    out = subprocess.run(seig + [str(program), "--out", str(tmp_path / "ds"), "--width", "64", "--height", "48",
                                 "--samples", "1", "--outputs", "rgb,camera,objects"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-1000:]
    folder = tmp_path / "ds" / "scenes" / "07" / "samples" / "00"
    assert {p.name for p in folder.iterdir()} == {"rgb.png", "camera.json", "objects.json"}
    assert json.loads((folder / "camera.json").read_text())["fx"] == 30.0 / 36.0 * 64
    assert len(open_dataset(str(tmp_path / "ds" / "dataset"))) == 1
    broken = tmp_path / "broken.py"
    broken.write_text(program.read_text().replace("def build_geometry():", "def build_geometry():\n    1 / 0"))
    bad = subprocess.run(seig + [str(broken), "--out", str(tmp_path / "bad"), "--width", "32", "--height", "32",
                                 "--samples", "1"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert bad.returncode == 1 and "sample 00 failed (program): " in bad.stderr and "ZeroDivisionError" in bad.stderr
    assert not (tmp_path / "bad" / "scenes" / "broken" / "samples").exists()
