"""Things that stand in the street: cars on the road, trees (trunk + crown), poles.

- Cars: columns whose upright run meets the ground on the road (in front of the facade
  line) are something standing in the street. Runs of such columns are cut into cars of
  car size: the contact points trace the car's rear and near side (an L on the ground),
  which fixes its footprint; its height comes from where the car's colour ends above the
  contact, read through the box's own projection. Cars are the one thing of known size in
  a street, so their measured heights also correct the camera-height prior (the whole
  layout scales with it: `height_scale`).
- Trees: green, textured upright blobs are crowns (wide ones are several trees); a crown
  stands on the trunk found below it in front of the facade, or on the sidewalk's line.
- Poles: thin vertical ridges (darker or lighter than both sides) on the fine grid that
  reach down to the ground near the kerb.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stages.vision.camera import PinholeCamera
from stages.vision.columns import Columns
from stages.vision.image import PhotoArrays, box_blur
from stages.vision.raycast import Primitive, cast
from stages.vision.superpixels import connected_components

CAR = (1.8, 4.5, 1.5)  # width, length, height of a typical car (metres)
TRUCK = (2.4, 8.0, 3.2)
CAR_HEIGHT_M = 1.5  # the known size that calibrates the camera height
CAR_COLOUR_DE = 14.0  # Lab distance at which the colour above a car is no longer the car
TREE_MAX_CROWN_M = 7.0
POLE_MIN_FINE_ROWS = 14
GREEN_A = -5.0
GREEN_B = 4.0


@dataclass
class Thing:
    kind: str  # car / truck / tree / pole
    prims: list[Primitive]  # a tree has trunk and crown
    cols: np.ndarray
    measured_height: float | None = None  # cars: the height read from the photo (metres)


def vegetation_mask(pa: PhotoArrays, upright: np.ndarray) -> np.ndarray:
    """Upright pixels that are green and textured (foliage), smoothed a little."""
    a, b = pa.lab[..., 1], pa.lab[..., 2]
    green = (a < GREEN_A) & (b > GREEN_B) & (b > -1.2 * a - 10)
    textured = pa.texture > 0.004
    m = upright & green & textured
    m = box_blur(m.astype(float), 1) > 0.4
    return m & upright


def pole_mask(pa: PhotoArrays, upright: np.ndarray, vegetation: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """(analysis-grid mask, [(fine col, top fine row, bottom fine row)]) of thin vertical ridges."""
    lum = pa.fine_lightness
    fh, fw = lum.shape
    k = 2
    left = np.pad(lum, ((0, 0), (k, 0)), mode="edge")[:, :fw]
    right = np.pad(lum, ((0, 0), (0, k)), mode="edge")[:, k:]
    d1, d2 = lum - left, lum - right
    ridge = np.where(np.sign(d1) == np.sign(d2), np.minimum(np.abs(d1), np.abs(d2)), 0.0)
    ridge = box_blur(ridge[:, :, None], 0)[..., 0] if False else ridge
    strong = ridge > 0.05
    up_f = np.repeat(np.repeat(upright, 2, 0), 2, 1)[:fh, :fw]
    veg_f = np.repeat(np.repeat(vegetation, 2, 0), 2, 1)[:fh, :fw]
    strong &= up_f & ~veg_f
    runs = []
    for c in range(2, fw - 2):
        col = strong[:, c]
        r = fh - 1
        while r >= 0:
            if not col[r]:
                r -= 1
                continue
            end = r
            gaps = 0
            while r >= 0 and (col[r] or gaps < 2):
                gaps = 0 if col[r] else gaps + 1
                r -= 1
            top = r + 1 + gaps
            if end - top + 1 >= POLE_MIN_FINE_ROWS:
                runs.append((c, top, end))
    # neighbouring columns of one pole: keep the longest run of each group
    runs.sort()
    merged: list[tuple[int, int, int]] = []
    for run in runs:
        if merged and run[0] - merged[-1][0] <= 2 and min(run[2], merged[-1][2]) - max(run[1], merged[-1][1]) > 4:
            if run[2] - run[1] > merged[-1][2] - merged[-1][1]:
                merged[-1] = run
            continue
        merged.append(run)
    mask = np.zeros(upright.shape, dtype=bool)
    for c, t, b in merged:
        mask[t // 2:b // 2 + 1, c // 2] = True
    return mask, merged


def _top_row_of_box(cam: PinholeCamera, prim: Primitive, col: float) -> float | None:
    """Topmost image row the box covers in column `col` (by ray casting that column)."""
    rows = np.arange(0, cam.height, 0.5)
    hit = cast_column(cam, prim, col, rows)
    if not hit.any():
        return None
    return float(rows[np.argmax(hit)])


def cast_column(cam: PinholeCamera, prim: Primitive, col: float, rows: np.ndarray) -> np.ndarray:
    from stages.vision.raycast import intersect

    d = cam.rays(np.full_like(rows, col), rows)
    return intersect([prim], cam.origin, d).index == 0


def _car_top_row(pa: PhotoArrays, cols: np.ndarray, contact: np.ndarray) -> tuple[float, float] | None:
    """(median column, row) where the car's colour ends going up from its contact rows."""
    tops = []
    for c in cols:
        r0 = int(contact[c]) - 1
        if r0 < 2:
            continue
        base = np.median(pa.lab[max(0, r0 - 2):r0 + 1, c], axis=0)
        r = r0
        misses = 0
        while r > 0:
            if np.linalg.norm(pa.lab[r - 1, c] - base) > CAR_COLOUR_DE:
                misses += 1
                if misses >= 2:
                    break
            else:
                misses = 0
            r -= 1
        tops.append(r + misses)
    if len(tops) < 2:
        return None
    return float(np.median(cols)), float(np.percentile(tops, 30))


