"""What one attempt of a run did, as numbers that add up (summary.json) and as text.

The identities the text spells out (and tests check):
  manifest_rows = unique_ids + invalid_rows + duplicates
  unique_ids + invalid_rows = done_earlier_runs + kept + submitted + invalid_written + not_run
  submitted = ok_processed + failed_processed           (recovered images are among the ok)
  ok + failed = ok_processed + failed_processed + invalid_written   (rows this attempt wrote; aborted rows apart)
  results_rows = kept + ok + failed + not_run
"""
from __future__ import annotations

from pydantic import BaseModel

from pipeline.kinds import KINDS
from pipeline.results import results_dir, run_root


class Summary(BaseModel):
    run_id: str
    output: str
    attempt: int = 1
    manifest_rows: int = 0
    unique_ids: int = 0
    duplicates: int = 0  # rows whose image_id came earlier in the manifest (not run again)
    duplicate_ids: int = 0
    conflicting_ids: int = 0  # duplicated ids whose rows name different uris (the first row's uri ran)
    duplicate_examples: list[dict] = []
    invalid_rows: int = 0
    invalid_written: int = 0
    invalid_examples: list[str] = []
    done_earlier_runs: int = 0
    kept_ok: int = 0
    kept_failed: int = 0
    kept_failed_by_kind: dict[str, int] = {}
    retried: int = 0
    retried_by_kind: dict[str, int] = {}
    removed_rows: int = 0  # superseded rows removed from earlier parts before retrying
    submitted: int = 0
    recovered: int = 0  # images an earlier attempt finished whose row was lost: rebuilt from record.json
    ok: int = 0
    degraded: int = 0  # finished by the offline fallback after the VLM failed (complete, not the VLM's work)
    degraded_by_kind: dict[str, int] = {}
    failed: int = 0
    failures_by_kind: dict[str, int] = {}
    not_run: int = 0  # images never run because the job stopped: rows of kind `aborted`
    results_rows: int = 0
    results_complete: bool = True  # False: storage failed before the last rows were written
    results_ok: int = 0
    results_failed_by_kind: dict[str, int] = {}
    wall_s: float = 0.0
    plan_s: float = 0.0
    images_per_minute: float = 0.0
    aborted: str | None = None
    warnings: list[str] = []
    actors: int = 0
    blender_render_s: float = 0.0  # Blender's own render time over all actors
    render_efficiency: float = 0.0  # blender_render_s / (wall_s x actors); target >= 0.85
    log: str | None = None

    def from_plan(self, c) -> None:
        """The counts of a plan (pipeline.plan.PlanCounts)."""
        from collections import Counter

        self.manifest_rows, self.unique_ids, self.duplicates = c.manifest_rows, c.unique_ids, c.duplicates
        self.duplicate_ids, self.conflicting_ids = c.duplicate_ids, c.conflicting_ids
        self.duplicate_examples = c.duplicate_examples
        self.invalid_rows, self.invalid_written, self.invalid_examples = c.invalid_rows, c.invalid_written, \
            c.invalid_examples
        self.done_earlier_runs, self.removed_rows = c.done_earlier_runs, c.removed_rows
        self.kept_ok = sum(n for (status, _), n in c.kept.items() if status == "ok")
        self.kept_failed = sum(n for (status, _), n in c.kept.items() if status != "ok")
        self.kept_failed_by_kind = dict(Counter({k or "": n for (st, k), n in c.kept.items() if st != "ok"}))
        self.retried, self.retried_by_kind = sum(c.retried.values()), dict(c.retried)
        self.failed += c.invalid_written
        if c.conflicting_ids:
            ex = "; ".join(f"{e['image_id']!r}: {' | '.join(e['uris'])}" for e in c.duplicate_examples[:3])
            self.warnings.append(f"{c.conflicting_ids} image_id(s) appear in the manifest with different uris; the "
                                 f"first row of each ran, the others did not (e.g. {ex})")

    def close(self, kinds: dict[str, int], wall_s: float, actors: int, render_s: float) -> None:
        """The totals once the attempt ended."""
        from collections import Counter

        self.failures_by_kind = dict(kinds)
        self.results_rows = self.kept + self.ok + self.degraded + self.failed + self.not_run
        self.results_ok = self.kept_ok + self.ok
        failed = Counter(self.kept_failed_by_kind) + Counter(kinds)
        if self.not_run:
            failed["aborted"] += self.not_run
        self.results_failed_by_kind = dict(failed)
        self.wall_s = round(wall_s, 2)
        self.images_per_minute = round(self.submitted / max(self.wall_s, 1e-9) * 60, 2)
        self.actors = actors
        self.blender_render_s = round(render_s, 2)
        if actors:
            self.render_efficiency = round(self.blender_render_s / (self.wall_s * actors), 3)

    # backwards-compatible names of earlier summaries
    @property
    def skipped_done_earlier_runs(self) -> int:
        return self.done_earlier_runs

    @property
    def skipped_done_this_run(self) -> int:
        return self.kept_ok + self.kept_failed

    @property
    def kept(self) -> int:
        return self.kept_ok + self.kept_failed

    @property
    def results_transient(self) -> int:
        return sum(n for k, n in self.results_failed_by_kind.items() if KINDS.get(k) is None or KINDS[k].transient)

    def check(self) -> list[str]:
        """The identities above that do not hold (empty when the arithmetic adds up)."""
        s, bad = self, []
        if s.manifest_rows != s.unique_ids + s.invalid_rows + s.duplicates:
            bad.append("manifest rows")
        if s.unique_ids + s.invalid_rows != (s.done_earlier_runs + s.kept + s.submitted + s.invalid_written
                                             + s.not_run):
            bad.append("entries")
        if s.ok + s.degraded + s.failed != s.submitted + s.invalid_written and not s.aborted:
            bad.append("rows written")
        if s.results_rows != s.kept + s.ok + s.degraded + s.failed + s.not_run:
            bad.append("results rows")
        return bad

    def text(self) -> str:
        processed_failed = self.failed - self.invalid_written
        deg = f"{self.degraded} degraded, " if self.degraded else ""
        head = (f"run {self.run_id}: {self.ok} ok, {deg}{self.failed} failed of {self.ok + self.degraded + self.failed} "
                f"rows written "
                f"in {self.wall_s:.0f} s ({self.images_per_minute:.1f} images/min)")
        if self.attempt > 1:
            head += f"; attempt {self.attempt} of this run id"
        lines = [head]
        dup = f"{self.duplicates} duplicate row{'s' * (self.duplicates != 1)}"
        if self.duplicates:
            dup += f" of {self.duplicate_ids} id{'s' * (self.duplicate_ids != 1)}, not run again"
            if self.conflicting_ids:
                dup += f" ({self.conflicting_ids} with different uris: see the WARNING below)"
        lines.append(f"manifest: {self.manifest_rows} rows = {self.unique_ids} images + {self.invalid_rows} invalid "
                     f"row{'s' * (self.invalid_rows != 1)} + {dup}")
        parts = []
        if self.done_earlier_runs:
            parts.append(f"{self.done_earlier_runs} done by earlier runs (skipped)")
        if self.kept:
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.kept_failed_by_kind.items()))
            parts.append(f"{self.kept} kept from earlier attempts ({self.kept_ok} ok, {self.kept_failed} failed "
                         f"for good{': ' + kinds if kinds else ''})")
        rec = f", {self.recovered} of them recovered from their records" if self.recovered else ""
        parts.append(f"{self.submitted} run now ({self.ok} ok{rec}, {deg}{processed_failed} failed)")
        if self.invalid_written:
            parts.append(f"{self.invalid_written} invalid row{'s' * (self.invalid_written != 1)} written")
        if self.not_run:
            parts.append(f"{self.not_run} not run (the job stopped)")
        lines.append(f"this attempt: {self.unique_ids + self.invalid_rows} entries = " + " + ".join(parts))
        if self.retried:
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.retried_by_kind.items()))
            lines.append(f"retried: {self.retried} whose earlier failure was transient ({kinds}); their old rows "
                         f"were replaced")
        if self.failures_by_kind:
            lines.append("failures now: " + ", ".join(
                f"{k} {n}" + (" (transient)" if KINDS.get(k) is None or KINDS[k].transient else "")
                for k, n in sorted(self.failures_by_kind.items())))
        if self.degraded_by_kind:
            lines.append("degraded (the offline fallback finished them after the VLM failed; later runs redo them): "
                         + ", ".join(f"{k} {n}" for k, n in sorted(self.degraded_by_kind.items())))
        transient = self.results_transient
        tail = (f"; {transient} failed transiently: `seig run --run-id {self.run_id}` with the same config retries "
                "them" if transient else "")
        if self.results_complete:
            not_ok = self.results_rows - self.results_ok - self.degraded
            lines.append(f"results: {self.results_rows} rows: {self.results_ok} ok, {deg}{not_ok} failed{tail}")
        else:
            lines.append(f"results: INCOMPLETE: storage failed before the last rows were written; "
                         f"`seig run --run-id {self.run_id}` with the same config completes them")
        if self.actors:
            lines.append(f"Blender rendered {self.blender_render_s:.0f} s on {self.actors} actor(s): render "
                         f"efficiency {self.render_efficiency:.2f} (render time / wall time x actors)")
        for w in self.warnings:
            lines.append(f"WARNING: {w}")
        if self.aborted:
            lines.append(f"ABORTED: {self.aborted}")
        root = run_root(self.output, self.run_id)
        lines.append(f"results: {results_dir(self.output, self.run_id)}/  scenes: {root}/scenes/<image_id>/")
        if self.log:
            lines.append(f"log: {self.log}")
        return "\n".join(lines)
