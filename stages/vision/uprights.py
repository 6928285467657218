"""Upright objects standing on the ground: where a region meets the ground, and the box
(a thin panel, a wall seen at an angle, or an ellipsoid) that stands there.

Hoiem et al. cut the vertical regions along their ground contact line and fold them up:
the ground is z = 0, so the row where a region's bottom meets the ground gives its depth,
and its image extent at that depth its width and height. A region resting on another
upright region (a canopy on trunks, an upper storey) shares the contact line below it. A
contact line that recedes across the image is a wall seen at an angle and is placed along
it. Candidates are judged by how well their ray-cast outline covers the region's pixels.
"""
from __future__ import annotations

import math

import numpy as np

from stages.vision.camera import FAR, PinholeCamera
from stages.vision.raycast import Primitive, cast
from stages.vision.regions import Region
from stages.vision.segment import GROUND, VERTICAL

THICKNESS = 0.04  # metres: upright panels are thin boxes (billboards in Hoiem's sense)
FAR_UPRIGHT_OUTDOOR = 250.0  # metres: where an upright region standing on the horizon goes
WALL_IOU = 0.7  # a region becomes one receding wall when the wall's outline fits it this well
OBLIQUE_SIN = 0.5  # a contact line more than 30 degrees off the image plane makes a wall seen at an angle


def contact_rows(labels: np.ndarray) -> np.ndarray:
    """For every pixel, the first ground row below the upright run it belongs to (the
    contact line), or H when the run reaches the bottom of the image."""
    h, w = labels.shape
    out = np.full((h, w), h, dtype=np.int64)
    current = np.full(w, h, dtype=np.int64)
    for r in range(h - 1, -1, -1):
        g = labels[r] == GROUND
        current = np.where(g, r, current)
        out[r] = current
    return out


def _forward_depth(cam: PinholeCamera, col: np.ndarray, row: np.ndarray, fallback: float) -> np.ndarray:
    """Forward distance (world y) of the ground seen at (col, row); `fallback` above the horizon."""
    _, y, valid = cam.ground_point(col, row)
    return np.where(valid, np.minimum(y, FAR), fallback)


def iou(cam: PinholeCamera, prim: Primitive, mask: np.ndarray) -> float:
    """Intersection over union of the pixels `prim` covers (alone) and `mask`."""
    hit = cast(cam, [prim]).index == 0
    return float((hit & mask).sum() / max((hit | mask).sum(), 1))


def upright(cam: PinholeCamera, mask: np.ndarray, contact: np.ndarray, default_depth: float) -> tuple[Primitive, str]:
    """A thin upright box standing on the contact line of the pixels in `mask` (module docstring):
    frontal, or along the contact line when that recedes and fits the pixels better."""
    frontal, oblique = _upright_candidates(cam, mask, contact, default_depth)
    best, kind, score = frontal, "front", iou(cam, frontal, mask)
    if oblique is not None:
        s = iou(cam, oblique, mask) - 0.05  # a wall must fit clearly better than a panel
        if s > score:
            best, kind, score = oblique, ("left" if oblique.location[0] < 0 else "right"), s
    # a round region (a bowl, a bush, a bean bag) is better an ellipsoid standing on the ground
    w, _, hgt = frontal.size
    x, y, z = frontal.location
    depth = min(w, 2.0 * hgt)
    blob = Primitive("", "sphere", (w, depth, hgt), (x, y - THICKNESS / 2 + depth / 2, z))
    s = iou(cam, blob, mask) - 0.03
    if s > score:
        best, kind = blob, "round"
    return best, kind


