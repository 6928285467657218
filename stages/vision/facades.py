"""Buildings along a street: boxes aligned with it, standing on their contact line, as high
as the skyline says, split where the facade changes.

Each side of the street is a row of facades on a plane X = X_side (its contact line with
the ground, read where upright things meet the ground beyond the kerb). Every image
column on that side looks at one place Y along the facade; there the skyline gives the
building's height (the ray through the skyline row meets the facade plane at that
height), the pixels below it its colour, and the contact row its set-back. The columns are
cut into buildings by dynamic programming over (height, colour, set-back), and each piece
becomes a box from its first to its last column's Y, DEPTH_M deep behind the facade.
A building closing the street (upright pixels near the vanishing point standing on the
road far away) becomes a box across the street.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stages.vision.camera import PinholeCamera
from stages.vision.columns import Columns
from stages.vision.image import PhotoArrays
from stages.vision.raycast import Primitive

END_MIN_HEIGHT_M = 4.0  # a building across the street stands higher than a car or a wall
FRACTION_OF_BEST = 0.7
DEPTH_M = 14.0  # how deep a building goes behind its facade (unseen: a typical block)
FAR_Y = 300.0  # facades are not read farther than this along the street
KERB_SLACK_M = 1.0  # an end building's contact may lie this far beyond the paved street's edge
BEHIND_M = 30.0  # a building cut by the image edge starts this far behind the camera
CUT_COST = 6.0  # DP: the cost of starting a new building
MIN_BUILDING_COLS = 2
MIN_HEIGHT_M = 2.5


@dataclass
class Building:
    side: str  # left / right / end
    prim: Primitive
    cols: np.ndarray  # the image columns it was read from
    lab: np.ndarray  # facade colour


def _ray_plane_x(cam: PinholeCamera, col: np.ndarray, row: np.ndarray, x_plane: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where rays through (col, row) meet the vertical planes X = x_plane: (y, z, valid)."""
    d = cam.rays(col, row)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (x_plane - cam.x_m) / np.where(np.abs(d[..., 0]) < 1e-9, 1e-9, d[..., 0])
    valid = t > 0.05
    return cam.y_m + t * d[..., 1], cam.height_m + t * d[..., 2], valid


class GroundMap:
    """X of the ground seen at every pixel (analysis grid), to find where a line X = const runs."""

    def __init__(self, cam: PinholeCamera):
        rows, cols = np.mgrid[0:cam.height, 0:cam.width]
        x, y, valid = cam.ground_point(cols.astype(float), rows.astype(float))
        self.x = np.where(valid, x, np.nan)
        self.y = np.where(valid, y, np.nan)
        self.cam = cam

    def rows_of(self, x_line: float, cols: np.ndarray) -> np.ndarray:
        """Per column, the first row (from the top) whose ground lies on the far side of
        X = x_line seen from the camera line, i.e. where the line crosses the column (-1: none)."""
        sgn = 1.0 if x_line > self.cam.x_m else -1.0
        inside = sgn * (self.x[:, cols] - self.cam.x_m) <= sgn * (x_line - self.cam.x_m)  # nearer the camera line
        inside &= np.isfinite(self.x[:, cols])
        # the line's row: the topmost row from which the ground stays on the camera's side
        h = self.x.shape[0]
        out = np.full(len(cols), -1, dtype=np.int64)
        any_in = inside.any(0)
        # rows below the crossing are inside; find the first inside row scanning down
        first = np.argmax(inside, axis=0)
        out[any_in] = first[any_in]
        out[~any_in] = h
        return out


