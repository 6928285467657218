"""Fit the street's solids to the photo by analysis by synthesis: the partition test.

Every object should cover pixels of one colour: the ray-cast map of which object each pixel
shows partitions the photo, and the better the solids stand, the less colour varies within
each part (the sky, whose colour changes with height, counts per row). So each building's
facade line, height and two ends are tried a little nearer and farther, higher and lower,
each road's and sidewalk's edges moved across the street, each car slid across and along
it, keeping a change when the partition's summed squared colour error (Lab, on a grid of
half the analysis size) drops. Only the rectangle a change touches is re-cast. A road's
edge and the sidewalk's edge it touches also move as one (the kerb line: what one gives
up the other takes), and the caller may veto changes that colour cannot judge
(street.ground_given_up_plausibly: a road's shaded half is not terrain).

Colour alone lets a pale facade rise into a pale sky (a sky row is one part, and a facade
of the sky's colour hardly changes its error), so the segmentation's sky takes part too:
each pixel where the map shows a solid but the segmentation says open sky (sky above every
solid of its column), or shows sky where the segmentation says something stands, costs
SKY_WEIGHT (about a 14-unit Lab error). Sky-labelled patches below a solid are left out:
on pale facades they are more often facade than a gap, and cutting gaps for them opened
dark holes in the renders.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from stages.vision.camera import PinholeCamera
from stages.vision.raycast import Primitive, cast, footprint

PASSES = 2
MIN_GAIN = 1e-3  # a change must lower the error by this share
MIN_RUN_M = 2.0  # separate() leaves each box this long along the street, where the two span twice it
SKY_WEIGHT = 200.0  # squared Lab units per half-grid pixel whose sky-or-solid disagrees with the segmentation


def _half(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
    a = a[:h, :w]
    return 0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2])


class Partition:
    """The photo (Lab, half grid) and the current object map; scores a changed object."""

    def __init__(self, cam: PinholeCamera, prims: list[Primitive], lab: np.ndarray, sky: np.ndarray | None = None):
        self.lab = _half(lab)
        if sky is not None and sky.shape != lab.shape[:2]:
            raise ValueError(f"the sky mask {sky.shape} is not on the photo's grid {lab.shape[:2]}")
        self.sky = self.care = None
        if sky is not None:
            # only the open sky above every solid of its column counts as sky: a patch the
            # segmentation calls sky inside a pale facade is more often facade than a hole
            half = _half(sky.astype(float)) > 0.5
            self.sky = np.logical_and.accumulate(half, axis=0)
            self.care = self.sky | ~half
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
        err = float((q - (s**2).sum(1) / np.maximum(cnt, 1)).sum())
        if self.sky is not None:
            err += SKY_WEIGHT * float((((index >= 0) == self.sky) & self.care).sum())
        return err

    def try_change(self, changes: dict[int, Primitive]) -> float:
        """The error if each object i became changes[i] (nothing is changed)."""
        boxes = [b for i, new in changes.items() for b in (footprint(self.cam, self.prims[i]), footprint(self.cam, new))
                 if b is not None]
        if not boxes:
            return self.error
        region = (min(b[0] for b in boxes), max(b[1] for b in boxes), min(b[2] for b in boxes), max(b[3] for b in boxes))
        prims = [changes.get(i, p) for i, p in enumerate(self.prims)]
        sub = cast(self.cam, prims, region).index
        r0, r1, c0, c1 = region
        index = self.index.copy()
        index[r0:r1, c0:c1] = sub[r0:r1, c0:c1]
        self._pending = (changes, index)
        return self._error(index)

    def accept(self) -> None:
        changes, index = self._pending
        for i, new in changes.items():
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


PAVED = ("road", "sidewalk")
KERB_TOUCH_M = 0.3
EDGE_STEPS_M = (-1.0, -0.4, 0.4, 1.0)  # how far a strip's edge (or a kerb line) is tried across the street


def _kerb_variants(prims: list[Primitive], i: int) -> list[dict[int, Primitive]]:
    """A road's or sidewalk's edge moved together with the paved strip it touches (the kerb
    line is one line: the road gives up what the sidewalk takes, never the terrain plane)."""
    p = prims[i]
    if not is_paved_strip(p):
        return []
    out = []
    p0, p1 = x_span(p)
    for side in (-1.0, 1.0):
        edge, far_p = (p1, p0) if side > 0 else (p0, p1)
        for j, q in enumerate(prims):
            if j == i or not is_paved_strip(q):
                continue
            q0, q1 = x_span(q)
            near_q, far_q = (q0, q1) if side > 0 else (q1, q0)
            if abs(near_q - edge) > KERB_TOUCH_M:
                continue
            for d in EDGE_STEPS_M:
                e = edge + d
                if side * (e - far_p) > 0.5 and side * (far_q - e) > 0.5:
                    out.append({i: _with_x_span(p, far_p, e), j: _with_x_span(q, e, far_q)})
    return out


def is_paved_strip(p: Primitive) -> bool:
    return p.semantic in PAVED and p.shape == "box"


def x_span(p: Primitive) -> tuple[float, float]:
    """The X a box covers across the street (its yaw is 0 for strips and buildings)."""
    return p.location[0] - p.size[0] / 2, p.location[0] + p.size[0] / 2


def _with_x_span(p: Primitive, a: float, b: float) -> Primitive:
    x0, x1 = min(a, b), max(a, b)
    return replace(p, size=(x1 - x0, p.size[1], p.size[2]), location=((x0 + x1) / 2, p.location[1], p.location[2]))


def _strip_variants(p: Primitive) -> list[Primitive]:
    """A strip lying on the ground with one edge moved across the street."""
    x0, x1 = x_span(p)
    out = []
    for d in EDGE_STEPS_M:
        if x1 - x0 + d > 0.5:
            out += [_with_x_span(p, x0 - d, x1), _with_x_span(p, x0, x1 + d)]
    return out


Allowed = Callable[[list[Primitive], dict[int, Primitive]], bool]


def refine_solids(cam: PinholeCamera, prims: list[Primitive], lab: np.ndarray,
                  movable: list[int], sky: np.ndarray | None = None, allowed: Allowed | None = None
                  ) -> list[Primitive]:
    """`prims` with the objects at `movable` (buildings, road, sidewalks, cars) fitted by the
    partition test; `sky` (the segmentation's sky, analysis grid) keeps solids out of it;
    `allowed(prims, changes)`, when given, vetoes changes the colour test cannot judge (the
    partition is blind to classes: see street.ground_given_up_plausibly)."""
    part = Partition(cam, prims, lab, sky)
    for _ in range(PASSES):
        changed = False
        for i in movable:
            for _step in range(3):  # the best variant, while one helps
                best, best_err = None, part.error * (1 - MIN_GAIN)
                cands = [{i: c} for c in _variants(part.prims[i])] + _kerb_variants(part.prims, i)
                for cand in cands:
                    if allowed is not None and not allowed(part.prims, cand):
                        continue
                    err = part.try_change(cand)
                    if err < best_err:
                        best, best_err = cand, err
                if best is None:
                    break
                part.try_change(best)
                part.accept()
                changed = True
        if not changed:
            break
    return part.prims



def separate(prims: list[Primitive], indices: list[int]) -> list[Primitive]:
    """No two of these boxes (the buildings along one side) share volume: where two overlap
    along the street, each gives up half of the overlap. Overlapping boxes render black in
    Cycles where their faces coincide, and a simulator cannot use interpenetrating solids."""
    out = list(prims)
    for _ in range(3):
        moved = False
        for a in indices:
            for b in indices:
                pa, pb = out[a], out[b]
                if a == b or pa.location[1] > pb.location[1]:
                    continue  # each pair once: a is the nearer along the street
                (ax0, ax1), (bx0, bx1) = x_span(pa), x_span(pb)
                a_end, b_start = pa.location[1] + pa.size[1] / 2, pb.location[1] - pb.size[1] / 2
                if min(ax1, bx1) - max(ax0, bx0) <= 0 or a_end <= b_start:
                    continue
                a_start, b_end = pa.location[1] - pa.size[1] / 2, pb.location[1] + pb.size[1] / 2
                lo, hi = a_start + MIN_RUN_M, b_end - MIN_RUN_M
                cut = min(max((a_end + b_start) / 2, lo), hi) if lo <= hi else (a_start + b_end) / 2
                if a_end > cut:
                    out[a] = replace(pa, size=(pa.size[0], cut - a_start, pa.size[2]),
                                     location=(pa.location[0], (a_start + cut) / 2, pa.location[2]))
                if b_start < cut:
                    out[b] = replace(pb, size=(pb.size[0], b_end - cut, pb.size[2]),
                                     location=(pb.location[0], (cut + b_end) / 2, pb.location[2]))
                moved = True
        if not moved:
            break
    return out
