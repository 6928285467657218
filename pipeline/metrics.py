"""Prometheus metrics of a batch job, exported by the driver (prometheus-client).

Why the driver, not each actor: every image's record comes back to the driver, and
the driver polls each actor's worker stats, so one process holds every number and one
scrape target (or one Pushgateway push at the end) sees the whole job. Per-node
resources (nodes, GPUs, object store) come from Ray's own exporter (`ray_*` metrics).
The names are a contract with dashboards/seig.json and dashboards/alerts.yml.
"""
from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, push_to_gateway, start_http_server
from pydantic import BaseModel, ConfigDict, Field

from stages.records import Reconstruction

STAGE_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600)
RENDER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
VLM_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80)
# seig_manifest_rows_total{outcome}: what the plan did with each manifest row
ROW_OUTCOMES = ("submitted", "duplicate", "invalid", "skipped_done", "kept", "retried", "aborted")


class MetricsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    port: int | None = Field(None, ge=0, le=65535, description="serve /metrics here while the job runs; None: off")
    host: str = Field("127.0.0.1", description="0.0.0.0 in a pod so the PodMonitor can scrape it")
    pushgateway: str | None = Field(None, description="host:port; final totals are pushed when the job ends")
    actor_poll_s: float = Field(10.0, gt=0)
    linger_s: float = Field(0.0, ge=0, description="keep serving /metrics this long after `seig run` ends, so "
                                                    "the last scrape sees the final values")
    usd_per_1k_prompt_tokens: float = Field(0.0, ge=0)
    usd_per_1k_completion_tokens: float = Field(0.0, ge=0)


def image_metrics(rec: Reconstruction) -> dict[str, Any]:
    """The per-image numbers the driver turns into metrics (small: travels with the row)."""
    rounds, renders = [], []
    for stage in rec.stages:
        for rnd in stage.rounds:
            if rnd.round == 0:
                continue
            failed = rnd.error is not None or not any(c.scores for c in rnd.candidates)
            rounds.append((stage.stage, "failed" if failed else "kept" if rnd.kept else "reverted"))
            renders += [c.render_s for c in rnd.candidates if c.render_s]
    vlm_errors = rec.vlm.calls_failed if rec.vlm is not None else \
        sum(1 for s in rec.stages for r in s.rounds if r.error and r.error.kind == "backend")
    return {"rounds": rounds, "render_s": renders, "stage_s": [(s.stage, s.time_s) for s in rec.stages],
            "vlm_calls": rec.usage.calls, "vlm_errors": vlm_errors, "vlm_latency_s": rec.usage.latency_s,
            "vlm_retries": rec.usage.retries, "prompt_tokens": rec.usage.prompt_tokens,
            "completion_tokens": rec.usage.completion_tokens}


DATASET_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


def dataset_metrics(result) -> dict[str, Any]:
    """An image's dataset numbers (simdata.generate.DatasetResult) for the driver's metrics."""
    return {"ok": len(result.rows), "failed": len(result.failed), "seconds": result.seconds, "bytes": result.bytes}