def _fit_height(cam: PinholeCamera, footprint: tuple[float, float, float, float], yaw: float, col: float,
                top_row: float) -> float | None:
    """The box height whose projected top in column `col` lands on `top_row` (bisection)."""
    x0, x1, y0, y1 = footprint
    lo, hi = 0.3, 6.0

    def top_for(hgt: float) -> float | None:
        p = Primitive("", "box", (x1 - x0, y1 - y0, hgt), ((x0 + x1) / 2, (y0 + y1) / 2, 0.0), yaw)
        return _top_row_of_box(cam, p, col)

    t_hi = top_for(hi)
    if t_hi is None or t_hi > top_row:
        return None
    for _ in range(14):
        mid = (lo + hi) / 2
        t = top_for(mid)
        if t is None or t > top_row:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def cars(cam: PinholeCamera, pa: PhotoArrays, cols: Columns, x_contact: np.ndarray, y_contact: np.ndarray,
         contact_ok: np.ndarray, road: tuple[float, float], busy: np.ndarray) -> list[Thing]:
    """Cars (and trucks) standing on the road (module docstring). `busy` marks columns taken
    by poles and trunks."""
    x0, x1 = road
    on_road = contact_ok & (x_contact > x0 - 0.3) & (x_contact < x1 + 0.3) & (y_contact > 2.0) & (y_contact < 90.0)
    on_road &= ~busy & (cols.contact < cam.height) & (cols.skyline < cols.contact)
    idx = np.flatnonzero(on_road)
    out: list[Thing] = []
    if not len(idx):
        return out
    groups = np.split(idx, np.flatnonzero(np.diff(idx) > 2) + 1)
    for g in groups:
        if len(g) < 2:
            continue
        # split where the contact jumps in depth (one car behind another)
        ys = y_contact[g]
        breaks = np.flatnonzero(np.abs(np.diff(ys)) > np.maximum(3.0, 0.15 * ys[:-1])) + 1
        for part in np.split(g, breaks):
            if len(part) >= 2:
                out += _cars_from_columns(cam, pa, cols, part, x_contact[part], y_contact[part])
    return out


def _cars_from_columns(cam, pa, cols, part, xs, ys) -> list[Thing]:
    xm = float(np.median(xs))
    y_near = float(np.min(ys))
    length_seen = float(np.max(ys) - y_near)
    n = max(1, int(round(length_seen / 6.0))) if length_seen > 7.5 else 1
    out = []
    for k in range(n):
        w, length, _ = CAR
        if xm < -0.9:  # left of the camera's line: its right side faces us
            xa = float(np.max(xs)) - w
        elif xm > 0.9:
            xa = float(np.min(xs))
        else:
            xa = xm - w / 2
        ya = y_near + k * (length_seen / n if n > 1 else 0.0)
        footprint = (xa, xa + w, ya, ya + length)
        top = _car_top_row(pa, part, cols.contact)
        height = None
        if top is not None:
            height = _fit_height(cam, footprint, 0.0, top[0], top[1])
        kind, size = "car", CAR
        if height is not None and height > 2.4:
            kind, size = "truck", TRUCK
            footprint = (xa if xm < 0 else xa, xa + TRUCK[0], ya, ya + TRUCK[1])
            if xm < -0.9:
                footprint = (float(np.max(xs)) - TRUCK[0], float(np.max(xs)), ya, ya + TRUCK[1])
        fx0, fx1, fy0, fy1 = footprint
        hgt = float(np.clip(height if height is not None else size[2], 1.2, 3.8)) if kind == "truck" else size[2]
        prim = Primitive("", "box", (fx1 - fx0, fy1 - fy0, hgt), ((fx0 + fx1) / 2, (fy0 + fy1) / 2, 0.0), 0.0, kind)
        out.append(Thing(kind, [prim], part, height))
    return out


def height_scale(things: list[Thing], prior_sigma: float, per_car_sigma: float = 0.12) -> tuple[float, int]:
    """Factor by which the camera height prior should change so that cars come out car-sized,
    fused in log with the prior (module docstring); and how many cars said so."""
    logs = [math.log(CAR_HEIGHT_M / t.measured_height) for t in things
            if t.kind == "car" and t.measured_height and 0.6 < t.measured_height < 3.5]
    if not logs:
        return 1.0, 0
    m = float(np.median(logs))
    s2 = per_car_sigma**2 / len(logs)
    weight = prior_sigma**2 / (prior_sigma**2 + s2)
    return math.exp(weight * m), len(logs)