def _upright_candidates(cam: PinholeCamera, mask: np.ndarray, contact: np.ndarray,
                        default_depth: float) -> tuple[Primitive, Primitive | None]:
    h, w = mask.shape
    rows, cols = np.nonzero(mask)
    col_ids = np.unique(cols)
    bottoms = np.array([rows[cols == c].max() for c in col_ids])
    tops = np.array([rows[cols == c].min() for c in col_ids])
    crow = contact[bottoms, col_ids]
    below_frame = crow >= h
    bottom_row_depth = float(_forward_depth(cam, np.array([w / 2]), np.array([h - 0.5]), default_depth)[0])
    near = min(bottom_row_depth * 0.85, default_depth)
    # a contact at or above the horizon (the estimate is off by a row or two) is far away
    far = FAR_UPRIGHT_OUTDOOR if default_depth >= 10 else 3 * default_depth
    depth_c = np.where(below_frame, near,
                       np.minimum(_forward_depth(cam, col_ids.astype(float), crow - 0.5, far), far))
    depth = float(np.median(depth_c))
    on_ground = (~below_frame) & (crow == bottoms + 1)
    top_row = float(np.percentile(tops, 5)) - 0.5
    z_bottom = 0.0
    if not on_ground.any() and not below_frame.any():
        # resting on another upright region: starts where this region's bottom is seen
        z_bottom = max(0.0, float(cam.height_at(np.array(float(np.percentile(bottoms, 50)) + 0.5), np.array(depth))))

    def box(centre_x: float, centre_y: float, width: float, yaw: float) -> Primitive:
        # height: the region's top seen at this depth (extended when cut by the image top)
        z_top = float(cam.height_at(np.array(top_row), np.array(centre_y)))
        if top_row <= 0:
            z_top = z_top + 0.5 * max(z_top, 1.0)
        a = math.radians(yaw)
        # the front face stands on the contact line: the centre lies half a thickness behind it
        loc = (centre_x - math.sin(a) * THICKNESS / 2, centre_y + math.cos(a) * THICKNESS / 2, z_bottom)
        return Primitive("", "box", (max(width, 0.05), THICKNESS, max(z_top - z_bottom, 0.05)), loc, yaw)

    mid_row = np.array(float(np.median(rows)))
    c0, c1 = np.percentile(cols, [2, 98])
    xa = float(cam.x_at(np.array(c0 - 0.5), mid_row, np.array(depth)))
    xb = float(cam.x_at(np.array(c1 + 0.5), mid_row, np.array(depth)))
    span = xb - xa
    if cols.min() == 0:
        xa -= 0.3 * span + 0.5
    if cols.max() == w - 1:
        xb += 0.3 * span + 0.5
    frontal = box((xa + xb) / 2, depth, xb - xa, 0.0)

    oblique = None
    if on_ground.sum() >= max(6, 0.5 * len(col_ids)):
        # does the contact line recede across the image? then it may be a wall seen at an angle
        gx, gy, _ = cam.ground_point(col_ids[on_ground].astype(float), crow[on_ground] - 0.5)
        pts = np.stack([gx, np.minimum(gy, FAR)], axis=1)
        line = _fit_line(pts)
        if line is not None:
            p0, direction = line
            if abs(direction[1]) > OBLIQUE_SIN:  # the line runs away from the camera
                ends = []
                for c in (col_ids.min() - 0.5, col_ids.max() + 0.5):
                    # where the ray of the first / last column meets that line on the ground
                    d = cam.rays(np.array([c]), np.array([float(np.median(crow[on_ground]))]))[0][:2]
                    m = np.array([[d[0], -direction[0]], [d[1], -direction[1]]])
                    if abs(np.linalg.det(m)) < 1e-9:
                        break
                    t, _ = np.linalg.solve(m, p0)
                    t = float(np.clip(t, 0.5, FAR / 4))
                    ends.append((t * d[0], t * d[1]))
                if len(ends) == 2:
                    (xa, ya), (xb, yb) = ends
                    if col_ids.min() == 0:
                        xa, ya = xa - (xb - xa) * 0.5, ya - (yb - ya) * 0.5
                    if col_ids.max() == w - 1:
                        xb, yb = xb + (xb - xa) * 0.5, yb + (yb - ya) * 0.5
                    yaw = math.degrees(math.atan2(yb - ya, xb - xa))
                    oblique = box((xa + xb) / 2, max((ya + yb) / 2, 0.3), math.hypot(xb - xa, yb - ya), yaw)
    return frontal, oblique


