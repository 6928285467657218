"""The batch job's driver: plan from the manifest and earlier results, submit each
image's task chain to warm actors, bound what is in flight, collect one row per image.

Memory: the manifest streams in batches; what the driver keeps is the set of ids seen
(for duplicates) and the ids already done (for resume): O(unique ids) strings, the
first thing to outgrow a driver at 10^7-10^8 images (see README).
"""
from __future__ import annotations

import os
import posixpath
import sys
import time
from collections import Counter

import ray
from pydantic import BaseModel

from blender_actors.actor import remote_actor_class
from pipeline.config import SeigConfig
from pipeline.manifest import Manifest, open_manifest
from pipeline.metrics import Metrics
from pipeline.results import (ResultsWriter, failed_row, list_runs, load_record, read_ids, recorded_ids,
                              results_dir, row_from_record, run_root)
from pipeline.storage import with_defaults, write_text
from pipeline.tasks import DETAIL, ImageJob, remote_tasks
from pipeline.vlm_outcome import VlmBreaker
from stages.definitions import STAGES


class JobAborted(RuntimeError):
    """Too many images failed in a row: something systematic is wrong (the reason says what)."""


class Summary(BaseModel):
    run_id: str
    output: str
    manifest_rows: int = 0
    unique_ids: int = 0
    duplicates: int = 0
    invalid_rows: int = 0
    skipped_done_this_run: int = 0
    skipped_done_earlier_runs: int = 0
    recovered: int = 0
    submitted: int = 0
    ok: int = 0
    failed: int = 0
    degraded: int = 0  # finished with the offline fallback after the VLM failed
    failures_by_kind: dict[str, int] = {}
    degraded_by_kind: dict[str, int] = {}
    wall_s: float = 0.0
    images_per_minute: float = 0.0
    aborted: str | None = None
    actors: int = 0
    blender_render_s: float = 0.0  # Blender's own render time over all actors
    render_efficiency: float = 0.0  # blender_render_s / (wall_s x actors); target >= 0.85

    def text(self) -> str:
        lines = [
            f"run {self.run_id}: {self.ok} ok, {self.failed} failed"
            + (f", {self.degraded} degraded" if self.degraded else "") + f" of {self.submitted} processed "
            f"in {self.wall_s:.0f} s ({self.images_per_minute:.1f} images/min)",
            f"manifest: {self.manifest_rows} rows, {self.unique_ids} unique ids, {self.duplicates} duplicate rows "
            f"(processed once), {self.invalid_rows} invalid rows",
            f"skipped: {self.skipped_done_this_run} already done in this run, {self.skipped_done_earlier_runs} done "
            f"in earlier runs; {self.recovered} finished images recovered from their records",
        ]
        if self.failures_by_kind:
            lines.append("failures: " + ", ".join(f"{k} {v}" for k, v in sorted(self.failures_by_kind.items())))
        if self.degraded_by_kind:
            lines.append("degraded (offline fallback after the VLM failed): "
                         + ", ".join(f"{k} {v}" for k, v in sorted(self.degraded_by_kind.items())))
        if self.actors:
            lines.append(f"Blender rendered {self.blender_render_s:.0f} s on {self.actors} actor(s): render "
                         f"efficiency {self.render_efficiency:.2f} (render time / wall time x actors)")
        if self.aborted:
            lines.append(f"ABORTED: {self.aborted}")
        root = run_root(self.output, self.run_id)
        lines.append(f"results: {results_dir(self.output, self.run_id)}/  scenes: {root}/scenes/<image_id>/")
        return "\n".join(lines)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())


def _normalise_output(output: str) -> str:
    """Local outputs become absolute paths: Ray workers do not share the driver's cwd."""
    return os.path.abspath(output) if "://" not in output else output


