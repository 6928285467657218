"""A street photo -> the street's solids: road, sidewalks, verges, buildings, cars, trees,
poles, each with its class, standing where the photo has it.

The order matters: the ground's cross-section (ground.py) says where the road and the
sidewalks are; columns (columns.py) say where upright things meet the ground; things in
the street (things.py) are read before the facades so that a car's or a tree's pixels do
not count as a building's; cars and the road's width then correct the camera height
(scale.py; everything is read again at the corrected scale, since every ground-based
measure scales with it, unless the road read again runs on without an edge:
rescaled_reading_holds); last the facades (facades.py) on both sides and a building
closing the street.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from stages.vision.calibrate import CameraPrior
from stages.vision.camera import PinholeCamera
from stages.vision.columns import Columns, read_columns
from stages.vision.facades import (
    END_MIN_HEIGHT_M, Building, GroundMap, edge_map, end_building, kerb_half_widths, side_buildings,
)
from stages.vision.ground import CrossSection, cross_section
from stages.vision.image import PhotoArrays
from stages.vision.raycast import Primitive
from stages.vision.refine import is_paved_strip, refine_solids, separate, x_span
from stages.vision.segment import GROUND, SKY, VERTICAL
from stages.vision.scale import car_cue, fused_factor, road_cue
from stages.vision.things import cars, pole_mask, poles, trees, vegetation_mask

ROAD_BEHIND_M = 30.0
ROAD_AHEAD_M = 400.0
KERB_M = 0.15  # sidewalk height above the road
VERGE_M = 0.05


@dataclass
class Piece:
    """One object of the layout: its name stem (numbered later), class and solid."""

    stem: str
    prim: Primitive
    pattern: str = "noise"


@dataclass
class StreetLayout:
    camera: PinholeCamera
    section: CrossSection
    columns: Columns
    pieces: list[Piece] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    vegetation: np.ndarray | None = None


def _contacts(cam: PinholeCamera, cols: Columns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground point (X, Y) where each column's upright run meets the ground, and whether it does."""
    w, h = cam.width, cam.height
    c = np.arange(w, dtype=float)
    x, y, valid = cam.ground_point(c, cols.contact.astype(float) - 0.5)
    ok = valid & (cols.contact < h) & (cols.contact > cols.skyline)
    return x, y, ok


