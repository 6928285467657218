"""Per image column: where the sky ends (the skyline) and where upright things meet the
ground (the contact row), plus a pixel-accurate sky mask.

A street photo, column by column, reads top to bottom as sky, then upright things
(facades, trees, cars), then ground. The superpixel labels (segment.py) get this right in
the large but follow superpixel edges; the sky is refined per pixel here against a model
of the sky's own colour row by row, because building heights are read off the skyline.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stages.vision.image import PhotoArrays
from stages.vision.segment import GROUND, SKY, VERTICAL

SKY_DELTA_E = 7.0  # Lab distance from the sky's colour on that row that still counts as sky
SKY_TEXTURE = 0.012  # and its texture (segment.SKY_TEXTURE units x2: cloud edges are allowed)


@dataclass
class Columns:
    skyline: np.ndarray  # (W,) first non-sky row from the top (0: something reaches the top)
    contact: np.ndarray  # (W,) first row of the ground run that reaches the bottom (H: none)
    labels: np.ndarray  # (H, W) refined SKY / VERTICAL / GROUND

    def upright(self) -> np.ndarray:
        """(H, W) mask of the rows between skyline and contact in each column."""
        h, w = self.labels.shape
        rows = np.arange(h)[:, None]
        return (rows >= self.skyline[None]) & (rows < self.contact[None])


def sky_model(pa: PhotoArrays, sky: np.ndarray) -> np.ndarray | None:
    """(H, 3) Lab of the sky on each row: the median of its sky pixels, carried down to rows
    without any (the sky changes slowly with height), None without sky."""
    h = sky.shape[0]
    rows_with = [r for r in range(h) if sky[r].sum() >= 2]
    if len(rows_with) < 2:
        return None
    known = np.array([np.median(pa.lab[r][sky[r]], axis=0) for r in rows_with])
    out = np.empty((h, 3))
    for c in range(3):
        out[:, c] = np.interp(np.arange(h), rows_with, known[:, c])
    return out


def refine_sky(pa: PhotoArrays, labels: np.ndarray) -> np.ndarray:
    """Labels whose sky/upright boundary follows pixels: from the top of each column that
    starts in sky, the sky extends while pixels look like the sky of their row."""
    sky = labels == SKY
    if sky.mean() < 0.01:
        sky = _sky_seeds(pa, labels)
    model = sky_model(pa, sky)
    if model is None:
        return labels
    h, w = labels.shape
    like = (np.linalg.norm(pa.lab - model[:, None, :], axis=-1) < SKY_DELTA_E) & (pa.texture < SKY_TEXTURE)
    out = labels.copy()
    for c in range(w):
        if not sky[0, c] and not like[0, c]:
            continue
        r = 0
        while r < h and (like[r, c] or (sky[r, c] and r + 1 < h and like[r + 1, c])):
            r += 1
        # do not run into the ground: stop at the first ground label
        ground_rows = np.flatnonzero(labels[:, c] == GROUND)
        if ground_rows.size:
            r = min(r, int(ground_rows[0]))
        out[:r, c] = SKY
        below = np.arange(h) >= r
        out[below & (out[:, c] == SKY), c] = VERTICAL  # sky specks below the skyline are upright things
    return out


def _sky_seeds(pa: PhotoArrays, labels: np.ndarray) -> np.ndarray:
    """When the labels found no sky: smooth, bluish or pale pixels on the top rows that are
    not ground (a slot of sky between tall facades is easily outvoted by them)."""
    h, w = labels.shape
    L, a, b = pa.lab[..., 0], pa.lab[..., 1], pa.lab[..., 2]
    smooth = pa.texture < SKY_TEXTURE / 2
    skyish = (b < -4) | ((L > 70) & (np.hypot(a, b) < 8))
    seeds = np.zeros_like(labels, dtype=bool)
    top = max(2, h // 10)
    seeds[:top] = (smooth & skyish & (labels != GROUND))[:top]
    if seeds[:top].sum() < 0.1 * top * w * 0.2:
        return np.zeros_like(seeds)
    return seeds


def read_columns(pa: PhotoArrays, labels: np.ndarray) -> Columns:
    refined = refine_sky(pa, labels)
    h, w = refined.shape
    skyline = np.zeros(w, dtype=np.int64)
    contact = np.full(w, h, dtype=np.int64)
    for c in range(w):
        col = refined[:, c]
        r = 0
        while r < h and col[r] == SKY:
            r += 1
        skyline[c] = r
        r = h
        while r > 0 and col[r - 1] == GROUND:
            r -= 1
        contact[c] = max(r, skyline[c])
    return Columns(skyline, contact, refined)
