"""An image's first render meeting a dead Blender is retried, then named: never an image
that runs its stages without a start (which the offline stages cannot improve on)."""
from __future__ import annotations

from pathlib import Path

import pytest
import ray

from blender_actors.protocol import RenderError, RenderResult
from pipeline import tasks
from pipeline.config import load_config
from pipeline.tasks import ImageJob, TransientError, init_image

ROOT = Path(__file__).resolve().parent.parent


class _Method:
    def __init__(self, results: list[RenderResult]):
        self.results = results

    def remote(self, request):
        return ray.put(self.results.pop(0))


class _DeadBlenderActor:
    """An actor handle whose Blender process dies under every render."""

    def __init__(self, n: int):
        self.render = _Method([RenderResult(error=RenderError(kind="crash", message="Blender process killed "
                                                              "by signal 9 during the job")) for _ in range(n)])


def test_a_crashed_first_render_is_retried_then_failed_with_its_kind(ray_local, tmp_path, photos, monkeypatch):
    cfg = load_config(ROOT / "configs/local.yaml", ["reconstruct.long_side=48", "tasks.max_retries=2"])
    job = ImageJob(image_id="a", uri=str(photos[0]), run_id="r", prefix=str(tmp_path / "scenes" / "a"))
    monkeypatch.setattr(tasks, "_attempt", lambda: 0)
    with pytest.raises(TransientError) as exc:  # Ray retries the task (retry_exceptions)
        init_image(job, cfg, _DeadBlenderActor(1))
    assert exc.value.kind == "blender_crash" and "killed by signal 9" in str(exc.value)
    monkeypatch.setattr(tasks, "_attempt", lambda: 2)  # the last attempt: the image fails, named
    state = init_image(job, cfg, _DeadBlenderActor(1))
    assert state.failed is not None and state.failed[0] == "blender_crash" and state.retries == 2
    assert not (tmp_path / "scenes" / "a").exists()  # nothing written for an image that never started


def _state(tmp_path, photos, **passthrough):
    job = ImageJob(image_id="a", uri=str(photos[0]), run_id="r", prefix=str(tmp_path / "scenes" / "a"),
                   passthrough=passthrough, manifest_row=7)
    return tasks.ImageState(job=job)


def test_a_focal_length_in_the_manifest_overrides_the_photos(tmp_path, photos):
    cfg = load_config(ROOT / "configs/local.yaml", [])
    assert tasks._photo(_state(tmp_path, photos), cfg).focal_mm is None  # the samples carry no EXIF focal
    assert tasks._photo(_state(tmp_path, photos, focal_length_35mm=None), cfg).focal_mm is None
    photo = tasks._photo(_state(tmp_path, photos, focal_length_35mm=50), cfg)
    w, h = photo.size
    assert photo.focal_mm == pytest.approx(50 / 43.2666 * (w * w + h * h) ** 0.5 / max(w, h) * 36.0, rel=1e-4)


def test_a_camera_height_in_the_manifest_is_the_photos(tmp_path, photos):
    cfg = load_config(ROOT / "configs/local.yaml", [])
    assert tasks._photo(_state(tmp_path, photos, camera_height_m=None), cfg).height_m is None
    photo = tasks._photo(_state(tmp_path, photos, camera_height_m=2.45, focal_length_35mm=float("nan")), cfg)
    assert photo.height_m == 2.45 and photo.focal_mm is None  # NaN: Parquet's null in a float column


@pytest.mark.parametrize("column,value,bounds", [
    ("focal_length_35mm", 0, "8-300 mm"), ("focal_length_35mm", -3.0, "8-300 mm"),
    ("focal_length_35mm", 1000, "8-300 mm"), ("focal_length_35mm", "35", "8-300 mm"),
    ("focal_length_35mm", True, "8-300 mm"), ("camera_height_m", 0.0, "0.3-50 m"),
    ("camera_height_m", 210.0, "0.3-50 m"), ("camera_height_m", float("inf"), "0.3-50 m")])
def test_a_manifest_camera_value_that_is_none_fails_the_image_with_its_kind(ray_local, tmp_path, photos, column,
                                                                             value, bounds):
    cfg = load_config(ROOT / "configs/local.yaml", ["reconstruct.long_side=48"])
    state = init_image(_state(tmp_path, photos, **{column: value}).job, cfg, _DeadBlenderActor(0))
    kind, message = state.failed
    assert kind == "manifest" and f"manifest row 7: {column}" in message and bounds in message
