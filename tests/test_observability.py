"""Dashboards and alerts against a real Prometheus that scraped a real job.

A real Prometheus (Debian's package, `scripts/install_prometheus.sh`) scrapes, every
second, the driver's /metrics while `run_job` processes two small manifests on local Ray
with real Blender (one with the offline backend and bad rows, one with the openai backend
against the local fake endpoint), and Ray's own per-node exporter. Then every PromQL expression of dashboards/seig.json and
dashboards/alerts.yml, extracted from the files, is evaluated through Prometheus' HTTP
API and must return data. The rules also go through `promtool check rules` and their
unit tests (`promtool test rules dashboards/alerts_test.yml`).
"""
from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.prometheus_server import PrometheusServer, binary, free_port

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "dashboards" / "seig.json"
ALERTS = ROOT / "dashboards" / "alerts.yml"
ALERT_TESTS = ROOT / "dashboards" / "alerts_test.yml"
FAST = [
    "reconstruct.long_side=48", "reconstruct.samples=1", "reconstruct.offline.candidates=1",
    "reconstruct.rounds={geometry: 1, materials: 1, composition: 0, lighting: 0}",
    "reconstruct.keep_round_renders=false", "run.results_flush_rows=1", "actors.count=2",
    "dataset.long_side=48", "dataset.samples=1", "dataset.variants=1",
]
# Grafana's variables, as the test substitutes them: with a 1 s scrape interval a 30 s
# window holds 30 samples (Grafana's $__rate_interval is at least 4 scrape intervals).
GRAFANA_VARS = {"$__rate_interval": "30s"}
# Panels on Ray's GPU metrics have no data on a CPU-only node: Ray exports them only
# where it finds a GPU. They are run (so they must parse and execute) and listed as
# reported as unverified (a warning) when empty, never silently passed.
NEEDS_GPU = re.compile(r'\bray_node_gpus_|\bray_node_gram_|\bray_resources\{Name="GPU"')
COMPARISON = re.compile(r"\s*(?:>=|<=|==|!=|>|<)\s*(?:bool\s+)?-?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?")


# --- extraction from the files ----------------------------------------------------------
def dashboard_exprs(path: Path = DASHBOARD) -> list[tuple[str, str]]:
    """(panel title [refId], expr) for every query target of every panel, rows included."""
    found: list[tuple[str, str]] = []

    def walk(node, title: str) -> None:
        if isinstance(node, dict):
            title = node.get("title", title)
            for target in node.get("targets") or []:
                if target.get("expr"):
                    found.append((f"{title} [{target.get('refId')}]", target["expr"]))
            for key, value in node.items():
                if key != "targets":
                    walk(value, title)
        elif isinstance(node, list):
            for item in node:
                walk(item, title)

    walk(json.loads(path.read_text()), "")
    return found


def alert_exprs(path: Path = ALERTS) -> list[tuple[str, str]]:
    rules = [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]
    return [(r.get("alert") or r.get("record"), r["expr"]) for r in rules]


def substitute(expr: str) -> str:
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}: add it to GRAFANA_VARS"
    return expr


def signal_of(expr: str) -> str:
    """The alert's expression with its threshold comparisons removed: the series it watches."""
    return COMPARISON.sub("", expr)


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b((?:seig|ray)_[a-z_]+)", expr))


# --- static checks ------------------------------------------------------------------------
def test_extraction_finds_every_expression():
    exprs = dashboard_exprs()
    panels = [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]
    assert len(exprs) >= len(panels) >= 30
    assert all(p.get("targets") for p in panels), "a panel without a query"
    assert {name for name, _ in alert_exprs()} >= {"SeigJobStalled", "SeigHighFailureRate", "SeigVLMErrorRateHigh",
                                                   "SeigBlenderCrashLooping"}
    assert signal_of('a / b > 0.10\nand c >= 20') == "a / b\nand c"
    assert signal_of('x{kind!="manifest"} == 1') == 'x{kind!="manifest"}'
    gpu = [e for _, e in dashboard_exprs() if NEEDS_GPU.search(e)]
    assert len(gpu) == 4 and not any("histogram_quantile" in e for e in gpu)


