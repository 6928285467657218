"""One registry of error kinds, and everything that speaks about kinds agrees with it:
the alert rules, the runbook (docs/operating.md and the README), the metrics, and the
code that produces kinds (photos, storage, the VLM backend, Ray)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pipeline.kinds import KINDS, OUTCOMES, STORAGE_KINDS, alert_exclusions, classify, is_final, markdown_table

ROOT = Path(__file__).resolve().parent.parent


def test_every_kind_is_complete():
    for k in KINDS.values():
        assert re.fullmatch(r"[a-z][a-z_]*", k.name) and k.meaning and k.action, k
        assert not (k.retry_now and not k.transient), f"{k.name}: retried now but final for a rerun"
    assert set(STORAGE_KINDS) <= set(KINDS) and "ok" in OUTCOMES and "failed" in OUTCOMES
    assert is_final("ok", None) and is_final("failed", "photo_corrupt")
    assert not is_final("failed", "storage_denied") and not is_final("failed", "aborted")
    assert not is_final("failed", "no_such_kind_from_a_newer_version") and not is_final("degraded?", None)


def test_the_runbook_lists_every_kind_as_the_registry_says():
    table = markdown_table()
    for doc in ("docs/operating.md", "README.md"):
        assert table in (ROOT / doc).read_text(), f"{doc}: regenerate the table with `python -m pipeline.kinds`"


def test_alerts_leave_out_exactly_the_registrys_non_failures():
    rules = yaml.safe_load((ROOT / "dashboards/alerts.yml").read_text())["groups"][0]["rules"]
    rates = [r["expr"] for r in rules if r["alert"] in ("SeigHighFailureRate", "SeigMostImagesFailing")]
    assert len(rates) == 2
    for expr in rates:
        excluded = re.findall(r'kind!~"([^"]+)"', expr)
        assert excluded and all(sorted(e.split("|")) == alert_exclusions() for e in excluded), expr
    storage = next(r["expr"] for r in rules if r["alert"] == "SeigStorageFailing")
    assert sorted(re.search(r'kind=~"([^"]+)"', storage).group(1).split("|")) == sorted(STORAGE_KINDS)
    for rule in rules:
        assert rule["annotations"]["runbook"] == f"docs/operating.md#{rule['alert'].lower()}"
        assert f"### {rule['alert']}" in (ROOT / "docs/operating.md").read_text()


def test_metrics_know_every_kind_from_the_start():
    from prometheus_client import generate_latest

    from pipeline.metrics import Metrics

    text = generate_latest(Metrics().registry).decode()
    for name in KINDS:
        assert f'seig_images_total{{kind="{name}",status="failed"}} 0.0' in text


def test_photo_and_storage_failures_map_to_registered_kinds(tmp_path):
    from pipeline.storage import StorageError, read_bytes, write_bytes
    from stages.photo import PhotoError, load

    for short in ("missing", "empty", "not_an_image", "corrupt", "too_large", "too_small", "unreadable",
                  "unreachable", "denied"):
        kind, _ = classify(PhotoError(short, "x"))
        assert kind in KINDS, short
    with pytest.raises(PhotoError) as err:
        load(f"http://127.0.0.1:{_closed_port()}/x.jpg")
    assert classify(err.value)[0] == "source_unreachable"
    with pytest.raises(PhotoError) as err:
        load(str(tmp_path / "nope.jpg"))
    assert classify(err.value)[0] == "photo_missing"
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError) as err:
        write_bytes(str(tmp_path / "file" / "below"), b"x")
    assert err.value.kind == "storage_denied" and classify(err.value)[0] == "storage_denied"
    with pytest.raises(FileNotFoundError):
        read_bytes(str(tmp_path / "nope"))


def test_ray_and_backend_failures_map_to_registered_kinds():
    import ray.exceptions as rex

    from stages.backends.base import BackendError

    assert classify(BackendError("timeout", "x", retryable=True))[0] == "vlm_unreachable"
    assert classify(BackendError("contract", "x"))[0] == "vlm_error"
    assert classify(rex.WorkerCrashedError())[0] == "worker_lost"
    assert classify(rex.TaskCancelledError())[0] == "aborted"
    assert classify(RuntimeError("boom")) == ("internal", "RuntimeError: boom")


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_vlm_failure_kind_is_registered():
    """The VLM client names its failures (stages.backends.vlm.errors); each must be a kind
    the rerun policy, the alerts and the runbook know, not an `internal` by default."""
    from stages.backends.vlm.errors import FAILURE_KINDS

    assert set(FAILURE_KINDS.values()) <= set(KINDS)
    assert KINDS["vlm_unreachable"].transient and KINDS["vlm_auth"].transient  # a rerun retries, once fixed
    assert not KINDS["vlm_cut_off"].transient  # the image's own reply: kept
    assert "degraded" in OUTCOMES and not OUTCOMES["degraded"].done  # later runs redo a degraded image
