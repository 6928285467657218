"""Vanishing points: where the street's parallel lines meet, and how vertical lines lean.

Lines on the ground and on facades that run along the street (road edges, kerbs, the
bases and tops of facades, window rows) meet at the street's vanishing point, on the
horizon. Edge pixels with a clear orientation each define a line; for every candidate
row we histogram where the lines cross it, and the point where the crossings pile up
most sharply, supported by lines slanting both ways, is the vanishing point.

Vertical lines (building corners, poles, trunks) lean with the camera's roll, and
converge towards the vertical vanishing point when the camera pitches: their lean grows
linearly across the image, lean(u) = c0 + c1 u. c0 gives the roll; c1 = -1 / v_vert, and
the two orthogonal vanishing points (the street's on the horizon at v_h, the vertical one
at v_vert) give the focal length, f^2 = -v_h v_vert (Caprile and Torre 1990). Each result
comes with its uncertainty, so the camera step can weigh it against its prior.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stages.vision.image import PhotoArrays, box_blur

MIN_SUPPORT = 60  # edge pixels (on the fine grid) that must agree on the point
PEAK_RATIO = 1.5  # the winning row's peak against the median row's
MIN_SHARE = 0.07  # and at least this share of the slanted lines must pass through the point
NEAR_ROWS = 0.08  # edges this close (share of the height) to a candidate row say little about it
VERTICAL_DEG = 14.0  # edges within this of vertical are candidates for world-vertical lines
MIN_VERTICAL = 40  # edge pixels needed to read the lean of vertical lines


@dataclass
class EdgeField:
    """Oriented edge pixels on the fine grid: position, unit line direction (dx right, dy down), strength."""

    rows: np.ndarray
    cols: np.ndarray
    direction: np.ndarray  # (N, 2)
    strength: np.ndarray
    shape: tuple[int, int]  # (rows, cols) of the fine grid


def edge_field(pa: PhotoArrays, percentile: float = 85.0, coherence_min: float = 0.6) -> EdgeField:
    """Strong, coherent edge pixels of the twice finer lightness (structure tensor)."""
    lum = pa.fine_lightness
    gy, gx = np.gradient(lum)
    jxx, jyy, jxy = (box_blur(v, 1) for v in (gx * gx, gy * gy, gx * gy))
    tr = jxx + jyy
    det = jxx * jyy - jxy**2
    disc = np.sqrt(np.maximum(tr * tr / 4 - det, 0))
    l1, l2 = tr / 2 + disc, tr / 2 - disc
    coherence = (l1 - l2) / np.maximum(l1 + l2, 1e-9)
    mag = np.sqrt(tr)
    theta = 0.5 * np.arctan2(2 * jxy, jxx - jyy)  # gradient direction; the line runs across it
    dx, dy = -np.sin(theta), np.cos(theta)
    keep = (mag > np.percentile(mag, percentile)) & (coherence > coherence_min) & (mag > 1e-3)
    rows, cols = np.nonzero(keep)
    return EdgeField(rows.astype(float), cols.astype(float), np.stack([dx[keep], dy[keep]], 1), mag[keep], lum.shape)


def _slanted(e: EdgeField) -> np.ndarray:
    slope = np.abs(e.direction[:, 1]) / np.maximum(np.abs(e.direction[:, 0]), 1e-9)
    return (slope > np.tan(np.radians(6))) & (slope < np.tan(np.radians(75)))


@dataclass
class VanishingPoint:
    row: float  # analysis-grid rows from the top (may lie outside the image)
    col: float
    share: float  # share of the slanted lines through it


def street_vanishing_point(pa: PhotoArrays, edges: EdgeField | None = None) -> VanishingPoint | None:
    """The clearest point where slanted lines meet (module docstring), or None."""
    e = edges or edge_field(pa)
    keep = _slanted(e)
    rows, cols, d, mag = e.rows[keep], e.cols[keep], e.direction[keep], e.strength[keep]
    h, w = e.shape
    if len(rows) < MIN_SUPPORT:
        return None
    candidates = np.arange(-h // 2, h + h // 2, 1.0)
    bin_w = max(2.0, w / 40)
    peaks = np.zeros(len(candidates))
    best = (0.0, None, None)
    for i, yh in enumerate(candidates):
        t = (yh - rows) / d[:, 1]
        x = cols + t * d[:, 0]
        inside = (x > -w) & (x < 2 * w) & (np.abs(yh - rows) > NEAR_ROWS * h)
        if inside.sum() < MIN_SUPPORT:
            continue
        hist, edges_ = np.histogram(x[inside], bins=int(3 * w / bin_w), range=(-w, 2 * w), weights=mag[inside])
        k = int(np.argmax(hist))
        peaks[i] = hist[k] / mag[inside].sum()
        sel = inside & (x >= edges_[k] - bin_w) & (x <= edges_[k + 1] + bin_w)
        sign = np.sign(d[sel, 0] * d[sel, 1])
        if sel.sum() >= MIN_SUPPORT and min((sign > 0).sum(), (sign < 0).sum()) >= 0.2 * sel.sum():
            if peaks[i] > best[0]:
                xs = x[sel]
                col = float(np.average(xs, weights=mag[sel]))
                best = (float(peaks[i]), float(yh), col)
    med = float(np.median(peaks[peaks > 0])) if (peaks > 0).any() else 0.0
    if best[1] is None or best[0] < PEAK_RATIO * med or best[0] < MIN_SHARE:
        return None
    row, col = _refine(rows, cols, d, mag, best[1], best[2], h)
    row, col = refine_with_segments(line_segments(e), row, col, h)
    return VanishingPoint(row=(row + 0.5) / 2 - 0.5, col=(col + 0.5) / 2 - 0.5, share=best[0])


@dataclass
class Segment:
    """A straight edge: its centre (fine-grid col, row), unit direction and length in pixels."""

    centre: np.ndarray
    direction: np.ndarray
    length: float


def line_segments(e: EdgeField, min_pixels: int = 10) -> list[Segment]:
    """Edge pixels grouped into straight segments: connected pixels of one orientation (18
    bins), each fitted by principal axes. A segment's direction is far more precise than
    any one pixel's gradient, which is what locating a vanishing point needs."""
    from stages.vision.superpixels import connected_components

    h, w = e.shape
    angle = np.mod(np.arctan2(e.direction[:, 1], e.direction[:, 0]), np.pi)
    bins = (angle / (np.pi / 18)).astype(int) % 18
    out: list[Segment] = []
    for shift in (0.0, 0.5):  # two staggered binnings so a line on a bin edge is not split
        b = (np.floor(angle / (np.pi / 18) + shift).astype(int)) % 18
        for k in range(18):
            sel = b == k
            if sel.sum() < min_pixels:
                continue
            mask = np.zeros((h, w), dtype=bool)
            rr, cc = e.rows[sel].astype(int), e.cols[sel].astype(int)
            mask[rr, cc] = True
            comps = connected_components(mask)
            labels = comps[rr, cc]
            for lab in np.unique(labels):
                m = labels == lab
                if m.sum() < min_pixels:
                    continue
                pts = np.stack([cc[m], rr[m]], 1).astype(float)
                centre = pts.mean(0)
                _, sv, vt = np.linalg.svd(pts - centre, full_matrices=False)
                if sv[0] < 3 * max(sv[1], 1e-6):
                    continue  # a blob, not a line
                length = float(np.ptp((pts - centre) @ vt[0]))
                out.append(Segment(centre, vt[0], length))
    del bins
    return out


