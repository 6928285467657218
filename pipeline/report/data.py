"""Read a run's results with Arrow and reduce them to what the report shows.

A run can have millions of rows, so nothing here loops over rows in Python: the parts
are read column by column (only the columns the report needs, whichever of them a part
has: other versions of seig add and drop columns), aggregated with `pyarrow.compute`,
and only the few rows chosen for cards become Python dicts.
"""
from __future__ import annotations

import json
import posixpath
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec.core import url_to_fs

from pipeline.report.model import CardRow, FailureGroup, Overview, ScoreStat, Selection, Stat, TimeStat
from pipeline.results import STAGES

SCORE_STEPS = ("initial", *STAGES)  # PSNR after each step; "final" is the last step's best
TEXT = ("image_id", "uri", "status", "error_kind", "error_message", "degraded_reason")
NUMBERS = (*(f"{s}_{m}" for s in (*SCORE_STEPS, "final") for m in ("psnr", "ssim")),
           *(f"{s}_time_s" for s in STAGES), "time_s", "render_s", "renders", "failed_rounds", "finished_at")
READERS = 8  # parts read at once: object storage is latency-bound, a local disk barely notices
WANTED = {**{c: pa.string() for c in TEXT}, "degraded": pa.bool_(), **{c: pa.float64() for c in NUMBERS}}


class ReportError(ValueError):
    """The run cannot be reported on (no such run, no results); the message says which."""


def read_results(root: str, storage_options: dict) -> tuple[pa.Table, list[str]]:
    """All results rows of the run at `root`, with every WANTED column (null where a part
    lacks it), and warnings for parts that could not be read (they are skipped, not fatal).
    Parts are read whole, a few at a time, and combined in blocks as they arrive."""
    fs, path = url_to_fs(posixpath.join(root, "results"), **storage_options)
    try:
        parts = sorted(fs.glob(posixpath.join(path, "*.parquet")))
    except FileNotFoundError:
        parts = []
    if not parts:
        raise ReportError(f"no results under {root}/results/ (is {root} a run folder, <output>/<run_id>?)")
    tables, pending, warnings = [], [], []
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        for table, warning in pool.map(lambda part: _read_part(fs, part), parts):
            if warning:
                warnings.append(warning)
                continue
            pending.append(table)
            if len(pending) >= 100:  # few large chunks: thousands of tiny ones cost memory and compute
                tables.append(pa.concat_tables(pending).combine_chunks())
                pending = []
    tables += pending
    if not tables:
        raise ReportError(f"no readable results part under {root}/results/: {warnings[0]}")
    return _degraded_as_finished(pa.concat_tables(tables)), warnings


def _degraded_as_finished(table: pa.Table) -> pa.Table:
    """A `degraded` row (docs/contracts.md, "Results": complete artifacts from the offline
    fallback after the VLM failed) is shown as a finished image with a "degraded" badge:
    status `ok` here, `degraded` true, the row's reason as `degraded_reason`."""
    is_deg = pc.fill_null(pc.equal(table["status"], "degraded"), False)
    if not pc.any(is_deg).as_py():
        return table
    cols = {
        "status": pc.if_else(is_deg, pa.scalar("ok"), table["status"]),
        "degraded": pc.or_(pc.fill_null(table["degraded"], False), is_deg),
        "degraded_reason": pc.if_else(is_deg, table["error_message"], table["degraded_reason"]),
    }
    for name, col in cols.items():
        table = table.set_column(table.schema.get_field_index(name), name, col)
    return table


def _read_part(fs, part: str) -> tuple[pa.Table | None, str | None]:
    """One part in one GET (parts are small; a ranged read of the footer, then of each
    column, would be several round trips per part on object storage), conformed."""
    try:
        pf = pq.ParquetFile(pa.BufferReader(fs.cat_file(part)))
        have = [c for c in WANTED if c in pf.schema_arrow.names]
        return _conform(pf.read(columns=have, use_threads=False)), None
    except (OSError, ValueError, pa.ArrowException) as exc:
        return None, f"results part {posixpath.basename(part)} unreadable, skipped: {exc}"


def _conform(table: pa.Table) -> pa.Table:
    """The part's columns in WANTED order and types; absent or uncastable ones as nulls."""
    cols = []
    for name, typ in WANTED.items():
        if name in table.column_names:
            try:
                cols.append(table[name].cast(typ))
                continue
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
        cols.append(pa.nulls(table.num_rows, typ))
    return pa.table(cols, names=list(WANTED))


def read_summary(root: str, storage_options: dict) -> dict | None:
    """The run's summary.json, or None while the run is going (or its driver died)."""
    try:
        fs, path = url_to_fs(posixpath.join(root, "summary.json"), **storage_options)
        return json.loads(fs.cat_file(path))
    except (OSError, ValueError):
        return None


def _stat(col: pa.ChunkedArray | pa.Array) -> dict[str, float | None]:
    """Stat fields of a numeric column, nulls and non-finite values left out."""
    col = pc.drop_null(col)
    col = col.filter(pc.is_finite(col)) if len(col) else col
    if not len(col):
        return {"n": 0}
    q = pc.quantile(col, q=[0.05, 0.25, 0.5, 0.75, 0.95]).to_pylist()
    return {"n": len(col), "mean": pc.mean(col).as_py(), "min": pc.min(col).as_py(), "max": pc.max(col).as_py(),
            "p05": q[0], "q1": q[1], "median": q[2], "q3": q[3], "p95": q[4]}


