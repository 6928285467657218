"""The batch job against a real S3 endpoint (moto's server behind a proxy that injects
faults): transient 503s, a missing bucket, storage denied mid-run, a stalled endpoint. After
every attempt each manifest entry has exactly one results row. (Split from test_pipeline.py
so that the two halves run side by side under pytest-xdist.)"""
from __future__ import annotations

import re
import threading
import time

import pytest

from pipeline.driver import run_job
from pipeline.preflight import PreflightError
from tests.pipeline_helpers import AWS, job_config, one_row_each, results_rows, write_manifest


@pytest.fixture()
def s3(monkeypatch, photos, tmp_path):
    import s3fs

    from tests.s3_server import FaultyProxy, MotoS3

    for k, v in AWS.items():
        monkeypatch.setenv(k, v)
    moto = MotoS3()
    proxy = FaultyProxy(moto.endpoint, fail_every=0)
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": moto.endpoint}, skip_instance_cache=True)
    fs.mkdir("seig-in")
    fs.mkdir("seig-out")
    for p in photos[:4]:
        fs.put(str(p), f"seig-in/photos/{p.name}")
    local = write_manifest(tmp_path / "m.parquet", [p.stem for p in photos[:4]],
                      [f"s3://seig-in/photos/{p.name}" for p in photos[:4]], note=[f"n{i}" for i in range(4)])
    fs.put(local, "seig-in/manifest.parquet")
    try:
        yield fs, moto, proxy
    finally:
        proxy.stop()
        moto.stop()


def s3_job_config(tmp_path, endpoint, *more, manifest="s3://seig-in/manifest.parquet", output="s3://seig-out/runs"):
    opts = f"run.storage_options={{client_kwargs: {{endpoint_url: '{endpoint}'}}}}"
    return job_config(tmp_path, manifest, opts, *more, output=output)


def test_s3_end_to_end_with_transient_errors_and_a_missing_bucket(ray_local, tmp_path, s3):
    fs, moto, proxy = s3
    proxy.fail_every = 5
    cfg = s3_job_config(tmp_path, proxy.endpoint, "run.run_id=s3run")
    summary = run_job(cfg, progress=False)
    assert summary.ok == 4 and summary.failed == 0
    assert proxy.injected >= 3  # the run met real 503s and went on
    rows = one_row_each(results_rows("s3://seig-out/runs", "s3run", client_kwargs={"endpoint_url": moto.endpoint}))
    assert sorted(rows) == sorted(r["image_id"] for r in rows.values()) and len(rows) == 4
    for r in rows.values():
        assert r["scene_uri"].startswith("s3://seig-out/runs/s3run/scenes/")
        assert fs.exists(r["scene_uri"]) and fs.exists(r["record_uri"])
    assert fs.exists("seig-out/runs/_seig/done") and not fs.glob("seig-out/runs/_seig/probe-*")
    for manifest, output, field in (("s3://no-such-bucket/manifest.parquet", "s3://seig-out/runs", "run.manifest"),
                                    ("s3://seig-in/manifest.parquet", "s3://no-such-bucket/runs", "run.output")):
        t0 = time.monotonic()
        with pytest.raises(PreflightError, match=rf"^{re.escape(field)}: .*(bucket does not exist)"):
            run_job(s3_job_config(tmp_path, moto.endpoint, manifest=manifest, output=output), progress=False)
        assert time.monotonic() - t0 < 10


def test_storage_denied_mid_run_then_rerun_of_the_run_id(ray_local, tmp_path, s3):
    fs, moto, proxy = s3
    cfg = s3_job_config(tmp_path, proxy.endpoint, "run.run_id=denied", "run.max_in_flight=1")
    done: list[str] = []

    def deny_after_first_image(method, path):
        if not done:
            fs.invalidate_cache()
            done.extend(fs.glob("seig-out/runs/denied/scenes/*/record.json"))
        return bool(done) and method == "PUT" and "/scenes/" in path  # artifacts denied, results rows allowed

    proxy.deny = deny_after_first_image
    first = run_job(cfg, progress=False)
    assert first.check() == [] and first.ok >= 1 and proxy.denied >= 1
    assert first.failures_by_kind.get("storage_denied", 0) >= 1 and first.results_transient >= 1
    rows = one_row_each(results_rows("s3://seig-out/runs", "denied", client_kwargs={"endpoint_url": moto.endpoint}))
    denied = sorted(k for k, r in rows.items() if r["error_kind"] == "storage_denied")
    assert denied and all(rows[k]["attempts"] == 1 for k in denied)  # not retried in-run: the policy will not change
    proxy.deny = None
    again = run_job(cfg, progress=False)
    assert again.check() == [] and again.retried_by_kind == {"storage_denied": len(denied)}
    assert again.submitted == len(denied) and again.ok == len(denied) and again.kept_ok == 4 - len(denied)
    rows = one_row_each(results_rows("s3://seig-out/runs", "denied", client_kwargs={"endpoint_url": moto.endpoint}))
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows.values())
    assert all(rows[k]["attempts"] == 2 and rows[k]["note"] for k in denied)


def test_a_stalled_storage_endpoint_is_bounded_visible_and_resumable(ray_local, tmp_path, s3, caplog):
    import logging

    fs, moto, proxy = s3
    cfg = s3_job_config(tmp_path, proxy.endpoint, "run.run_id=stalled", "run.storage_deadline_s=3", "tasks.max_retries=1",
                  "run.max_in_flight=2", "metrics.actor_poll_s=1",
                  "run.storage_options={client_kwargs: {endpoint_url: '%s'}, config_kwargs: {read_timeout: 2, "
                  "connect_timeout: 2, retries: {max_attempts: 1}}}" % proxy.endpoint)
    stalled = threading.Event()

    def stall_after_first_record():
        deadline = time.time() + 180
        while time.time() < deadline and not fs.glob("seig-out/runs/stalled/scenes/*/record.json"):
            time.sleep(0.3)
            fs.invalidate_cache()
        proxy.start_stall()
        stalled.set()

    threading.Thread(target=stall_after_first_record, daemon=True).start()
    t0 = time.monotonic()
    with caplog.at_level(logging.INFO, logger="seig"):
        first = run_job(cfg, progress=False)
    took = time.monotonic() - t0
    proxy.end_stall()
    assert stalled.is_set() and proxy.stalled > 0
    assert took < 150, f"a stalled endpoint held the job {took:.0f} s"
    assert first.aborted and "storage" in first.aborted and first.check() == [], first.text()
    assert "INCOMPLETE" in first.text() or first.results_complete
    assert any("waiting on storage for" in r.getMessage() for r in caplog.records), caplog.text
    again = run_job(cfg.model_copy(update={}), progress=False)
    assert again.check() == [] and not again.aborted
    rows = one_row_each(results_rows("s3://seig-out/runs", "stalled", client_kwargs={"endpoint_url": moto.endpoint}))
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows.values()), rows