class Driver:
    def __init__(self, cfg: SeigConfig, progress: bool = True):
        if not cfg.run.manifest:
            raise ValueError("run.manifest is not set (give --manifest URI or set it in the config)")
        self.cfg = cfg.model_copy(deep=True)
        self.cfg.run.output = _normalise_output(cfg.run.output)
        self.cfg.run.storage_options = with_defaults([cfg.run.manifest, cfg.run.output], cfg.run.storage_options)
        self.run_id = cfg.run.run_id or new_run_id()
        self.cfg.run.run_id = self.run_id
        self.summary = Summary(run_id=self.run_id, output=self.cfg.run.output)
        self.progress = progress
        self.kinds: Counter[str] = Counter()
        self.consecutive_failures = 0
        self.vlm_breaker = VlmBreaker(cfg.run.max_consecutive_vlm_failures)
        self.degraded_kinds: Counter[str] = Counter()
        self.metrics = Metrics.get()
        self.actors: list = []
        self.actor_stats: dict[int, object] = {}
        self.last_poll = 0.0

    # --- planning ---------------------------------------------------------------
    def done_ids(self) -> tuple[set[str], set[str], list[dict]]:
        """(ids with a row in this run, ids done OK in earlier runs, rows to recover)."""
        run, opts = self.cfg.run, self.cfg.run.storage_options
        here = read_ids(run.output, self.run_id, storage_options=opts)
        recover = []
        for image_id, path in recorded_ids(run.output, self.run_id, opts).items():
            if image_id not in here:
                record = load_record(path, opts)
                recover.append(row_from_record(record, image_id, record.get("uri"), self.run_id,
                                               posixpath.dirname(path)))
                here.add(image_id)
        history_runs = list_runs(run.output, opts) if run.history == "all" else list(run.history)
        earlier: set[str] = set()
        for rid in history_runs:
            if rid != self.run_id:
                earlier |= read_ids(run.output, rid, status="ok", storage_options=opts)
        return here, earlier, recover

    # --- the run ----------------------------------------------------------------
    def run(self) -> Summary:
        from tqdm import tqdm

        t0 = time.monotonic()
        cfg = self.cfg
        manifest: Manifest = open_manifest(cfg.run.manifest, cfg.run.storage_options)
        total = manifest.count_rows()
        here, earlier, recovered = self.done_ids()
        writer = ResultsWriter(cfg.run.output, self.run_id, manifest.dataset.schema, cfg.run.results_flush_rows,
                               cfg.run.results_flush_s, cfg.run.storage_options)
        for row in recovered:
            writer.add(row)
        self.summary.recovered = len(recovered)
        m = self.metrics
        m.serve(cfg.metrics)
        m.running.set(1)
        m.info.labels(self.run_id).set(1)
        m.last_finished.set(time.time())
        started = False  # Ray and the actors start at the first image: a rerun with nothing to do starts nothing
        in_flight: dict[ray.ObjectRef, ImageJob] = {}
        seen: set[str] = set()
        bar = tqdm(total=total, unit="img", file=sys.stderr, disable=not self.progress, smoothing=0.05)
        try:
            for batch in manifest.iter_batches(cfg.run.manifest_batch_rows):
                passthrough_cols = [c for c in batch.schema.names if c not in ("image_id", "uri")]
                for index, row in enumerate(batch.to_pylist()):
                    self.summary.manifest_rows += 1
                    image_id, uri = row.get("image_id"), row.get("uri")
                    passthrough = {c: row.get(c) for c in passthrough_cols}
                    problem = self._invalid(image_id, uri)
                    if problem:
                        self.summary.invalid_rows += 1
                        m.rows.labels("invalid").inc()
                        self._record(writer, failed_row(image_id or None, uri, self.run_id, "manifest",
                                                        f"manifest row {self.summary.manifest_rows}: {problem}",
                                                        passthrough), bar)
                        continue
                    if image_id in seen:
                        self.summary.duplicates += 1
                        m.rows.labels("duplicate").inc()
                        bar.update(1)
                        continue
                    seen.add(image_id)
                    if image_id in here or image_id in earlier:
                        m.rows.labels("skipped_done").inc()
                        if image_id in here:
                            self.summary.skipped_done_this_run += 1
                        else:
                            self.summary.skipped_done_earlier_runs += 1
                        bar.update(1)
                        continue
                    while len(in_flight) >= cfg.run.max_in_flight:
                        self._drain(in_flight, writer, bar, 1)
                    if not started:
                        self._start_pool()
                        started = True
                    job = ImageJob(image_id=image_id, uri=self._resolve(uri), run_id=self.run_id, passthrough=passthrough,
                                   prefix=posixpath.join(run_root(cfg.run.output, self.run_id), "scenes", image_id))
                    in_flight[self._submit(job)] = job
                    self.summary.submitted += 1
                    m.rows.labels("submitted").inc()
                    m.in_flight.set(len(in_flight))
            while in_flight:
                self._drain(in_flight, writer, bar, len(in_flight))
        except JobAborted as exc:
            self.summary.aborted = str(exc)
            for ref in in_flight:
                ray.cancel(ref, force=True)
        finally:
            bar.close()
            writer.flush()
            self._poll_actors(force=True)
            for actor in self.actors:
                ray.kill(actor)
            m.in_flight.set(0)
            m.running.set(0)
            self._push()
        self.summary.unique_ids = len(seen)
        self.summary.failures_by_kind = dict(self.kinds)
        self.summary.degraded_by_kind = dict(self.degraded_kinds)
        self.summary.wall_s = round(time.monotonic() - t0, 2)
        done = self.summary.ok + self.summary.failed + self.summary.degraded
        self.summary.images_per_minute = round(done / max(self.summary.wall_s, 1e-9) * 60, 2)
        self.summary.actors = len(self.actors)
        self.summary.blender_render_s = round(sum(st.render_s for st in self.actor_stats.values()), 2)
        if self.actors:
            self.summary.render_efficiency = round(
                self.summary.blender_render_s / (self.summary.wall_s * len(self.actors)), 3)
        write_text(posixpath.join(run_root(cfg.run.output, self.run_id), "summary.json"),
                   self.summary.model_dump_json(indent=1), **cfg.run.storage_options)
        return self.summary

    def _start_pool(self) -> None:
        """Ray, the warm render actors, and the task functions (once, at the first image)."""
        self._ray_init()
        cfg = self.cfg
        self.actors = [remote_actor_class(cfg.actors).remote(cfg.worker) for _ in range(cfg.actors.count)]
        self.tasks = remote_tasks(cfg)
        self.cfg_ref = ray.put(cfg)

    def _submit(self, job: ImageJob) -> ray.ObjectRef:
        """One image's chain: init -> each stage -> finalize, all on one actor (round robin)."""
        init_t, stage_t, final_t = self.tasks
        actor = self.actors[self.summary.submitted % len(self.actors)]
        state = init_t.remote(job, self.cfg_ref, actor)
        for stage in STAGES:
            state = stage_t.remote(state, stage.name, self.cfg_ref, actor)
        return final_t.remote(state, self.cfg_ref)

    def _resolve(self, uri: str) -> str:
        """A relative local URI is relative to the manifest's folder (a manifest that
        travels with its images still works), made absolute for the Ray workers."""
        if "://" in uri or os.path.isabs(uri) or "://" in self.cfg.run.manifest:
            return uri
        return os.path.abspath(os.path.join(os.path.dirname(self.cfg.run.manifest), uri))

    @staticmethod
    def _invalid(image_id, uri) -> str | None:
        if not isinstance(image_id, str) or not image_id.strip():
            return f"image_id is {'empty' if isinstance(image_id, str) else 'null'}"
        if "/" in image_id or image_id in (".", "..") or len(image_id) > 512:
            return f"image_id {image_id[:80]!r} cannot name a folder (no '/', '.', '..'; at most 512 characters)"
        if not isinstance(uri, str) or not uri.strip():
            return f"uri of {image_id!r} is {'empty' if isinstance(uri, str) else 'null'}"
        return None

    def _ray_init(self) -> None:
        if ray.is_initialized():
            return
        rc = self.cfg.ray
        if rc.address or os.environ.get("RAY_ADDRESS"):  # a cluster; under `ray job submit` RAY_ADDRESS is set
            ray.init(address=rc.address, namespace=rc.namespace, log_to_driver=False)
        else:
            ray.init(num_cpus=rc.num_cpus, num_gpus=rc.num_gpus, namespace=rc.namespace, include_dashboard=False,
                     log_to_driver=False)

    def _poll_actors(self, force: bool = False) -> None:
        """Worker stats of every actor into the metrics (restarts, timeouts, crashes, RSS)."""
        if not self.actors or (not force and time.monotonic() - self.last_poll < self.cfg.metrics.actor_poll_s):
            return
        self.last_poll = time.monotonic()
        refs = {a.stats.remote(): i for i, a in enumerate(self.actors)}
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=5)
        for ref in ready:
            try:
                stats = ray.get(ref)
                self.metrics.actor_stats(str(refs[ref]), stats)
                self.actor_stats[refs[ref]] = stats
            except ray.exceptions.RayError:
                pass  # a dead or restarting actor: its numbers come with the next poll

    def _push(self) -> None:
        try:
            self.metrics.push(self.cfg.metrics, self.run_id)
        except OSError as exc:
            print(f"seig: could not push metrics to {self.cfg.metrics.pushgateway}: {exc}", file=sys.stderr)

    def _drain(self, in_flight: dict, writer: ResultsWriter, bar, n: int) -> None:
        want = min(n, len(in_flight))
        ready: list = []
        while not ready:  # wake up for the actor poll while nothing finishes
            ready, _ = ray.wait(list(in_flight), num_returns=want, timeout=self.cfg.metrics.actor_poll_s)
            self._poll_actors()
        self.metrics.in_flight.set(len(in_flight) - len(ready))
        for ref in ready:
            job = in_flight.pop(ref)
            try:
                row = ray.get(ref)
            except ray.exceptions.RayError as exc:
                cause = str(exc).strip().splitlines()
                row = failed_row(job.image_id, job.uri, self.run_id, "task",
                                 f"{type(exc).__name__}: {cause[-1] if cause else exc}", job.passthrough,
                                 attempts=self.cfg.tasks.max_retries + 1)
            self._record(writer, row, bar)

    def _record(self, writer: ResultsWriter, row: dict, bar) -> None:
        detail = row.pop(DETAIL, None)
        writer.add(row)
        self.metrics.image_done(row, detail, self.cfg.metrics)
        bar.update(1)
        if row["status"] == "ok":
            self.summary.ok += 1
            self.consecutive_failures = 0
        elif row["status"] == "degraded":
            self.summary.degraded += 1
            self.degraded_kinds[row["error_kind"]] += 1
        else:
            self.summary.failed += 1
            self.kinds[row["error_kind"]] += 1
            if row["error_kind"] != "manifest":
                self.consecutive_failures += 1
        bar.set_postfix(ok=self.summary.ok, failed=self.summary.failed)
        tripped = self.vlm_breaker.update(row)
        if tripped:
            raise JobAborted(tripped)
        if self.consecutive_failures >= self.cfg.run.max_consecutive_failures:
            raise JobAborted(f"{self.consecutive_failures} images failed in a row; last: "
                             f"[{row['error_kind']}] {row.get('error_message', '')[:300]}")


def run_job(cfg: SeigConfig, progress: bool = True) -> Summary:
    return Driver(cfg, progress).run()
