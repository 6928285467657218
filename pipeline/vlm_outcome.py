"""The VLM's part in an image's outcome, and the job's breaker for a dead VLM.

An image whose VLM was lost (a refused key, a missing model, an endpoint down for
`give_up_after` calls in a row or past the image's time budget), or whose every VLM call
failed, is never `ok` (docs/contracts.md, "Results"):
- with `reconstruct.openai.offline_fallback: false` it fails with the VLM's kind
  (`vlm_auth`, `vlm_unreachable`, `vlm_model_missing`, ...);
- with `true` the offline tuner ran its remaining rounds and the image is `degraded`: its
  artifacts are complete, its row carries the kind and the reason.
`VlmBreaker` counts images in a row whose VLM failed (failed or degraded) across the job
and stops it at `run.max_consecutive_vlm_failures` with the reason: a revoked key or a
dead endpoint ends a night in minutes instead of filling it with unrefined output.
"""
from __future__ import annotations

from typing import Any

from stages.config import ReconstructConfig
from stages.records import Reconstruction, VlmFailure


def vlm_failure(rec: Reconstruction | dict | None) -> VlmFailure | None:
    """Why the image's VLM path failed (None: it served the image, or no VLM was used)."""
    if rec is None:
        return None
    if isinstance(rec, dict):
        from stages.records import VlmHealth

        data = rec.get("vlm")
        return VlmHealth.model_validate(data).failure() if data else None
    return rec.vlm.failure() if rec.vlm is not None else None


def fallback_allowed(cfg: ReconstructConfig) -> bool:
    return cfg.backend == "openai" and bool(cfg.openai.get("offline_fallback", False))


def image_failure(rec: Reconstruction, cfg: ReconstructConfig) -> tuple[str, str] | None:
    """(kind, message) when the image must fail because of its VLM (no fallback allowed)."""
    failure = vlm_failure(rec)
    if failure is None or fallback_allowed(cfg):
        return None
    where = f" (at {failure.where})" if failure.where else ""
    return failure.kind, f"the VLM failed this image{where}: {failure.message}"


class VlmBreaker:
    """Images in a row whose VLM failed; `update` returns the abort reason when it trips."""

    def __init__(self, limit: int):
        self.limit = limit
        self.in_a_row = 0

    def update(self, row: dict[str, Any]) -> str | None:
        kind = row.get("error_kind") or ""
        if row.get("status") in ("failed", "degraded") and kind.startswith("vlm_"):
            self.in_a_row += 1
        elif row.get("status") == "ok" and (row.get("vlm_calls") or 0) > 0:
            self.in_a_row = 0  # the VLM served an image: it is alive
        else:
            return None  # no evidence about the VLM (a bad photo, an offline image)
        if self.in_a_row >= self.limit:
            return (f"the VLM failed {self.in_a_row} images in a row; last: [{kind}] "
                    f"{(row.get('error_message') or '')[:300]} (check the endpoint, model and key, then rerun: "
                    "the run resumes)")
        return None
