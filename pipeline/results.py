"""The results dataset of a run: Parquet parts under `<output>/<run_id>/results/`.

What a plain reader (`pq.read_table("<run>/results")`) sees, and why it holds:
- Each key (image_id, or the manifest row of an unusable id) has at most one row at
  any moment: an attempt writes a row only for a key with no row, and a rerun removes
  a transient failure's row (rewriting its part in place) before it tries that image
  again. A part is only ever written whole under its final name (one atomic rename or
  PUT), and a failed write is retried under the same name, so a crash between two
  writes leaves every part either as it was or as it became: never a second row.
- After an attempt ends (finished or aborted) every key of the manifest has exactly one
  row; keys never run because the job stopped get an `aborted` row. A driver killed
  mid-run leaves keys without a row until the next attempt (they are simply not done).
Rows are buffered by the driver and flushed as parts, so a crash loses unflushed rows,
never work: the next attempt finds each finished image's record.json (written last by
the image) and rebuilds its row with every manifest column.
"""
from __future__ import annotations

import json
import posixpath
import time
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.storage import delete, listdir, read_bytes, write_bytes
from pipeline.vlm_outcome import vlm_failure

STAGES = ("geometry", "materials", "composition", "lighting")
SCORES = ("psnr", "ssim", "photometric_loss")

FIELDS = [
    pa.field("image_id", pa.string()), pa.field("uri", pa.string()), pa.field("run_id", pa.string()),
    pa.field("status", pa.string()), pa.field("error_kind", pa.string()), pa.field("error_message", pa.string()),
    *[pa.field(f"{stage}_{s}", pa.float64()) for stage in ("initial", *STAGES) for s in SCORES],
    *[pa.field(f"final_{s}", pa.float64()) for s in SCORES],
    *[pa.field(f"{stage}_time_s", pa.float64()) for stage in STAGES],
    pa.field("time_s", pa.float64()), pa.field("render_s", pa.float64()), pa.field("renders", pa.int64()),
    pa.field("failed_rounds", pa.int64()), pa.field("attempts", pa.int64()),
    pa.field("vlm_calls", pa.int64()), pa.field("prompt_tokens", pa.int64()), pa.field("completion_tokens", pa.int64()),
    pa.field("cached_tokens", pa.int64()), pa.field("vlm_retries", pa.int64()), pa.field("vlm_failed_calls", pa.int64()),
    pa.field("vlm_verdicts_lost", pa.int64()), pa.field("initial_source", pa.string()),
    pa.field("backend", pa.string()), pa.field("prefix", pa.string()), pa.field("scene_uri", pa.string()),
    pa.field("render_uri", pa.string()), pa.field("record_uri", pa.string()), pa.field("finished_at", pa.float64()),
    pa.field("manifest_row", pa.int64()),
]
SCHEMA = pa.schema(FIELDS)
PLAN_COLUMNS = ["image_id", "status", "error_kind", "attempts", "finished_at", "manifest_row"]


def run_root(output: str, run_id: str) -> str:
    return posixpath.join(output.rstrip("/"), run_id)


def results_dir(output: str, run_id: str) -> str:
    return posixpath.join(run_root(output, run_id), "results")


def failed_row(image_id: str | None, uri: str | None, run_id: str, kind: str, message: str,
               passthrough: dict | None = None, attempts: int = 0, manifest_row: int | None = None) -> dict[str, Any]:
    return {**(passthrough or {}), "image_id": image_id, "uri": uri, "run_id": run_id, "status": "failed",
            "error_kind": kind, "error_message": message[:4000], "attempts": attempts, "finished_at": time.time(),
            "manifest_row": manifest_row}


def vlm_columns(record: dict) -> dict[str, Any]:
    """The VLM's columns of a row: calls, tokens, retries, failed calls, where the first
    program came from (offline, vlm, offline_fallback)."""
    usage = record.get("usage") or {}
    vlm = record.get("vlm") or {}
    return {"backend": record.get("backend"), "vlm_calls": usage.get("calls"),
            "prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": usage.get("completion_tokens"),
            "cached_tokens": usage.get("cached_tokens"), "vlm_retries": usage.get("retries"),
            "vlm_failed_calls": vlm.get("calls_failed"), "vlm_verdicts_lost": vlm.get("verdicts_lost"),
            "initial_source": vlm.get("initial_program")}


