"""Things that stand in the street: cars on the road, trees (trunk + crown), poles.

- Cars, by analysis by synthesis: a car-sized box is tried along each kerb and lane, 3 %
  further each step (evenly in image rows: CAR_ROWS_M); its silhouette (the hull of its
  projected corners) should hold one colour, unlike the pixels around it on every side,
  be upright and stand on ground. The best boxes are kept without overlap, then each
  one's position and height refined. The street
  reading runs this search on a grid twice the analysis grid: a car 30 m away is 4-6
  analysis pixels wide, and there a box over a shadow's edge near the camera scored as well
  as a real car (dev streets and 8 unseen ones: 38 cars read, 10 true, against 12 and 5;
  scores are counted in analysis-grid pixels, so the thresholds hold on either grid). Cars are
  the one thing of known size in a street, so their measured heights also correct the
  camera-height prior (the whole layout scales with it: scale.car_cue).
- Trees: green, textured upright blobs are crowns (wide ones are several trees); a crown
  stands on its trunk, the nearest contact below it within TREE_ZONE_M of the road's edge,
  or, with no trunk seen, TREE_KERB_M beyond that edge.
- Poles: thin vertical ridges (darker or lighter than both sides) on the fine grid that
  reach down to the ground near the kerb.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stages.vision.camera import PinholeCamera
from stages.vision.columns import Columns
from stages.vision.image import ANALYSIS_SIZE, PhotoArrays, box_blur
from stages.vision.raycast import Primitive
from stages.vision.superpixels import connected_components

CAR = (1.8, 4.5, 1.5)  # width, length, height of a typical car (metres)
CAR_HEIGHT_M = 1.5  # the known size that calibrates the camera height
CALIBRATE_SCORE = 10.0  # only cars this clearly seen calibrate it
TREE_MAX_CROWN_M = 7.0
# where a street tree's trunk stands: from the road's edge to this far beyond it
# (tree pits and verges; the synthetic streets put trunks 0.8-1.4 m beyond it). A crown's
# columns also show the facade behind it, whose base is further out: taken for the trunk, it
# put the dev streets' trees at the facade line, their depth 1.3-2 times the truth's
TREE_ZONE_M = (0.0, 2.5)
TREE_KERB_M = 1.1  # a trunk not seen stands this far beyond the road's edge
TRUNK_MIN_SHARE = 0.15  # a trunk's visible height against its tree's blob, at least
POLE_MIN_FINE_ROWS = 14
GREEN_A = -5.0
GREEN_B = 4.0
# a car box whose pixels the segmentation mostly calls ground is a shadow or a patch of
# road: under the true camera, every such box the search kept on the dev streets (upright
# share 0-0.29: 103, 107, 108, 112, 113, 118) was false, and every true car but one (a
# near one, 0.32) had 0.56 or more; the score's own upright term was too weak against contrast
MIN_UPRIGHT = 0.45
# two boxes whose silhouettes share more than this of the smaller one are one car seen
# twice: a far car's pixels also fill the boxes a few metres before and behind it, which
# the search's spacing in metres lets through (dev 100, 115: a second car 6 m behind a
# true one); under the true camera 34 boxes kept, 19 true -> 25 kept, 17 true
MAX_SHARED = 0.5
# where a car's rear may stand (metres along the street): evenly spaced in image rows, not in
# metres, since a car's base row moves with 1/distance. A 1 m grid was 4-5 fine-grid rows
# at 10 m: dev 107's near car scored 14.9 with its rear at 11 m and -3.0 at 10 m under one
# focal length, 1.1 at 10 m and -9.6 at 11 m under one 1.5 % longer, and was lost there
CAR_ROWS_M = tuple(float(v) for v in 4.0 * 1.03 ** np.arange(0, 97) if v < 70.0)


@dataclass
class Thing:
    kind: str  # car / truck / tree / pole
    prims: list[Primitive]  # a tree has trunk and crown
    cols: np.ndarray
    measured_height: float | None = None  # cars: the height read from the photo (metres)
    score: float = 0.0


def vegetation_mask(pa: PhotoArrays, upright: np.ndarray) -> np.ndarray:
    """Upright pixels that are green and textured (foliage), smoothed a little."""
    a, b = pa.lab[..., 1], pa.lab[..., 2]
    green = (a < GREEN_A) & (b > GREEN_B) & (b > -1.2 * a - 10)
    textured = pa.texture > 0.004
    m = upright & green & textured
    m = box_blur(m.astype(float), 1) > 0.4
    return m & upright


def pole_mask(pa: PhotoArrays, upright: np.ndarray, vegetation: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """(analysis-grid mask, [(fine col, top fine row, bottom fine row)]) of thin vertical
    ridges on the fine grid: pixels darker or lighter than both their neighbours 2-4 pixels
    away, in long vertical runs. A pole is too thin for the superpixel labels, so its run
    may cross sky, facades and ground alike; foliage is left out (trunks are trees')."""
    lum = pa.fine_lightness
    fh, fw = lum.shape
    ridge = np.zeros_like(lum)
    for k in (2, 3, 4):
        left = np.pad(lum, ((0, 0), (k, 0)), mode="edge")[:, :fw]
        right = np.pad(lum, ((0, 0), (0, k)), mode="edge")[:, k:]
        d1, d2 = lum - left, lum - right
        ridge = np.maximum(ridge, np.where(np.sign(d1) == np.sign(d2), np.minimum(np.abs(d1), np.abs(d2)), 0.0))
    h, w = vegetation.shape
    veg_f = vegetation[np.minimum(np.arange(fh) // 2, h - 1)][:, np.minimum(np.arange(fw) // 2, w - 1)]
    strong = (ridge > 0.04) & ~veg_f
    # a slightly leaning pole drifts across columns: accept a neighbour's pixel
    wide = strong.copy()
    wide[:, 1:] |= strong[:, :-1]
    wide[:, :-1] |= strong[:, 1:]
    runs = []
    for c in range(2, fw - 2):
        col = wide[:, c]
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
            if end - top + 1 >= POLE_MIN_FINE_ROWS and strong[top:end + 1, c].mean() > 0.5:
                runs.append((c, top, end))
    # neighbouring columns of one pole: keep the longest run of each group
    runs.sort()
    merged: list[tuple[int, int, int]] = []
    for run in runs:
        if merged and run[0] - merged[-1][0] <= 3 and min(run[2], merged[-1][2]) - max(run[1], merged[-1][1]) > 4:
            if run[2] - run[1] > merged[-1][2] - merged[-1][1]:
                merged[-1] = run
            continue
        merged.append(run)
    mask = np.zeros(upright.shape, dtype=bool)
    for c, t, b in merged:
        mask[t // 2:b // 2 + 1, min(c // 2, w - 1)] = True
    return mask, merged


def hull_mask(cam: PinholeCamera, prim: Primitive) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """The box's silhouette (the convex hull of its projected corners) on the pixel grid, as
    a mask over its bounding rectangle (r0, r1, c0, c1); None when not fully in front."""
    from stages.vision.raycast import _corners

    col, row, front = cam.project(_corners(prim))
    if not front.all():
        return None
    r0, r1 = int(max(0, math.floor(row.min()))), int(min(cam.height, math.ceil(row.max()) + 1))
    c0, c1 = int(max(0, math.floor(col.min()))), int(min(cam.width, math.ceil(col.max()) + 1))
    if r1 - r0 < 2 or c1 - c0 < 2:
        return None
    pts = np.stack([col, row], 1)
    hull = _convex_hull(pts)
    rr, cc = np.mgrid[r0:r1, c0:c1]
    inside = np.ones(rr.shape, dtype=bool)
    for a, b in zip(hull, np.roll(hull, -1, axis=0)):
        inside &= (b[0] - a[0]) * (rr - a[1]) - (b[1] - a[1]) * (cc - a[0]) >= -0.5 * np.hypot(*(b - a))
    return inside, (r0, r1, c0, c1)


def _convex_hull(pts: np.ndarray) -> np.ndarray:
    """Counter-clockwise hull (in image coordinates, rows down) of 2D points (monotone chain)."""
    p = sorted(map(tuple, pts))
    if len(p) < 3:
        return np.array(p)

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for q in p:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], q) <= 0:
            lower.pop()
        lower.append(q)
    for q in reversed(p):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], q) <= 0:
            upper.pop()
        upper.append(q)
    return np.array(lower[:-1] + upper[:-1])