def refine_with_segments(segments: list[Segment], row: float, col: float, h: int) -> tuple[float, float]:
    """The point (fine grid) nearest, in the least-squares sense, to the segments' lines that
    pass close to (row, col); each line weighted by its length, iterated with a shrinking gate."""
    if len(segments) < 4:
        return row, col
    cen = np.array([s.centre for s in segments])
    dirs = np.array([s.direction for s in segments])
    length = np.array([s.length for s in segments])
    n = np.stack([dirs[:, 1], -dirs[:, 0]], 1)
    off = (n * cen).sum(1)
    slope = np.abs(dirs[:, 1]) / np.maximum(np.abs(dirs[:, 0]), 1e-9)
    usable = (slope > np.tan(np.radians(4))) & (slope < np.tan(np.radians(80))) & (length >= 8)
    p = np.array([col, row])
    for gate in (8.0, 4.0, 2.5):
        dist = np.abs(n @ p - off)
        # angular gate: the line's distance to the point, relative to how far it is from it
        lever = np.linalg.norm(cen - p, axis=1)
        sel = usable & (dist < np.maximum(gate, 0.03 * lever))
        if sel.sum() < 4:
            break
        wts = length[sel] ** 2 / np.maximum(lever[sel], 1.0)
        a = n[sel] * wts[:, None]
        p = np.linalg.lstsq(a.T @ n[sel], a.T @ off[sel], rcond=None)[0]
    return float(p[1]), float(p[0])


def _refine(rows, cols, d, mag, row, col, h) -> tuple[float, float]:
    """Least-squares point closest to the lines that pass near (row, col) (iterated, tighter)."""
    n = np.stack([d[:, 1], -d[:, 0]], 1)  # line normals (in x, y)
    off = n[:, 0] * cols + n[:, 1] * rows
    p = np.array([col, row])
    for radius in (6.0, 3.0, 2.0):
        resid = n @ p - off
        far = np.abs(p[1] - rows) > NEAR_ROWS * h
        sel = (np.abs(resid) < radius) & far
        if sel.sum() < MIN_SUPPORT // 2:
            break
        wts = mag[sel] * np.abs(p[1] - rows[sel])  # long lever arms locate the point best
        a = n[sel] * wts[:, None]
        p = np.linalg.lstsq(a.T @ n[sel], a.T @ off[sel], rcond=None)[0]
    return float(p[1]), float(p[0])


def vanishing_row(pa: PhotoArrays, labels: np.ndarray | None = None) -> float | None:
    """Row of the clearest vanishing point (the horizon when the camera is upright), or None."""
    vp = street_vanishing_point(pa)
    return None if vp is None else vp.row