class _Filtered:
    """`ok[name]`: one column of the table filtered by a mask, made when asked for."""

    def __init__(self, table: pa.Table, mask: pa.ChunkedArray):
        self.table, self.mask = table, mask

    def __getitem__(self, name: str) -> pa.ChunkedArray:
        return self.table[name].filter(self.mask)


def overview(table: pa.Table, summary: dict | None) -> Overview:
    """Counts, failures by kind, PSNR/SSIM after each step and time per stage, run-wide."""
    ok_mask = pc.fill_null(pc.equal(table["status"], "ok"), False)
    ok = _Filtered(table, ok_mask)  # column by column: never a filtered copy of the whole table
    n_ok = int(pc.sum(ok_mask).as_py() or 0)
    degraded = int(pc.sum(pc.fill_null(table["degraded"], False)).as_py() or 0)
    scores, prev = [], None
    for step in (*SCORE_STEPS, "final"):
        psnr = ok[f"{step}_psnr"]
        improved = None
        if prev is not None and step != "final":
            both = pc.and_(pc.is_valid(psnr), pc.is_valid(prev))
            n_both = int(pc.sum(both).as_py() or 0)
            if n_both:
                gain = pc.filter(pc.subtract(psnr, prev), both)
                improved = int(pc.sum(pc.greater(gain, 1e-6)).as_py() or 0) / n_both
        ssim = _stat(ok[f"{step}_ssim"])
        scores.append(ScoreStat(step=step, psnr=Stat(**_stat(psnr)), ssim_median=ssim.get("median"), improved=improved))
        prev = psnr if step != "final" else prev
    times = [TimeStat(stage=s, **_stat(ok[f"{s}_time_s"])) for s in STAGES]
    stage_sum = None
    for s in STAGES:
        col = pc.fill_null(ok[f"{s}_time_s"], 0.0)
        stage_sum = col if stage_sum is None else pc.add(stage_sum, col)
    if stage_sum is not None and n_ok:
        times.append(TimeStat(stage="initial scene, I/O", **_stat(pc.max_element_wise(
            pc.subtract(ok["time_s"], stage_sum), 0.0, skip_nulls=False))))
    per_image = TimeStat(stage="image", **_stat(ok["time_s"]))
    finished = Stat(**_stat(table["finished_at"]))
    return Overview(rows=table.num_rows, ok=n_ok, failed=table.num_rows - n_ok, degraded=degraded,
                    scores=scores, stage_times=times, image_time=per_image,
                    render_s=_stat(ok["render_s"]).get("mean"),
                    finished_span_s=(finished.max - finished.min) if finished.n else None,
                    summary=summary or {})


def failure_groups(table: pa.Table, cap: int) -> list[FailureGroup]:
    """Failed rows grouped by error kind, biggest kind first, at most `cap` rows listed per kind."""
    failed = table.filter(pc.invert(pc.fill_null(pc.equal(table["status"], "ok"), False)))
    if not failed.num_rows:
        return []
    kinds = pc.fill_null(failed["error_kind"], "unknown")
    failed = failed.set_column(failed.column_names.index("error_kind"), "error_kind", kinds)
    counts = pc.value_counts(kinds).to_pylist()
    groups = []
    for item in sorted(counts, key=lambda c: (-c["counts"], c["values"])):
        rows = failed.filter(pc.equal(failed["error_kind"], item["values"])).slice(0, cap)
        groups.append(FailureGroup(kind=item["values"], count=item["counts"], rows=[
            {"image_id": r["image_id"], "message": r["error_message"] or "", "uri": r["uri"]}
            for r in rows.select(["image_id", "error_message", "uri"]).to_pylist()]))
    return groups


def select_cards(table: pa.Table, all_below: int, best: int, random: int, per_kind: int, seed: int) -> Selection:
    """Which rows get a card: every row of a small run; of a large one the best and worst
    by final PSNR, a seeded random sample, and the first few failures of each kind."""
    n = table.num_rows
    if n <= all_below:
        picked = {i: ["all"] for i in range(n)}
        note = f"all {n:,} images of the run"
    else:
        picked: dict[int, list[str]] = {}
        psnr = table["final_psnr"]
        valid = np.flatnonzero(pc.fill_null(pc.is_finite(psnr), False).to_numpy(zero_copy_only=False))
        if len(valid):
            values = pc.fill_null(psnr, 0.0).to_numpy(zero_copy_only=False)[valid]
            order = valid[np.argsort(values, kind="stable")]
            for i in order[::-1][:best]:
                picked.setdefault(int(i), []).append("best")
            for i in order[:best]:
                picked.setdefault(int(i), []).append("worst")
        for i in np.random.default_rng(seed).choice(n, size=min(random, n), replace=False):
            picked.setdefault(int(i), []).append("random")
        failed = np.flatnonzero(pc.invert(pc.fill_null(pc.equal(table["status"], "ok"), False))
                                .to_numpy(zero_copy_only=False))
        kinds = table["error_kind"].take(pa.array(failed)).to_pylist() if len(failed) else []
        seen: dict[Any, int] = {}
        for i, kind in zip(failed, kinds):
            if seen.get(kind, 0) < per_kind:
                seen[kind] = seen.get(kind, 0) + 1
                picked.setdefault(int(i), []).append("failure")
        note = (f"a sample of this run's {n:,} images: the {best} best and {best} worst by final PSNR, "
                f"{min(random, n)} drawn at random (seed {seed}), and up to {per_kind} failures of each kind")
    indices = sorted(picked)
    rows = table.take(pa.array(indices, pa.int64())).to_pylist() if indices else []
    cards = [CardRow(tags=picked[i], **row) for i, row in zip(indices, rows)]
    return Selection(cards=cards, note=note, sampled=n > all_below)
