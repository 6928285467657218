"""Persist a reconstruction under a prefix (local path or s3://), record.json last.

Layout (docs/contracts.md, "Artifacts"):  PREFIX/scene.py, render.png, stages/<stage>/best.py, best.png,
stages/<stage>/round_<r>_<c>.png (optional), record.json.
`record.json` is written last and lists every artifact with its size and sha256, so an
image counts as done exactly when its record exists: a crash mid-write leaves no record.
Stages are written as they finish (by the stage's own Ray task), the rest at the end.
"""
from __future__ import annotations

import hashlib
import json
import posixpath

from pipeline.storage import write_bytes
from stages.records import Reconstruction, StageResult

RECORD = "record.json"
Written = dict[str, dict]  # artifact name -> {"uri", "bytes", "sha256"}


def _join(prefix: str, *parts: str) -> str:
    return posixpath.join(prefix.rstrip("/"), *parts)


def _put(prefix: str, files: dict[str, bytes], storage_options: dict) -> Written:
    out: Written = {}
    for name, data in files.items():
        uri = _join(prefix, name)
        write_bytes(uri, data, **storage_options)
        out[name] = {"uri": uri, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return out


def write_stage(prefix: str, stage: StageResult, keep_round_renders: bool = True,
                storage_options: dict | None = None) -> Written:
    """A finished stage's best program and render (and each candidate's render)."""
    files: dict[str, bytes] = {f"stages/{stage.stage}/best.py": stage.best_program.encode()}
    if stage.best_png:
        files[f"stages/{stage.stage}/best.png"] = stage.best_png
    for rnd in stage.rounds:
        for cand in rnd.candidates:
            if keep_round_renders and cand.png is not None and rnd.round > 0:
                name = f"stages/{stage.stage}/round_{rnd.round}_{cand.index}.png"
                files[name] = cand.png
                cand.render_uri = _join(prefix, name)
    return _put(prefix, files, storage_options or {})


def write_initial(prefix: str, program: str, png: bytes | None, storage_options: dict | None = None) -> Written:
    files = {"stages/initial/best.py": program.encode()}
    if png:
        files["stages/initial/best.png"] = png
    return _put(prefix, files, storage_options or {})


def write_final(prefix: str, rec: Reconstruction, written: Written, extra: dict | None = None,
                storage_options: dict | None = None) -> Written:
    """scene.py and render.png, then record.json listing every artifact: the done marker."""
    files = {"scene.py": rec.final_program.encode()}
    if rec.final_png:
        files["render.png"] = rec.final_png
    written = {**written, **_put(prefix, files, storage_options or {})}
    record = json.loads(rec.model_dump_json())
    record["artifacts"] = written
    record.update(extra or {})
    write_bytes(_join(prefix, RECORD), json.dumps(record, indent=1).encode(), **(storage_options or {}))
    return {**written, RECORD: {"uri": _join(prefix, RECORD)}}


def write_reconstruction(prefix: str, rec: Reconstruction, keep_round_renders: bool = True,
                         extra: dict | None = None, **storage_options) -> dict[str, str]:
    """Everything of an in-process reconstruction; returns {artifact name: URI}."""
    written = write_initial(prefix, rec.initial_program, None, storage_options)
    for stage in rec.stages:
        written.update(write_stage(prefix, stage, keep_round_renders, storage_options))
    done = write_final(prefix, rec, written, extra, storage_options)
    return {name: meta["uri"] for name, meta in done.items()}
