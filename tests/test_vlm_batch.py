"""The batch job with a VLM (real Ray, real Blender, the protocol-true fake endpoint): a
revoked key trips the job's breaker instead of a night of offline output reported as ok;
an allowed fallback is reported as degraded; and the API key never reaches a file: not
Ray's logs, not the results, not the records."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import load_config
from pipeline.driver import run_job
from tests.fake_openai import FakeOpenAI, Scripted

ROOT = Path(__file__).resolve().parent.parent
FAST = ["reconstruct.long_side=48", "reconstruct.samples=1", "reconstruct.keep_round_renders=false",
        "reconstruct.rounds={geometry: 1, materials: 1, composition: 0, lighting: 0}", "run.results_flush_rows=1",
        "actors.count=1", "run.max_in_flight=1", "reconstruct.backend=openai"]
VERDICT = '{"approve": false, "discrepancies": ["the road is too dark"]}'


def _manifest(path: Path, photos: list[Path]) -> str:
    pq.write_table(pa.table({"image_id": [f"img{i}" for i in range(len(photos))],
                             "uri": [str(p) for p in photos]}), path)
    return str(path)


def _rows(out: Path, run_id: str) -> list[dict]:
    return pq.ParquetDataset(sorted((out / run_id / "results").glob("*.parquet"))).read().to_pylist()


def _openai(fake: FakeOpenAI, **extra) -> str:
    return "reconstruct.openai=" + json.dumps({"base_url": fake.base_url, "model": "qwen2.5-vl-7b",
                                               "api_key_env": None, "max_retries": 0, **extra})


def test_a_revoked_key_trips_the_breaker_and_a_fallback_is_degraded(ray_local, tmp_path, photos):
    with FakeOpenAI(model="qwen2.5-vl-7b") as fake:
        fake.responder = lambda request: Scripted(status=401, contents=["Incorrect API key provided"])
        manifest = _manifest(tmp_path / "m.parquet", photos[:4])
        out = tmp_path / "out"
        cfg = load_config(ROOT / "configs/local.yaml", FAST + [
            f"run.manifest={manifest}", f"run.output={out}", "run.run_id=revoked",
            "run.max_consecutive_vlm_failures=2", _openai(fake)])
        summary = run_job(cfg, progress=False)
        assert summary.aborted and "the VLM failed 2 images in a row" in summary.aborted
        assert "[vlm_auth]" in summary.aborted and "refused the API key (401)" in summary.aborted
        rows = _rows(out, "revoked")  # one row per image: the two the VLM failed, two never run
        assert len(rows) == 4 and {r["status"] for r in rows} == {"failed"} and summary.ok == 0
        auth = [r for r in rows if r["error_kind"] == "vlm_auth"]
        assert len(auth) == 2 and sorted(r["error_kind"] for r in rows) == ["aborted"] * 2 + ["vlm_auth"] * 2
        assert all(r["vlm_calls"] == 1 and r["vlm_failed_calls"] == 1 for r in auth)
        assert not list(out.glob("revoked/scenes/*/record.json"))  # nothing marked done

        cfg = load_config(ROOT / "configs/local.yaml", FAST + [
            f"run.manifest={_manifest(tmp_path / 'one.parquet', photos[:1])}", f"run.output={out}",
            "run.run_id=fallback", _openai(fake, offline_fallback=True)])
        summary = run_job(cfg, progress=False)
        [row] = _rows(out, "fallback")
        assert row["status"] == "degraded" and row["error_kind"] == "vlm_auth"
        assert row["error_message"].startswith("degraded: the VLM failed (geometry round 1)")
        assert summary.degraded == 1 and summary.degraded_by_kind == {"vlm_auth": 1} and summary.ok == 0
        assert "1 degraded" in summary.text() and Path(row["record_uri"]).exists()
        record = json.loads(Path(row["record_uri"]).read_text())
        assert record["vlm"]["lost"]["kind"] == "vlm_auth" and record["vlm"]["fallback_rounds"] == 2


def test_the_api_key_never_reaches_a_file(tmp_path, photos):
    """A real job in its own Ray (its own RAY_TMPDIR), the key in the driver's environment:
    the fake endpoint sees it, no file under Ray's session folder, the results or records holds it."""
    canary = "sk-canary-" + os.urandom(12).hex()
    ray_tmp = tempfile.mkdtemp(prefix="rk", dir="/tmp")  # short: Ray's socket paths have a length limit
    try:
        with FakeOpenAI(model="qwen2.5-vl-7b") as fake:
            replies = iter(["```json\n{\"road\": {\"roughness\": 0.5}}\n```", VERDICT] * 4)
            fake.responder = lambda request: Scripted(contents=[next(replies, VERDICT)])
            out = tmp_path / "out"
            openai = json.dumps({"base_url": fake.base_url, "model": "qwen2.5-vl-7b", "api_key_env": "SEIG_CANARY",
                                 "max_retries": 0})
            args = [sys.executable, "-m", "pipeline", "run", "--config", "configs/local.yaml", "--manifest",
                    _manifest(tmp_path / "m.parquet", photos[:1]), "--output", str(out), "--run-id", "canary",
                    "--no-progress"] + [a for f in FAST + [f"reconstruct.openai={openai}"] for a in ("--set", f)]
            env = dict(os.environ, SEIG_CANARY=canary, RAY_TMPDIR=ray_tmp, RAY_AUTH_MODE="disabled")
            env.pop("RAY_ADDRESS", None)
            res = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
            assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
            assert fake.requests and all(r.headers["authorization"] == f"Bearer {canary}" for r in fake.requests)
        [row] = _rows(out, "canary")
        assert row["status"] == "ok" and row["vlm_calls"] >= 2
        assert canary not in res.stdout + res.stderr
        sessions = list(Path(ray_tmp).glob("ray/session_*")) or list(Path(ray_tmp).glob("session_*"))
        assert sessions, f"no Ray session folder under {ray_tmp}"
        searched = 0
        for root in (Path(ray_tmp), out):
            for path in root.rglob("*"):
                if path.is_file() and not path.is_symlink():
                    searched += 1
                    assert canary.encode() not in path.read_bytes(), f"the key is written in {path}"
        assert searched > 20 and any(Path(ray_tmp).rglob("runtime_env*.log"))
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