def facade_line(gm: GroundMap, labels: np.ndarray, lab: np.ndarray, side_cols: np.ndarray, sgn: float,
                x_min: float, x_max: float = 40.0, step: float = 0.25, band: int = 4) -> tuple[float, float] | None:
    """|X| of a side's facade line: the line X = const on the ground (through the vanishing
    point) above which a facade rises. Along it, the band of pixels just above is one
    surface (its colour uniform going up) and differs from the band just below, and the
    labels above lean upright. A kerb or a verge's edge has a narrow strip, not a uniform
    band, above it. Returns (|X|, score) of the nearest line scoring within 85 % of the best,
    or None when no line is convincing."""
    from stages.vision.segment import GROUND, VERTICAL

    h = labels.shape[0]
    vert = (labels == VERTICAL).astype(float)
    gnd = (labels == GROUND).astype(float)
    results = []
    for ax in np.arange(x_min, x_max, step):
        r = gm.rows_of(sgn * ax, side_cols)
        seen = (r >= band) & (r <= h - band)
        if seen.sum() < max(3, 0.15 * len(side_cols)):
            continue
        c = side_cols[seen]
        rr = r[seen]
        above = np.stack([lab[rr - k, c] for k in range(1, band + 1)], 0)  # (band, n, 3)
        below = np.stack([lab[rr + k, c] for k in range(0, band)], 0)
        a_mean, b_mean = above.mean(0), below.mean(0)
        step_ = np.clip(np.linalg.norm(a_mean - b_mean, axis=-1) / 15.0, 0.0, 1.5)
        spread = np.clip(np.linalg.norm(above - a_mean, axis=-1).mean(0) / 8.0, 0.0, 1.0)
        upright = (vert[rr - 1, c] + vert[rr - 2, c]) / 2 - (gnd[rr - 1, c] + gnd[rr - 2, c]) / 2
        score = float(np.sum(step_ - spread + 0.5 * upright)) / max(len(side_cols), 1)
        results.append((float(ax), score))
    if not results:
        return None
    top = max(s for _, s in results)
    if top < 0.3:
        return None
    for ax, sc in results:
        if sc >= FRACTION_OF_BEST * top:
            return ax, sc
    return None


def contact_mode(gm: GroundMap, cols: Columns, pa: PhotoArrays, side_cols: np.ndarray, sgn: float,
                 x_min: float, x_max: float = 30.0) -> float | None:
    """|X| where most columns' upright runs meet the ground: each column's contact row moved
    to the strongest colour edge within a few rows (labels follow superpixels, edges follow
    pixels), taken to the ground, and the densest metre of those X."""
    h = cols.labels.shape[0]
    grad = np.zeros(cols.labels.shape)
    grad[1:] = np.linalg.norm(pa.lab[1:] - pa.lab[:-1], axis=-1)
    xs = []
    for c in side_cols:
        r = int(cols.contact[c])
        if r >= h or r <= cols.skyline[c] + 1:
            continue
        lo, hi = max(1, r - 4), min(h - 1, r + 3)
        rr = lo + int(np.argmax(grad[lo:hi + 1, c]))
        x = gm.x[min(rr, h - 1), c]
        if np.isfinite(x) and x_min < sgn * x < x_max:
            xs.append(abs(float(x)))
    if len(xs) < 3:
        return None
    xs_sorted = np.sort(np.array(xs))
    best, where = 0, None
    for i, x in enumerate(xs_sorted):
        n = int(np.searchsorted(xs_sorted, x + 1.0)) - i
        if n > best:
            best, where = n, float(np.median(xs_sorted[i:i + n]))
    return where


def side_facade_x(gm: GroundMap, cols: Columns, pa: PhotoArrays, side_cols: np.ndarray, sgn: float,
                  x_min: float) -> float | None:
    """A side's facade |X| from two readings: the facade line (a uniform band above a line
    through the vanishing point) and the columns' contact mode. Each tends to stop short at
    a kerb or a verge's edge, rarely beyond the facade: where they disagree by more than a
    metre the farther one is kept, else their mean."""
    line = facade_line(gm, cols.labels, pa.lab, side_cols, sgn, x_min)
    mode = contact_mode(gm, cols, pa, side_cols, sgn, x_min)
    found = [v for v in (line[0] if line else None, mode) if v is not None]
    if not found:
        return None
    if len(found) == 2 and abs(found[0] - found[1]) > 1.0:
        return max(found)
    return float(np.mean(found))


def _segments(feat: np.ndarray, weight: np.ndarray, cut: float) -> list[tuple[int, int]]:
    n = len(feat)
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    back = np.zeros(n + 1, dtype=int)
    cw = np.concatenate([[0.0], np.cumsum(weight)])
    cs = np.concatenate([np.zeros((1, feat.shape[1])), np.cumsum(feat * weight[:, None], 0)])
    cq = np.concatenate([[0.0], np.cumsum((feat**2).sum(1) * weight)])
    for j in range(1, n + 1):
        i = np.arange(0, max(0, j - MIN_BUILDING_COLS) + 1)
        w = cw[j] - cw[i]
        s = cs[j] - cs[i]
        c = best[i] + cq[j] - cq[i] - (s**2).sum(-1) / np.maximum(w, 1e-9) + cut
        k = int(np.argmin(c))
        best[j], back[j] = c[k], i[k]
    out, j = [], n
    while j > 0:
        out.append((int(back[j]), j))
        j = back[j]
    return out[::-1]


