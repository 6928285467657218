"""Candidate moves of the offline tuner, one generator per stage, on typed scenes.

- geometry: structural moves where the residual (photo - render) is largest: an object's
  height, width or depth, a facade moved towards or away from the street, a building's end
  moved, a building split in two (the new piece `NAME_b` wears its parent's material until
  the materials stage fits it) or merged with its neighbour, an object removed, a car, tree
  or pole added where an unexplained blob stands on the ground.
- composition: the camera (pitch, yaw, roll, focal length; not its height, which a photo
  cannot tell: composition_moves) and objects slid along their contact lines
  (COMPOSITION's per-object shifts; a tree's trunk and crown together).
Each move is a labelled new Scene; the backend pre-screens them (predict.py) and renders
the best. Steps shrink with the round (`step`).
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np

from scene_program.classes import BY_NAME
from scene_program.model import Adjustment, ObjectShape, Scene
from stages.backends.predict import Predictor

MAX_GEOMETRY_MOVES = 60
MAX_COMPOSITION_MOVES = 36


@dataclass
class Move:
    label: str
    scene: Scene


def _copy(scene: Scene) -> Scene:
    return scene.model_copy(deep=True)


def _replace(scene: Scene, index: int, **changes) -> Scene:
    s = _copy(scene)
    o = s.geometry.objects[index]
    s.geometry.objects[index] = o.model_copy(update=changes)
    return s


def _made_room(scene: Scene, index: int) -> Scene | None:
    """`scene` with the buildings along the same side as object `index` trimmed back where it
    now overlaps them (it keeps its new extent: it is what the move changed); None when a
    neighbour would shrink below 2 m. Overlapping boxes render black where their faces
    coincide, so a move that lengthens a building into the next one was rejected for that
    artefact, not for its own merit."""
    o = scene.geometry.objects[index]
    y0, y1 = o.location[1] - o.size[1] / 2, o.location[1] + o.size[1] / 2
    for j, other in enumerate(scene.geometry.objects):
        if j == index or _group(other) != "building" or other.shape != "box" or other.name.startswith("building_end") \
                or other.location[0] * o.location[0] <= 0:
            continue
        b0, b1 = other.location[1] - other.size[1] / 2, other.location[1] + other.size[1] / 2
        if b1 <= y0 or b0 >= y1:
            continue
        a0, a1 = (y1, b1) if other.location[1] > o.location[1] else (b0, y0)
        if a1 - a0 < 2.0:
            return None
        scene.geometry.objects[j] = other.model_copy(update={
            "size": (other.size[0], a1 - a0, other.size[2]),
            "location": (other.location[0], (a0 + a1) / 2, other.location[2])})
    return scene


def _remove(scene: Scene, names: set[str]) -> Scene:
    s = _copy(scene)
    s.geometry.objects = [o for o in s.geometry.objects if o.name not in names]
    s.materials = {k: v for k, v in s.materials.items() if k not in names}
    s.composition.objects = {k: v for k, v in s.composition.objects.items() if k not in names}
    return s


def _group(o: ObjectShape) -> str:
    return BY_NAME[o.semantic].group


def _tree_parts(scene: Scene, name: str) -> set[str]:
    if name.startswith("tree_") and name.count("_") >= 2:
        stem = "_".join(name.split("_")[:2])
        return {o.name for o in scene.geometry.objects if o.name.startswith(stem + "_")}
    return {name}


def residual_ranking(pred: Predictor) -> list[tuple[str, float]]:
    """Objects by how much of the photo's error sits on their pixels (largest first)."""
    err = ((pred.render - pred.photo) ** 2).sum(-1)
    idx = pred.hits.index
    out = []
    for i, p in enumerate(pred.prims):
        m = idx == i
        if m.any():
            out.append((p.name, float(err[m].sum())))
    return sorted(out, key=lambda t: -t[1])


def _unique_name(scene: Scene, base: str) -> str:
    names = {o.name for o in scene.geometry.objects}
    for suffix in "bcdefghijk":
        cand = f"{base}_{suffix}"
        if cand not in names:
            return cand
    return f"{base}_{len(names)}"


def _next_number(scene: Scene, stem: str) -> int:
    n = 0
    for o in scene.geometry.objects:
        parts = o.name.split("_")
        if parts[0] == stem and len(parts) > 1 and parts[1].isdigit():
            n = max(n, int(parts[1]))
    return n + 1


