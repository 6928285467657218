"""Rows routed by key hash into 256 partitions on local disk, read back a range at a time.

Why: planning a night compares a manifest of 10^7 rows with 10^8 done ids. Routed by
the top bits of each key's hash, every key lands in the same partition in every spill
(manifest, a run's results, history), so a plan can join one partition range at a time
in bounded memory. Rows are buffered in memory up to `budget_bytes`, then written as
one Arrow IPC file per non-empty partition (a "segment"); nothing keeps hundreds of
files open.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from pipeline.keys import partition_of

BITS = 8  # 256 partitions: the done-index's too
PARTS = 1 << BITS


class Spill:
    def __init__(self, root: str, name: str, budget_bytes: int = 64 << 20):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        self.budget = budget_bytes
        self.buffers: dict[int, list[pa.Table]] = defaultdict(list)
        self.buffered = 0
        self.segments: dict[int, list[str]] = defaultdict(list)
        self.schema: pa.Schema | None = None
        self.rows = 0
        self._seq = 0

    def add(self, table: pa.Table, h1: np.ndarray) -> None:
        """Route each row of `table` to the partition of its h1."""
        if table.num_rows == 0:
            return
        if self.schema is None:
            self.schema = table.schema
        elif table.schema != self.schema:
            table = table.select(self.schema.names).cast(self.schema)
        parts = partition_of(h1, BITS).astype(np.uint8)
        order = np.argsort(parts, kind="stable")  # a radix sort for uint8
        sorted_parts = parts[order]
        table = table.take(pa.array(order))
        bounds = np.concatenate([[0], np.cumsum(np.bincount(parts, minlength=PARTS))])
        for p in np.unique(sorted_parts):
            lo, hi = bounds[p], bounds[p + 1]
            piece = table.slice(lo, hi - lo)
            self.buffers[int(p)].append(piece)
            self.buffered += piece.nbytes
        self.rows += table.num_rows
        if self.buffered >= self.budget:
            self.flush()

    def flush(self) -> None:
        for p, pieces in self.buffers.items():
            path = os.path.join(self.dir, f"{p:03d}-{self._seq:05d}.arrow")
            table = pa.concat_tables(pieces)
            with pa.OSFile(path, "wb") as sink, ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
            self.segments[p].append(path)
        self._seq += 1
        self.buffers.clear()
        self.buffered = 0

    def read(self, first: int, count: int = 1) -> pa.Table | None:
        """Partitions first .. first+count-1 as one table (None when they hold no rows)."""
        self.flush()
        tables = []
        for p in range(first, first + count):
            for path in self.segments.get(p, []):
                with pa.OSFile(path, "rb") as source:  # read into memory: the file may go first
                    tables.append(ipc.open_file(source).read_all())
        if not tables:
            return None
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def workdir(prefix: str = "seig-plan-") -> str:
    """A private scratch folder for a plan's spills (removed by the driver at the end)."""
    return tempfile.mkdtemp(prefix=prefix)