def trees(cam: PinholeCamera, vegetation: np.ndarray, cols: Columns, x_contact: np.ndarray, y_contact: np.ndarray,
          contact_ok: np.ndarray, kerbs: tuple[float, float], min_px: int = 6) -> list[Thing]:
    """A tree (trunk + crown) per green blob (module docstring)."""
    comps = connected_components(vegetation)
    out: list[Thing] = []
    if comps.max() < 0:
        return out
    left_kerb, right_kerb = kerbs
    for k in range(int(comps.max()) + 1):
        m = comps == k
        if m.sum() < min_px:
            continue
        rows, cc = np.nonzero(m)
        c0, c1 = int(cc.min()), int(cc.max())
        r0, r1 = int(rows.min()), int(rows.max())
        span = np.arange(c0, c1 + 1)
        # a trunk in front of the facade: columns under the crown whose contact is in the street
        fore = span[contact_ok[span] & (x_contact[span] > -left_kerb - 4.0) & (x_contact[span] < right_kerb + 4.0)
                    & (cols.contact[span] > r1)]
        centre_col = (c0 + c1) / 2
        if len(fore):
            x_t, y_t = float(np.median(x_contact[fore])), float(np.median(y_contact[fore]))
        else:
            ray = cam.rays(np.array([centre_col]), np.array([float(r1)]))[0]
            side = -1.0 if ray[0] < 0 else 1.0
            x_t = side * ((left_kerb if side < 0 else right_kerb) + 1.1)
            t = (x_t - cam.x_m) / ray[0] if abs(ray[0]) > 1e-6 else 20.0
            y_t = cam.y_m + t * ray[1]
        dist = math.hypot(x_t - cam.x_m, y_t - cam.y_m)
        if not (1.5 < dist < 150.0):
            continue
        width_m = (c1 - c0 + 1) * dist / cam.f_px
        n = max(1, int(math.ceil(width_m / TREE_MAX_CROWN_M)))
        # crown rows at the trunk's distance: z of the top and bottom rows
        d_top = cam.rays(np.array([centre_col]), np.array([r0 - 0.5]))[0]
        d_bot = cam.rays(np.array([centre_col]), np.array([r1 + 0.5]))[0]
        fwd = np.array([x_t - cam.x_m, y_t - cam.y_m])
        fwd /= max(np.linalg.norm(fwd), 1e-9)

        def z_at(d):
            along = d[0] * fwd[0] + d[1] * fwd[1]
            return cam.height_m + dist * d[2] / max(along, 1e-6)

        z_top, z_bot = z_at(d_top), max(0.8, z_at(d_bot))
        if z_top - z_bot < 0.8:
            continue
        crown_w = width_m / n
        for i in range(n):
            off = (i - (n - 1) / 2) * crown_w
            # spread several crowns across the view direction
            xi, yi = x_t + off * fwd[1], y_t - off * fwd[0]
            crown_h = z_top - z_bot
            trunk = Primitive("", "cylinder", (0.3, 0.3, z_bot + 0.3 * crown_h), (xi, yi, 0.0), 0.0, "vegetation")
            crown = Primitive("", "sphere", (crown_w, crown_w, crown_h), (xi, yi, z_bot), 0.0, "vegetation")
            out.append(Thing("tree", [trunk, crown], span))
    return out


def poles(cam: PinholeCamera, runs: list[tuple[int, int, int]], cols: Columns, kerbs: tuple[float, float],
          vegetation: np.ndarray) -> list[Thing]:
    """A thin cylinder per ridge that stands on the ground near the kerb."""
    out: list[Thing] = []
    left_kerb, right_kerb = kerbs
    h, w = cols.labels.shape
    for fc, top, bottom in runs:
        c = fc // 2
        base_row = bottom / 2.0 + 0.25
        if abs(base_row - cols.contact[c]) > 2.0:
            continue  # does not reach the ground
        x, y, valid = cam.ground_point(np.array([fc / 2.0 - 0.25]), np.array([base_row]))
        if not valid[0]:
            continue
        x, y = float(x[0]), float(y[0])
        if not (-left_kerb - 3.0 < x < right_kerb + 3.0) or not 1.0 < y < 120.0:
            continue
        dist = math.hypot(x - cam.x_m, y - cam.y_m)
        d_top = cam.rays(np.array([fc / 2.0 - 0.25]), np.array([top / 2.0 - 0.25]))[0]
        along = (d_top[0] * (x - cam.x_m) + d_top[1] * (y - cam.y_m)) / max(dist, 1e-9)
        z_top = cam.height_m + dist * d_top[2] / max(along, 1e-6)
        if top <= 1:
            z_top = max(z_top, 6.0)
        if z_top < 2.0:
            continue
        diam = 0.18
        out.append(Thing("pole", [Primitive("", "cylinder", (diam, diam, float(min(z_top, 15.0))), (x, y, 0.0),
                                            0.0, "pole")], np.array([c])))
    return out
