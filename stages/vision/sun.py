"""The sun's direction from shadows and shading, once the scene's solids are known.

Every visible surface point is either lit by the sun or in a shadow some solid casts; a
lit point's brightness also grows with the cosine between its normal and the sun. So for a
candidate sun direction, ray casting towards it says which points are lit, and the photo
should then follow  L = albedo_object x (1 + k lit cos)  (ambient light plus k times as much
sun on a surface facing it). Per candidate and sun-to-sky ratio k, the best albedo of each
object is a least-squares fit and the leftover error says how well that sun explains the
photo's light and dark. The best candidate on a grid of azimuths and elevations, refined
around it, is the sun. Where nothing casts a shadow and all faces look alike (an overcast
photo), the fit says so: the gain over a sunless model is small and `confident` is False.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stages.vision.raycast import Primitive, RayHits, intersect
from stages.vision.shading import sun_direction

RATIOS = (0.5, 1.0, 2.0, 3.5, 6.0)
MAX_POINTS = 1200


@dataclass
class SunEstimate:
    elevation_deg: float
    azimuth_deg: float
    ratio: float  # sun light over sky light on a surface facing the sun
    gain: float  # relative error reduction over a uniformly lit model
    confident: bool


def _sample(hits: RayHits, lum: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    flat = np.flatnonzero((hits.index.ravel() >= 0) & np.isfinite(hits.depth.ravel()))
    if len(flat) > MAX_POINTS:
        flat = np.sort(rng.choice(flat, MAX_POINTS, replace=False))
    return flat


def _fit_error(obj: np.ndarray, log_l: np.ndarray, shade: np.ndarray) -> float:
    """Per-object least squares in log space: log L = log a_obj + log shade."""
    r = log_l - np.log(shade)
    n_obj = obj.max() + 1
    cnt = np.bincount(obj, minlength=n_obj).astype(float)
    mean = np.bincount(obj, r, minlength=n_obj) / np.maximum(cnt, 1)
    return float(np.mean((r - mean[obj]) ** 2))


class SunProblem:
    """The photo's lit and shadowed points, ready to say how well a sun explains them."""

    def __init__(self, prims: list[Primitive], hits: RayHits, origin: np.ndarray, dirs: np.ndarray,
                 linear: np.ndarray, seed: int = 0):
        rng = np.random.default_rng(seed)
        lum = linear.mean(-1)
        pick = _sample(hits, lum, rng)
        self.prims = prims
        self.size = len(pick)
        _, self.obj = np.unique(hits.index.ravel()[pick], return_inverse=True)
        d = dirs.reshape(-1, 3)[pick]
        depth = hits.depth.ravel()[pick]
        self.normal = hits.normal.reshape(-1, 3)[pick]
        self.points = origin + d * depth[:, None] + self.normal * 2e-3
        self.log_l = np.log(np.maximum(lum.ravel()[pick], 1e-4))
        self.base = _fit_error(self.obj, self.log_l, np.ones(self.size)) if self.size else 0.0

    def evaluate(self, el: float, az: float) -> tuple[float, float]:
        """(error, best sun-to-sky ratio) of a sun at this elevation and azimuth."""
        s = sun_direction(el, az)
        cos = np.clip(self.normal @ s, 0.0, None)
        facing = cos > 0
        lit = np.zeros(self.size, dtype=bool)
        if facing.any():
            blocked = intersect(self.prims, self.points[facing], np.broadcast_to(s, (int(facing.sum()), 3))).index >= 0
            lit[np.flatnonzero(facing)[~blocked]] = True
        best = (np.inf, 1.0)
        for k in RATIOS:
            err = _fit_error(self.obj, self.log_l, 1.0 + k * lit * cos)
            if err < best[0]:
                best = (err, k)
        return best


def estimate_sun(prims: list[Primitive], hits: RayHits, origin: np.ndarray, dirs: np.ndarray,
                 linear: np.ndarray, seed: int = 0) -> SunEstimate | None:
    """Best sun (module docstring) for the solids `prims` seen as `hits` from `origin` along
    `dirs` (H, W, 3), with the photo in linear light `linear` (H, W, 3) on the same grid."""
    problem = SunProblem(prims, hits, origin, dirs, linear, seed)
    if problem.size < 50:
        return None
    evaluate = problem.evaluate
    results = []
    for el in (20.0, 40.0, 60.0):
        for az in np.arange(-180.0, 180.0, 30.0):
            err, k = evaluate(el, float(az))
            results.append((err, el, float(az), k))
    err, el, az, k = min(results)
    for step_el, step_az in ((10.0, 15.0), (5.0, 7.5)):
        local = [(err, el, az, k)]
        for de in (-step_el, 0.0, step_el):
            for da in (-step_az, 0.0, step_az):
                if de == da == 0.0:
                    continue
                e2 = float(np.clip(el + de, 5.0, 85.0))
                a2 = (az + da + 180.0) % 360.0 - 180.0
                r = evaluate(e2, a2)
                local.append((r[0], e2, a2, r[1]))
        err, el, az, k = min(local)
    gain = 1.0 - err / max(problem.base, 1e-9)
    return SunEstimate(el, az, k, gain, confident=gain > 0.08)


def sun_share(ratio: float, elevation_deg: float) -> float:
    """Share of a horizontal surface's light that comes from the sun, for a sun-to-sky ratio."""
    c = math.sin(math.radians(elevation_deg))
    return ratio * c / (1.0 + ratio * c)