def test_dashboard_and_provisioning_are_well_formed():
    dash = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)) and dash["uid"] and dash["title"]
    for p in dash["panels"]:
        assert {"h", "w", "x", "y"} <= set(p["gridPos"]) and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}" and p["description"], p["title"]
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for needed in ("throughput", "success rate", "failures by kind", "stage latency p50", "stage latency p95",
                   "renders per second", "vlm tokens", "vlm cost", "blender restarts", "images in flight",
                   "ray nodes", "gpu"):
        assert needed in titles, needed
    prov = yaml.safe_load((ROOT / "dashboards/provisioning/dashboards.yaml").read_text())
    assert prov["apiVersion"] == 1 and prov["providers"][0]["type"] == "file"
    ds = yaml.safe_load((ROOT / "dashboards/provisioning/datasources.yaml").read_text())
    assert ds["datasources"][0]["type"] == "prometheus"


def test_promtool_checks_and_unit_tests_the_rules():
    promtool = binary("promtool")
    for args in (["check", "rules", str(ALERTS)], ["test", "rules", str(ALERT_TESTS)],
                 ["check", "config", str(ROOT / "dashboards" / "prometheus.yml")]):
        res = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, f"promtool {' '.join(args)}:\n{res.stdout}\n{res.stderr}"
        assert "SUCCESS" in res.stdout + res.stderr


# --- a real job, scraped ------------------------------------------------------------------
def _run_in_thread(cfg, timeout_s: float = 240):
    """run_job in a thread (the test thread meanwhile is free); returns its Summary."""
    from pipeline.driver import run_job

    outcome: dict = {}

    def job():
        try:
            outcome["summary"] = run_job(cfg, progress=False)
        except BaseException as exc:  # reported by the assertion below
            outcome["error"] = exc

    thread = threading.Thread(target=job, daemon=True)
    thread.start()
    thread.join(timeout=timeout_s)
    assert not thread.is_alive(), f"the job did not finish within {timeout_s:.0f} s"
    assert "error" not in outcome, f"the job raised {outcome.get('error')!r}"
    return outcome["summary"]


@pytest.fixture(scope="module")
def scraped(ray_local, tmp_path_factory, photos):
    """A Prometheus that scraped the driver through two real runs, and Ray's exporter.

    Run 1, offline backend: three photos, a corrupt file, an invalid row, a duplicate.
    Run 2, the openai backend against the local fake endpoint (tests/fake_openai.py): a few
    good replies, then 500s, so VLM calls, errors, latency, tokens and cost are real."""
    from pipeline.config import load_config
    from tests.fake_openai import FakeOpenAI

    tmp = tmp_path_factory.mktemp("obs")
    good = photos[:3]
    corrupt = tmp / "corrupt.jpg"
    corrupt.write_bytes(good[0].read_bytes()[:3000])
    ids = [p.stem for p in good] + ["corrupt", None, good[0].stem]
    uris = [str(p) for p in good] + [str(corrupt), str(good[1]), str(good[0])]
    pq.write_table(pa.table({"image_id": pa.array(ids, pa.string()), "uri": pa.array(uris, pa.string())}),
                   tmp / "m.parquet")
    pq.write_table(pa.table({"image_id": [p.stem for p in good[:2]], "uri": [str(p) for p in good[:2]]}),
                   tmp / "m2.parquet")
    port = free_port()
    common = FAST + [f"metrics.port={port}", "metrics.actor_poll_s=1"]
    ray_port = ray_local.nodes()[0]["MetricsExportPort"]
    targets = {"seig-driver": [f"127.0.0.1:{port}"], "seig-ray-nodes": [f"127.0.0.1:{ray_port}"]}
    with PrometheusServer(targets, rule_files=[ALERTS]) as prom, FakeOpenAI() as fake:
        t0 = time.time()
        # Serve and let Prometheus scrape once before the job: on a quiet machine run 1 can
        # finish before the first scrape, and a counter first seen at its final value has no rate.
        from pipeline.metrics import Metrics, MetricsConfig

        Metrics.get().serve(MetricsConfig(port=port))
        prom.wait_for_targets()
        time.sleep(2.0)
        cfg = load_config(ROOT / "configs/local.yaml", common + [
            f"run.manifest={tmp / 'm.parquet'}", f"run.output={tmp / 'out'}", "run.run_id=obs"])
        summary = _run_in_thread(cfg)
        assert summary.ok == 3 and summary.failed == 2 and summary.duplicates == 1, summary.text()
        for _ in range(3):  # then the script is spent and every call gets a 500
            fake.reply("The sky is brighter in the photo.", prompt_tokens=1200, completion_tokens=80)
        openai = f"{{base_url: '{fake.base_url}', model: fake-vlm, api_key_env: null, max_retries: 0, timeout_s: 20}}"
        cfg = load_config(ROOT / "configs/local.yaml", common + [
            f"run.manifest={tmp / 'm2.parquet'}", f"run.output={tmp / 'out2'}", "run.run_id=obs-vlm",
            "reconstruct.backend=openai", f"reconstruct.openai={openai}",
            "metrics.usd_per_1k_prompt_tokens=0.0025", "metrics.usd_per_1k_completion_tokens=0.01"])
        summary = _run_in_thread(cfg)
        assert summary.ok + summary.failed == 2, summary.text()
        assert len(fake.requests) > 3, "the openai run made too few VLM calls to see both outcomes"
        prom.wait_for_targets()
        time.sleep(max(5.0, t0 + 35 - time.time()))  # final values scraped; >= 35 s of history
        yield prom, t0, time.time()


