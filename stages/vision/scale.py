"""The camera height a street photo says, from the things in it whose size is known.

Why it matters: a single photo fixes every ground measure only up to the camera height
(X and depth of a ground point both scale with it), and a prior height alone is within 25 %
of the truth on about 60 % of streets. Two things in a street have a size known well enough
to correct it:

- cars (about 1.5 m tall), each measured with the height as it stands (things.cars), the
  box fit's bias taken out (CAR_MEASURE_BIAS); few streets show one that is clearly seen,
  but each is a sharp cue;
- the road: its width in metres is its width in pixels times the camera height over the
  distance below the horizon, whatever the focal length, and a street's carriageway is 6-12 m
  (two lanes of about 3-3.5 m plus parking strips or a third lane). A loose cue, but one
  almost every street has; it only counts when the cross-section saw both of the road's
  edges (a road that runs to the section's end has no width), and a width under half or
  over twice the prior's says no more than half or twice (such a width is more often a
  misread road: dev street 114 read 2.0 m wide in one render of it and 6.0 m in another).

Each cue says by what factor (in log) the height should change, with a spread; they are
fused with the prior (log factor 0, the prior's spread) as independent Gaussians.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stages.vision.ground import CrossSection
from stages.vision.things import CAR_HEIGHT_M, CALIBRATE_SCORE, Thing

PER_CAR_LOG_SIGMA = 0.15
# the box fit (things.cars: the best of heights 1.2-2.3 m by the box score) measures a car
# taller than it is: on the dev streets' true cars 1.05-1.42 times (median 1.29), so a car
# taken as 1.5 m pulled the camera height down on every street where one was found (107:
# 2.01 m against a true 2.50 m; the road alone said 2.65 m)
CAR_MEASURE_BIAS = 1.3
MIN_ROAD_M, MAX_ROAD_M = 3.0, 40.0  # narrower than a lane, or wider than the section can show: not a road's width
MAX_ROAD_LOG = math.log(2.0)  # a road read under half or over twice the prior's width says no more than that


@dataclass(frozen=True)
class ScaleCue:
    """One thing of known size: by what factor (log) the camera height should change."""

    source: str  # for notes: "3 car(s)", "road 5.1 m wide"
    log_factor: float
    sigma: float


def car_cue(things: list[Thing], per_car_sigma: float = PER_CAR_LOG_SIGMA) -> ScaleCue | None:
    """The median of the clearly seen cars' log(true height / measured height)."""
    logs = [math.log(CAR_HEIGHT_M * CAR_MEASURE_BIAS / t.measured_height) for t in things
            if t.kind == "car" and t.measured_height and 0.6 < t.measured_height < 3.5 and t.score >= CALIBRATE_SCORE]
    if not logs:
        return None
    return ScaleCue(f"{len(logs)} car(s)", float(np.median(logs)), per_car_sigma / math.sqrt(len(logs)))


def road_cue(section: CrossSection, width_m: float, log_sigma: float) -> ScaleCue | None:
    """The road's width read against the prior width, when both its edges were seen."""
    if section.road() is None or section.road_unbounded():
        return None
    x0, x1 = section.road_extent()
    read = x1 - x0
    if not MIN_ROAD_M <= read <= MAX_ROAD_M:
        return None
    return ScaleCue(f"road {read:.1f} m wide", float(np.clip(math.log(width_m / read), -MAX_ROAD_LOG, MAX_ROAD_LOG)),
                    log_sigma)


def fused_factor(cues: list[ScaleCue], prior_sigma: float) -> float:
    """The factor on the camera height that the prior (factor 1) and the cues agree on."""
    weight = 1.0 / prior_sigma**2
    total = 0.0
    for c in cues:
        weight += 1.0 / c.sigma**2
        total += c.log_factor / c.sigma**2
    return math.exp(total / weight)