def _fit_line(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Total-least-squares line (a point, a unit direction) through ground points, refitted
    without points far off it; None when they do not lie along a line."""
    keep = np.ones(len(pts), dtype=bool)
    for _ in range(2):
        if keep.sum() < 4:
            return None
        centre = pts[keep].mean(0)
        _, sv, vt = np.linalg.svd(pts[keep] - centre, full_matrices=False)
        direction = vt[0]
        resid = np.abs((pts - centre) @ vt[1])
        scale = max(float(np.median(resid[keep])) * 3.0, 1e-3)
        keep = resid <= scale
    spread = sv[0] / max(np.sqrt(keep.sum()), 1.0)
    if sv[1] > 0.3 * sv[0] or spread < 1e-3:
        return None
    return centre, direction


def receding_walls(cam: PinholeCamera, regions: list[Region], contact: np.ndarray, default_depth: float,
                    min_area: int) -> dict[int, Primitive]:
    """Upright regions whose whole outline is a wall seen at an angle (a facade along the
    street, the side wall of a room): region id -> that wall. Such a region is then cut
    into pieces *on the wall* (storeys, bays) instead of into separate frontal panels."""
    out = {}
    for region in regions:
        if region.cls != VERTICAL or region.area < 4 * min_area:
            continue
        frontal, oblique = _upright_candidates(cam, region.mask, contact, default_depth)
        if oblique is None:
            continue
        fit = iou(cam, oblique, region.mask)
        if fit >= WALL_IOU and fit >= iou(cam, frontal, region.mask) - 0.05:
            out[region.id] = oblique
    return out


def on_wall(cam: PinholeCamera, wall: Primitive, piece: np.ndarray) -> Primitive:
    """The part of `wall` (a thin box) that the pixels of `piece` see: its extent along the
    wall from the piece's first and last columns, its height from its top and bottom rows."""
    a = math.radians(wall.yaw_deg)
    along = np.array([math.cos(a), math.sin(a), 0.0])
    normal = np.array([math.sin(a), -math.cos(a), 0.0])  # the face towards the camera
    front = np.array(wall.location) - normal * wall.size[1] / 2  # a point on the front face
    rows, cols = np.nonzero(piece)

    def hit(c: float, r: float) -> np.ndarray | None:
        d = cam.rays(np.array([c]), np.array([r]))[0]
        den = float(normal @ d)
        if abs(den) < 1e-6:
            return None
        t = float(normal @ (front - cam.origin)) / den
        return cam.origin + t * d if t > 0 else None

    mid_r, mid_c = float(np.median(rows)), float(np.median(cols))
    ends = [hit(c, mid_r) for c in (cols.min() - 0.5, cols.max() + 0.5)]
    tops = [hit(mid_c, r) for r in (rows.min() - 0.5, rows.max() + 0.5)]
    if any(p is None for p in ends + tops):
        return wall
    u = sorted(float((p - front) @ along) for p in ends)
    half = wall.size[0] / 2
    u0, u1 = max(u[0], -half), min(u[1], half)
    if u1 - u0 < 0.05:
        u0, u1 = u[0], u[1]
    z_top = float(tops[0][2])
    z_bottom = float(tops[1][2])
    if z_bottom < 0.3 or rows.max() >= piece.shape[0] - 2:  # down to the ground, or below the frame
        z_bottom = 0.0
    centre = front + along * (u0 + u1) / 2 + normal * wall.size[1] / 2
    return Primitive("", "box", (max(u1 - u0, 0.05), wall.size[1], max(z_top - z_bottom, 0.05)),
                     (float(centre[0]), float(centre[1]), z_bottom), wall.yaw_deg)
