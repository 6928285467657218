"""Photos that are not streets (a forest path, a pier, a room, a table seen from above): the
photo pop-up's pieces (layout.py) turned into solids of the street vocabulary.

The pop-up finds the ground, patches lying on it and upright pieces standing on their
contact lines. Here each becomes a plausible solid with a class: patches are flat strips of
terrain (or road, or floor indoors); an upright piece seen face-on becomes a box with a
real depth behind its face (never a camera-facing slab), a wall seen at an angle a wall of
wall thickness, a round piece an ellipsoid; green pieces are vegetation (a thin upright
one a trunk), tall ones outdoors are buildings, smaller ones `other`. Indoors the ground is
a floor and the walls are walls.
"""
from __future__ import annotations

import math

import numpy as np

from stages.vision.layout import Layout
from stages.vision.raycast import Primitive
from stages.vision.street import Piece

WALL_THICKNESS = 0.25
MIN_DEPTH = {True: 0.5, False: 0.15}  # outdoor / indoor
MAX_DEPTH = {True: 12.0, False: 1.5}


def _colour_kind(lab: np.ndarray) -> str:
    """green (foliage, grass), neutral grey (asphalt, stone, concrete) or coloured."""
    L, a, b = lab
    if a < -4 and b > 2:
        return "green"
    if math.hypot(a, b) < 10:
        return "grey"
    return "coloured"


def solid_pieces(layout: Layout, outdoor: bool) -> list[Piece]:
    """The pop-up's objects as classed solids (module docstring)."""
    out: list[Piece] = []
    for o in layout.objects:
        p = o.prim
        lab = o.region.lab if o.region is not None else np.array([50.0, 0.0, 0.0])
        kind = _colour_kind(lab)
        if o.kind == "ground":
            cls, stem = ("terrain", "terrain") if outdoor else ("other", "floor")
            if outdoor and kind == "grey" and lab[0] < 45:
                cls, stem = "road", "road"
            out.append(Piece(stem, Primitive(stem, p.shape, p.size, p.location, p.yaw_deg, cls),
                             "noise"))
            continue
        if o.kind == "patch":
            if not outdoor:
                cls, stem = "other", "floor_patch"
            elif kind == "grey":
                cls, stem = "road", "road_part"
            else:
                cls, stem = "terrain", "terrain_part"
            out.append(Piece(stem, Primitive("", p.shape, p.size, p.location, p.yaw_deg, cls), "noise"))
            continue
        if p.name == "wall_back":
            out.append(Piece("wall_back", Primitive("", "box", (p.size[0], WALL_THICKNESS, p.size[2]),
                                                    (p.location[0], p.location[1] - p.size[1] / 2 + WALL_THICKNESS / 2,
                                                     p.location[2]), p.yaw_deg, "wall" if not outdoor else "building"),
                             "noise"))
            continue
        width, thick, height = p.size
        receding = abs(p.yaw_deg) > 1e-6 and p.shape == "box"
        if p.shape == "sphere":
            cls = "vegetation" if kind == "green" else "other"
            stem = "bush" if cls == "vegetation" else ("rock" if outdoor else "furniture")
            out.append(Piece(stem, Primitive("", "sphere", p.size, p.location, p.yaw_deg, cls),
                             "foliage" if cls == "vegetation" else "noise"))
            continue
        if receding:  # a wall seen at an angle: give it a wall's thickness, behind its face
            a = math.radians(p.yaw_deg)
            back = (WALL_THICKNESS - thick) / 2  # the face stays; the wall grows behind it
            loc = (p.location[0] - math.sin(a) * back, p.location[1] + math.cos(a) * back, p.location[2])
            cls = ("building" if height > 2.5 else "wall") if outdoor else "wall"
            stem = ("building" if cls == "building" else "wall") + ("_left" if p.location[0] < 0 else "_right")
            if kind == "green":
                cls, stem = "vegetation", "hedge"
            out.append(Piece(stem, Primitive("", "box", (width, WALL_THICKNESS, height), loc, p.yaw_deg, cls),
                             "foliage" if cls == "vegetation" else "noise"))
            continue
        # seen face-on: a solid with depth behind its face
        if outdoor and kind in ("green", "grey", "coloured") and width < 0.8 and height > 2.5 * max(width, 0.1):
            cls, stem, shape, pattern = "vegetation", "trunk", "cylinder", "noise"
            depth = width
            size = (width, depth, height)
        else:
            depth = float(np.clip(0.6 * width, MIN_DEPTH[outdoor], MAX_DEPTH[outdoor]))
            shape, pattern = "box", "noise"
            size = (width, depth, height)
            if kind == "green":
                cls, stem, pattern = "vegetation", "hedge" if height < 3 else "foliage", "foliage"
            elif outdoor:
                cls, stem = ("building", "building") if height > 3.0 else ("other", "structure")
            else:
                cls, stem = "other", "furniture"
        face_y = p.location[1] - thick / 2
        out.append(Piece(stem, Primitive("", shape, size, (p.location[0], face_y + depth / 2, p.location[2]),
                                         p.yaw_deg, cls), pattern))
    return out