def read_street(pa: PhotoArrays, labels: np.ndarray, cam: PinholeCamera, vp_col: float | None,
                prior: CameraPrior, rescale: bool = True, refine: bool = True,
                fine: PhotoArrays | None = None) -> StreetLayout | None:
    """The street's layout (module docstring), or None when the ground shows no road.
    `fine`, the photo measured on a grid twice `pa`'s, is where cars are searched."""
    cols = read_columns(pa, labels)
    section = cross_section(cam, cols.labels == GROUND, pa)
    if section is None or section.road() is None:
        return None
    road_x = section.road_extent()  # the road piece spans every road strip
    w, h = cam.width, cam.height
    x_c, y_c, ok = _contacts(cam, cols)
    upright = cols.upright() & (cols.labels == VERTICAL)
    veg = vegetation_mask(pa, upright)
    pmask, runs = pole_mask(pa, upright, veg)
    kerbs = kerb_half_widths(section)
    pole_things = poles(cam, runs, cols, kerbs, veg)
    tree_things = trees(cam, veg, cols, x_c, y_c, ok, road_x)
    busy = np.zeros(w, dtype=bool)
    for t in pole_things:
        busy[np.clip(t.cols, 0, w - 1)] = True
    if fine is not None:
        zoom = fine.shape[0] // h
        car_things = cars(cam.with_size(fine.shape[1], fine.shape[0]), fine, cols, road_x,
                          np.repeat(np.repeat(upright, zoom, 0), zoom, 1)[:fine.shape[0], :fine.shape[1]])
        for t in car_things:
            t.cols = t.cols // zoom
    else:
        car_things = cars(cam, pa, cols, road_x, upright)
    notes = []
    if rescale and not prior.height_known:  # a stated height is the camera's
        cues = [c for c in (car_cue(car_things), road_cue(section, prior.road_width_m, prior.road_width_log_sigma))
                if c is not None]
        k = fused_factor(cues, prior.height_log_sigma)
        if cues and abs(math.log(k)) > 0.01:
            scaled = dataclasses.replace(cam, height_m=round(cam.height_m * k, 4))
            again = read_street(pa, labels, scaled, vp_col, prior, rescale=False, refine=refine, fine=fine)
            said = " and ".join(c.source for c in cues)
            if again is not None and not rescaled_reading_holds(section, again.section):
                notes.append(f"camera height {cam.height_m:.2f} m kept: at {scaled.height_m:.2f} m from {said} "
                             "the road ran on without an edge")
            elif again is not None:
                again.notes.insert(0, f"camera height {cam.height_m:.2f} -> {scaled.height_m:.2f} m from {said}")
                return again
    # buildings: the skyline of what is neither a tree nor a pole
    facade_px = upright & ~veg & ~pmask
    top = np.full(w, h, dtype=np.int64)
    for c in range(w):
        rows = np.flatnonzero(facade_px[:, c])
        if rows.size:
            top[c] = rows[0]
    split = vp_col if vp_col is not None else w / 2 - 0.5
    left_cols = np.arange(w)[np.arange(w) < split]
    right_cols = np.arange(w)[np.arange(w) >= split]
    buildings: list[Building] = []
    gm = GroundMap(cam)
    edges = edge_map(pa)
    for side, side_cols in (("left", left_cols), ("right", right_cols)):
        road_edge = -road_x[0] if side == "left" else road_x[1]
        buildings += side_buildings(cam, pa, cols, top, side, side_cols, gm, edges, road_edge + 0.7, facade_px)
    x_sides = (max([abs(b.prim.location[0]) - b.prim.size[0] / 2 for b in buildings if b.side == "left"] or [kerbs[0]]),
               max([abs(b.prim.location[0]) - b.prim.size[0] / 2 for b in buildings if b.side == "right"] or [kerbs[1]]))
    end = end_building(cam, cols, top, x_c, y_c, ok, x_sides, [b.prim for b in buildings], kerbs)
    layout = StreetLayout(cam, section, cols, notes=notes, vegetation=veg)
    far = end.prim.location[1] if end is not None else ROAD_AHEAD_M
    layout.pieces += _ground_pieces(section, far)
    for b in buildings:
        layout.pieces.append(Piece(f"building_{b.side}", b.prim, "noise"))
    if end is not None:
        layout.pieces.append(Piece("building_end", end.prim, "noise"))
    for t in car_things:
        layout.pieces.append(Piece(t.kind, t.prims[0], "plain"))
    for i, t in enumerate(tree_things):
        layout.pieces.append(Piece("tree_trunk", t.prims[0], "noise"))
        layout.pieces.append(Piece("tree_crown", t.prims[1], "foliage"))
    for t in pole_things:
        layout.pieces.append(Piece("pole", t.prims[0], "plain"))
    fitted = [p.prim for p in layout.pieces]
    if refine:
        movable = [i for i, p in enumerate(layout.pieces)
                   if p.stem.startswith(("building_", "road", "sidewalk_", "car"))]
        fitted = refine_solids(cam, fitted, pa.lab, movable, labels == SKY,
                               allowed=lambda prims, changes: ground_given_up_plausibly(section, prims, changes))
    for side in ("building_left", "building_right"):
        fitted = separate(fitted, [i for i, p in enumerate(layout.pieces) if p.stem == side])
    for p, prim in zip(layout.pieces, fitted):
        p.prim = prim
    layout.pieces = without_low_end(layout.pieces)
    return layout


def rescaled_reading_holds(first: CrossSection, again: CrossSection) -> bool:
    """Take the street read again at the car-corrected camera height? A new height scales the
    ground plane and nothing else, yet the cross-section's strips are cut and classed anew,
    and the road can then grow over shadowed ground out to the end of the section, where no
    road edge is seen (dev street 103: from -3..6.5 m to -3.5..40 m, its right facades
    lost). Such a reading is refused when the first one had a road bounded on both sides."""
    return first.road_unbounded() or not again.road_unbounded()


GIVE_UP_STEP_M = 0.05
GIVE_UP_TOLERANCE_M = 0.3