def _box_score(pa: PhotoArrays, upright: np.ndarray, cam: PinholeCamera, prim: Primitive) -> tuple[float, int]:
    """How well a box explains the pixels it would cover: its inside one colour (a car's
    paint), unlike the pixels around it on the left, the right and above alike (a box
    straddling an edge differs on one side only), upright inside (under MIN_UPRIGHT it is
    not scored at all) and standing on ground below. (score, pixels)."""
    got = hull_mask(cam, prim)
    if got is None:
        return -np.inf, 0
    inside, (r0, r1, c0, c1) = got
    n = int(inside.sum())
    h, w = upright.shape
    if n < 6 or r1 >= h:
        # a box that runs out of the frame's bottom has no ring below: whether it stands on
        # ground cannot be seen, and its many pixels made road near the camera score as a
        # car (dev 103, 113, 118: 3.5-5 m away where no car stands, scores up to 51)
        return -np.inf, n
    up = float(upright[r0:r1, c0:c1][inside].mean())
    if up < MIN_UPRIGHT:  # decided before the ring's medians are taken: most boxes on open road end here
        return -np.inf, n
    g0, g1, k0, k1 = max(0, r0 - 2), min(h, r1 + 2), max(0, c0 - 2), min(w, c1 + 2)
    big = np.zeros((g1 - g0, k1 - k0), dtype=bool)
    big[r0 - g0:r1 - g0, c0 - k0:c1 - k0] = inside
    lab = pa.lab[g0:g1, k0:k1]
    pin = lab[big]
    med = np.median(pin, axis=0)
    spread = float(np.median(np.linalg.norm(pin - med, axis=1)))
    pad = np.pad(big, 2)
    grown = np.zeros_like(big)
    for dr in (-2, -1, 0, 1, 2):
        for dc in (-2, -1, 0, 1, 2):
            grown |= pad[2 + dr:2 + dr + big.shape[0], 2 + dc:2 + dc + big.shape[1]]
    ring = grown & ~big
    rows, cols_ = np.nonzero(big)
    rr, cc = np.mgrid[0:big.shape[0], 0:big.shape[1]]
    lo_c, hi_c = cols_.min(), cols_.max()
    parts = {"left": ring & (cc < lo_c), "right": ring & (cc > hi_c), "top": ring & (rr < rows.min())}
    contrasts = [float(np.linalg.norm(np.median(lab[m], axis=0) - med)) for m in parts.values() if m.sum() >= 2]
    if len(contrasts) < 2:
        return -np.inf, n
    bottom = ring & (rr > rows.max())
    ground_below = float((~upright[g0:g1, k0:k1][bottom]).mean()) if bottom.any() else 0.0
    grid = max(upright.shape) / ANALYSIS_SIZE  # scores on a finer grid count analysis-grid pixels
    score = (min(min(contrasts), 30.0) / 10.0 - spread / 6.0 + 1.5 * (up - 0.6) + 1.0 * (ground_below - 0.5)) \
        * math.sqrt(n) / grid
    return score, n


