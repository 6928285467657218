"""Pop the labelled photo up into 3D: a ground plane, flat patches on it, upright objects.

As in Automatic Photo Pop-up: the ground is a plane z = 0 seen from a camera at a known
height and pitch, so every ground pixel has a depth and a ground region becomes a flat
patch lying where its pixels are; an upright region stands on its contact line with the
ground (uprights.py). Regions are first cut where their colour changes (a road fading
into fog, a facade's storeys) and irregular ones into well-filled pieces (regions.py).
Nothing here faces the camera by construction only: each object stands where its pixels
say it stands, so the scene still makes sense from a moved camera.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stages.vision.camera import FAR, PinholeCamera
from stages.vision.raycast import Primitive
from stages.vision.regions import Region, cover_rectangles, split_by_colour
from stages.vision.segment import GROUND, VERTICAL
from stages.vision.uprights import THICKNESS, contact_rows, iou, on_wall, receding_walls, upright

GROUND_SIZE = 1200.0  # metres: the ground plane reaches past the camera's clip distance
WIDE = 400.0  # metres: how far a patch or wall cut by the image border is extended
MIN_SPLIT_GAIN = 6e-5  # a colour cut must lower the whole image's MSE by this much
MIN_PATCH = 0.006  # ground regions smaller than this share of the image stay part of the ground
MIN_UPRIGHT = 0.004  # upright regions smaller than this are too small to be objects
MAX_OBJECTS = 72  # a program a person can still read and a tuner can still search
STACK_STEP = 0.002  # metres between panels that stand on the same contact line


@dataclass
class PlacedObject:
    prim: Primitive
    kind: str  # "ground", "patch", "upright"
    region: Region | None = None
    pixels: int = 0  # size of the image piece it was made for (analysis grid)


@dataclass
class Layout:
    camera: PinholeCamera
    objects: list[PlacedObject] = field(default_factory=list)

    @property
    def prims(self) -> list[Primitive]:
        return [o.prim for o in self.objects]


def _fit_patch(cam: PinholeCamera, mask: np.ndarray, rank: int, name: str) -> Primitive:
    """A flat box (or disc) on the ground covering a ground region's footprint."""
    h, w = mask.shape
    rows, cols = np.nonzero(mask)
    x, y, valid = cam.ground_point(cols, rows)
    x0, x1 = np.percentile(x, [3, 97])
    y0, y1 = np.percentile(y, [3, 97])
    if cols.min() == 0:
        x0 = -WIDE
    if cols.max() == w - 1:
        x1 = WIDE
    if rows.max() == h - 1:
        y0 = min(y0, -2.0)
    horizon = cam.horizon_row()
    if rows.min() <= horizon + 1.5 or not valid.all():
        y1 = FAR
    thickness = 0.01 + 0.004 * rank  # later (smaller) patches lie on top of earlier ones
    rect = Primitive(name, "box", (max(x1 - x0, 0.05), max(y1 - y0, 0.05), thickness),
                     ((x0 + x1) / 2, (y0 + y1) / 2, 0.0))
    # a patch not cut by the image border may be round (a rug, a puddle, a bowl seen from above)
    if x0 > -WIDE and x1 < WIDE and y1 < FAR and rows.max() < h - 1:
        disc = Primitive(name, "cylinder", rect.size, rect.location)
        if iou(cam, disc, mask) > iou(cam, rect, mask) + 0.02:
            return disc
    return rect


def _pieces(regions: list[Region], cls: int, srgb: np.ndarray, min_area: int) -> list[tuple[np.ndarray, Region]]:
    """Every region of class `cls` cut where its colour changes (regions.split_by_colour),
    largest pieces first."""
    out = []
    for r in regions:
        if r.cls == cls and r.area >= min_area:
            out += [(m, r) for m in split_by_colour(r.mask, srgb, min_area, MIN_SPLIT_GAIN)]
    return sorted(out, key=lambda p: -int(p[0].sum()))


