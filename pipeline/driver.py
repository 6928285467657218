"""The batch job's driver: check, plan, run each image's task chain on warm actors, record
exactly one row per manifest entry, then update the done-index.

One attempt of a run:
  preflight (manifest readable, output writable, VLM serves the model)   before Ray
  plan (pipeline.plan): partitioned joins of manifest x this run's rows x done-index
  Ray, actors, resource check (local) / watchdog (any cluster)           only if work
  submit, bounded by run.max_in_flight; ray.wait collects every finished ref at once
  aborted? every image not run gets an `aborted` row (a rerun runs it)
  summary.json, the done-index, the log copied next to the results  (pipeline.run_end)
Memory stays bounded at any manifest size: the plan lives in partition files on local
disk, and the driver holds only the images in flight and a buffer of OK ids.
"""
from __future__ import annotations

import json
import logging
import os
import posixpath
import sys
import time
from collections import Counter

import ray

from blender_actors.actor import remote_actor_class
from pipeline.config import SeigConfig
from pipeline.dataset_rows import DatasetRows
from pipeline.done_index import DoneIndex
from pipeline.kinds import KINDS, classify
from pipeline.metrics import Metrics
from pipeline.plan import Plan, make_plan
from pipeline.preflight import preflight
from pipeline.resources import Watchdog, fit_before_start
from pipeline.run_end import JobAborted, RunEnd
from pipeline.results import ResultsWriter, failed_row, run_root
from pipeline.storage import StorageError, listdir, read_bytes, set_deadline, with_defaults, write_text
from pipeline.storage_watch import StorageWatch
from pipeline.summary import Summary
from pipeline.tasks import DETAIL, RECOVERED, ImageJob, remote_tasks
from pipeline.vlm_outcome import VlmBreaker
from stages.definitions import STAGES

log = logging.getLogger("seig")
WAIT_S = 2.0  # the driver wakes at least this often: watchdog, storage status, timed flushes
OK_ID_BUFFER = 50_000

__all__ = ["Driver", "JobAborted", "Summary", "run_job", "new_run_id"]


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())


def _normalise_output(output: str) -> str:
    """Local outputs become absolute paths: Ray workers do not share the driver's cwd."""
    return os.path.abspath(output) if "://" not in output else output