def row_from_record(record: dict, image_id: str, uri: str, run_id: str, prefix: str,
                    passthrough: dict | None = None, attempts: int = 1,
                    manifest_row: int | None = None) -> dict[str, Any]:
    """A results row from an image's record.json (the same code path for live and recovered rows)."""
    row: dict[str, Any] = {**(passthrough or {}), "image_id": image_id, "uri": uri, "run_id": run_id,
                           "status": "ok", "prefix": prefix, "backend": record.get("backend"), "attempts": attempts,
                           "finished_at": time.time(), "manifest_row": manifest_row}
    for key, scores in [("initial", record.get("initial_scores"))] + [
            (s["stage"], s.get("best_scores")) for s in record.get("stages", [])]:
        for name in SCORES:
            row[f"{key}_{name}"] = (scores or {}).get(name)
    for name in SCORES:
        row[f"final_{name}"] = (record.get("final_scores") or {}).get(name)
    for s in record.get("stages", []):
        row[f"{s['stage']}_time_s"] = s.get("time_s")
    row.update(time_s=record.get("time_s"), renders=record.get("renders"), failed_rounds=record.get("failed_rounds"),
               render_s=record.get("render_s"), **vlm_columns(record))
    failure = vlm_failure(record)
    if failure:  # finished with the offline fallback after the VLM failed: complete, but not ok
        row.update(status="degraded", error_kind=failure.kind,
                   error_message=f"degraded: the VLM failed ({failure.where or 'image'}): {failure.message}"[:4000])
    arts = record.get("artifacts", {})
    row.update(scene_uri=(arts.get("scene.py") or {}).get("uri"), render_uri=(arts.get("render.png") or {}).get("uri"),
               record_uri=posixpath.join(prefix, "record.json"))
    return row


def aborted_rows(todo: pa.Table, names: list[str], run_id: str, why: str) -> pa.Table:
    """Rows of kind `aborted` for planned images never run (columns of a plan's todo table)."""
    n = todo.num_rows
    rows = todo.select(["image_id", "uri", *names]).append_column("manifest_row", todo["_row"])
    for name, value in (("run_id", run_id), ("status", "failed"), ("error_kind", "aborted"),
                        ("error_message", why), ("finished_at", time.time())):
        rows = rows.append_column(name, pa.array([value] * n))
    return rows.append_column("attempts", todo["_prior_attempts"])


def passthrough_fields(manifest_schema: pa.Schema | None) -> list[pa.Field]:
    """The manifest's own columns the results carry (a name seig uses itself is not carried)."""
    return [f for f in (manifest_schema or pa.schema([])) if f.name not in SCHEMA.names]


class ResultsWriter:
    """Buffers rows and writes them as Parquet parts; call `flush()` at the end.

    A flush that fails keeps its rows and its part name: the retry writes the same part,
    so a write that landed although it reported an error is never written twice."""

    def __init__(self, output: str, run_id: str, passthrough_schema: pa.Schema | None = None,
                 flush_rows: int = 200, flush_s: float = 10.0, storage_options: dict | None = None):
        self.dir = results_dir(output, run_id)
        self.schema = pa.schema(FIELDS + passthrough_fields(passthrough_schema))
        self.rows: list[dict] = []
        self.flush_rows, self.flush_s = flush_rows, flush_s
        self.last_flush = time.monotonic()
        self.token = uuid.uuid4().hex[:8]
        self.seq = 0
        self.written = 0
        self.storage_options = storage_options or {}
        self._pending: tuple[str, bytes, int] | None = None

    def add(self, row: dict) -> None:
        if self.append(row):
            self.flush()

    def append(self, row: dict) -> bool:
        """Buffer a row; True when a flush is due (the caller flushes, and may retry it)."""
        self.rows.append(row)
        return self.due() or len(self.rows) >= self.flush_rows

    def due(self) -> bool:
        return (bool(self.rows) or self._pending is not None) and time.monotonic() - self.last_flush >= self.flush_s

    def table(self, rows: list[dict]) -> pa.Table:
        return pa.table({f.name: pa.array([r.get(f.name) for r in rows], type=f.type) for f in self.schema},
                        schema=self.schema)

    def add_table(self, table: pa.Table) -> None:
        """Rows already in Arrow form (missing columns become null), written as their own parts."""
        self.flush()
        for start in range(0, table.num_rows, max(self.flush_rows, 10_000)):
            piece = table.slice(start, max(self.flush_rows, 10_000))
            cols = {f.name: (piece.column(f.name).cast(f.type) if f.name in piece.column_names
                             else pa.nulls(piece.num_rows, f.type)) for f in self.schema}
            self._write(pa.table(cols, schema=self.schema))

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if self._pending is None and not self.rows:
            return
        if self._pending is None:
            self._pending = self._encode(self.table(self.rows))
        self._put()
        self.rows = []

    def _encode(self, table: pa.Table) -> tuple[str, bytes, int]:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        name = f"part-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{self.token}-{self.seq:05d}.parquet"
        self.seq += 1
        return posixpath.join(self.dir, name), sink.getvalue().to_pybytes(), table.num_rows

    def _put(self) -> None:
        uri, data, n = self._pending
        write_bytes(uri, data, **self.storage_options)  # raises StorageError: the part stays pending
        self._pending = None
        self.written += n

    def _write(self, table: pa.Table) -> None:
        self._pending = self._encode(table)
        self._put()