def build_layout(cam: PinholeCamera, labels: np.ndarray, regions: list[Region], outdoor: bool,
                 srgb: np.ndarray, sky_visible: bool = True) -> Layout:
    """Ground plane, ground patches and upright objects for the labelled regions; with no
    sky in view, a wall behind everything closes the scene."""
    total = float(labels.size)
    layout = Layout(camera=cam)
    layout.objects.append(PlacedObject(
        Primitive("ground", "plane", (GROUND_SIZE, GROUND_SIZE, 1.0), (0.0, GROUND_SIZE / 2 - 100.0, 0.0)), "ground"))
    ground = _pieces(regions, GROUND, srgb, int(MIN_PATCH * total))
    if ground:
        layout.objects[0].region = ground[0][1]  # the largest piece: the ground's own colour
    # larger patches first (lower), smaller on top of them
    for rank, (mask, region) in enumerate(ground[1:]):
        prim = _fit_patch(cam, mask, rank, f"ground_patch_{rank + 1}")
        layout.objects.append(PlacedObject(prim, "patch", region, int(mask.sum())))

    contact = contact_rows(labels)
    default_depth = 12.0 if outdoor else 4.0
    counters: dict[str, int] = {}
    k = 0
    walls = receding_walls(cam, regions, contact, default_depth, int(MIN_UPRIGHT * total))
    for mask, region in _pieces(regions, VERTICAL, srgb, int(MIN_UPRIGHT * total)):
        wall = walls.get(region.id)
        for piece in ([mask] if wall is not None else cover_rectangles(mask, min_area=int(MIN_UPRIGHT * total))):
            if wall is not None:
                prim = on_wall(cam, wall, piece)
                side = "left" if wall.location[0] < 0 else "right"
            else:
                prim, side = upright(cam, piece, contact, default_depth)
            base = {"front": "billboard", "round": "blob"}.get(side, ("building_" if outdoor else "wall_") + side)
            counters[base] = counters.get(base, 0) + 1
            # larger pieces first; each later one a hair nearer along its line of sight, so
            # coplanar panels never tie (a millimetre, more far away for float precision)
            x, y, z = prim.location
            shrink = 1.0 - k * max(STACK_STEP, 3e-5 * y) / max(y, 0.1)
            k += 1
            prim = Primitive(f"{base}_{counters[base]}", prim.shape, prim.size, (x * shrink, y * shrink, z), prim.yaw_deg)
            layout.objects.append(PlacedObject(prim, "upright", region, int(piece.sum())))
    if len(layout.objects) > MAX_OBJECTS:  # keep the program editable: drop the smallest pieces
        keep = sorted(layout.objects[1:], key=lambda o: -o.pixels)[: MAX_OBJECTS - 1]
        layout.objects = [layout.objects[0]] + [o for o in layout.objects[1:] if o in keep]
    if not sky_visible:
        layout.objects.append(PlacedObject(_back_wall(cam, layout, default_depth), "upright"))
    _renumber(layout)
    return layout


def renumbered(names: list[str]) -> list[str]:
    """Names whose trailing numbers count 1, 2, 3 ... per kind, in order (after pieces
    were dropped): ["billboard_2", "wall_back", "billboard_5"] -> ["billboard_1", "wall_back", "billboard_2"]."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        base, _, num = name.rpartition("_")
        if base and num.isdigit():
            seen[base] = seen.get(base, 0) + 1
            name = f"{base}_{seen[base]}"
        out.append(name)
    return out


def _renumber(layout: Layout) -> None:
    for o, name in zip(layout.objects, renumbered([o.prim.name for o in layout.objects])):
        p = o.prim
        o.prim = Primitive(name, p.shape, p.size, p.location, p.yaw_deg)


def _back_wall(cam: PinholeCamera, layout: Layout, default_depth: float) -> Primitive:
    """With no sky in view (a room, a wood), a wall behind everything closes the scene, so
    no gap between the pieces shows the world (which then only lights the scene)."""
    depths = [o.prim.location[1] for o in layout.objects if o.kind == "upright"]
    depth = 1.25 * max(depths) if depths else default_depth
    half_w = depth * max(cam.width, cam.height) / cam.f_px  # twice the view's half-width
    top = float(cam.height_at(np.array(-1.0), np.array(depth)))
    height = max(top * 1.3, cam.height_m * 2)
    return Primitive("wall_back", "box", (2 * half_w, THICKNESS, height), (0.0, depth + THICKNESS / 2, 0.0))
