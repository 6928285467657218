"""The done-index of an output root: the 128-bit key hashes of every image finished OK by
any run, hash-partitioned, so a night plans against years of runs without rereading them.

Layout under `<output>/_seig/done/`:
  data/<partition>/<generation>-<uuid>.parquet   columns h1, h2 (uint64), one partition each
  commit-<generation>.json                       the files of every partition and the runs covered

Safe against a crash at any point: data files are written first, then the commit (one
atomic write). Readers use the newest commit, which only names files that exist; a crash
before the commit leaves unnamed files that the next update deletes. The index is
derived data: runs it does not cover (absent from the commit: a run that crashed, a
rerun in progress, an index deleted by hand) are read from their results instead, and
the next run's end adds them. A rerun of a covered run uncovers it first, so a rerun
that dies cannot leave its new OK rows unknown to later nights.
One writer at a time per output root (the nightly schedules forbid overlapping jobs).
"""
from __future__ import annotations

import json
import posixpath
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.keys import HASH_VERSION, partition_of
from pipeline.spill import BITS, PARTS, Spill
from pipeline.storage import delete, listdir, read_bytes, write_bytes

HASH_SCHEMA = pa.schema([pa.field("h1", pa.uint64()), pa.field("h2", pa.uint64())])
MAX_FILES_PER_PARTITION = 8  # then the partition's files are merged into one


def index_root(output: str) -> str:
    return posixpath.join(output.rstrip("/"), "_seig", "done")


class DoneIndex:
    def __init__(self, output: str, storage_options: dict | None = None):
        self.root = index_root(output)
        self.opts = storage_options or {}
        self.generation = 0
        self.runs: dict[str, dict] = {}
        self.files: dict[int, list[list]] = {}  # partition -> [[relative path, rows], ...]

    @classmethod
    def load(cls, output: str, storage_options: dict | None = None) -> "DoneIndex":
        """The newest committed generation (an empty index when there is none or its hash
        differs: then every run is read from its results and the index is rebuilt)."""
        index = cls(output, storage_options)
        commits = sorted(e["name"] for e in listdir(index.root, **index.opts)
                         if posixpath.basename(e["name"]).startswith("commit-"))
        for name in reversed(commits):
            try:
                meta = json.loads(read_bytes(_uri(index.root, posixpath.basename(name)), **index.opts))
            except (FileNotFoundError, ValueError):
                continue
            if meta.get("hash") != HASH_VERSION or meta.get("bits") != BITS:
                return cls(output, storage_options)
            index.generation = int(meta["generation"])
            index.runs = dict(meta.get("runs", {}))
            index.files = {int(p): [list(f) for f in fs] for p, fs in meta.get("files", {}).items()}
            break
        return index

    @property
    def rows(self) -> int:
        return sum(n for fs in self.files.values() for _, n in fs)

    def read(self, first: int, count: int = 1) -> pa.Table | None:
        """The hashes of partitions first .. first+count-1."""
        return self._read([rel for p in range(first, first + count) for rel, _ in self.files.get(p, [])])

    def _read(self, rels: list[str]) -> pa.Table | None:
        tables = [pq.read_table(pa.BufferReader(read_bytes(_uri(self.root, rel), **self.opts))) for rel in rels]
        if not tables:
            return None
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]

    def uncover(self, run_id: str) -> None:
        """Forget that `run_id` is covered (its rerun starts: new OK rows may come)."""
        if run_id in self.runs:
            self.runs.pop(run_id)
            self._commit(self.files, replaced=[])

    def add(self, spills: list[Spill], runs: dict[str, dict]) -> None:
        """Add the hashes in `spills` (columns h1, h2) and mark `runs` covered."""
        files = {p: [list(f) for f in fs] for p, fs in self.files.items()}
        replaced: list[str] = []
        gen = self.generation + 1
        for p in range(PARTS):
            pieces = [t.select(["h1", "h2"]).cast(HASH_SCHEMA) for t in (s.read(p) for s in spills if s.rows)
                      if t is not None and t.num_rows]
            if not pieces:
                continue
            new = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
            existing = files.get(p, [])
            if len(existing) + 1 > MAX_FILES_PER_PARTITION:
                merge = _to_merge(existing, new.num_rows)
                old = self._read([rel for rel, _ in merge])
                new = pa.concat_tables([old, new]) if old is not None else new
                new = new.group_by(["h1", "h2"]).aggregate([]).cast(HASH_SCHEMA)  # merged: each hash once
                replaced += [rel for rel, _ in merge]
                existing = [f for f in existing if f not in merge]
            rel = f"data/{p:03d}/{gen:010d}-{uuid.uuid4().hex[:8]}.parquet"
            sink = pa.BufferOutputStream()
            pq.write_table(new, sink, compression="none")
            write_bytes(_uri(self.root, rel), sink.getvalue().to_pybytes(), **self.opts)
            files[p] = existing + [[rel, new.num_rows]]
        self.runs.update(runs)
        self._commit(files, replaced)

    def _commit(self, files: dict[int, list[list]], replaced: list[str]) -> None:
        gen = self.generation + 1
        meta = {"version": 1, "hash": HASH_VERSION, "bits": BITS, "generation": gen,
                "rows": sum(n for fs in files.values() for _, n in fs),
                "runs": self.runs, "files": {str(p): fs for p, fs in sorted(files.items()) if fs}}
        write_bytes(_uri(self.root, f"commit-{gen:010d}.json"), json.dumps(meta).encode(), **self.opts)
        previous = self.generation
        self.generation, self.files = gen, files
        for rel in replaced:
            delete(_uri(self.root, rel), **self.opts)
        if previous:
            delete(_uri(self.root, f"commit-{previous:010d}.json"), **self.opts)
        self._collect_garbage()

    def _collect_garbage(self) -> None:
        """Data files no commit names (left by an update that died before its commit)."""
        named = {rel for fs in self.files.values() for rel, _ in fs}
        for part in listdir(posixpath.join(self.root, "data"), **self.opts):
            if part.get("type") != "directory":
                continue
            for entry in listdir(_uri(self.root, "data/" + posixpath.basename(part["name"].rstrip("/"))), **self.opts):
                rel = "data/" + posixpath.basename(part["name"].rstrip("/")) + "/" + posixpath.basename(entry["name"])
                if rel not in named and entry.get("type") == "file":
                    delete(_uri(self.root, rel), **self.opts)


def _to_merge(files: list[list], new_rows: int) -> list[list]:
    """Which files to merge with a partition's new hashes: all but the largest, unless
    they (with the new ones) outgrow it; then all. The large file is rewritten only when
    the rest has grown as large, so merging costs O(log nights) rewrites per hash."""
    ordered = sorted(files, key=lambda f: f[1])
    rest, largest = ordered[:-1], ordered[-1]
    if sum(n for _, n in rest) + new_rows >= largest[1]:
        return ordered
    return rest


def _uri(root: str, rel: str) -> str:
    return posixpath.join(root, rel)


def hashes_table(h1: np.ndarray, h2: np.ndarray) -> pa.Table:
    return pa.table({"h1": pa.array(h1, pa.uint64()), "h2": pa.array(h2, pa.uint64())})


def add_hashes(spill: Spill, h1: np.ndarray, h2: np.ndarray) -> None:
    spill.add(hashes_table(h1, h2), h1)


__all__ = ["DoneIndex", "HASH_SCHEMA", "add_hashes", "hashes_table", "index_root", "partition_of"]
