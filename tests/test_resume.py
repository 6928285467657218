"""Planning, the done-index and the results' one-row-per-entry rule, without Ray: real
Parquet parts on disk, the real planner, crashes simulated between the writes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import load_config
from pipeline.done_index import DoneIndex, add_hashes, index_root
from pipeline.keys import hash128, partition_of, row_keys
from pipeline.manifest import open_manifest
from pipeline.plan import make_plan
from pipeline.results import ResultsWriter, failed_row, list_parts, rewrite_without
from pipeline.spill import Spill


def _manifest(path: Path, ids, uris, **extra) -> str:
    cols = {"image_id": pa.array(ids, pa.string()), "uri": pa.array(uris, pa.string())}
    cols.update({k: pa.array(v) for k, v in extra.items()})
    pq.write_table(pa.table(cols), path)
    return str(path)


def _cfg(tmp_path, manifest, *more):
    return load_config(None, [f"run.manifest={manifest}", f"run.output={tmp_path / 'out'}", *more])


def _plan(tmp_path, manifest, run_id, *more):
    cfg = _cfg(tmp_path, manifest, *more)
    writer = ResultsWriter(cfg.run.output, run_id, open_manifest(manifest).dataset.schema, 1000, 1000)
    index = DoneIndex.load(cfg.run.output)
    plan = make_plan(cfg, open_manifest(manifest), index, writer, run_id, {})
    writer.flush()
    return plan, writer


def _rows(tmp_path, run_id):
    parts = list_parts(str(tmp_path / "out"), run_id)
    return pq.read_table(str(tmp_path / "out" / run_id / "results")).to_pylist() if parts else []


def _write_rows(tmp_path, run_id, rows, schema_from):
    writer = ResultsWriter(str(tmp_path / "out"), run_id, open_manifest(schema_from).dataset.schema, 1000, 1000)
    for r in rows:
        writer.add(r)
    writer.flush()


def test_hash_is_fixed_and_partitions_line_up():
    ids = pa.array(["img-1", "img-2", "", "é/ü", "x" * 600])
    h1, h2 = hash128(ids)
    # fixed forever (the done-index on disk depends on it): a change must bump keys.HASH_VERSION
    assert [int(h1[0]), int(h2[0])] == [int(hash128(pa.array(["img-1"]))[0][0]), int(hash128(pa.array(["img-1"]))[1][0])]
    assert len(set(zip(h1.tolist(), h2.tolist()))) == 5
    sliced = hash128(pa.array(["zz", "img-1", "img-2"]).slice(1))
    assert sliced[0].tolist() == h1[:2].tolist() and sliced[1].tolist() == h2[:2].tolist()
    many = hash128(pa.array([f"img-{i:08d}" for i in range(200_000)]))
    assert len(set(many[0].tolist())) == 200_000  # no 64-bit collision among 2e5 similar ids
    counts = np.bincount(partition_of(many[0], 8), minlength=256)
    assert counts.min() > 600 and counts.max() < 1000  # balanced partitions (mean 781)
    keys = row_keys(pa.array(["a", None, "b/c"]), pa.array([0, 1, 2], pa.int64()))
    assert keys.to_pylist() == ["a", "/1", "/2"]


def test_plan_keeps_final_rows_retries_transient_and_removes_their_old_rows(tmp_path, photos):
    ids = ["ok1", "bad", "storage", "aborted", "new", "dup", "dup", None]
    uris = [str(photos[0])] * 5 + [str(photos[0]), str(photos[1]), str(photos[0])]
    manifest = _manifest(tmp_path / "m.parquet", ids, uris, note=[f"n{i}" for i in range(8)])
    ok = {"image_id": "ok1", "uri": uris[0], "run_id": "r", "status": "ok", "attempts": 1, "manifest_row": 0,
          "finished_at": 1.0}
    _write_rows(tmp_path, "r", [
        ok,
        failed_row("bad", uris[1], "r", "photo_corrupt", "x", attempts=1, manifest_row=1),
        failed_row("storage", uris[2], "r", "storage_denied", "x", attempts=2, manifest_row=2),
    ], manifest)
    _write_rows(tmp_path, "r", [failed_row("aborted", uris[3], "r", "aborted", "x", manifest_row=3),
                                failed_row(None, uris[7], "r", "manifest", "x", manifest_row=7)], manifest)
    plan, _ = _plan(tmp_path, manifest, "r")
    c = plan.counts
    assert c.manifest_rows == 8 and c.duplicates == 1 and c.conflicting_ids == 1 and c.invalid_rows == 1
    assert c.duplicate_examples[0]["image_id"] == "dup" and len(c.duplicate_examples[0]["uris"]) == 2
    assert dict(c.kept) == {("ok", None): 1, ("failed", "photo_corrupt"): 1, ("failed", "manifest"): 1}
    assert dict(c.retried) == {"storage_denied": 1, "aborted": 1}
    todo = list(plan.jobs())
    assert sorted(r["image_id"] for r in todo) == ["aborted", "dup", "new", "storage"]
    assert {r["image_id"]: r["_prior_attempts"] for r in todo}["storage"] == 2
    assert {r["image_id"]: r["note"] for r in todo}["dup"] == "n5"  # the first row of a duplicate id
    assert c.invalid_written == 0 and c.removed_rows == 2  # the invalid row was kept, not written again
    left = {(r["image_id"], r["error_kind"]) for r in _rows(tmp_path, "r")}
    assert left == {("ok1", None), ("bad", "photo_corrupt"), (None, "manifest")}  # transient rows removed


def test_a_fixed_invalid_row_runs_and_a_crash_mid_removal_never_duplicates(tmp_path, photos):
    manifest = _manifest(tmp_path / "m.parquet", ["a", "b", "c"], [str(photos[0])] * 3)
    _write_rows(tmp_path, "r", [failed_row("a", "", "r", "manifest", "uri empty", manifest_row=0)], manifest)
    _write_rows(tmp_path, "r", [failed_row("b", str(photos[0]), "r", "storage_unreachable", "x", manifest_row=1)],
                manifest)
    _write_rows(tmp_path, "r", [failed_row("c", str(photos[0]), "r", "worker_lost", "x", manifest_row=2)], manifest)
    parts = {pq.read_table(p).column("image_id")[0].as_py(): p for p in list_parts(str(tmp_path / "out"), "r")}
    # a "crash" after rewriting the first of the parts a rerun must rewrite: each part is
    # whole (old or new), so no key ever has two rows
    assert rewrite_without(parts["b"], [0]) == 1
    rows = _rows(tmp_path, "r")
    assert sorted(r["image_id"] for r in rows) == ["a", "c"] and not Path(parts["b"]).exists()
    plan, _ = _plan(tmp_path, manifest, "r")
    assert sorted(r["image_id"] for r in plan.jobs()) == ["a", "b", "c"]  # the fixed row runs; b is pending
    assert dict(plan.counts.retried) == {"manifest": 1, "worker_lost": 1}
    assert _rows(tmp_path, "r") == []  # every superseded row removed before anything runs


def test_done_index_survives_a_crash_between_data_and_commit(tmp_path):
    out = str(tmp_path / "out")
    spill = Spill(str(tmp_path / "w"), "s")
    ids = pa.array([f"id-{i}" for i in range(1000)])
    add_hashes(spill, *hash128(ids))
    index = DoneIndex.load(out)
    assert index.generation == 0 and index.rows == 0
    index.add([spill], {"night1": {"ok_rows": 1000}})
    again = DoneIndex.load(out)
    assert again.generation == 1 and again.rows == 1000 and set(again.runs) == {"night1"}
    # a second update dies after writing its data files, before its commit
    root = Path(index_root(out))
    orphan = root / "data" / "007" / "0000000002-dead.parquet"
    pq.write_table(pa.table({"h1": pa.array([1], pa.uint64()), "h2": pa.array([2], pa.uint64())}), orphan)
    assert DoneIndex.load(out).rows == 1000  # readers never see uncommitted files
    spill2 = Spill(str(tmp_path / "w"), "s2")
    add_hashes(spill2, *hash128(pa.array(["id-new"])))
    again.add([spill2], {"night2": {"ok_rows": 1}})
    final = DoneIndex.load(out)
    assert final.rows == 1001 and set(final.runs) == {"night1", "night2"} and not orphan.exists()
    assert [p.name for p in root.glob("commit-*.json")] == ["commit-0000000002.json"]
    final.uncover("night2")
    assert set(DoneIndex.load(out).runs) == {"night1"}
    table = pa.concat_tables([t for t in (final.read(p) for p in range(256)) if t is not None])
    h1, h2 = hash128(pa.array(["id-5", "id-new"]))
    got = set(zip(table["h1"].to_pylist(), table["h2"].to_pylist()))
    assert {(int(h1[0]), int(h2[0])), (int(h1[1]), int(h2[1]))} <= got


def test_partitions_merge_when_many_and_each_hash_stays_once(tmp_path):
    out = str(tmp_path / "out")
    index = DoneIndex.load(out)
    for night in range(10):
        spill = Spill(str(tmp_path / "w"), f"s{night}")
        add_hashes(spill, *hash128(pa.array([f"n{night}-{i}" for i in range(300)] + ["shared"])))
        index.add([spill], {f"night{night}": {}})
    index = DoneIndex.load(out)
    assert max(len(f) for f in index.files.values()) <= 8
    files = list(Path(index_root(out), "data").rglob("*.parquet"))
    assert len(files) == sum(len(f) for f in index.files.values())  # replaced files are gone
    total = sum(t.num_rows for t in (index.read(p) for p in range(256)) if t is not None)
    assert total == index.rows and 3001 <= total <= 3010  # merged partitions hold "shared" once


def test_history_skips_done_ids_from_the_index_and_from_uncovered_runs(tmp_path, photos):
    manifest = _manifest(tmp_path / "m.parquet", ["a", "b", "c", "d"], [str(photos[0])] * 4)
    out = str(tmp_path / "out")
    spill = Spill(str(tmp_path / "w"), "s")
    add_hashes(spill, *hash128(pa.array(["a"])))
    DoneIndex.load(out).add([spill], {"old": {}})
    ok = {"image_id": "b", "uri": "x", "run_id": "crashed", "status": "ok", "finished_at": 1.0}
    _write_rows(tmp_path, "crashed", [ok, failed_row("c", "x", "crashed", "photo_corrupt", "x")], manifest)
    plan, _ = _plan(tmp_path, manifest, "new")
    assert sorted(r["image_id"] for r in plan.jobs()) == ["c", "d"]  # a failure elsewhere is not "done"
    assert plan.counts.done_earlier_runs == 2 and set(plan.history_runs) == {"crashed"}
    plan, _ = _plan(tmp_path, manifest, "new2", "run.history=[]")
    assert plan.counts.todo == 4


def test_results_writer_retries_a_failed_flush_under_the_same_name(tmp_path, monkeypatch):
    import pipeline.results as results
    from pipeline.storage import StorageError

    writer = ResultsWriter(str(tmp_path / "out"), "r", None, 1000, 1000)
    writer.add({"image_id": "a", "status": "ok"})
    real = results.write_bytes
    calls = []

    def flaky(uri, data, **kw):
        calls.append(uri)
        real(uri, data, **kw)  # the write lands ...
        if len(calls) == 1:
            raise StorageError("storage_unreachable", "... but the answer is lost")

    monkeypatch.setattr(results, "write_bytes", flaky)
    with pytest.raises(StorageError):
        writer.flush()
    writer.flush()
    assert calls[0] == calls[1]
    assert pq.read_table(str(tmp_path / "out" / "r" / "results")).column("image_id").to_pylist() == ["a"]
    assert json.dumps(writer.written) == "1"


def test_merging_keeps_the_large_file_until_the_rest_outgrows_it():
    from pipeline.done_index import _to_merge

    big, small = ["big", 1000], [["s1", 10], ["s2", 10], ["s3", 10]]
    assert _to_merge([big, *small], 5) == small  # the base stays
    assert sorted(map(tuple, _to_merge([big, *small], 990))) == sorted(map(tuple, [big, *small]))
