"""Persist one reconstruction under a prefix (local path or s3://), record.json last.

Layout (GUIDE §2):  PREFIX/scene.py, render.png, stages/<stage>/best.py, best.png,
stages/<stage>/round_<r>_<c>.png (optional), record.json.
`record.json` is written last and lists every artifact with its size and sha256, so an
image counts as done exactly when its record exists: a crash mid-write leaves no record.
"""
from __future__ import annotations

import hashlib
import json
import posixpath

from pipeline.storage import read_bytes, write_bytes
from stages.records import Reconstruction

RECORD = "record.json"


def _join(prefix: str, *parts: str) -> str:
    return posixpath.join(prefix.rstrip("/"), *parts)


def write_reconstruction(prefix: str, rec: Reconstruction, keep_round_renders: bool = True,
                         extra: dict | None = None, **storage_options) -> dict[str, str]:
    """Write every artifact of `rec` under `prefix`; return {artifact name: URI}."""
    files: dict[str, bytes] = {"scene.py": rec.final_program.encode()}
    if rec.final_png:
        files["render.png"] = rec.final_png
    for stage in rec.stages:
        files[f"stages/{stage.stage}/best.py"] = stage.best_program.encode()
        if stage.best_png:
            files[f"stages/{stage.stage}/best.png"] = stage.best_png
        for rnd in stage.rounds:
            for cand in rnd.candidates:
                if keep_round_renders and cand.png is not None and rnd.round > 0:
                    name = f"stages/{stage.stage}/round_{rnd.round}_{cand.index}.png"
                    files[name] = cand.png
                    cand.render_uri = _join(prefix, name)
    uris = {}
    for name, data in files.items():
        uri = _join(prefix, name)
        write_bytes(uri, data, **storage_options)
        uris[name] = uri
    record = json.loads(rec.model_dump_json())
    record["artifacts"] = {name: {"uri": uris[name], "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                           for name, data in files.items()}
    record.update(extra or {})
    write_bytes(_join(prefix, RECORD), json.dumps(record, indent=1).encode(), **storage_options)
    uris[RECORD] = _join(prefix, RECORD)
    return uris


def read_record(prefix: str, **storage_options) -> dict:
    return json.loads(read_bytes(_join(prefix, RECORD), **storage_options))