def geometry_moves(scene: Scene, pred: Predictor, rng: random.Random, step: float) -> list[Move]:
    """Structural moves on the objects the residual points at, plus additions (module docstring)."""
    ranked = residual_ranking(pred)
    by_name = {o.name: i for i, o in enumerate(scene.geometry.objects)}
    focus = [n for n, _ in ranked[:8]]
    rest = [n for n, _ in ranked[8:]]
    focus += rng.sample(rest, k=min(4, len(rest)))
    moves: list[Move] = []
    for name in focus:
        i = by_name.get(name)
        if i is None:
            continue
        o = scene.geometry.objects[i]
        group = _group(o)
        sx, sy, sz = o.size
        x, y, z = o.location
        if o.shape == "plane":
            continue
        if group == "building":
            for f in (1 - 0.2 * step, 1 + 0.2 * step):
                moves.append(Move(f"{name} height x{f:.2f}", _replace(scene, i, size=(sx, sy, max(1.0, sz * f)))))
            side = 1.0 if x > 0 else -1.0
            for d in (-1.0 * step, 1.5 * step):  # the facade towards (-) or away from the street
                moves.append(Move(f"{name} facade {d:+.1f} m", _replace(scene, i, location=(x + side * d, y, z))))
            y0, y1 = y - sy / 2, y + sy / 2
            for d in (-3.0 * step, 3.0 * step):
                ends = []
                if y1 - (y0 + d) > 2:
                    ends.append((f"{name} near end {d:+.1f} m", (sx, y1 - y0 - d, sz), (x, (y0 + d + y1) / 2, z)))
                if (y1 + d) - y0 > 2:
                    ends.append((f"{name} far end {d:+.1f} m", (sx, y1 + d - y0, sz), (x, (y0 + y1 + d) / 2, z)))
                for label, size, location in ends:
                    if (s := _made_room(_replace(scene, i, size=size, location=location), i)) is not None:
                        moves.append(Move(label, s))
            if sy > 8:
                for frac in (0.5,):
                    for f in (0.7, 1.35):
                        cut = y0 + frac * sy
                        s = _replace(scene, i, size=(sx, cut - y0, sz), location=(x, (y0 + cut) / 2, z))
                        new = o.model_copy(update={"name": _unique_name(scene, name), "size": (sx, y1 - cut, sz * f),
                                                   "location": (x, (cut + y1) / 2, z)})
                        s.geometry.objects.insert(i + 1, new)
                        moves.append(Move(f"{name} split at {frac:.2f}, far part x{f:.2f} high", s))
            nxt = _neighbour(scene, o)
            if nxt is not None:
                j, other = nxt
                a0 = min(y0, other.location[1] - other.size[1] / 2)
                a1 = max(y1, other.location[1] + other.size[1] / 2)
                hh = (sz * sy + other.size[2] * other.size[1]) / (sy + other.size[1])
                s = _replace(scene, i, size=(sx, a1 - a0, hh), location=(x, (a0 + a1) / 2, z))
                moves.append(Move(f"{name} merged with {other.name}", _remove(s, {other.name})))
        elif group == "vehicle":
            for d in (-2.0 * step, 2.0 * step):
                moves.append(Move(f"{name} along {d:+.1f} m", _replace(scene, i, location=(x, y + d, z))))
            for d in (-0.6 * step, 0.6 * step):
                moves.append(Move(f"{name} across {d:+.1f} m", _replace(scene, i, location=(x + d, y, z))))
        elif group == "vegetation" and name.endswith("_crown"):
            for f in (1 - 0.25 * step, 1 + 0.25 * step):
                moves.append(Move(f"{name} size x{f:.2f}", _replace(scene, i, size=(sx * f, sy * f, sz * f))))
        elif group in ("road", "sidewalk", "terrain") and o.shape == "box":
            for d in (-0.5 * step, 0.5 * step):
                for edge in (-1, 1):
                    moves.append(Move(f"{name} {'left' if edge < 0 else 'right'} edge {d:+.1f} m",
                                      _replace(scene, i, size=(max(0.3, sx + d), sy, sz), location=(x + edge * d / 2, y, z))))
        else:
            for axis in range(3):
                for f in (1 - 0.2 * step, 1 + 0.2 * step):
                    size = list(o.size)
                    size[axis] = max(0.05, size[axis] * f)
                    moves.append(Move(f"{name} size[{axis}] x{f:.2f}", _replace(scene, i, size=tuple(size))))
        if group not in ("road", "sky") and o.shape != "plane":
            moves.append(Move(f"remove {name}", _remove(scene, _tree_parts(scene, name))))
    return (_additions(scene, pred) + moves)[:MAX_GEOMETRY_MOVES]


def _neighbour(scene: Scene, o: ObjectShape) -> tuple[int, ObjectShape] | None:
    """The next building along the street on the same side (its near end close to o's far end)."""
    far = o.location[1] + o.size[1] / 2
    best = None
    for j, other in enumerate(scene.geometry.objects):
        if other.name == o.name or _group(other) != "building" or other.location[0] * o.location[0] <= 0:
            continue
        near = other.location[1] - other.size[1] / 2
        if abs(near - far) < 3.0 and (best is None or abs(near - far) < best[0]):
            best = (abs(near - far), j, other)
    return None if best is None else (best[1], best[2])