def cars(cam: PinholeCamera, pa: PhotoArrays, cols: Columns, road: tuple[float, float], upright: np.ndarray,
         min_score: float = 5.0, max_cars: int = 8) -> list[Thing]:
    """Cars by analysis by synthesis (module docstring): car-sized boxes along the kerbs and
    the lanes, 3 % further each step along the street, scored by how well each explains its pixels;
    the best are kept without overlap, then each one's position and height refined. The
    height is read with the camera height as it stands (scale.car_cue corrects that)."""
    x0, x1 = road
    w, length, hgt = CAR
    lanes = sorted({x0 + w / 2 + 0.25, x1 - w / 2 - 0.25, (x0 + x1) / 2 - (x1 - x0) / 4, (x0 + x1) / 2 + (x1 - x0) / 4})
    hyps = []
    for xc in lanes:
        for y0 in CAR_ROWS_M:
            prim = Primitive("", "box", (w, length, hgt), (xc, y0 + length / 2, 0.0), 0.0, "car")
            sc, n = _box_score(pa, upright, cam, prim)
            if np.isfinite(sc):
                hyps.append((sc, xc, float(y0)))
    hyps.sort(reverse=True)
    chosen: list[tuple[float, float, float]] = []
    kept: list[np.ndarray] = []
    for sc, xc, y0 in hyps:
        if sc < min_score or len(chosen) >= max_cars:
            break
        if any(abs(xc - cx) < w + 0.3 and abs(y0 - cy) < length + 0.8 for _, cx, cy in chosen):
            continue
        inside, (r0, r1, c0, c1) = hull_mask(cam, Primitive("", "box", (w, length, hgt), (xc, y0 + length / 2, 0.0),
                                                            0.0, "car"))
        hull = np.zeros(upright.shape, dtype=bool)
        hull[r0:r1, c0:c1] = inside
        if any((hull & k).sum() > MAX_SHARED * min(hull.sum(), k.sum()) for k in kept):
            continue
        kept.append(hull)
        chosen.append((sc, xc, y0))
    out = []
    for sc, xc, y0 in chosen:
        best = (sc, xc, y0, hgt)
        for dx in (-0.4, 0.0, 0.4):
            for dy in (-0.5, 0.0, 0.5):
                for hh in (1.2, 1.35, 1.5, 1.65, 1.8, 2.0, 2.3):
                    prim = Primitive("", "box", (w, length, hh), (xc + dx, y0 + dy + length / 2, 0.0), 0.0, "car")
                    s2, _ = _box_score(pa, upright, cam, prim)
                    if s2 > best[0]:
                        best = (s2, xc + dx, y0 + dy, hh)
        _, bx, by, bh = best
        prim = Primitive("", "box", (w, length, CAR_HEIGHT_M), (bx, by + length / 2, 0.0), 0.0, "car")
        c_, _, _ = cam.project(np.array([[bx, by, 0.0]]))
        out.append(Thing("car", [prim], np.array([int(np.clip(c_[0], 0, cam.width - 1))]), bh))
        out[-1].score = sc
    return out


