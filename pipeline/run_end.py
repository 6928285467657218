"""The end of an attempt of a run, as the driver's mixin: `aborted` rows for everything
not run, the last flushes (the dataset index before the results), the done-index update,
the summary's totals and summary.json.

Kept apart from `pipeline.driver` (which plans, submits and records) so each file reads
as one phase; the methods use the driver's state (`self.summary`, `self.dataset`, ...).
"""
from __future__ import annotations

import logging
import posixpath
import time

import ray

from pipeline.done_index import DoneIndex, add_hashes
from pipeline.keys import hash128
from pipeline.plan import Plan
from pipeline.results import ResultsWriter, aborted_rows, failed_row
from pipeline.storage import StorageError, write_text

log = logging.getLogger("seig")


class JobAborted(RuntimeError):
    """The job cannot go on (failures in a row, no resources, storage gone); the reason says why."""


class RunEnd:
    def _abort(self, in_flight: dict, plan: Plan, consumed: int, writer: ResultsWriter) -> None:
        """Every image not run gets an `aborted` row: the run's results stay one row per entry.

        The in-flight images' tasks are stopped by killing the render actors they all call
        (each chain then fails fast), never by `ray.cancel`: cancelling a task whose worker
        lease is being granted at that moment crashes the driver inside Ray 2.60 ("Tried to
        complete task that was not pending", exit 1, no traceback), as the suite saw after
        an abort with tasks still queued."""
        s = self.summary
        why = f"not run: the job stopped ({s.aborted})"[:1000]
        self._poll_actors(force=True)  # their last stats, before they go
        for actor in self.actors:
            ray.kill(actor)
        for ref, job in in_flight.items():
            writer.rows.append(failed_row(job.image_id, job.uri, self.run_id, "aborted", why, job.passthrough,
                                          attempts=job.prior_attempts, manifest_row=job.manifest_row))
        s.submitted -= len(in_flight)
        s.not_run += len(in_flight)
        in_flight.clear()
        writing = True
        for table in plan.remaining(consumed):
            s.not_run += table.num_rows
            if writing:
                rows = aborted_rows(table, [f.name for f in plan.passthrough], self.run_id, why)
                try:
                    self._storage("writing aborted rows", lambda: writer.add_table(rows))
                except JobAborted:
                    writing = False  # storage is gone: _final_flush says so
        self.metrics.rows.labels("aborted").inc(s.not_run)
        if s.not_run:
            self.metrics.images.labels("failed", "aborted").inc(s.not_run)

    def _final_flush(self, writer: ResultsWriter) -> bool:
        try:
            self._storage("writing results", lambda: self._flush(writer))
            return True
        except JobAborted as exc:
            s = self.summary
            s.results_complete = False
            cause = "" if s.aborted and "writing" in s.aborted else f" ({exc})"
            why = (f"the last results could not be written{cause}; images that finished keep their record.json: "
                   "a rerun of this run id recovers their rows")
            s.aborted = f"{s.aborted}; {why}" if s.aborted else why
            log.error(why)
            return False

    def _flush(self, writer: ResultsWriter) -> None:
        """The dataset index first: a row in the results always has its samples indexed."""
        self.dataset.flush()
        writer.flush()

    def _close_dataset(self) -> None:
        try:
            self._storage("writing the dataset index", self.dataset.close)
        except JobAborted as exc:  # every sample part is written already; only the card (README.md) is missing
            self.summary.warnings.append(f"the dataset index was not finished ({exc})")
            log.warning(self.summary.warnings[-1])

    def _spill_ok_ids(self) -> None:
        import pyarrow as pa

        if self.ok_ids:
            h1, h2 = hash128(pa.array(self.ok_ids, pa.string()))
            add_hashes(self._plan.run_done, h1, h2)
            self.ok_ids = []

    def _update_index(self, index: DoneIndex, plan: Plan) -> None:
        self._spill_ok_ids()
        runs = {**plan.history_runs, self.run_id: {"ok_rows": self.summary.results_ok}}
        try:
            index.add([plan.run_done, plan.history], runs)
        except StorageError as exc:  # derived data: the next run reads this run's results instead
            self.summary.warnings.append(f"the done-index was not updated ({exc}); the next run reads this "
                                         "run's results instead")
            log.warning(self.summary.warnings[-1])

    def _finish(self, t0: float) -> None:
        s = self.summary
        s.degraded_by_kind = dict(self.degraded_kinds)
        s.close(self.kinds, time.monotonic() - t0, len(self.actors),
                sum(st.render_s for st in self.actor_stats.values()))
        bad = s.check()
        if bad:
            log.warning("summary arithmetic does not add up (%s): %s", ", ".join(bad), s.model_dump_json())

    def _write_summary(self) -> None:
        s = self.summary
        if self.runlog is not None:
            s.log = self.runlog.upload(posixpath.join(self.root, "logs"), self.opts)
        try:
            write_text(posixpath.join(self.root, "summary.json"), s.model_dump_json(indent=1), **self.opts)
        except StorageError as exc:
            log.error("summary.json not written: %s", exc)