def _additions(scene: Scene, pred: Predictor) -> list[Move]:
    """New things where an unexplained blob stands on the ground: the largest residual blob
    whose bottom row meets the road becomes a car, a green one a tree."""
    from stages.vision.superpixels import connected_components

    err = np.sqrt(((pred.render - pred.photo) ** 2).sum(-1))
    thresh = max(0.12, float(np.percentile(err, 92)))
    blobs = connected_components(err > thresh)
    if blobs.max() < 0:
        return []
    cam = pred.camera
    idx = pred.hits.index
    out = []
    sizes = np.bincount(blobs[blobs >= 0].ravel())
    for b in np.argsort(-sizes)[:3]:
        m = blobs == b
        if m.sum() < 6:
            continue
        rows, cols = np.nonzero(m)
        bottom, col = int(rows.max()), float(np.median(cols))
        below = idx[min(bottom + 1, pred.h - 1), int(col)]
        if below < 0:
            continue
        ground_cls = pred.prims[below].semantic
        x, y, valid = cam.ground_point(np.array([col]), np.array([bottom + 0.5]))
        if not valid[0] or not 2.0 < y[0] < 80.0:
            continue
        colour = pred.photo[m].mean(0)
        green = colour[1] > colour[0] * 1.1 and colour[1] > colour[2] * 1.1
        s = _copy(scene)
        if green:
            n = _next_number(scene, "tree")
            top_row = float(rows.min())
            dist = math.hypot(x[0] - cam.x_m, y[0] - cam.y_m)
            d = cam.rays(np.array([col]), np.array([top_row]))[0]
            z_top = cam.height_m + dist * d[2] / max(math.hypot(d[0], d[1]), 1e-6)
            crown_h = max(1.5, 0.6 * z_top)
            width = max(1.5, (np.ptp(cols) + 1) * dist / cam.f_px)
            s.geometry.objects.append(ObjectShape(name=f"tree_{n}_trunk", semantic="vegetation", shape="cylinder",
                                                  size=(0.3, 0.3, z_top - 0.7 * crown_h), location=(x[0], y[0], 0.0)))
            s.geometry.objects.append(ObjectShape(name=f"tree_{n}_crown", semantic="vegetation", shape="sphere",
                                                  size=(width, width, crown_h),
                                                  location=(x[0], y[0], max(0.5, z_top - crown_h))))
            out.append(Move(f"add tree_{n} at ({x[0]:.1f}, {y[0]:.1f})", s))
        elif ground_cls == "road":
            n = _next_number(scene, "car")
            s.geometry.objects.append(ObjectShape(name=f"car_{n}", semantic="car", shape="box", size=(1.8, 4.5, 1.5),
                                                  location=(x[0], y[0] + 2.25, 0.0)))
            out.append(Move(f"add car_{n} at ({x[0]:.1f}, {y[0]:.1f})", s))
    return out


def composition_moves(scene: Scene, pred: Predictor, rng: random.Random, step: float,
                      focal_stated: bool = False) -> list[Move]:
    """Camera moves and objects slid along their contact lines (module docstring); no focal
    length move when the photo states its focal length (`focal_stated`, stages.photo).

    No move of the camera's height: a photo fixes every depth only up to that height, so a
    height move under objects that stay put does not find the scale, it fits their
    misplacement by rescaling the ground under them (evaluation street 9002: +0.2 dB for
    depth within 25 % on 0.68 -> 0.45 of its pixels). The height is the first reading's,
    from its priors and the things of known size, or the one the manifest states."""
    moves: list[Move] = []
    cam = scene.composition.camera

    def with_camera(label: str, **changes) -> None:
        s = _copy(scene)
        s.composition.camera = cam.model_copy(update=changes)
        moves.append(Move(label, s))

    for d in (-1.0, -0.3, 0.3, 1.0):
        with_camera(f"pitch {d * step:+.2f}", pitch_deg=float(np.clip(cam.pitch_deg + d * step, -89, 89)))
    for d in (-1.5, -0.5, 0.5, 1.5):
        with_camera(f"yaw {d * step:+.2f}", yaw_deg=cam.yaw_deg + d * step)
    for d in (-0.7, 0.7):
        with_camera(f"roll {d * step:+.2f}", roll_deg=cam.roll_deg + d * step)
    for f in () if focal_stated else (0.93, 0.97, 1.03, 1.07):
        k = 1 + (f - 1) * step
        with_camera(f"focal x{k:.3f}", focal_mm=cam.focal_mm * k)
    # things slid along their contact lines (along the street), buildings across it
    ranked = [n for n, _ in residual_ranking(pred)]
    objs = {o.name: o for o in scene.geometry.objects}
    seen: set[str] = set()
    for name in ranked[:10]:
        o = objs.get(name)
        if o is None or o.shape == "plane" or _group(o) in ("road", "sidewalk", "terrain"):
            continue
        parts = _tree_parts(scene, name)
        key = min(parts)
        if key in seen:
            continue
        seen.add(key)
        along = _group(o) != "building"
        for d in ((-2.0, 2.0) if along else (-0.8, 0.8)):
            s = _copy(scene)
            for part in parts:
                adj = s.composition.objects.get(part, Adjustment())
                shift = list(adj.shift)
                shift[1 if along else 0] += d * step * (1.0 if along else (1.0 if o.location[0] > 0 else -1.0))
                s.composition.objects[part] = adj.model_copy(update={"shift": tuple(shift)})
            moves.append(Move(f"{key} shifted {'along' if along else 'across'} {d * step:+.1f} m", s))
    return moves[:MAX_COMPOSITION_MOVES]
