"""The plan of one attempt of a run: which manifest rows to run, keep, skip or reject.

Bounded memory at any scale: the manifest, the run's results so far and the history's
OK ids are routed into the same hash partitions on local disk (pipeline.plan_sources),
then joined one group of partitions at a time with Arrow (group-by for duplicates,
hash joins for resume and history). A group is sized to about a million rows.

Per manifest key (its first row wins; later rows with the same image_id are duplicates,
counted and reported, with examples when their uris differ):
- a row of this run whose outcome is final (OK, or a deterministic failure) is kept;
- a row of this run that failed transiently is removed (its part rewritten in place)
  and the image runs again: a rerun retries storage, network, lost workers, aborts;
- an invalid manifest row gets one failed row of kind `manifest` (once: a rerun keeps
  it, unless the row was fixed, then it runs);
- an image done OK by another run (history) is skipped;
- everything else runs.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from pipeline.done_index import DoneIndex
from pipeline.keys import problem, row_keys, usable_ids, valid_rows
from pipeline.kinds import KINDS
from pipeline.plan_sources import DONE_STATUSES, spill_done_ids, spill_manifest, spill_run_results
from pipeline.results import failed_row, list_runs, rewrite_without
from pipeline.spill import BITS, Spill, workdir

GROUP_ROWS = 1_000_000
EXAMPLES = 5
FINAL_FAILURES = pa.array(sorted(k.name for k in KINDS.values() if not k.transient))


@dataclass
class PlanCounts:
    manifest_rows: int = 0
    unique_ids: int = 0
    duplicates: int = 0
    duplicate_ids: int = 0
    conflicting_ids: int = 0
    invalid_rows: int = 0
    invalid_written: int = 0
    done_earlier_runs: int = 0
    kept: Counter = field(default_factory=Counter)  # (status, kind) of rows kept from earlier attempts
    retried: Counter = field(default_factory=Counter)  # kind of transient failures run again
    todo: int = 0
    removed_rows: int = 0
    duplicate_examples: list[dict] = field(default_factory=list)
    invalid_examples: list[str] = field(default_factory=list)


@dataclass
class Plan:
    work: str
    counts: PlanCounts
    passthrough: list[pa.Field]
    todo_files: list[str]
    run_done: Spill  # hashes of this run's OK rows (for the done-index)
    history: Spill  # hashes of OK rows of runs the index does not cover
    history_runs: dict[str, dict]  # those runs (the index covers them after this run)
    rerun: bool  # the run had results before: finished images may have records without rows

    def jobs(self, batch_rows: int = 10_000) -> Iterator[dict]:
        """Rows to run, group by group."""
        for path in self.todo_files:
            with pa.OSFile(path, "rb") as source:
                table = ipc.open_file(source).read_all()
            for batch in table.to_batches(max_chunksize=batch_rows):
                yield from batch.to_pylist()

    def remaining(self, consumed: int) -> Iterator[pa.Table]:
        """The todo rows after the first `consumed` ones (what an aborted job never submitted)."""
        for path in self.todo_files:
            with pa.OSFile(path, "rb") as source:
                table = ipc.open_file(source).read_all()
            skip = min(consumed, table.num_rows)
            consumed -= skip
            if table.num_rows > skip:
                yield table.slice(skip)


def make_plan(cfg, manifest, index: DoneIndex, writer, run_id: str, opts: dict) -> Plan:
    """Spill every source, join group by group, write invalid rows, remove superseded rows."""
    run = cfg.run
    work = workdir()
    counts = PlanCounts()
    mspill, rspill = Spill(work, "manifest"), Spill(work, "run")
    counts.manifest_rows, passthrough = spill_manifest(manifest, mspill, run.manifest_batch_rows)
    parts, legacy = spill_run_results(run.output, run_id, rspill, opts)
    history = Spill(work, "history")
    if run.history == "all":
        others = [r for r in list_runs(run.output, opts) if r != run_id and r not in index.runs]
        use_index = True
    else:
        others, use_index = [r for r in run.history if r != run_id], False
    history_runs = spill_done_ids(run.output, others, history, opts)
    biggest = max(mspill.rows, rspill.rows, history.rows + (index.rows if use_index else 0), 1)
    bits = min(BITS, max(0, math.ceil(math.log2(biggest / GROUP_ROWS)))) if biggest > GROUP_ROWS else 0
    per = 1 << (BITS - bits)
    plan = Plan(work, counts, passthrough, [], Spill(work, "run_done"), history, history_runs,
                rerun=bool(parts))
    removals: list[np.ndarray] = [np.array(legacy, np.int64).reshape(-1, 2)]
    names = [f.name for f in passthrough]
    for g in range(1 << bits):
        first = g * per
        m = mspill.read(first, per)
        r = rspill.read(first, per)
        h = [t for t in ((index.read(first, per) if use_index else None), history.read(first, per)) if t is not None]
        if r is not None:
            ok = pc.fill_null(pc.is_in(r["status"], value_set=DONE_STATUSES), False)
            done = r.filter(ok)
            plan.run_done.add(pa.table({"h1": done["_h1"], "h2": done["_h2"]}), done["_h1"].to_numpy())
        if m is None:
            continue
        todo, dropped = _plan_group(m, r, pa.concat_tables(h) if h else None, counts, writer, run_id, names)
        removals.append(dropped)
        if todo is not None and todo.num_rows:
            path = f"{work}/todo-{g:03d}.arrow"
            with pa.OSFile(path, "wb") as sink, ipc.new_file(sink, todo.schema) as w:
                w.write_table(todo)
            plan.todo_files.append(path)
            counts.todo += todo.num_rows
    for spill in (mspill, rspill):
        spill.remove()
    counts.removed_rows = _remove(parts, np.concatenate(removals), opts)
    return plan


def _latest(r: pa.Table) -> tuple[pa.Table, np.ndarray]:
    """The newest row of each key, and (file, row) of the older ones."""
    r = r.sort_by([("_key", "ascending"), ("finished_at", "ascending"), ("_file", "ascending"),
                   ("_idx", "ascending")])
    n = r.num_rows
    last = np.ones(n, bool)
    if n > 1:
        last[:-1] = pc.not_equal(r["_key"].slice(0, n - 1), r["_key"].slice(1)).to_numpy(zero_copy_only=False)
    older = r.filter(pa.array(~last))
    stale = np.stack([older["_file"].to_numpy(), older["_idx"].to_numpy()], axis=1).astype(np.int64)
    return r.filter(pa.array(last)), stale.reshape(-1, 2)


def _first_rows(m: pa.Table, counts: PlanCounts) -> pa.Table:
    """The first row of each key; duplicates counted, with examples when uris differ.
    Keys with equal hashes are the only candidates, so most groups need no group-by."""
    h1 = m["_h1"].to_numpy()
    _, first_idx, seen = np.unique(h1, return_index=True, return_counts=True)
    if (seen == 1).all():
        return m
    suspects = m.filter(pc.is_in(m["_h1"], value_set=pa.array(_[seen > 1], pa.uint64())))
    groups = suspects.group_by("_key").aggregate([("_row", "min"), ("_row", "count"), ("uri", "count_distinct")])
    multi = groups.filter(pc.greater(groups["_row_count"], 1))
    later = suspects.filter(pc.invert(pc.is_in(suspects["_row"], value_set=multi["_row_min"].combine_chunks())))
    later = later.filter(pc.is_in(later["_key"], value_set=multi["_key"].combine_chunks()))
    counts.duplicates += later.num_rows
    counts.duplicate_ids += multi.num_rows
    conflicting = multi.filter(pc.greater(multi["uri_count_distinct"], 1))
    counts.conflicting_ids += conflicting.num_rows
    if conflicting.num_rows and len(counts.duplicate_examples) < EXAMPLES:
        for key in conflicting["_key"].to_pylist()[:EXAMPLES - len(counts.duplicate_examples)]:
            rows = suspects.filter(pc.equal(suspects["_key"], key)).sort_by("_row")
            uris = list(dict.fromkeys(rows["uri"].to_pylist()))
            counts.duplicate_examples.append({"image_id": key, "rows": rows.num_rows, "uris": uris[:3],
                                              "kept_uri": uris[0]})
    return m.filter(pc.invert(pc.is_in(m["_row"], value_set=later["_row"].combine_chunks())))


def _plan_group(m: pa.Table, r: pa.Table | None, h: pa.Table | None, counts: PlanCounts, writer, run_id: str,
                names: list[str]) -> tuple[pa.Table | None, np.ndarray]:
    usable = usable_ids(m["image_id"])
    m = m.append_column("_key", row_keys(m["image_id"], m["_row"], usable))
    m = m.append_column("_valid", valid_rows(m["image_id"], m["uri"], usable))
    firsts = _first_rows(m, counts)
    stale = np.zeros((0, 2), np.int64)
    if r is not None and r.num_rows:
        latest, stale = _latest(r)
        prior = latest.select(["_key", "status", "error_kind", "attempts", "_file", "_idx"]).rename_columns(
            ["_key", "prior_status", "prior_kind", "prior_attempts", "prior_file", "prior_idx"])
        # join on the key columns only (payload columns may be of any type), then line up by _row
        firsts = firsts.sort_by("_row")
        joined = firsts.select(["_key", "_row"]).join(prior, keys="_key", join_type="left outer").sort_by("_row")
        j = firsts
        for name in prior.column_names[1:]:
            j = j.append_column(name, joined[name])
    else:
        j = firsts
        for name, typ in (("prior_status", pa.string()), ("prior_kind", pa.string()), ("prior_attempts", pa.int64()),
                          ("prior_file", pa.int32()), ("prior_idx", pa.int32())):
            j = j.append_column(name, pa.nulls(j.num_rows, typ))
    has_prior = pc.is_valid(j["prior_status"])
    valid = j["_valid"]
    done_status = pc.fill_null(pc.is_in(j["prior_status"], value_set=DONE_STATUSES), False)
    final_kind = pc.fill_null(pc.is_in(j["prior_kind"], value_set=FINAL_FAILURES), False)
    fixed_row = pc.and_(pc.fill_null(pc.equal(j["prior_kind"], "manifest"), False), valid)
    final = pc.and_(has_prior, pc.or_(done_status, pc.and_(final_kind, pc.invert(fixed_row))))
    counts.unique_ids += pc.sum(valid).as_py() or 0
    counts.invalid_rows += pc.sum(pc.invert(valid)).as_py() or 0
    kept = j.filter(final)
    counts.kept.update(zip(kept["prior_status"].to_pylist(), kept["prior_kind"].to_pylist()))
    again = j.filter(pc.and_(has_prior, pc.invert(final)))
    counts.retried.update(again["prior_kind"].to_pylist())
    dropped = np.concatenate([stale, np.stack([again["prior_file"].to_numpy(zero_copy_only=False),
                                               again["prior_idx"].to_numpy(zero_copy_only=False)],
                                              axis=1).astype(np.int64).reshape(-1, 2)])
    fresh = j.filter(pc.invert(final))
    _write_invalid(fresh.filter(pc.invert(fresh["_valid"])), counts, writer, run_id, names)
    run = fresh.filter(fresh["_valid"])
    new = run.filter(pc.is_null(run["prior_status"]))
    retry = run.filter(pc.is_valid(run["prior_status"]))
    if h is not None and h.num_rows and new.num_rows:
        hh = h.select(["h1", "h2"]).rename_columns(["_h1", "_h2"])
        # "right anti": Acero builds its hash table on the right input, the group's (smaller) manifest side
        left = hh.join(new.select(["_h1", "_h2", "_row"]), keys=["_h1", "_h2"], join_type="right anti")
        counts.done_earlier_runs += new.num_rows - left.num_rows
        new = new.filter(pc.is_in(new["_row"], value_set=left["_row"].combine_chunks()))
    cols = ["image_id", "uri", *names, "_row"]
    parts = []
    for table, is_retry in ((retry, True), (new, False)):
        if table.num_rows:
            t = table.select(cols)
            t = t.append_column("_retry", pa.array(np.full(table.num_rows, is_retry)))
            attempts = pc.fill_null(table["prior_attempts"], 0).cast(pa.int64())
            parts.append(t.append_column("_prior_attempts", attempts))
    if not parts:
        return None, dropped
    return pa.concat_tables(parts), dropped


def _write_invalid(rows: pa.Table, counts: PlanCounts, writer, run_id: str, names: list[str]) -> None:
    for row in rows.select(["image_id", "uri", "_row", *names]).to_pylist():
        why = problem(row["image_id"], row["uri"]) or "unusable row"
        message = f"manifest row {row['_row']}: {why}"
        if len(counts.invalid_examples) < EXAMPLES:
            counts.invalid_examples.append(message)
        writer.add(failed_row(row["image_id"] or None, row["uri"], run_id, "manifest", message,
                              {n: row[n] for n in names}, manifest_row=row["_row"]))
        counts.invalid_written += 1


def _remove(parts: list[str], pairs: np.ndarray, opts: dict) -> int:
    """Rewrite each part that holds superseded rows, in place (one atomic write per part)."""
    if not len(pairs):
        return 0
    removed = 0
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    files, starts = np.unique(pairs[:, 0], return_index=True)
    bounds = list(starts[1:]) + [len(pairs)]
    for code, lo, hi in zip(files, starts, bounds):
        removed += rewrite_without(parts[int(code)], [int(i) for i in pairs[lo:hi, 1]], opts)
    return removed
