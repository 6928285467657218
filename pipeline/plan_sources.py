"""What a plan reads, each routed into hash partitions on local disk (pipeline.spill):
the manifest, the run's own results so far, and the OK ids of runs the done-index does
not cover. Everything is whole-array Arrow and numpy; no Python object per row.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.done_index import add_hashes
from pipeline.keys import hash128, row_keys, usable_ids
from pipeline.kinds import OUTCOMES
from pipeline.manifest import Manifest
from pipeline.results import PLAN_COLUMNS, list_parts, passthrough_fields, read_part
from pipeline.spill import Spill
from pipeline.storage import is_local

DONE_STATUSES = pa.array(sorted(o.name for o in OUTCOMES.values() if o.done))
READ_BATCH_ROWS = 100_000


def spill_manifest(manifest: Manifest, spill: Spill, batch_rows: int) -> tuple[int, list[pa.Field]]:
    """Every manifest row with its number (`_row`), key, validity and hash. Returns
    (rows, the passthrough fields carried)."""
    fields = passthrough_fields(manifest.dataset.schema)
    names = [f.name for f in fields]
    row = 0
    for batch in manifest.iter_batches(max(batch_rows, READ_BATCH_ROWS)):
        n = batch.num_rows
        if n == 0:
            continue
        rows = pa.array(np.arange(row, row + n, dtype=np.int64))
        row += n
        ids, uris = batch.column("image_id"), batch.column("uri")
        keys = row_keys(ids, rows)
        h1, h2 = hash128(keys)
        # the key and validity are recomputed per group (cheaper than spilling them)
        cols = {"image_id": ids.cast(pa.string()), "uri": uris.cast(pa.string()),
                **{c: batch.column(c) for c in names},
                "_row": rows, "_h1": pa.array(h1, pa.uint64()), "_h2": pa.array(h2, pa.uint64())}
        spill.add(pa.table(cols), h1)
    return row, fields


def _read_many(uris: list[str], columns: list[str], opts: dict):
    """(index, table) for each part; parts on an object store are fetched 16 at a time."""
    if not uris:
        return
    if all(is_local(u) for u in uris):
        for i, u in enumerate(uris):
            yield i, read_part(u, columns, opts)
        return
    with ThreadPoolExecutor(max_workers=16) as pool:
        for start in range(0, len(uris), 64):
            chunk = list(enumerate(uris[start:start + 64], start))
            for i, table in zip([i for i, _ in chunk], pool.map(lambda iu: read_part(iu[1], columns, opts), chunk)):
                yield i, table


def spill_run_results(output: str, run_id: str, spill: Spill, opts: dict) -> tuple[list[str], list[tuple[int, int]]]:
    """The run's rows so far, keyed like the manifest, with their part (`_file`, an index
    into the returned list) and row (`_idx`). Also returns (file, row) of legacy rows
    (an unusable id and no manifest_row) to remove: the plan writes those rows afresh."""
    parts = list_parts(output, run_id, opts)
    legacy: list[tuple[int, int]] = []
    for code, table in _read_many(parts, PLAN_COLUMNS, opts):
        n = table.num_rows
        if n == 0:
            continue
        idx = np.arange(n, dtype=np.int32)
        usable = usable_ids(table["image_id"])
        orphan = pc.and_(pc.invert(usable), pc.is_null(table["manifest_row"])).to_numpy(zero_copy_only=False)
        legacy += [(code, int(i)) for i in idx[orphan]]
        keep = ~orphan
        table = table.filter(pa.array(keep))
        idx = idx[keep]
        if table.num_rows == 0:
            continue
        keys = row_keys(table["image_id"], table["manifest_row"])
        h1, h2 = hash128(keys)
        spill.add(pa.table({
            "_key": keys, "status": table["status"], "error_kind": table["error_kind"],
            "attempts": table["attempts"], "finished_at": table["finished_at"],
            "_file": pa.array(np.full(len(idx), code, np.int32)), "_idx": pa.array(idx),
            "_h1": pa.array(h1, pa.uint64()), "_h2": pa.array(h2, pa.uint64())}), h1)
    return parts, legacy


def spill_done_ids(output: str, run_ids: list[str], spill: Spill, opts: dict) -> dict[str, dict]:
    """Hashes of the ids each run finished OK (for runs the done-index does not cover)."""
    covered: dict[str, dict] = {}
    for rid in run_ids:
        count = 0
        for _, table in _read_many(list_parts(output, rid, opts), ["image_id", "status"], opts):
            ok = pc.and_(pc.fill_null(pc.is_in(table["status"], value_set=DONE_STATUSES), False),
                         usable_ids(table["image_id"]))
            ids = table["image_id"].filter(ok)
            if len(ids):
                h1, h2 = hash128(ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids)
                add_hashes(spill, h1, h2)
                count += len(ids)
        covered[rid] = {"ok_rows": count}
    return covered
