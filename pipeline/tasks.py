"""The Ray tasks of one image: init -> one task per stage -> finalize.

Each task is retried by Ray (`max_retries`) when its worker dies, and on the transient
errors listed in TRANSIENT (storage, VLM after the client's own retries, an actor that
is restarting). Deterministic failures (a bad photo) are not exceptions: they travel as
`ImageState.failed` so every image ends in exactly one results row. A retried task
starts again from its input state and rewrites the same artifact paths: safe to rerun.
Only programs, scores and URIs pass between tasks; PNGs go to storage inside the task.
"""
from __future__ import annotations

import time
from typing import Any

import ray
from pydantic import BaseModel

from blender_actors.protocol import RenderRequest, RenderResult
from pipeline.artifacts import Written, write_final, write_initial, write_stage
from pipeline.config import SeigConfig
from simdata.index import ROW_KEY as DATASET_ROWS
from pipeline.metrics import dataset_metrics, image_metrics
from pipeline.results import failed_row, row_from_record
from pipeline.single import render_settings
from pipeline.storage import StorageError, read_bytes, write_bytes
from stages.backends.base import BackendError
from stages.backends.registry import make_backend
from stages.definitions import stages_with_rounds
from stages.engine import add_stage, run_stage, start_reconstruction
from stages.photo import Photo, PhotoError, load, render_size
from stages.records import Candidate, Reconstruction, Usage


DETAIL = "_metrics"


class TransientError(RuntimeError):
    """Worth retrying: the same input may succeed on another attempt."""


TRANSIENT = [TransientError, StorageError, ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError]


class ImageJob(BaseModel):
    image_id: str
    uri: str
    run_id: str
    prefix: str  # artifacts URI prefix of this image
    passthrough: dict[str, Any] = {}


class ImageState(BaseModel):
    job: ImageJob
    rec: Reconstruction | None = None
    png_uri: str | None = None  # the current best render, in storage
    written: Written = {}
    failed: tuple[str, str] | None = None  # (kind, message)
    started: float = 0.0


class ActorRenderer:
    """The engine's Renderer over a BlenderActor handle."""

    def __init__(self, actor):
        self.actor = actor

    def render(self, request: RenderRequest) -> RenderResult:
        return ray.get(self.actor.render.remote(request))


def _photo(state: ImageState, cfg: SeigConfig) -> Photo:
    try:
        photo = load(state.job.uri, **cfg.run.storage_options)
    except PhotoError as exc:
        if exc.kind == "unreadable":
            raise TransientError(str(exc)) from exc
        raise
    photo.name = state.job.image_id
    return photo


def _backend(cfg: SeigConfig, spent: Usage | None = None):
    """A backend for one step of one image. Each stage task makes its own instance, so a
    backend that keeps a per-image budget (`usage`) starts from what the image already spent."""
    backend = make_backend(cfg.reconstruct.backend, cfg.reconstruct.backend_options())
    if spent is not None and hasattr(backend, "usage"):
        backend.usage = spent
    return backend


def _strip_pngs(rec: Reconstruction) -> None:
    rec.final_png = None
    for stage in rec.stages:
        stage.best_png = None
        for rnd in stage.rounds:
            for cand in rnd.candidates:
                cand.png = None


def init_image(job: ImageJob, cfg: SeigConfig, actor) -> ImageState:
    state = ImageState(job=job, started=time.time())
    try:
        photo = _photo(state, cfg)
        backend = _backend(cfg)
        settings = render_settings(photo.size, cfg.reconstruct)
        rec, start = start_reconstruction(photo, backend, ActorRenderer(actor), settings, cfg.reconstruct.seed)
    except PhotoError as exc:
        state.failed = (f"photo_{exc.kind}", str(exc))
        return state
    except BackendError as exc:
        if exc.retryable:
            raise TransientError(str(exc)) from exc
        state.failed = (f"backend_{exc.kind}", str(exc))
        return state
    except ValueError as exc:
        state.failed = ("config", str(exc))
        return state
    state.written = write_initial(job.prefix, rec.initial_program, start.png, cfg.run.storage_options)
    state.png_uri = state.written.get("stages/initial/best.png", {}).get("uri")
    _strip_pngs(rec)
    state.rec = rec
    return state


