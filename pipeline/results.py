"""The results dataset of a run: one row per manifest image, Parquet parts via fsspec.

Rows are buffered by the driver and flushed as new part files
(`<run>/results/part-<seq>-<uuid>.parquet`, each written atomically), so a crash loses
at most the unflushed rows, and `recover_rows` rebuilds those from the images'
`record.json` files (written last by each image): nothing done is lost or redone.
"""
from __future__ import annotations

import json
import posixpath
import time
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.core import url_to_fs

from pipeline.storage import StorageError, write_bytes
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
]
SCHEMA = pa.schema(FIELDS)


def run_root(output: str, run_id: str) -> str:
    return posixpath.join(output.rstrip("/"), run_id)


def results_dir(output: str, run_id: str) -> str:
    return posixpath.join(run_root(output, run_id), "results")


def failed_row(image_id: str | None, uri: str | None, run_id: str, kind: str, message: str,
               passthrough: dict | None = None, attempts: int = 0) -> dict[str, Any]:
    return {"image_id": image_id, "uri": uri, "run_id": run_id, "status": "failed", "error_kind": kind,
            "error_message": message[:4000], "attempts": attempts, "finished_at": time.time(),
            **(passthrough or {})}


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
                    passthrough: dict | None = None, attempts: int = 1) -> dict[str, Any]:
    """A results row from an image's record.json (the same code path for live and recovered rows)."""
    row: dict[str, Any] = {"image_id": image_id, "uri": uri, "run_id": run_id, "status": "ok", "prefix": prefix,
                           "backend": record.get("backend"), "attempts": attempts, "finished_at": time.time()}
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
    row.update(passthrough or {})
    return row


class ResultsWriter:
    """Buffers rows and writes them as Parquet parts; call `flush()` at the end."""

    def __init__(self, output: str, run_id: str, passthrough_schema: pa.Schema | None = None,
                 flush_rows: int = 200, flush_s: float = 10.0, storage_options: dict | None = None):
        self.dir = results_dir(output, run_id)
        extra = [f for f in (passthrough_schema or pa.schema([])) if f.name not in SCHEMA.names]
        self.schema = pa.schema(FIELDS + extra)
        self.rows: list[dict] = []
        self.flush_rows, self.flush_s = flush_rows, flush_s
        self.last_flush = time.monotonic()
        self.seq = 0
        self.written = 0
        self.storage_options = storage_options or {}

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.flush_rows or time.monotonic() - self.last_flush >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.rows:
            return
        columns = {f.name: [r.get(f.name) for r in self.rows] for f in self.schema}
        table = pa.table({n: pa.array(v, type=self.schema.field(n).type) for n, v in columns.items()},
                         schema=self.schema)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        name = f"part-{time.strftime('%Y%m%dT%H%M%S')}-{self.seq:05d}-{uuid.uuid4().hex[:8]}.parquet"
        write_bytes(posixpath.join(self.dir, name), sink.getvalue().to_pybytes(), **self.storage_options)
        self.seq += 1
        self.written += len(self.rows)
        self.rows = []


def read_ids(output: str, run_id: str, status: str | None = None, storage_options: dict | None = None) -> set[str]:
    """image_ids with a results row in this run (optionally only with this status)."""
    fs, path = url_to_fs(results_dir(output, run_id), **(storage_options or {}))
    try:
        parts = [p for p in fs.glob(posixpath.join(path, "*.parquet"))]
    except FileNotFoundError:
        return set()
    if not parts:
        return set()
    import pyarrow.compute as pc

    ids: set[str] = set()
    for part in parts:  # one file at a time: a dataset over thousands of parts costs ~0.14 MB each
        try:
            table = pq.read_table(part, columns=["image_id", "status"], filesystem=fs)
        except (OSError, pa.ArrowException) as exc:
            raise StorageError(f"cannot read results part {part} of run {run_id}: {exc}") from exc
        if status:
            table = table.filter(pc.equal(table["status"], status))
        ids.update(table.column("image_id").drop_null().to_pylist())
    return ids


def list_runs(output: str, storage_options: dict | None = None) -> list[str]:
    fs, path = url_to_fs(output, **(storage_options or {}))
    try:
        entries = fs.ls(path, detail=True)
    except FileNotFoundError:
        return []
    return sorted(posixpath.basename(e["name"].rstrip("/")) for e in entries if e["type"] == "directory")


def recorded_ids(output: str, run_id: str, storage_options: dict | None = None) -> dict[str, str]:
    """{image_id: record.json path} for images of this run whose artifacts are complete."""
    fs, path = url_to_fs(run_root(output, run_id), **(storage_options or {}))
    try:
        found = fs.glob(posixpath.join(path, "scenes", "*", "record.json"))
    except FileNotFoundError:
        return {}
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    scheme = "" if protocol in ("file", "local") else f"{protocol}://"
    return {posixpath.basename(posixpath.dirname(p)): scheme + p for p in found}


def load_record(path_or_uri: str, storage_options: dict | None = None) -> dict:
    from pipeline.storage import read_bytes

    return json.loads(read_bytes(path_or_uri, **(storage_options or {})))
