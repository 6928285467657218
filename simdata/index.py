"""The dataset index of a run: `<run>/dataset/part-*.parquet`, one row per sample.

Rows travel from each image's finalize task to the driver with the results row and are
kept in the image's record.json; the driver buffers them and writes Parquet parts, each
file written atomically, then the dataset card (`simdata.card`) when the run ends. A
rerun adds the rows of any finished image the index lacks (`indexed_ids`), from its record.
"""
from __future__ import annotations

import posixpath
import time
import uuid
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.core import url_to_fs

from scene_program.classes import CLASSES

# Output files and the index column of each one's URI.
URI_COLUMNS: dict[str, str] = {
    "rgb.png": "rgb_uri", "depth.png": "depth_uri", "depth.npy": "depth_npy_uri",
    "depth_preview.png": "depth_preview_uri", "semantic.png": "semantic_uri",
    "semantic_preview.png": "semantic_preview_uri", "instance.png": "instance_uri", "normal.png": "normal_uri",
    "camera.json": "camera_uri", "objects.json": "objects_uri", "scene.glb": "glb_uri", "scene.usdc": "usd_uri",
}
ROW_KEY = "_dataset"  # the results row carries the image's dataset rows to the driver under this key


def fraction_column(name: str) -> str:
    return "frac_" + name.replace(" ", "_")


FIELDS = [
    pa.field("image_id", pa.string()), pa.field("run_id", pa.string()), pa.field("variant", pa.int32()),
    pa.field("sample", pa.string()), pa.field("seed", pa.int64()), pa.field("prefix", pa.string()),
    pa.field("program_uri", pa.string()),
    *[pa.field(col, pa.string()) for col in URI_COLUMNS.values()],
    pa.field("width", pa.int32()), pa.field("height", pa.int32()),
    pa.field("fx", pa.float64()), pa.field("fy", pa.float64()), pa.field("cx", pa.float64()), pa.field("cy", pa.float64()),
    pa.field("cam_x", pa.float64()), pa.field("cam_y", pa.float64()), pa.field("cam_z", pa.float64()),
    pa.field("world_to_camera", pa.list_(pa.float64(), 16)),
    *[pa.field(fraction_column(c.name), pa.float64()) for c in CLASSES],
    pa.field("objects", pa.int32()), pa.field("bytes", pa.int64()), pa.field("render_s", pa.float64()),
    pa.field("variant_json", pa.string()),
]
SCHEMA = pa.schema(FIELDS)


def dataset_dir(run_root: str) -> str:
    return posixpath.join(run_root.rstrip("/"), "dataset")


Put = Callable[[str, bytes], None]  # (uri, data): an atomic write, e.g. pipeline.storage.write_bytes


class DatasetIndexWriter:
    """Buffers sample rows, writes Parquet parts; `close()` flushes and writes the card."""

    def __init__(self, run_root: str, run_id: str, put: Put, flush_rows: int = 500,
                 storage_options: dict | None = None):
        self.dir = dataset_dir(run_root)
        self.run_id = run_id
        self.put = put
        self.rows: list[dict[str, Any]] = []
        self.flush_rows = flush_rows
        self.storage_options = storage_options or {}
        self.seq = 0
        self.written = 0

    def add_from_row(self, row: dict) -> None:
        """Take (and remove) the dataset rows a results row carries, if any."""
        self.rows.extend(row.pop(ROW_KEY, None) or [])
        if len(self.rows) >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        sink = pa.BufferOutputStream()
        pq.write_table(table(self.rows), sink)
        self.put(posixpath.join(self.dir, part_name(self.seq)), sink.getvalue().to_pybytes())
        self.seq += 1
        self.written += len(self.rows)
        self.rows = []

    def close(self, config: dict | None = None) -> None:
        """Flush, then (re)write the card from every part of the run's dataset so far."""
        from simdata.card import card

        self.flush()
        index = read_index(self.dir, self.storage_options)
        if index.num_rows or self.written:
            self.put(posixpath.join(self.dir, "README.md"), card(index, self.run_id, config).encode())


def table(rows: list[dict]) -> pa.Table:
    columns = {f.name: pa.array([r.get(f.name) for r in rows], type=f.type) for f in SCHEMA}
    return pa.table(columns, schema=SCHEMA)


def part_name(seq: int) -> str:
    return f"part-{time.strftime('%Y%m%dT%H%M%S')}-{seq:05d}-{uuid.uuid4().hex[:8]}.parquet"


def read_index(uri: str, storage_options: dict | None = None) -> pa.Table:
    """Every part of a dataset folder (or one Parquet file) as one table."""
    fs, path = url_to_fs(uri, **(storage_options or {}))
    parts = [path] if path.endswith(".parquet") else sorted(fs.glob(posixpath.join(path, "part-*.parquet")))
    if not parts:
        return SCHEMA.empty_table()
    return pa.concat_tables([pq.read_table(p, filesystem=fs) for p in parts], promote_options="default")


def indexed_ids(uri: str, storage_options: dict | None = None) -> set[str]:
    """image_ids with rows in a dataset folder (one part at a time, one column)."""
    fs, path = url_to_fs(uri, **(storage_options or {}))
    try:
        parts = fs.glob(posixpath.join(path, "part-*.parquet"))
    except FileNotFoundError:
        return set()
    ids: set[str] = set()
    for part in parts:
        ids.update(pq.read_table(part, columns=["image_id"], filesystem=fs).column("image_id").to_pylist())
    return ids