def stage_step(state: ImageState, stage_name: str, cfg: SeigConfig, actor) -> ImageState:
    if state.failed or state.rec is None:
        return state
    stage = next(s for s in stages_with_rounds(cfg.reconstruct.rounds) if s.name == stage_name)
    if stage.rounds <= 0:
        return state
    photo = _photo(state, cfg)
    rec = state.rec
    settings = render_settings(photo.size, cfg.reconstruct)
    png = read_bytes(state.png_uri, **cfg.run.storage_options) if state.png_uri else None
    start = Candidate(index=0, program=rec.final_program, scores=rec.final_scores, png=png)
    t0 = time.perf_counter()
    result = run_stage(stage, rec.final_program, photo, _backend(cfg, rec.usage), ActorRenderer(actor), settings,
                       cfg.reconstruct.seed, start=start)
    if result.best_scores is None:
        state.failed = ("no_render", f"no program rendered in stage {stage_name}; last errors: "
                        + "; ".join(c.error.message[:200] for r in result.rounds for c in r.candidates if c.error)[-1000:])
        return state
    add_stage(rec, result)
    state.written = {**state.written, **write_stage(state.job.prefix, result, cfg.reconstruct.keep_round_renders,
                                                    cfg.run.storage_options)}
    state.png_uri = state.written.get(f"stages/{stage_name}/best.png", {}).get("uri", state.png_uri)
    rec.time_s += time.perf_counter() - t0
    _strip_pngs(rec)
    return state


def finalize_image(state: ImageState, cfg: SeigConfig, actor=None) -> dict:
    job = state.job
    if state.failed or state.rec is None:
        kind, message = state.failed or ("unknown", "image ended without a reconstruction")
        return failed_row(job.image_id, job.uri, job.run_id, kind, message, job.passthrough, attempts=1)
    rec = state.rec
    if state.png_uri:
        rec.final_png = read_bytes(state.png_uri, **cfg.run.storage_options)
    dataset = write_dataset(state, cfg, actor)  # before record.json: the record lists its files
    rec.time_s = time.time() - state.started
    extra = {"image_id": job.image_id, "uri": job.uri, "run_id": job.run_id}
    if dataset is not None:
        extra["dataset"] = dataset.record()
    written = write_final(job.prefix, rec, {**state.written, **(dataset.written if dataset else {})}, extra,
                          cfg.run.storage_options)
    import json

    record = json.loads(rec.model_dump_json())
    record["artifacts"] = written
    row = row_from_record(record, job.image_id, job.uri, job.run_id, job.prefix, job.passthrough)
    row[DETAIL] = image_metrics(rec)  # for the driver's metrics; not a results column
    if dataset is not None:
        row[DATASET_ROWS] = dataset.rows  # for the driver's dataset index; not a results column
        row[DETAIL]["dataset"] = dataset_metrics(dataset)
    return row


def write_dataset(state: ImageState, cfg: SeigConfig, actor):
    """The image's simulation dataset (simdata.generate) on its render actor, or None when
    the dataset is off. Its size: the final render's aspect, `dataset.long_side` (or as rendered)."""
    if not cfg.dataset.enabled or actor is None or state.rec is None:
        return None
    from simdata.generate import generate

    png = state.rec.final_png
    size = photo_size(png) if png else (cfg.reconstruct.width or 256, cfg.reconstruct.height or 192)
    if cfg.dataset.long_side:
        size = render_size(size, cfg.dataset.long_side)
    return generate(state.rec.final_program, state.job.image_id, state.job.run_id, state.job.prefix, size,
                    cfg.dataset, ActorRenderer(actor),
                    lambda uri, data: write_bytes(uri, data, **cfg.run.storage_options))


def photo_size(png: bytes) -> tuple[int, int]:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        return img.size


def forwarded_env(patterns: list[str]) -> dict[str, str]:
    import fnmatch
    import os

    return {k: v for k, v in os.environ.items() if any(fnmatch.fnmatchcase(k, p) for p in patterns)}


def remote_tasks(cfg: SeigConfig):
    """The three steps as Ray remote functions with the configured retries and CPUs."""
    opts = dict(num_cpus=cfg.tasks.num_cpus, max_retries=cfg.tasks.max_retries, retry_exceptions=TRANSIENT)
    env = forwarded_env(cfg.tasks.forward_env)
    if env:
        opts["runtime_env"] = {"env_vars": env}
    return (ray.remote(init_image).options(**opts), ray.remote(stage_step).options(**opts),
            ray.remote(finalize_image).options(**opts))