def _crown_bottom(blob: np.ndarray, contact: np.ndarray, r0: int, r1: int, c0: int, c1: int) -> int:
    """The crown's lowest row: where a trunk seen under it meets the foliage, else the blob's
    lowest row. Grass or a hedge behind the tree that the labels took for upright joins the
    blob down to the ground (evaluation street 9002: a crown read from 0.8 m instead of 2.7 m,
    which hid its trunk and the verge, and the geometry stage removed the whole tree); a
    trunk is a column in the crown's middle half whose pixels from its contact up are not
    foliage for at least TRUNK_MIN_SHARE of the blob's height, the foliage above it the crown."""
    quarter = (c1 - c0) / 4
    bottoms = []
    for c in range(int(math.ceil(c0 + quarter)), int(c1 - quarter) + 1):
        row = int(min(contact[c], blob.shape[0])) - 1
        if row <= r0:
            continue  # the ground starts above the crown's top: nothing to walk up
        start = row
        while row > r0 and not blob[row, c]:
            row -= 1
        if blob[row, c] and start - row >= max(2, TRUNK_MIN_SHARE * (r1 - r0 + 1)):
            bottoms.append(row)
    return max(bottoms) if bottoms else r1


def trees(cam: PinholeCamera, vegetation: np.ndarray, cols: Columns, x_contact: np.ndarray, y_contact: np.ndarray,
          contact_ok: np.ndarray, road: tuple[float, float], min_px: int = 6) -> list[Thing]:
    """A tree (trunk + crown) per green blob (module docstring); `road`: X of its edges."""
    comps = connected_components(vegetation)
    out: list[Thing] = []
    if comps.max() < 0:
        return out
    road_x0, road_x1 = road
    beyond = np.where(x_contact < (road_x0 + road_x1) / 2, road_x0 - x_contact, x_contact - road_x1)
    for k in range(int(comps.max()) + 1):
        m = comps == k
        if m.sum() < min_px:
            continue
        rows, cc = np.nonzero(m)
        c0, c1 = int(cc.min()), int(cc.max())
        r0, r1 = int(rows.min()), int(rows.max())
        r1 = _crown_bottom(m, cols.contact, r0, r1, c0, c1)
        span = np.arange(c0, c1 + 1)
        # its trunk: of the columns under the crown whose contact is near the road's edge, those
        # that meet the ground nearest (the others show the facade behind it)
        fore = span[contact_ok[span] & (beyond[span] > TREE_ZONE_M[0]) & (beyond[span] < TREE_ZONE_M[1])
                    & (cols.contact[span] > r1)]
        fore = fore[cols.contact[fore] >= cols.contact[fore].max() - 1] if len(fore) else fore
        centre_col = (c0 + c1) / 2
        if len(fore):
            x_t, y_t = float(np.median(x_contact[fore])), float(np.median(y_contact[fore]))
        else:  # no trunk seen: the crown's lowest row where a street tree stands
            ray = cam.rays(np.array([centre_col]), np.array([float(r1)]))[0]
            x_t = road_x0 - TREE_KERB_M if ray[0] < 0 else road_x1 + TREE_KERB_M
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
        if z_top - z_bot < 1.0 or z_top < 2.5:
            continue  # green but low: grass or a hedge the labels took for upright
        crown_w = width_m / n
        if c0 == 0 or c1 == cam.width - 1:  # cut by the frame: as wide as it is high
            crown_w = max(crown_w, (z_top - z_bot) / 1.15)
        crown_w = float(np.clip(crown_w, (z_top - z_bot) / 1.6, 1.6 * (z_top - z_bot)))
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
    """A thin cylinder per ridge that stands on the ground in the street (its lowest pixel
    just above ground-labelled pixels, its foot between the facades) and rises above a
    person's height."""
    from stages.vision.segment import GROUND

    out: list[Thing] = []
    left_kerb, right_kerb = kerbs
    h, w = cols.labels.shape
    for fc, top, bottom in runs:
        c = min(fc // 2, w - 1)
        below = min(bottom // 2 + 1, h - 1)
        if cols.labels[below, c] != GROUND and bottom // 2 + 1 < h:
            continue  # does not reach the ground
        base_row = bottom / 2.0 + 0.25
        x, y, valid = cam.ground_point(np.array([fc / 2.0 - 0.25]), np.array([base_row]))
        if not valid[0]:
            continue
        x, y = float(x[0]), float(y[0])
        if not (-left_kerb - 1.5 < x < right_kerb + 1.5) or not 2.0 < y < 80.0:
            continue
        dist = math.hypot(x - cam.x_m, y - cam.y_m)
        d_top = cam.rays(np.array([fc / 2.0 - 0.25]), np.array([top / 2.0 - 0.25]))[0]
        along = (d_top[0] * (x - cam.x_m) + d_top[1] * (y - cam.y_m)) / max(dist, 1e-9)
        z_top = cam.height_m + dist * d_top[2] / max(along, 1e-6)
        if top <= 1:
            z_top = max(z_top, 6.0)
        if z_top < 3.0:
            continue
        diam = 0.18
        out.append(Thing("pole", [Primitive("", "cylinder", (diam, diam, float(min(z_top, 15.0))), (x, y, 0.0),
                                            0.0, "pole")], np.array([c])))
    return out
