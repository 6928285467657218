"""The Ray tasks of one image: init -> one task per stage -> finalize.

Each task is retried by Ray (`max_retries`) when its worker dies, and on the transient
errors listed in TRANSIENT (storage, VLM after the client's own retries, an actor that
is restarting). Deterministic failures (a bad photo) are not exceptions: they travel as
`ImageState.failed` so every image ends in exactly one results row. A retried task
starts again from its input state and rewrites the same artifact paths: safe to rerun.
Only programs, scores and URIs pass between tasks; PNGs go to storage inside the task.
No secret travels with a task (no runtime env): workers read credentials from their own
environment or a mounted file (pipeline.config.TaskConfig).
"""
from __future__ import annotations

import json
import time
from typing import Any

import ray
from pydantic import BaseModel

from blender_actors.protocol import RenderRequest, RenderResult
from pipeline.artifacts import Written, write_final, write_initial, write_stage
from pipeline.config import SeigConfig
from pipeline.metrics import image_metrics
from pipeline.results import failed_row, row_from_record, vlm_columns
from pipeline.single import render_settings
from pipeline.vlm_outcome import image_failure
from pipeline.storage import StorageError, read_bytes
from stages.backends.base import BackendError
from stages.backends.registry import make_backend
from stages.definitions import stages_with_rounds
from stages.engine import add_stage, note_backend, run_stage, start_reconstruction
from stages.photo import Photo, PhotoError, load
from stages.records import Candidate, Reconstruction, Usage, VlmHealth


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


def _backend(cfg: SeigConfig, spent: Usage | None = None, health: VlmHealth | None = None):
    """A backend for one step of one image. Each stage task makes its own instance, so a
    backend that keeps a per-image budget (`usage`) and endpoint health starts from what
    the image already spent and learnt."""
    backend = make_backend(cfg.reconstruct.backend, cfg.reconstruct.backend_options())
    if spent is not None and hasattr(backend, "usage"):
        backend.usage = spent
    if health is not None and hasattr(backend, "health"):
        backend.health = health.model_copy(deep=True)
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
    state.failed = image_failure(rec, cfg.reconstruct)
    if state.failed:  # the VLM is lost and no fallback is allowed: no artifacts, a failed row with its kind
        _strip_pngs(rec)
        state.rec = rec
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
    backend = _backend(cfg, rec.usage, rec.vlm)
    result = run_stage(stage, rec.final_program, photo, backend, ActorRenderer(actor), settings,
                       cfg.reconstruct.seed, start=start)
    note_backend(rec, backend)
    state.failed = image_failure(rec, cfg.reconstruct)
    if state.failed:
        rec.usage = rec.usage + result.usage  # the failed row reports every call
        return state
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


def finalize_image(state: ImageState, cfg: SeigConfig) -> dict:
    job = state.job
    if state.failed or state.rec is None:
        kind, message = state.failed or ("unknown", "image ended without a reconstruction")
        row = failed_row(job.image_id, job.uri, job.run_id, kind, message, job.passthrough, attempts=1)
        if state.rec is not None:
            row.update(vlm_columns(json.loads(state.rec.model_dump_json(include={"usage", "vlm", "backend"}))))
        return row
    rec = state.rec
    if state.png_uri:
        rec.final_png = read_bytes(state.png_uri, **cfg.run.storage_options)
    rec.time_s = time.time() - state.started
    written = write_final(job.prefix, rec, state.written, {"image_id": job.image_id, "uri": job.uri,
                                                             "run_id": job.run_id}, cfg.run.storage_options)
    record = json.loads(rec.model_dump_json())
    record["artifacts"] = written
    row = row_from_record(record, job.image_id, job.uri, job.run_id, job.prefix, job.passthrough)
    row[DETAIL] = image_metrics(rec)  # for the driver's metrics; not a results column
    return row


def remote_tasks(cfg: SeigConfig):
    """The three steps as Ray remote functions with the configured retries and CPUs."""
    opts = dict(num_cpus=cfg.tasks.num_cpus, max_retries=cfg.tasks.max_retries, retry_exceptions=TRANSIENT)
    return (ray.remote(init_image).options(**opts), ray.remote(stage_step).options(**opts),
            ray.remote(finalize_image).options(**opts))
