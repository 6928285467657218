"""The Ray tasks of one image: init -> one task per stage -> finalize.

Every failure inside a task is classified (pipeline.kinds). A kind worth an immediate
retry (a storage or network blip, a restarting actor) raises TransientError and Ray
retries the task, up to `tasks.max_retries`; on the last attempt, and for every other
kind, the failure travels as `ImageState.failed` with its kind and the real number of
attempts, so every image ends in exactly one results row that names its cause. Ray also
retries a task whose worker died. A retried task starts again from its input state and
rewrites the same artifact paths: safe to rerun.

Idempotent across attempts of a run: when the run existed before (`check_record`), init
first looks for the image's record.json (written last when an image finishes). Found,
the image is not redone: its row is rebuilt from the record with the manifest's columns.
Only programs, scores and URIs pass between tasks; PNGs go to storage inside the task.
No secret travels with a task (no runtime env): workers read credentials from their own
environment or a mounted file (pipeline.config.TaskConfig).
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any

import ray
from pydantic import BaseModel

from blender_actors.protocol import RenderRequest, RenderResult
from pipeline.artifacts import Written, write_final, write_initial, write_stage
from pipeline.config import SeigConfig
from pipeline.kinds import KINDS, classify
from pipeline.manifest import FOCAL_COLUMN, HEIGHT_COLUMN
from pipeline.metrics import dataset_metrics, image_metrics
from pipeline.results import failed_row, row_from_record, vlm_columns
from pipeline.single import render_settings
from pipeline.storage import deadline, read_bytes, set_deadline, write_bytes
from pipeline.vlm_outcome import image_failure
from simdata.index import ROW_KEY as DATASET_ROWS
from stages.backends.registry import make_backend
from stages.definitions import stages_with_rounds
from stages.engine import add_stage, note_backend, run_stage, start_reconstruction
from stages.photo import Photo, checked_35mm, checked_height_m, load, render_size
from stages.records import Candidate, Reconstruction, Usage, VlmHealth


DETAIL = "_metrics"  # row keys the driver pops: not results columns
RECOVERED = "_recovered"


class TransientError(RuntimeError):
    """Worth retrying at once: the same input may succeed on another attempt."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)

    def __reduce__(self):
        return (TransientError, (self.kind, str(self)))


TRANSIENT = [TransientError]


class ImageJob(BaseModel):
    image_id: str
    uri: str
    run_id: str
    prefix: str  # artifacts URI prefix of this image
    passthrough: dict[str, Any] = {}
    manifest_row: int | None = None
    prior_attempts: int = 0  # attempts of earlier runs of this run id (a transient failure retried)
    check_record: bool = False  # the run existed: the image may have finished in an attempt that died


class ImageState(BaseModel):
    job: ImageJob
    rec: Reconstruction | None = None
    png_uri: str | None = None  # the current best render, in storage
    written: Written = {}
    failed: tuple[str, str] | None = None  # (kind, message)
    started: float = 0.0
    retries: int = 0  # attempts beyond the first, over this image's tasks so far
    recovered: dict | None = None  # the image's record.json from an earlier attempt


def _attempt() -> int:
    """0 on a task's first attempt, n on its n-th retry (Ray's own count)."""
    try:
        from ray._private.worker import global_worker

        return int(global_worker.core_worker.get_current_task_attempt_number())
    except Exception:  # noqa: BLE001 - outside Ray, or an internal API that moved
        return 0


def _step(state: ImageState, cfg: SeigConfig, fn) -> ImageState:
    """Run one step of an image; a failure becomes a retry (Ray) or the image's failed state."""
    if deadline() != cfg.run.storage_deadline_s:
        set_deadline(cfg.run.storage_deadline_s)
    attempt = _attempt()
    try:
        state = fn(state)
    except Exception as exc:  # noqa: BLE001 - classified: every failure ends as a kind
        kind, message = getattr(exc, "seig_kind", None), str(exc)
        if kind is None:
            kind, message = classify(exc)
        if KINDS[kind].retry_now and attempt < cfg.tasks.max_retries:
            raise TransientError(kind, message) from exc
        state.failed = (kind, message)
    state.retries += attempt
    return state


class ActorRenderer:
    """The engine's Renderer over a BlenderActor handle."""

    def __init__(self, actor):
        self.actor = actor

    def render(self, request: RenderRequest) -> RenderResult:
        return ray.get(self.actor.render.remote(request))


def _photo(state: ImageState, cfg: SeigConfig) -> Photo:
    """The job's photo, with what its manifest row states about the camera: a focal length
    overrides the photo's EXIF, a height is taken as the camera's."""
    f35 = _manifest_number(state.job, FOCAL_COLUMN, checked_35mm)
    height = _manifest_number(state.job, HEIGHT_COLUMN, checked_height_m)
    photo = load(state.job.uri, timeout_s=cfg.run.storage_deadline_s, **cfg.run.storage_options)
    photo.name = state.job.image_id
    photo.state_camera(f35, height)
    return photo


def _manifest_number(job: ImageJob, column: str, check: Callable[[object], float]) -> float | None:
    """The row's value in one of the camera columns (null or absent: None); a value `check`
    refuses fails the image with kind `manifest`, before its photo is read."""
    value = job.passthrough.get(column)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return check(value)
    except ValueError as exc:
        err = ValueError(f"manifest row {job.manifest_row}: {column} {exc}")
        err.seig_kind = "manifest"
        raise err from exc


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