@dataclass
class VerticalLean:
    """How world-vertical lines lean: tan(lean) = c0 + c1 u (u: analysis pixels right of centre)."""

    c0: float
    c1: float
    sigma_c1: float
    count: int

    @property
    def roll_deg(self) -> float:
        """Camera roll that makes vertical lines lean by c0 at the image centre: a camera
        rolled by r sees the world's up direction along (-sin r, cos r), so c0 = -tan r."""
        return float(-math.degrees(math.atan(self.c0)))


def vertical_lean(pa: PhotoArrays, edges: EdgeField | None = None, mask: np.ndarray | None = None
                  ) -> VerticalLean | None:
    """Lean of world-vertical lines from straight segments (precise), else from edge pixels."""
    e = edges or edge_field(pa)
    by_segments = _lean_from_segments(e)
    return by_segments if by_segments is not None else _lean_from_pixels(pa, e, mask)


def _lean_from_segments(e: EdgeField, min_length: float = 10.0) -> VerticalLean | None:
    """Weighted (length^2) robust line fit of the segments' lean against their column."""
    h, w = e.shape
    segs = [s for s in line_segments(e) if s.length >= min_length
            and abs(s.direction[0]) < np.tan(np.radians(VERTICAL_DEG)) * abs(s.direction[1])]
    if len(segs) < 6:
        return None
    lean = np.array([-s.direction[0] / s.direction[1] for s in segs])
    u = np.array([(s.centre[0] + 0.5 - w / 2) / 2.0 for s in segs])
    wt = np.array([s.length for s in segs]) ** 2
    a = np.stack([np.ones_like(u), u], 1)
    weights = wt.copy()
    coef = np.zeros(2)
    for _ in range(8):
        sw = np.sqrt(weights)
        coef = np.linalg.lstsq(a * sw[:, None], lean * sw, rcond=None)[0]
        resid = lean - a @ coef
        scale = max(1.4826 * float(np.median(np.abs(resid))), 2e-3)
        weights = wt / np.maximum(1.0, (np.abs(resid) / (2.0 * scale)) ** 2)
    resid = lean - a @ coef
    inl = np.abs(resid) < 3 * max(1.4826 * float(np.median(np.abs(resid))), 2e-3)
    if inl.sum() < 5:
        return None
    sigma = max(1.4826 * float(np.median(np.abs(resid[inl]))), 1e-3)
    spread = float(np.sqrt(np.average((u[inl] - np.average(u[inl], weights=wt[inl])) ** 2, weights=wt[inl])))
    sigma_c1 = sigma / max(spread, 1.0) / math.sqrt(inl.sum())
    return VerticalLean(float(coef[0]), float(coef[1]), sigma_c1, int(inl.sum()))


def _lean_from_pixels(pa: PhotoArrays, edges: EdgeField | None = None, mask: np.ndarray | None = None
                      ) -> VerticalLean | None:
    """Robust line fit of the lean of near-vertical edges against their column (module docstring).
    `mask` (analysis grid) restricts the edges to where world-vertical lines are expected."""
    e = edges or edge_field(pa)
    h, w = e.shape
    dx, dy = e.direction[:, 0], e.direction[:, 1]
    near_vertical = np.abs(dx) < np.tan(np.radians(VERTICAL_DEG)) * np.abs(dy)
    if mask is not None:
        near_vertical &= mask[np.minimum(e.rows // 2, mask.shape[0] - 1).astype(int),
                              np.minimum(e.cols // 2, mask.shape[1] - 1).astype(int)]
    if near_vertical.sum() < MIN_VERTICAL:
        return None
    # lean in (u right, v up): du/dv = -dx/dy
    lean = -dx[near_vertical] / dy[near_vertical]
    u = (e.cols[near_vertical] + 0.5 - w / 2) / 2.0  # analysis pixels
    wt = e.strength[near_vertical]
    a = np.stack([np.ones_like(u), u], 1)
    coef = np.zeros(2)
    weights = wt.copy()
    for _ in range(6):  # iteratively reweighted least squares (Huber-like)
        sw = np.sqrt(weights)
        coef = np.linalg.lstsq(a * sw[:, None], lean * sw, rcond=None)[0]
        resid = lean - a @ coef
        scale = max(1.4826 * float(np.median(np.abs(resid))), 1e-3)
        weights = wt / np.maximum(1.0, np.abs(resid) / (1.5 * scale))
    resid = lean - a @ coef
    sigma = max(1.4826 * float(np.median(np.abs(resid))), 1e-3)
    # edge pixels of one line are not independent: count lines (about 8 fine pixels each)
    n_eff = max(near_vertical.sum() / 8.0, 2.0)
    spread = float(np.sqrt(np.average((u - np.average(u, weights=weights)) ** 2, weights=weights)))
    sigma_c1 = sigma / max(spread, 1.0) / math.sqrt(n_eff)
    return VerticalLean(float(coef[0]), float(coef[1]), sigma_c1, int(near_vertical.sum()))
