"""Where the horizon lies in the photo, and so the camera's pitch.

With the camera upright, every sky pixel lies above the horizon and every ground pixel
below it (Hoiem et al. 2005, §5): the labels bound the horizon from both sides. Inside
those bounds we add evidence from converging lines (vanishing.py) and, failing that,
a prior on how far away the farthest visible ground is (far outdoors, near indoors).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stages.vision.segment import GROUND, SKY, VERTICAL

# How far below the horizon the top of the visible ground typically lies, in degrees:
# outdoors the farthest ground is tens of camera heights away (a couple of degrees);
# with no sky in view (a room, a table top) it is a few camera heights away.
FAR_GROUND_DEG_OUTDOOR = 2.5
FAR_GROUND_DEG_INDOOR = 14.0
# a gap between sky and ground smaller than this (fraction of the height) is the horizon
TOUCHING = 0.06
BELOW_HORIZON = 0.1  # sky this far (share of the height) below the horizon is a pale wall


@dataclass
class HorizonEstimate:
    row: float  # rows from the top of the analysis grid; may lie outside the image
    sky_bottom: float | None  # lowest sky row (robust), None without sky
    ground_top: float | None  # highest ground row (robust), None without ground
    source: str  # which evidence decided: "sky-ground", "vanishing", "prior", "default"
    outdoor: bool

    def describe(self) -> str:
        return f"horizon row {self.row:.1f} from {self.source} ({'outdoor' if self.outdoor else 'indoor'})"


def _column_bounds(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column: the row after the lowest sky pixel (nan if none), the first ground row (nan if none)."""
    h, w = labels.shape
    rows = np.arange(h)[:, None]
    sky = labels == SKY
    ground = labels == GROUND
    sky_bottom = np.where(sky.any(0), np.max(np.where(sky, rows, -1), axis=0) + 1.0, np.nan)
    ground_top = np.where(ground.any(0), np.min(np.where(ground, rows, h), axis=0).astype(float), np.nan)
    return sky_bottom, ground_top


def sky_below_horizon(labels: np.ndarray, horizon_row: float) -> np.ndarray:
    """Labels with "sky" well below the horizon (a margin of BELOW_HORIZON of the height, for
    haze and fog) turned vertical: with an upright camera the sky cannot be seen there; a
    pale smooth wall can."""
    h = labels.shape[0]
    rows = np.arange(h)[:, None]
    out = labels.copy()
    out[(labels == SKY) & (rows > horizon_row + BELOW_HORIZON * h)] = VERTICAL
    return out


def looks_outdoor(lab: np.ndarray) -> bool:
    """Without sky in view, much foliage (green: Lab a < -5 with b > 0) still says outdoors."""
    green = (lab[..., 1] < -5) & (lab[..., 2] > 0)
    return bool(green.mean() > 0.3)


def estimate_horizon(labels: np.ndarray, f_px: float, vanishing_row: float | None = None,
                     outdoor_hint: bool = False) -> HorizonEstimate:
    """Horizon row from the sky/ground bounds, refined by a vanishing row when it fits them."""
    h, w = labels.shape
    sky_b, ground_t = _column_bounds(labels)
    has_sky = np.isfinite(sky_b).mean() > 0.15 and (labels == SKY).mean() > 0.02
    has_ground = np.isfinite(ground_t).mean() > 0.15
    lo = float(np.nanpercentile(sky_b, 85)) if has_sky else None  # horizon at or below
    hi = float(np.nanpercentile(ground_t, 15)) if has_ground else None  # horizon at or above
    outdoor = bool(has_sky) or outdoor_hint
    prior_deg = FAR_GROUND_DEG_OUTDOOR if outdoor else FAR_GROUND_DEG_INDOOR
    if lo is not None and hi is not None:
        touch = np.isfinite(sky_b) & np.isfinite(ground_t) & (np.abs(ground_t - sky_b) <= 1.0)
        if touch.mean() >= 0.5:  # sky meets ground across most of the photo: that line is the horizon
            line = float(np.median((sky_b[touch] + ground_t[touch]) / 2))
            return HorizonEstimate(line, lo, hi, "sky-ground", outdoor)
        if hi - lo <= TOUCHING * h:  # the sky reaches the ground's top: the horizon lies between
            return HorizonEstimate((lo + hi) / 2, lo, hi, "sky-ground", outdoor)
        if vanishing_row is not None and lo <= vanishing_row <= hi:
            return HorizonEstimate(vanishing_row, lo, hi, "vanishing", outdoor)
        row = max(lo, hi - f_px * math.tan(math.radians(prior_deg)))
        return HorizonEstimate(row, lo, hi, "prior", outdoor)
    if hi is not None:
        if vanishing_row is not None and vanishing_row <= hi:
            return HorizonEstimate(vanishing_row, None, hi, "vanishing", outdoor)
        return HorizonEstimate(hi - f_px * math.tan(math.radians(prior_deg)), None, hi, "prior", outdoor)
    if lo is not None:
        if vanishing_row is not None and vanishing_row >= lo:
            return HorizonEstimate(vanishing_row, lo, None, "vanishing", outdoor)
        return HorizonEstimate(max(lo, h / 2), lo, None, "prior", outdoor)
    if vanishing_row is not None:
        return HorizonEstimate(vanishing_row, None, None, "vanishing", outdoor)
    return HorizonEstimate(h / 2 - 0.5, None, None, "default", outdoor)
