"""Vanishing evidence for the horizon: where converging edges meet.

Lines on the ground and on walls that run away from the camera (road edges, kerbs,
planks, floor boards, the tops of facades) meet at vanishing points on the horizon.
Edge pixels with a clear orientation each define a line; for every candidate horizon
row we histogram where the lines cross it, and the row at which the crossings pile up
most sharply (the largest share of the lines through one point), supported by lines
slanting both ways, is the vanishing row. Near-vertical
and near-horizontal edges are left out: they do not converge on the horizon for an upright
camera. Returns None unless the evidence is clear, so the horizon step can fall back.
"""
from __future__ import annotations

import numpy as np

from stages.vision.image import PhotoArrays, box_blur

MIN_SUPPORT = 60  # edge pixels (on the fine grid) that must agree on the point
PEAK_RATIO = 2.0  # the winning row's peak against the median row's
NEAR_ROWS = 0.08  # edges this close (share of the height) to a candidate row say little about it (and bunch up at the point)


def _edges(pa: PhotoArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edge pixels (row, col) on the twice finer grid (orientation needs the resolution),
    their line direction (dx, dy) and strength."""
    lum = pa.fine_lightness
    gy, gx = np.gradient(lum)
    jxx, jyy, jxy = (box_blur(v, 1) for v in (gx * gx, gy * gy, gx * gy))
    tr = jxx + jyy
    det = jxx * jyy - jxy**2
    disc = np.sqrt(np.maximum(tr * tr / 4 - det, 0))
    l1, l2 = tr / 2 + disc, tr / 2 - disc
    coherence = (l1 - l2) / np.maximum(l1 + l2, 1e-9)
    mag = np.sqrt(tr)
    # gradient direction: the eigenvector of l1; the line runs perpendicular to it
    theta = 0.5 * np.arctan2(2 * jxy, jxx - jyy)
    dx, dy = -np.sin(theta), np.cos(theta)
    strong = (mag > np.percentile(mag, 85)) & (coherence > 0.6)
    slope = np.abs(dy) / np.maximum(np.abs(dx), 1e-9)
    slanted = (slope > np.tan(np.radians(6))) & (slope < np.tan(np.radians(75)))
    keep = strong & slanted
    rows, cols = np.nonzero(keep)
    return rows.astype(float), cols.astype(float), np.stack([dx[keep], dy[keep]], 1), mag[keep]


def vanishing_row(pa: PhotoArrays, labels: np.ndarray | None = None) -> float | None:
    """Row (from the top; may lie outside the image) of the clearest vanishing point, or None."""
    rows, cols, d, mag = _edges(pa)
    h, w = pa.fine_lightness.shape
    if len(rows) < MIN_SUPPORT:
        return None
    candidates = np.arange(-h // 2, h + h // 2, 1.0)
    bin_w = max(2.0, w / 40)
    peaks = np.zeros(len(candidates))
    best = (0.0, None)
    for i, yh in enumerate(candidates):
        t = (yh - rows) / d[:, 1]
        x = cols + t * d[:, 0]
        inside = (x > -w) & (x < 2 * w) & (np.abs(yh - rows) > NEAR_ROWS * h)
        if inside.sum() < MIN_SUPPORT:
            continue
        hist, edges = np.histogram(x[inside], bins=int(3 * w / bin_w), range=(-w, 2 * w), weights=mag[inside])
        k = int(np.argmax(hist))
        peaks[i] = hist[k] / mag[inside].sum()  # the share of the lines meeting there
        sel = inside & (x >= edges[k] - bin_w) & (x <= edges[k + 1] + bin_w)
        # lines that slant both ways (seen from left and right of the point) must agree
        sign = np.sign(d[sel, 0] * d[sel, 1])
        if sel.sum() >= MIN_SUPPORT and min((sign > 0).sum(), (sign < 0).sum()) >= 0.2 * sel.sum():
            if peaks[i] > best[0]:
                best = (float(peaks[i]), float(yh))
    med = float(np.median(peaks[peaks > 0])) if (peaks > 0).any() else 0.0
    if best[1] is None or best[0] < PEAK_RATIO * med:
        return None
    return (best[1] + 0.5) / 2 - 0.5  # back to the analysis grid's rows