class Driver(RunEnd):
    def __init__(self, cfg: SeigConfig, progress: bool = True, runlog=None):
        if not cfg.run.manifest:
            raise ValueError("run.manifest is not set (give --manifest URI or set it in the config)")
        self.cfg = cfg.model_copy(deep=True)
        self.cfg.run.output = _normalise_output(cfg.run.output)
        self.cfg.run.storage_options = with_defaults([cfg.run.manifest, cfg.run.output], cfg.run.storage_options)
        self.run_id = cfg.run.run_id or new_run_id()
        self.cfg.run.run_id = self.run_id
        self.opts = self.cfg.run.storage_options
        self.root = run_root(self.cfg.run.output, self.run_id)
        self.summary = Summary(run_id=self.run_id, output=self.cfg.run.output)
        self.progress, self.runlog = progress, runlog
        self.kinds: Counter[str] = Counter()
        self.consecutive_failures = 0
        self.vlm_breaker = VlmBreaker(cfg.run.max_consecutive_vlm_failures)
        self.degraded_kinds: Counter[str] = Counter()
        self.metrics = Metrics.get()
        self.actors: list = []
        self.actor_stats: dict[int, object] = {}
        self.last_poll = self.last_tick = 0.0
        self.started_ray = False
        self.pool_started = False
        self.watchdog: Watchdog | None = None
        self.ok_ids: list[str] = []
        self.shown_wait = 0.0
        set_deadline(self.cfg.run.storage_deadline_s)

    # --- the run ----------------------------------------------------------------
    def run(self) -> Summary:
        from tqdm import tqdm

        t0 = time.monotonic()
        cfg, s, m = self.cfg, self.summary, self.metrics
        manifest = preflight(cfg)
        index = DoneIndex.load(cfg.run.output, self.opts)
        s.attempt = self._note_attempt()
        writer = ResultsWriter(cfg.run.output, self.run_id, manifest.dataset.schema, cfg.run.results_flush_rows,
                               cfg.run.results_flush_s, self.opts)
        m.serve(cfg.metrics)
        m.running.set(1)
        m.info.labels(self.run_id).set(1)
        m.last_finished.set(time.time())
        note = fit_before_start(cfg)
        if note:
            log.info(note)
        plan = self._plan = make_plan(cfg, manifest, index, writer, self.run_id, self.opts)
        self._plan_counts(plan)
        s.plan_s = round(time.monotonic() - t0, 2)
        log.info("plan: %d to run, %d kept, %d done earlier, %d invalid, %d duplicate rows (%.1f s)", plan.counts.todo,
                 s.kept, s.done_earlier_runs, s.invalid_rows, s.duplicates, s.plan_s)
        if s.attempt > 1 and self.run_id in index.runs:
            index.uncover(self.run_id)  # a rerun may add OK rows: later nights read them until this one ends
        rerun = plan.rerun or any(posixpath.basename(e["name"].rstrip("/")) == "scenes"
                                  for e in listdir(self.root, **self.opts))
        self.dataset = DatasetRows(cfg, self.root, rerun)
        self.watch = StorageWatch(cfg.run.output, self.opts).start()
        in_flight: dict[ray.ObjectRef, ImageJob] = {}
        consumed = 0
        bar = tqdm(total=plan.counts.todo, unit="img", file=sys.stderr, disable=not self.progress, smoothing=0.05)
        try:
            for row in plan.jobs():
                job = ImageJob(image_id=row["image_id"], uri=self._resolve(row["uri"]), run_id=self.run_id,
                               passthrough={f.name: row.get(f.name) for f in plan.passthrough},
                               prefix=posixpath.join(self.root, "scenes", row["image_id"]),
                               manifest_row=row["_row"], prior_attempts=row["_prior_attempts"], check_record=rerun)
                while len(in_flight) >= cfg.run.max_in_flight:
                    self._drain(in_flight, writer, bar)
                if not self.pool_started:
                    self._start_pool()
                    self.pool_started = True
                in_flight[self._submit(job)] = job
                consumed += 1
                s.submitted += 1
                m.rows.labels("submitted").inc()
                m.in_flight.set(len(in_flight))
                self.watch.in_flight = len(in_flight)
            while in_flight:
                self._drain(in_flight, writer, bar)
        except JobAborted as exc:
            s.aborted = str(exc)
            log.error("aborted: %s", exc)
            self._abort(in_flight, plan, consumed, writer)
        finally:
            bar.close()
            self.watch.stop()
            self._poll_actors(force=True)
            for actor in self.actors:
                ray.kill(actor)
            m.in_flight.set(0)
            m.running.set(0)
            self._push()
        results_written = self._final_flush(writer)
        if results_written:
            self._close_dataset()
        self._finish(t0)
        if results_written:
            self._update_index(index, plan)
        plan.run_done.remove()
        plan.history.remove()
        import shutil

        shutil.rmtree(plan.work, ignore_errors=True)
        self._write_summary()
        return s

    def _plan_counts(self, plan: Plan) -> None:
        c, s, m = plan.counts, self.summary, self.metrics
        s.from_plan(c)
        if c.invalid_written:
            self.kinds["manifest"] += c.invalid_written
            m.images.labels("failed", "manifest").inc(c.invalid_written)
        for outcome, n in (("duplicate", c.duplicates), ("invalid", c.invalid_written), ("skipped_done",
                           c.done_earlier_runs), ("kept", s.kept), ("retried", s.retried)):
            m.rows.labels(outcome).inc(n)
        for warning in s.warnings:
            log.warning(warning)

    def _note_attempt(self) -> int:
        """Append this attempt to <run>/attempts.json (what a rerun counts; operators read it)."""
        uri = posixpath.join(self.root, "attempts.json")
        try:
            attempts = json.loads(read_bytes(uri, **self.opts)).get("attempts", [])
        except (FileNotFoundError, ValueError):
            attempts = []
        attempts.append({"started": time.time(), "pid": os.getpid(), "host": os.uname().nodename})
        write_text(uri, json.dumps({"attempts": attempts}, indent=1), **self.opts)
        return len(attempts)

    def _start_pool(self) -> None:
        """Ray, the warm render actors, and the task functions (once, at the first image)."""
        self._ray_init()
        cfg = self.cfg
        if self.runlog is not None:
            self.runlog.quiet_ray()
        self.actors = [remote_actor_class(cfg.actors).remote(cfg.worker) for _ in range(cfg.actors.count)]
        self.tasks = remote_tasks(cfg)
        self.cfg_ref = ray.put(cfg)
        self.watchdog = Watchdog(cfg, len(self.actors))

    def _submit(self, job: ImageJob) -> ray.ObjectRef:
        """One image's chain: init -> each stage -> finalize, all on one actor (round robin)."""
        init_t, stage_t, final_t = self.tasks
        actor = self.actors[self.summary.submitted % len(self.actors)]
        chain = [init_t.remote(job, self.cfg_ref, actor)]
        for stage in STAGES:
            chain.append(stage_t.remote(chain[-1], stage.name, self.cfg_ref, actor))
        final = final_t.remote(chain[-1], self.cfg_ref, actor)  # the actor also renders the dataset
        return final

    def _resolve(self, uri: str) -> str:
        """A relative local URI is relative to the manifest's folder (a manifest that
        travels with its images still works), made absolute for the Ray workers."""
        if "://" in uri or os.path.isabs(uri) or "://" in self.cfg.run.manifest:
            return uri
        return os.path.abspath(os.path.join(os.path.dirname(self.cfg.run.manifest), uri))

    def _ray_init(self) -> None:
        if ray.is_initialized():
            return
        rc = self.cfg.ray
        self.started_ray = True
        if rc.address or os.environ.get("RAY_ADDRESS"):  # a cluster; under `ray job submit` RAY_ADDRESS is set
            ray.init(address=rc.address, namespace=rc.namespace, log_to_driver=False)
        else:
            ray.init(num_cpus=rc.num_cpus, num_gpus=rc.num_gpus, namespace=rc.namespace, include_dashboard=False,
                     log_to_driver=False)

    # --- while it runs ------------------------------------------------------------
    def _drain(self, in_flight: dict, writer: ResultsWriter, bar) -> None:
        """Take every image that has finished (one ray.wait for all of them); when none
        has, wait for the first, waking every WAIT_S for the watchdog and storage status."""
        refs = list(in_flight)
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        while not ready:
            ready, _ = ray.wait(refs, num_returns=1, timeout=WAIT_S)
            self._tick(in_flight, writer, bar)
        if time.monotonic() - self.last_tick >= WAIT_S:
            self._tick(in_flight, writer, bar)
        self.metrics.in_flight.set(len(in_flight) - len(ready))
        for ref in ready:
            job = in_flight.pop(ref)
            try:
                row = ray.get(ref)
            except ray.exceptions.RayError as exc:
                kind, message = classify(exc)
                tries = self.cfg.tasks.max_retries + 1 if KINDS[kind].retry_now else 1
                row = failed_row(job.image_id, job.uri, self.run_id, kind, message, job.passthrough,
                                 attempts=job.prior_attempts + tries, manifest_row=job.manifest_row)
            self._record(writer, row, bar, job)
        self.watch.in_flight = len(in_flight)

    def _tick(self, in_flight: dict, writer: ResultsWriter, bar) -> None:
        self.last_tick = time.monotonic()
        self._poll_actors()
        if self.watchdog is not None:
            reason = self.watchdog.check(len(in_flight))
            if reason:
                raise JobAborted(reason)
        status = self.watch.status()
        wait = self.watch.waiting_s()
        self.metrics.storage_wait.set(round(wait, 1))
        if status:
            bar.set_postfix_str(status)
            if wait - self.shown_wait >= 30 or not self.shown_wait:
                log.warning(status)
                self.shown_wait = wait or 0.001
        elif self.shown_wait:
            log.info("storage answers again")
            self.shown_wait = 0.0
            bar.set_postfix(ok=self.summary.ok, failed=self.summary.failed)
        if writer.due():
            self._storage("writing results", lambda: self._flush(writer))

    def _record(self, writer: ResultsWriter, row: dict, bar, job: ImageJob) -> None:
        s = self.summary
        detail = row.pop(DETAIL, None)
        recovered = row.pop(RECOVERED, False)
        self.dataset.take(row, recovered)
        retries = max(0, (row.get("attempts") or 1) - 1 - job.prior_attempts)
        flush = writer.append(row)  # counted first: a failing flush below still leaves the row counted
        self.metrics.image_done(row, detail, self.cfg.metrics, retries=retries)
        self.watch.image_finished()
        if self.watchdog is not None:
            self.watchdog.progress()
        bar.update(1)
        if row["status"] == "ok":
            s.ok += 1
            s.recovered += bool(recovered)
            self.consecutive_failures = 0
            self.ok_ids.append(row["image_id"])
            if len(self.ok_ids) >= OK_ID_BUFFER:
                self._spill_ok_ids()
        elif row["status"] == "degraded":  # finished by the offline fallback after the VLM failed
            s.degraded += 1
            self.degraded_kinds[row["error_kind"]] += 1
        else:
            s.failed += 1
            self.kinds[row["error_kind"]] += 1
            if KINDS.get(row["error_kind"]) is None or KINDS[row["error_kind"]].alerts:
                self.consecutive_failures += 1
        if not self.watch.status():
            bar.set_postfix(ok=s.ok, failed=s.failed)
        if flush:
            self._storage("writing results", lambda: self._flush(writer))
        tripped = self.vlm_breaker.update(row)
        if tripped:
            raise JobAborted(tripped)
        if self.consecutive_failures >= self.cfg.run.max_consecutive_failures:
            raise JobAborted(f"{self.consecutive_failures} images failed in a row (run.max_consecutive_failures); "
                             f"last: [{row['error_kind']}] {(row.get('error_message') or '')[:300]}")

    def _storage(self, what: str, fn):
        """A storage call of the driver, retried while storage does not answer (bounded)."""
        start, delay = time.monotonic(), 1.0
        limit = self.cfg.run.storage_deadline_s * (self.cfg.tasks.max_retries + 1)
        while True:
            try:
                with self.watch.call(what):
                    return fn()
            except StorageError as exc:
                waited = time.monotonic() - start
                if exc.kind != "storage_unreachable" or waited > limit:
                    raise JobAborted(f"{what}: [{exc.kind}] {exc}") from exc
                log.warning("waiting on storage for %.0f s (%s: %s)", waited, what, exc)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)

    def _poll_actors(self, force: bool = False) -> None:
        """Worker stats of every actor into the metrics (restarts, timeouts, crashes, RSS)."""
        poll_s = min(self.cfg.metrics.actor_poll_s, 5.0)
        if not self.actors or (not force and time.monotonic() - self.last_poll < poll_s):
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
                continue  # a dead or restarting actor: its numbers come with the next poll
            if self.watchdog is not None:
                self.watchdog.actor_answered(refs[ref], sum(st.jobs for st in self.actor_stats.values()))

    def _push(self) -> None:
        try:
            self.metrics.push(self.cfg.metrics, self.run_id)
        except OSError as exc:
            log.warning("could not push metrics to %s: %s", self.cfg.metrics.pushgateway, exc)


def run_job(cfg: SeigConfig, progress: bool = True, runlog=None) -> Summary:
    return Driver(cfg, progress, runlog).run()
