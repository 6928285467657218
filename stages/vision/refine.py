"""Fit the street's solids to the photo by analysis by synthesis: the partition test.

Every object should cover pixels of one colour: the ray-cast map of which object each pixel
shows partitions the photo, and the better the solids stand, the less colour varies within
each part (the sky, whose colour changes with height, counts per row). So each building's
facade line, height and two ends are tried a little nearer and farther, higher and lower,
each road's and sidewalk's edges moved across the street, each car slid across and along
it, keeping a change when the partition's summed squared colour error (Lab, on a grid of
half the analysis size) drops. Only the rectangle a change touches is re-cast.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from stages.vision.camera import PinholeCamera
from stages.vision.raycast import Primitive, cast, footprint

PASSES = 2
MIN_GAIN = 1e-3  # a change must lower the error by this share


def _half(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
    a = a[:h, :w]
    return 0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2])


class Partition:
    """The photo (Lab, half grid) and the current object map; scores a changed object."""

    def __init__(self, cam: PinholeCamera, prims: list[Primitive], lab: np.ndarray):
        self.lab = _half(lab)
        self.h, self.w = self.lab.shape[:2]
        self.cam = cam.with_size(self.w, self.h)
        self.prims = list(prims)
        self.index = cast(self.cam, self.prims).index
        self.flat = self.lab.reshape(-1, 3)
        self.sq = (self.flat**2).sum(1)
        self.rows = np.repeat(np.arange(self.h), self.w)
        self.error = self._error(self.index)

    def _error(self, index: np.ndarray) -> float:
        n = len(self.prims)
        lab_id = np.where(index >= 0, index, n + np.arange(self.h)[:, None]).ravel()  # sky: one part per row
        m = n + self.h
        cnt = np.bincount(lab_id, minlength=m).astype(float)
        s = np.stack([np.bincount(lab_id, self.flat[:, k], minlength=m) for k in range(3)], 1)
        q = np.bincount(lab_id, self.sq, minlength=m)
        return float((q - (s**2).sum(1) / np.maximum(cnt, 1)).sum())

    def try_change(self, i: int, new: Primitive) -> float:
        """The error if object i became `new` (nothing is changed)."""
        boxes = [b for b in (footprint(self.cam, self.prims[i]), footprint(self.cam, new)) if b is not None]
        if not boxes:
            return self.error
        region = (min(b[0] for b in boxes), max(b[1] for b in boxes), min(b[2] for b in boxes), max(b[3] for b in boxes))
        prims = self.prims[:i] + [new] + self.prims[i + 1:]
        sub = cast(self.cam, prims, region).index
        r0, r1, c0, c1 = region
        index = self.index.copy()
        index[r0:r1, c0:c1] = sub[r0:r1, c0:c1]
        self._pending = (i, new, index)
        return self._error(index)

    def accept(self) -> None:
        i, new, index = self._pending
        self.prims[i] = new
        self.index = index
        self.error = self._error(index)


def _variants(p: Primitive) -> list[Primitive]:
    """Per class: a building's facade nearer and farther, its roof lower and higher, its
    ends shorter and longer; a road's or sidewalk's edges moved; a car slid."""
    if p.semantic in ("road", "sidewalk", "terrain") and p.shape == "box":
        return _strip_variants(p)
    if p.semantic in ("car", "truck"):
        x, y, z = p.location
        return [replace(p, location=(x + dx, y + dy, z)) for dx, dy in
                ((-0.4, 0.0), (0.4, 0.0), (0.0, -1.0), (0.0, 1.0), (0.0, -2.5), (0.0, 2.5))]
    x, y, z = p.location
    sx, sy, sz = p.size
    side = 1.0 if x > 0 else -1.0
    y0, y1 = y - sy / 2, y + sy / 2
    out = []
    for d in (-1.0, -0.5, 0.5, 1.0, 2.0, 3.0):
        out.append(replace(p, location=(x + side * d, y, z)))
    for f in (0.75, 0.88, 1.12, 1.3):
        out.append(replace(p, size=(sx, sy, max(2.0, sz * f))))
    for d in (-5.0, -2.0, 2.0, 5.0):
        if y1 - (y0 + d) > 2.0:
            out.append(replace(p, size=(sx, y1 - y0 - d, sz), location=(x, (y0 + d + y1) / 2, z)))
        if y1 + d - y0 > 2.0:
            out.append(replace(p, size=(sx, y1 + d - y0, sz), location=(x, (y0 + y1 + d) / 2, z)))
    return out


def _strip_variants(p: Primitive) -> list[Primitive]:
    """A strip lying on the ground with one edge moved across the street."""
    x, y, z = p.location
    sx, sy, sz = p.size
    out = []
    for d in (-1.0, -0.4, 0.4, 1.0):
        for edge in (-1.0, 1.0):
            w = sx + d
            if w > 0.5:
                out.append(replace(p, size=(w, sy, sz), location=(x + edge * d / 2, y, z)))
    return out


def refine_solids(cam: PinholeCamera, prims: list[Primitive], lab: np.ndarray,
                     movable: list[int]) -> list[Primitive]:
    """`prims` with the objects at `movable` (buildings, road, sidewalks, cars) fitted by the
    partition test."""
    part = Partition(cam, prims, lab)
    for _ in range(PASSES):
        changed = False
        for i in movable:
            for _step in range(3):  # the best variant, while one helps
                best, best_err = None, part.error * (1 - MIN_GAIN)
                for cand in _variants(part.prims[i]):
                    err = part.try_change(i, cand)
                    if err < best_err:
                        best, best_err = cand, err
                if best is None:
                    break
                part.try_change(i, best)
                part.accept()
                changed = True
        if not changed:
            break
    return part.prims
