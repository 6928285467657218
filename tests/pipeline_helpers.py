"""What the batch-job tests share: tiny reconstruction settings, manifests, the results a
plain reader sees (exactly one row per entry), configs on the embedded default."""
from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import load_config

ROOT = Path(__file__).resolve().parent.parent
FAST = [
    "reconstruct.long_side=48", "reconstruct.samples=1", "reconstruct.offline.candidates=1",
    "reconstruct.rounds={geometry: 1, materials: 1, composition: 0, lighting: 0}",
    "reconstruct.keep_round_renders=false", "run.results_flush_rows=1", "actors.count=2",
    "dataset.long_side=48", "dataset.samples=1", "dataset.variants=1",
]
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def write_manifest(path: Path, ids: list, uris: list, **extra) -> str:
    cols = {"image_id": pa.array(ids, pa.string()), "uri": pa.array(uris, pa.string())}
    cols.update({k: pa.array(v) for k, v in extra.items()})
    pq.write_table(pa.table(cols), path)
    return str(path)


def results_rows(output: str, run_id: str, **opts) -> list[dict]:
    """What a plain reader sees: every visible part of the run's results."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(f"{output}/{run_id}/results", **opts)
    fs.invalidate_cache()
    files = [f for f in fs.glob(path + "/*.parquet") if not f.rsplit("/", 1)[-1].startswith(("_", "."))]
    return pq.ParquetDataset(files, filesystem=fs).read().to_pylist() if files else []


def one_row_each(rows: list[dict]) -> dict:
    keys = Counter(r["image_id"] if r["image_id"] and "/" not in r["image_id"] else f"/{r['manifest_row']}"
                   for r in rows)
    assert max(keys.values()) == 1, f"more than one row for {[k for k, n in keys.items() if n > 1]}"
    return {r["image_id"] if r["image_id"] and "/" not in r["image_id"] else f"/{r['manifest_row']}": r for r in rows}


def job_config(tmp_path, manifest, *more, output=None):
    return load_config(ROOT / "configs/local.yaml", FAST + [f"run.manifest={manifest}",
                                                            f"run.output={output or tmp_path / 'out'}", *more])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