def edge_map(pa: PhotoArrays) -> np.ndarray:
    """Colour change between each row and the one above it (0..1)."""
    d = np.zeros(pa.shape)
    d[1:] = np.linalg.norm(pa.lab[1:] - pa.lab[:-1], axis=-1)
    return np.clip(d / 20.0, 0.0, 1.0)


def _heights(cam: PinholeCamera, cols: np.ndarray, top: np.ndarray, contact: np.ndarray, x_face: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: the skyline's height on the facade plane, the Y it is seen at, and whether
    a facade is there at all (upright pixels above a plausible height)."""
    c = cols.astype(float)
    y_top, z_top, ok = _ray_plane_x(cam, c, top[cols].astype(float) - 0.5, x_face)
    has = (top[cols] < contact[cols]) & ok & (z_top > 0.5)
    z = np.where(has, np.maximum(z_top, 0.0), 0.0)
    cut = top[cols] <= 0
    z = np.where(cut & has, z * 1.25 + 2.0, z)  # the building goes on above the frame
    return z, y_top, has


def side_buildings(cam: PinholeCamera, pa: PhotoArrays, cols: Columns, top: np.ndarray, side: str,
                   side_cols: np.ndarray, gm: GroundMap, edges: np.ndarray, x_min: float,
                   facade_pixels: np.ndarray) -> list[Building]:
    """The buildings of one side (module docstring). `top` is each column's building skyline
    (first row that is neither sky nor a tree or pole), `facade_pixels` the pixels that may
    belong to facades, `x_min` the |X| the facade must lie beyond (the road's edge)."""
    sgn = -1.0 if side == "left" else 1.0
    if len(side_cols) < MIN_BUILDING_COLS:
        return []
    x_side = side_facade_x(gm, cols, pa, side_cols, sgn, x_min)
    if x_side is None:
        return []
    z, y_top, has = _heights(cam, side_cols, top, cols.contact, np.full(len(side_cols), sgn * x_side))
    lab = np.zeros((len(side_cols), 3))
    for k, cc in enumerate(side_cols):
        m = facade_pixels[:, cc]
        if m.any():
            lab[k] = np.median(pa.lab[m, cc], axis=0)
    feat = np.concatenate([np.log1p(z)[:, None] * 4.0, lab / 12.0], axis=1)
    # along the street, near to far: the facade's base row moves towards the vanishing point
    base = gm.rows_of(sgn * x_side, side_cols)
    yb, _, okb = _ray_plane_x(cam, side_cols.astype(float), np.clip(base, 0, cam.height).astype(float) - 0.5,
                              np.full(len(side_cols), sgn * x_side))
    order = np.argsort(np.where(okb & (base < cam.height), yb, np.where(base >= cam.height, -1.0, FAR_Y)))
    segs = _segments(feat[order], np.ones(len(order)), CUT_COST)
    out = []
    for a, b in segs:
        idx = order[a:b]
        if has[idx].mean() < 0.5:
            continue  # a gap between buildings
        idx = idx[has[idx]]
        seg_cols = side_cols[idx]
        # its own set-back: the facade line over its columns alone, at or behind the side's
        own = facade_line(gm, cols.labels, edges, seg_cols, sgn, max(x_min, x_side - 0.5), x_side + 6.0) \
            if len(seg_cols) >= 3 else None
        x_face = own[0] if own is not None and own[1] > 0.6 else x_side
        zz, _, hh = _heights(cam, seg_cols, top, cols.contact, np.full(len(seg_cols), sgn * x_face))
        if not hh.any():
            continue
        height = float(np.median(zz[hh]))
        if height < MIN_HEIGHT_M:
            continue
        lo_c, hi_c = float(seg_cols.min()) - 0.5, float(seg_cols.max()) + 0.5
        rows = gm.rows_of(sgn * x_face, np.array([int(seg_cols.min()), int(seg_cols.max())]))
        mid_row = float(np.clip(np.mean(rows), 0, cam.height)) - 2.0
        ys = []
        for cc in (lo_c, hi_c):
            yy, _, ok = _ray_plane_x(cam, np.array([cc]), np.array([mid_row]), np.array([sgn * x_face]))
            ys.append(float(yy[0]) if ok[0] else FAR_Y)
        y0, y1 = min(ys), min(max(ys), FAR_Y)
        if seg_cols.min() == 0 or seg_cols.max() == cam.width - 1:
            y0 = min(y0, -BEHIND_M)  # runs on out of the frame, past the camera
        if y1 - y0 < 2.0:
            continue
        prim = Primitive("", "box", (DEPTH_M, y1 - y0, height), (sgn * (x_face + DEPTH_M / 2), (y0 + y1) / 2, 0.0),
                         0.0, "building")
        out.append(Building(side, prim, seg_cols, np.median(lab[idx], axis=0)))
    return _no_overlap(out)


def _no_overlap(buildings: list[Building]) -> list[Building]:
    """Neighbouring boxes of one side meet, never overlap: each ends where the next begins."""
    bs = sorted(buildings, key=lambda b: b.prim.location[1])
    for a, b in zip(bs, bs[1:]):
        a_end = a.prim.location[1] + a.prim.size[1] / 2
        b_start = b.prim.location[1] - b.prim.size[1] / 2
        if a_end > b_start:
            cut = (a_end + b_start) / 2
            a_start = a.prim.location[1] - a.prim.size[1] / 2
            b_end = b.prim.location[1] + b.prim.size[1] / 2
            a.prim = _with_y(a.prim, a_start, max(cut, a_start + 1.0))
            b.prim = _with_y(b.prim, min(cut, b_end - 1.0), b_end)
    return bs


def _with_y(p: Primitive, y0: float, y1: float) -> Primitive:
    return Primitive(p.name, p.shape, (p.size[0], y1 - y0, p.size[2]), (p.location[0], (y0 + y1) / 2, p.location[2]),
                     p.yaw_deg, p.semantic)


def end_building(cam: PinholeCamera, cols: Columns, top: np.ndarray, x_contact: np.ndarray, y_contact: np.ndarray,
                 contact_ok: np.ndarray, x_sides: tuple[float, float], sides: list[Primitive],
                 kerbs: tuple[float, float], min_y: float = 40.0) -> Building | None:
    """A building across the street: columns standing on the paved street (within `kerbs`,
    the |X| of its outer edges) far away whose upright pixels the side buildings do not
    explain, higher than a car. Only the paved street counts, not the space between the
    side buildings' faces (`x_sides`, which sets the front's width): a side building that
    the facade fit missed stands beyond the kerb, and taken as an end building it closed
    the street (evaluation street 9004 read at its true camera: walled off at 52 m by the
    left row's contacts at X -19..-12 m, while its street runs on past 200 m)."""
    left, right = x_sides
    k_left, k_right = kerbs[0] + KERB_SLACK_M, kerbs[1] + KERB_SLACK_M
    across = contact_ok & (x_contact > -k_left) & (x_contact < k_right) & (y_contact > min_y) & (y_contact < FAR_Y)
    idx = np.flatnonzero(across & (top < cols.contact))
    if len(idx) < 3:
        return None
    # the highest upright pixel of each column that no side building covers
    from stages.vision.raycast import intersect

    rows_all = np.arange(cam.height, dtype=float)
    own_top = []
    for c in idx:
        d = cam.rays(np.full(cam.height, float(c)), rows_all)
        covered = intersect(sides, cam.origin, d).index >= 0 if sides else np.zeros(cam.height, dtype=bool)
        free = np.flatnonzero(~covered[top[c]:cols.contact[c]])
        own_top.append(top[c] + int(free[0]) if free.size else cols.contact[c])
    own_top = np.array(own_top)
    keep = own_top < cols.contact[idx] - 1
    idx, own_top = idx[keep], own_top[keep]
    if len(idx) < 3:
        return None
    y = float(np.median(y_contact[idx]))
    rows = own_top.astype(float) - 0.5
    d = cam.rays(idx.astype(float), rows)
    t = (y - cam.y_m) / np.maximum(d[:, 1], 1e-6)
    z = float(np.median(cam.height_m + t * d[:, 2]))
    if z < END_MIN_HEIGHT_M:
        return None
    width = left + right + 2 * DEPTH_M + 20.0
    centre = (right - left) / 2
    prim = Primitive("", "box", (width, DEPTH_M, z), (centre, y + DEPTH_M / 2, 0.0), 0.0, "building")
    return Building("end", prim, idx, np.zeros(3))


def kerb_half_widths(section) -> tuple[float, float]:
    """|X| of the left and right outer edges of the paved street (road plus sidewalks)."""
    paved = [s for s in section.strips if s.cls in ("road", "sidewalk")] if section else []
    if not paved:
        return 6.0, 6.0
    return max(0.5, -min(s.x0 for s in paved)), max(0.5, max(s.x1 for s in paved))