class Metrics:
    """One registry per process; counters keep counting across jobs run in one process."""

    _instance: "Metrics | None" = None
    _servers: dict[tuple[str, int], Any] = {}

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.images = Counter("seig_images", "Images finished, by status and error kind", ["status", "kind"], registry=r)
        self.in_flight = Gauge("seig_images_in_flight", "Images submitted and not finished", registry=r)
        self.last_finished = Gauge("seig_last_image_finished_timestamp_seconds", "When the last image finished",
                                   registry=r)
        self.running = Gauge("seig_job_running", "1 while a job runs", registry=r)
        self.info = Gauge("seig_job_info", "The job's run id", ["run_id"], registry=r)
        self.rounds = Counter("seig_stage_rounds", "Stage rounds by outcome", ["stage", "outcome"], registry=r)
        self.stage_s = Histogram("seig_stage_seconds", "Wall time of one stage of one image", ["stage"],
                                 buckets=STAGE_BUCKETS, registry=r)
        self.image_s = Histogram("seig_image_seconds", "Wall time of one image", buckets=STAGE_BUCKETS, registry=r)
        self.render_s = Histogram("seig_render_seconds", "Blender render time of one candidate",
                                  buckets=RENDER_BUCKETS, registry=r)
        self.renders = Counter("seig_renders", "Candidate renders", registry=r)
        self.vlm_calls = Counter("seig_vlm_calls", "VLM calls by outcome", ["outcome"], registry=r)
        self.vlm_s = Histogram("seig_vlm_call_seconds", "Latency of one VLM call (per-image mean)",
                               buckets=VLM_BUCKETS, registry=r)
        self.tokens = Counter("seig_vlm_tokens", "VLM tokens", ["kind"], registry=r)
        self.cost = Counter("seig_vlm_cost_usd", "Estimated VLM cost in US dollars", registry=r)
        self.retries = Counter("seig_retries", "Retries by kind", ["kind"], registry=r)
        self.restarts = Counter("seig_blender_restarts", "Blender process starts", ["actor"], registry=r)
        self.timeouts = Counter("seig_blender_timeouts", "Blender jobs killed at their timeout", ["actor"], registry=r)
        self.crashes = Counter("seig_blender_crashes", "Blender processes that crashed", ["actor"], registry=r)
        self.rss = Gauge("seig_blender_rss_bytes", "Blender process resident memory", ["actor"], registry=r)
        self.rows = Counter("seig_manifest_rows", "Manifest rows by outcome", ["outcome"], registry=r)
        self.samples = Counter("seig_dataset_samples", "Dataset samples by outcome", ["outcome"], registry=r)
        self.dataset_bytes = Counter("seig_dataset_bytes", "Bytes of dataset files written, by file", ["file"],
                                     registry=r)
        self.output_s = Histogram("seig_dataset_output_seconds", "Time of one dataset output of one sample",
                                  ["output"], buckets=DATASET_BUCKETS, registry=r)
        for outcome in ("ok", "failed"):
            self.samples.labels(outcome)
        self.storage_wait = Gauge("seig_storage_wait_seconds", "How long the driver has been waiting on storage "
                                  "(0 while it answers)", registry=r)
        self._actor_seen: dict[tuple[str, str], float] = {}
        for kind in ("vlm", "task"):
            self.retries.labels(kind)
        # every outcome and kind exists from the start (at 0): dashboards and alerts see a 0, not nothing
        from pipeline.kinds import KINDS

        self.images.labels("ok", "")
        for name in KINDS:
            self.images.labels("failed", name)
        for outcome in ROW_OUTCOMES:
            self.rows.labels(outcome)

    @classmethod
    def get(cls) -> "Metrics":
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def serve(self, cfg: MetricsConfig) -> None:
        """Start the /metrics endpoint once per (host, port) in this process."""
        if cfg.port is None or (cfg.host, cfg.port) in self._servers:
            return
        self._servers[(cfg.host, cfg.port)] = start_http_server(cfg.port, addr=cfg.host, registry=self.registry)

    def image_done(self, row: dict, detail: dict | None, cfg: MetricsConfig, retries: int = 0) -> None:
        """One finished image; `retries`: its task attempts beyond the first, in this run."""
        ok = row.get("status") == "ok"
        status = row.get("status") if row.get("status") in ("ok", "degraded") else "failed"
        self.images.labels(status, "" if ok else row.get("error_kind") or "internal").inc()
        self.last_finished.set(time.time())
        self.retries.labels("task").inc(max(0, retries))
        if row.get("time_s"):
            self.image_s.observe(row["time_s"])
        if not detail:
            return
        if detail.get("dataset"):
            self.dataset_done(detail["dataset"])
        for stage, outcome in detail["rounds"]:
            self.rounds.labels(stage, outcome).inc()
        for stage, seconds in detail["stage_s"]:
            self.stage_s.labels(stage).observe(seconds)
        for seconds in detail["render_s"]:
            self.render_s.observe(seconds)
        self.renders.inc(len(detail["render_s"]))
        calls, errors = detail["vlm_calls"], detail["vlm_errors"]
        self.vlm_calls.labels("ok").inc(max(0, calls - errors))
        self.vlm_calls.labels("error").inc(errors)
        if calls:
            mean = detail["vlm_latency_s"] / calls
            for _ in range(calls):
                self.vlm_s.observe(mean)
        self.retries.labels("vlm").inc(detail["vlm_retries"])
        self.tokens.labels("prompt").inc(detail["prompt_tokens"])
        self.tokens.labels("completion").inc(detail["completion_tokens"])
        self.cost.inc(detail["prompt_tokens"] / 1000 * cfg.usd_per_1k_prompt_tokens
                      + detail["completion_tokens"] / 1000 * cfg.usd_per_1k_completion_tokens)

    def dataset_done(self, numbers: dict[str, Any]) -> None:
        self.samples.labels("ok").inc(numbers["ok"])
        self.samples.labels("failed").inc(numbers["failed"])
        for name, size in numbers["bytes"].items():
            self.dataset_bytes.labels(name).inc(size)
        for output, values in numbers["seconds"].items():
            for seconds in values:
                self.output_s.labels(output).observe(seconds)

    def actor_stats(self, actor: str, stats) -> None:
        """Turn an actor's cumulative worker stats into counter increments (reset-safe)."""
        for counter, name, value in ((self.restarts, "starts", stats.starts), (self.timeouts, "timeouts", stats.timeouts),
                                     (self.crashes, "crashes", stats.crashes)):
            last = self._actor_seen.get((actor, name), 0.0)
            delta = value - last if value >= last else value  # the actor restarted: its counts began again
            counter.labels(actor).inc(delta)  # inc(0) still creates the series: alerts see a 0, not nothing
            self._actor_seen[(actor, name)] = value
        self.rss.labels(actor).set(stats.rss_mb * 1024 * 1024)

    def push(self, cfg: MetricsConfig, run_id: str) -> None:
        if cfg.pushgateway:
            push_to_gateway(cfg.pushgateway, job="seig", registry=self.registry, grouping_key={"run_id": run_id})