def ground_given_up_plausibly(section: CrossSection, prims: list[Primitive], changes: dict[int, Primitive]) -> bool:
    """May these road and sidewalk edges move so? Ground the road gives up, or a sidewalk on
    its side towards the road, and no paved strip covers after the change, falls to the
    terrain plane: allowed only where the cross-section saw terrain colours (a sidewalk may
    give up its far side freely: grass the cross-section took for paving, a facade's base).
    The partition test is blind to classes, and a road half in shadow fits the terrain
    plane's colours (the facades' shadowed ground) better than the road's own lit half, so
    it walked the road's edge to the shadow's edge and called the rest terrain. A kerb move
    (refine._kerb_variants) hands the ground to the sidewalk instead."""
    paved = [i for i in changes if is_paved_strip(prims[i])]
    if not paved:  # most candidates move a building or a car
        return True
    after = [changes.get(j, p) for j, p in enumerate(prims)]
    road_mid = float(np.mean(section.road_extent()))
    for i in paved:
        old = prims[i]
        (a0, a1), (b0, b1) = x_span(old), x_span(changes[i])
        x = np.arange(a0 + GIVE_UP_STEP_M / 2, a1, GIVE_UP_STEP_M)
        if old.semantic == "road":
            freed = (x < b0) | (x > b1)
        else:  # a sidewalk may give up ground on its far side (grass, a facade's base), not towards the road
            freed = (x > b1) if old.location[0] < road_mid else (x < b0)
        for j, p in enumerate(after):
            if j != i and is_paved_strip(p):
                q0, q1 = x_span(p)
                freed &= ~((x >= q0) & (x <= q1))
        if float((freed & section.paving_at(x)).sum()) * GIVE_UP_STEP_M > GIVE_UP_TOLERANCE_M:
            return False
    return True


def without_low_end(pieces: list[Piece]) -> list[Piece]:
    """An end building the partition test brought below END_MIN_HEIGHT_M was not one (a
    2 m wall across the whole street hides the street's far end): drop it, and let the
    road, sidewalks and verges run on to the horizon."""
    if not any(p.stem == "building_end" and p.prim.size[2] < END_MIN_HEIGHT_M for p in pieces):
        return pieces
    out = []
    y0, y1 = -ROAD_BEHIND_M, ROAD_AHEAD_M
    for p in pieces:
        if p.stem == "building_end":
            continue
        if p.stem.startswith(("road", "sidewalk_", "verge_")):
            x, _, z = p.prim.location
            p = Piece(p.stem, dataclasses.replace(p.prim, size=(p.prim.size[0], y1 - y0, p.prim.size[2]),
                                                  location=(x, (y0 + y1) / 2, z)), p.pattern)
        out.append(p)
    return out


def _ground_pieces(section: CrossSection, far: float) -> list[Piece]:
    """Terrain everywhere, the road, a sidewalk each side, grass verges between them."""
    y0, y1 = -ROAD_BEHIND_M, max(far, 30.0)
    yc, length = (y0 + y1) / 2, y1 - y0
    pieces = [Piece("terrain", Primitive("terrain", "plane", (1200.0, 1200.0, 1.0), (0.0, 300.0, -0.01), 0.0, "terrain"),
                    "noise")]
    road = section.road()
    roads = [s for s in section.strips if s.cls == "road"]
    rx0, rx1 = min(s.x0 for s in roads), max(s.x1 for s in roads)
    pieces.append(Piece("road", Primitive("road", "box", (rx1 - rx0, length, 0.02), ((rx0 + rx1) / 2, yc, 0.0), 0.0,
                                          "road"), "noise"))
    for side, strips in (("left", [s for s in section.strips if s.x1 <= rx0 + 1e-6]),
                         ("right", [s for s in section.strips if s.x0 >= rx1 - 1e-6])):
        walk = [s for s in strips if s.cls == "sidewalk"]
        if walk:
            a, b = min(s.x0 for s in walk), max(s.x1 for s in walk)
            pieces.append(Piece(f"sidewalk_{side}", Primitive("", "box", (b - a, length, KERB_M), ((a + b) / 2, yc, 0.0),
                                                               0.0, "sidewalk"), "noise"))
        near = sorted(strips, key=lambda s: abs((s.x0 + s.x1) / 2 - (rx0 + rx1) / 2))
        # a green strip between the road and the sidewalk's far edge: a verge
        for s in near[:3]:
            if s.cls == "terrain" and s.width < 8.0:
                pieces.append(Piece(f"verge_{side}", Primitive("", "box", (s.width, length, VERGE_M),
                                                               ((s.x0 + s.x1) / 2, yc, 0.0), 0.0, "terrain"), "noise"))
                break
    del road
    return pieces