def _has_data(prom: PrometheusServer, expr: str, t0: float, t1: float) -> list[dict]:
    return prom.query_range(substitute(expr), t0, t1, step=1)


def _nan_only(result: list[dict]) -> bool:
    return all(v[1] in ("NaN", "+Inf", "-Inf") for series in result for v in series["values"])


def test_every_dashboard_expression_returns_data(scraped):
    prom, t0, t1 = scraped
    missing, nan_only = [], []
    for where, expr in dashboard_exprs():
        if NEEDS_GPU.search(expr):
            continue  # test_gpu_panels
        result = _has_data(prom, expr, t0, t1)
        finite = sum(v[1] not in ("NaN", "+Inf", "-Inf") for series in result for v in series["values"])
        print(f"{len(result):3d} series {finite:5d} finite points  {where}")
        if not result:
            missing.append(f"{where}: {expr}")
        elif _nan_only(result):
            nan_only.append(f"{where}: {expr}")
    assert not missing, "no data for:\n" + "\n".join(missing)
    # Every series must have real numbers somewhere in the run, not only NaN (0/0).
    assert not nan_only, "only NaN values for:\n" + "\n".join(nan_only)


def test_every_alert_expression_evaluates_and_watches_real_series(scraped):
    prom, t0, t1 = scraped
    missing = []
    for name, expr in alert_exprs():
        if prom.query_range(expr, t0, t1, step=1):
            print(f"{name}: the condition held during the run")
            continue
        # A false condition returns nothing: then the series it compares must exist.
        if not prom.query_range(signal_of(expr), t0, t1, step=1):
            missing.append(f"{name}: {signal_of(expr)}")
        else:
            print(f"{name}: condition false in this run; its signal has data: {' '.join(signal_of(expr).split())}")
    assert not missing, "alerts watching series that do not exist:\n" + "\n".join(missing)
    rules = {r["name"]: r for r in prom.rules()}
    assert set(rules) == {name for name, _ in alert_exprs()}, "Prometheus did not load every rule"
    bad = {n: (r["health"], r.get("lastError")) for n, r in rules.items() if r["health"] != "ok"}
    assert not bad, f"rules that Prometheus failed to evaluate: {bad}"


def test_dashboards_cover_every_driver_metric(scraped):
    prom, _, _ = scraped
    exposed = {r["metric"]["__name__"] for r in prom.query('count by (__name__) ({job="seig-driver"})')}
    # prometheus-client adds a *_created gauge (creation time) to each counter and histogram
    exposed = {re.sub(r"_(bucket|sum|count)$", "", n) for n in exposed
               if n.startswith("seig_") and not n.endswith("_created")}
    used = set().union(*(metric_names(e) for _, e in dashboard_exprs() + alert_exprs()))
    used = {re.sub(r"_(bucket|sum|count)$", "", n) for n in used}
    assert {n for n in used if n.startswith("seig_")} <= exposed, "dashboard uses metrics the driver does not export"
    assert exposed <= used, f"driver metrics on no panel or alert: {sorted(exposed - used)}"


def test_gpu_panels(scraped):
    """Ray's GPU metrics exist only on nodes with a GPU. Here the queries must be valid
    PromQL that Prometheus evaluates (a bad query raises); that they return data on a GPU
    node is reported as unverified, in a warning, not skipped away."""
    prom, t0, t1 = scraped
    gpu = [(w, e) for w, e in dashboard_exprs() if NEEDS_GPU.search(e)]
    assert gpu, "the dashboard has no GPU panel"
    empty = [f"{w}: {e}" for w, e in gpu if not _has_data(prom, e, t0, t1)]  # a bad query raises here
    if empty:
        import warnings

        warnings.warn("GPU panels evaluated but not verified with data (no GPU here): " + "; ".join(empty))
