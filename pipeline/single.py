"""Reconstruct one photo end to end: load, run the stages, write the artifacts.

Shared by `seig reconstruct` (a worker in this process) and the Ray job (a worker in an
actor). Errors that belong to the image (bad photo, backend misconfiguration) come back
as a failed outcome with a kind and message; nothing here raises for one bad image.
"""
from __future__ import annotations

import time

from pydantic import BaseModel

from pipeline.artifacts import write_reconstruction
from pipeline.storage import StorageError
from pipeline.vlm_outcome import image_failure, vlm_failure
from stages.backends.base import BackendError, Renderer, RenderSettings
from stages.backends.registry import make_backend
from stages.config import ReconstructConfig
from stages.definitions import stages_with_rounds
from stages.engine import reconstruct
from stages.photo import PhotoError, load, render_size
from stages.records import Reconstruction


class ImageOutcome(BaseModel):
    name: str
    uri: str
    ok: bool
    degraded: str | None = None  # "[kind] reason": finished by the offline fallback after the VLM failed
    error_kind: str | None = None
    error: str | None = None
    prefix: str | None = None
    artifacts: dict[str, str] = {}
    reconstruction: Reconstruction | None = None
    time_s: float = 0.0


def render_settings(photo_size: tuple[int, int], cfg: ReconstructConfig) -> RenderSettings:
    width, height = render_size(photo_size, cfg.long_side)
    return RenderSettings(width=cfg.width or width, height=cfg.height or height, samples=cfg.samples, seed=cfg.seed,
                          timeout_s=cfg.render_timeout_s, denoise=cfg.denoise)


def reconstruct_photo(uri: str, name: str, prefix: str, cfg: ReconstructConfig, renderer: Renderer,
                      storage_options: dict | None = None, focal_35mm: float | None = None,
                      camera_height_m: float | None = None) -> ImageOutcome:
    """`focal_35mm`: the camera's 35 mm-equivalent focal length when the caller knows it (it
    overrides the photo's EXIF); `camera_height_m`: its height above the ground, likewise
    (both stages.photo)."""
    t0 = time.perf_counter()
    storage_options = storage_options or {}

    def failed(kind: str, message: str) -> ImageOutcome:
        return ImageOutcome(name=name, uri=uri, ok=False, error_kind=kind, error=message,
                            time_s=time.perf_counter() - t0)

    try:
        photo = load(uri, **storage_options)
        photo.name = name
        photo.state_camera(focal_35mm, camera_height_m)
    except PhotoError as exc:
        return failed(exc.error_kind, str(exc))
    try:
        backend = make_backend(cfg.backend, cfg.backend_options())
        stages = stages_with_rounds(cfg.rounds)
    except (ValueError, BackendError) as exc:
        return failed("config", str(exc))
    settings = render_settings(photo.size, cfg)
    try:
        rec = reconstruct(photo, backend, renderer, settings, stages, seed=cfg.seed)
    except BackendError as exc:  # the initial program could not be made at all
        from pipeline.kinds import classify

        return failed(*classify(exc))
    failure = image_failure(rec, cfg)
    if failure:  # the VLM never served this image: not a result to keep
        return failed(*failure)
    degraded = vlm_failure(rec)
    if rec.final_scores is None:
        return failed("no_render", "no program of this image rendered (see record for each round's error)")
    try:
        artifacts = write_reconstruction(prefix, rec, cfg.keep_round_renders, **storage_options)
    except StorageError as exc:
        return failed(exc.kind, str(exc))
    return ImageOutcome(name=name, uri=uri, ok=True, prefix=prefix, artifacts=artifacts, reconstruction=rec,
                        degraded=f"[{degraded.kind}] {degraded.message}" if degraded else None,
                        time_s=time.perf_counter() - t0)