def list_parts(output: str, run_id: str, storage_options: dict | None = None) -> list[str]:
    """URIs of the visible parts of a run's results (what a plain Parquet reader reads)."""
    return part_uris(results_dir(output, run_id), storage_options)


def part_uris(directory: str, storage_options: dict | None = None) -> list[str]:
    from pipeline.storage import scheme_of

    entries = listdir(directory, **(storage_options or {}))
    if not entries:
        return []
    from fsspec.core import url_to_fs

    fs, _ = url_to_fs(directory, **(storage_options or {}))
    scheme = scheme_of(fs)
    names = sorted(e["name"] for e in entries if e.get("type") == "file")
    return [scheme + n for n in names
            if n.endswith(".parquet") and not posixpath.basename(n).startswith(("_", "."))]


def read_part(uri: str, columns: list[str] | None = None, storage_options: dict | None = None) -> pa.Table:
    """One part (within the storage deadline); columns a legacy part lacks come back null."""
    data = read_bytes(uri, **(storage_options or {}))
    pf = pq.ParquetFile(pa.BufferReader(data))
    if columns is None:
        return pf.read()
    have = [c for c in columns if c in pf.schema_arrow.names]
    table = pf.read(columns=have)
    for c in columns:
        if c not in have:
            table = table.append_column(c, pa.nulls(table.num_rows, SCHEMA.field(c).type if c in SCHEMA.names
                                                    else pa.string()))
    return table.select(columns)


def rewrite_without(uri: str, drop: list[int], storage_options: dict | None = None) -> int:
    """Rewrite one part in place without the rows at `drop` (one atomic write; the part
    is deleted when nothing is left). Returns the number of rows removed."""
    import numpy as np

    table = read_part(uri, storage_options=storage_options)
    keep = np.ones(table.num_rows, bool)
    keep[[i for i in drop if 0 <= i < table.num_rows]] = False
    removed = int(table.num_rows - keep.sum())
    if removed == 0:
        return 0
    if not keep.any():
        delete(uri, **(storage_options or {}))
        return removed
    sink = pa.BufferOutputStream()
    pq.write_table(table.filter(pa.array(keep)), sink)
    write_bytes(uri, sink.getvalue().to_pybytes(), **(storage_options or {}))
    return removed


def list_runs(output: str, storage_options: dict | None = None) -> list[str]:
    """Run ids under an output root (folders; names starting with '_' or '.' are seig's own)."""
    entries = listdir(output, **(storage_options or {}))
    names = (posixpath.basename(e["name"].rstrip("/")) for e in entries if e.get("type") == "directory")
    return sorted(n for n in names if n and not n.startswith(("_", ".")))


def load_record(path_or_uri: str, storage_options: dict | None = None) -> dict:
    return json.loads(read_bytes(path_or_uri, **(storage_options or {})))