def _config_error(exc: Exception) -> Exception:
    err = RuntimeError(f"reconstruct settings rejected: {' '.join(str(exc).split())[:1000]}")
    err.seig_kind = "config"
    return err


def init_image(job: ImageJob, cfg: SeigConfig, actor) -> ImageState:
    def run(state: ImageState) -> ImageState:
        if job.check_record:
            record = _finished_record(job, cfg)
            if record is not None:
                state.recovered = record
                return state
        photo = _photo(state, cfg)
        try:
            backend = _backend(cfg)
        except ValueError as exc:
            raise _config_error(exc) from exc
        settings = render_settings(photo.size, cfg.reconstruct)
        rec, start = start_reconstruction(photo, backend, ActorRenderer(actor), settings, cfg.reconstruct.seed)
        if start.error is not None and start.error.kind in ("crash", "startup"):
            # Blender died under the first render (a killed process, out of memory): no stage can
            # improve on a start it never saw, so the whole step is retried on a fresh process.
            err = RuntimeError(f"the first program's render failed ({start.error.kind}): {start.error.message}"[:2000])
            err.seig_kind = "blender_crash"
            raise err
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

    return _step(ImageState(job=job, started=time.time()), cfg, run)


def _finished_record(job: ImageJob, cfg: SeigConfig) -> dict | None:
    """The image's record.json when an earlier attempt of this run finished it."""
    import json

    try:
        record = json.loads(read_bytes(f"{job.prefix.rstrip('/')}/record.json", **cfg.run.storage_options))
    except FileNotFoundError:
        return None
    except ValueError:  # unreadable JSON: the write did not finish; redo the image
        return None
    if record.get("image_id") != job.image_id or record.get("run_id") != job.run_id:
        return None
    return record


def stage_step(state: ImageState, stage_name: str, cfg: SeigConfig, actor) -> ImageState:
    if state.failed or state.recovered or state.rec is None:
        return state
    stage = next(s for s in stages_with_rounds(cfg.reconstruct.rounds) if s.name == stage_name)
    if stage.rounds <= 0:
        return state

    def run(state: ImageState) -> ImageState:
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
            state.failed = ("no_render", f"no program rendered in stage {stage_name}; last errors: " + "; ".join(
                c.error.message[:200] for r in result.rounds for c in r.candidates if c.error)[-1000:])
            return state
        add_stage(rec, result)
        state.written = {**state.written, **write_stage(state.job.prefix, result, cfg.reconstruct.keep_round_renders,
                                                        cfg.run.storage_options)}
        state.png_uri = state.written.get(f"stages/{stage_name}/best.png", {}).get("uri", state.png_uri)
        rec.time_s += time.perf_counter() - t0
        _strip_pngs(rec)
        return state

    return _step(state, cfg, run)


def finalize_image(state: ImageState, cfg: SeigConfig, actor=None) -> dict:
    job = state.job
    if state.recovered is not None:
        row = row_from_record(state.recovered, job.image_id, job.uri, job.run_id, job.prefix, job.passthrough,
                              attempts=job.prior_attempts + 1 + state.retries, manifest_row=job.manifest_row)
        row[RECOVERED] = True
        row[DATASET_ROWS] = (state.recovered.get("dataset") or {}).get("samples", [])
        return row
    if state.failed or state.rec is None:
        kind, message = state.failed or ("internal", "image ended without a reconstruction")
        row = failed_row(job.image_id, job.uri, job.run_id, kind, message, job.passthrough,
                         attempts=job.prior_attempts + 1 + state.retries, manifest_row=job.manifest_row)
        if state.rec is not None:  # what the image spent on the VLM before it failed
            row.update(vlm_columns(json.loads(state.rec.model_dump_json(include={"usage", "vlm", "backend"}))))
        return row

    dataset = None

    def run(state: ImageState) -> ImageState:
        nonlocal dataset
        rec = state.rec
        if state.png_uri:
            rec.final_png = read_bytes(state.png_uri, **cfg.run.storage_options)
        dataset = write_dataset(state, cfg, actor)  # before record.json: the record lists its files
        rec.time_s = time.time() - state.started
        extra = {"image_id": job.image_id, "uri": job.uri, "run_id": job.run_id}
        if dataset is not None:
            extra["dataset"] = dataset.record()
        state.written = write_final(job.prefix, rec, {**state.written, **(dataset.written if dataset else {})},
                                    extra, cfg.run.storage_options)
        return state

    state = _step(state, cfg, run)
    attempts = job.prior_attempts + 1 + state.retries
    if state.failed:
        kind, message = state.failed
        return failed_row(job.image_id, job.uri, job.run_id, kind, message, job.passthrough, attempts=attempts,
                          manifest_row=job.manifest_row)
    rec = state.rec
    record = json.loads(rec.model_dump_json())
    record["artifacts"] = state.written
    row = row_from_record(record, job.image_id, job.uri, job.run_id, job.prefix, job.passthrough,
                          attempts=attempts, manifest_row=job.manifest_row)
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


def remote_tasks(cfg: SeigConfig):
    """The three steps as Ray remote functions with the configured retries and CPUs."""
    opts = dict(num_cpus=cfg.tasks.num_cpus, max_retries=cfg.tasks.max_retries, retry_exceptions=TRANSIENT)
    return (ray.remote(init_image).options(**opts), ray.remote(stage_step).options(**opts),
            ray.remote(finalize_image).options(**opts))
