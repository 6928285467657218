"""Variant programs: the program's own numbers changed in a seeded, reproducible way.

A variant changes only the dicts at the top of the sections (never their code), so it
stays an editable seig program that the same sandbox checks: time of day (sun elevation,
azimuth and colour, sky colours), haze (`LIGHTING["fog"]`, when the lighting code builds
fog), material hue and roughness within each class's plausible range, camera jitter
(lateral, height, yaw) and a novel view moved forward along the street (+Y), never into
an object. A dict that does not have seig's shape is left alone and the variant says so
(`skipped`). The same (program, seed) gives the same program, byte for byte.
"""
from __future__ import annotations

import colorsys
import hashlib
import math
import random
from typing import Any

from pydantic import BaseModel

from simdata.config import JitterConfig
from scene_program.sections import SectionError, parse
from scene_program.writer import section_params, with_section_params

# name: (sun elevation range, sun colour, sun strength factor, zenith, horizon), sRGB
TIMES: dict[str, tuple[tuple[float, float], tuple, float, tuple, tuple]] = {
    "morning": ((12.0, 30.0), (1.0, 0.88, 0.74), 0.8, (0.45, 0.6, 0.85), (0.95, 0.86, 0.76)),
    "noon": ((50.0, 75.0), (1.0, 0.98, 0.95), 1.1, (0.28, 0.48, 0.85), (0.74, 0.83, 0.94)),
    "afternoon": ((28.0, 50.0), (1.0, 0.94, 0.86), 1.0, (0.33, 0.52, 0.84), (0.8, 0.84, 0.9)),
    "evening": ((4.0, 12.0), (1.0, 0.68, 0.42), 0.6, (0.32, 0.38, 0.6), (1.0, 0.72, 0.5)),
    "overcast": ((30.0, 60.0), (0.9, 0.92, 0.95), 0.25, (0.62, 0.65, 0.7), (0.78, 0.79, 0.8)),
}
# class: (hue half-range as a fraction of the colour wheel, value factor range, roughness range)
CLASS_RANGES: dict[str, tuple[float, tuple[float, float], tuple[float, float]]] = {
    "road": (0.02, (0.8, 1.2), (0.7, 0.95)), "sidewalk": (0.03, (0.85, 1.15), (0.6, 0.9)),
    "building": (0.06, (0.85, 1.15), (0.6, 0.95)), "wall": (0.06, (0.85, 1.15), (0.6, 0.95)),
    "fence": (0.05, (0.85, 1.15), (0.4, 0.9)), "pole": (0.03, (0.85, 1.15), (0.3, 0.7)),
    "traffic light": (0.02, (0.9, 1.1), (0.3, 0.6)), "traffic sign": (0.0, (0.9, 1.1), (0.3, 0.6)),
    "vegetation": (0.04, (0.8, 1.2), (0.6, 0.9)), "terrain": (0.05, (0.8, 1.2), (0.7, 0.95)),
    "person": (0.5, (0.8, 1.2), (0.5, 0.9)), "rider": (0.5, (0.8, 1.2), (0.5, 0.9)),
    "car": (0.5, (0.7, 1.3), (0.15, 0.5)), "truck": (0.5, (0.7, 1.3), (0.2, 0.6)),
    "bus": (0.5, (0.7, 1.3), (0.2, 0.6)), "train": (0.3, (0.8, 1.2), (0.2, 0.6)),
    "motorcycle": (0.5, (0.7, 1.3), (0.15, 0.5)), "bicycle": (0.5, (0.7, 1.3), (0.2, 0.6)),
    "other": (0.05, (0.85, 1.15), (0.3, 0.9)),
}
CAMERA_CLEARANCE_M = 0.5
MIN_CAMERA_HEIGHT_M = 0.6  # above the clearance kept from the ground


class Variant(BaseModel):
    index: int
    seed: int
    program: str
    params: dict[str, Any]


def variant_seed(base_seed: int, image_id: str, index: int) -> int:
    """A stable 31-bit seed per (run seed, image, variant): Python's hash() is salted per process."""
    digest = hashlib.sha256(f"{base_seed}:{image_id}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _mix(a, b, w: float) -> list[float]:
    return [round(min(1.0, max(0.0, x + (y - x) * w)), 4) for x, y in zip(a, b)]


def _lighting(lighting: dict, code: str, rng: random.Random, cfg: JitterConfig, notes: dict) -> dict:
    sun, sky = lighting["sun"], lighting["sky"]
    if cfg.time_of_day:
        name = rng.choice(sorted(TIMES))
        (lo, hi), colour, strength, zenith, horizon = TIMES[name]
        sun["elevation_deg"] = round(rng.uniform(lo, hi), 3)
        sun["color"] = list(colour)
        sun["strength"] = round(float(sun["strength"]) * strength, 4)
        w = rng.uniform(*cfg.sky_mix)
        sky["zenith"], sky["horizon"] = _mix(sky["zenith"], zenith, w), _mix(sky["horizon"], horizon, w)
        notes["time_of_day"] = name
    if cfg.sun_azimuth_deg:
        sun["azimuth_deg"] = round(float(sun["azimuth_deg"]) + rng.uniform(-1, 1) * cfg.sun_azimuth_deg, 3)
    notes["sun_elevation_deg"], notes["sun_azimuth_deg"] = sun["elevation_deg"], sun["azimuth_deg"]
    fog_roll, density = rng.random(), rng.uniform(*cfg.fog_density)
    if fog_roll < cfg.fog_probability:
        if "fog" in code:  # the section's code builds fog (seig's does); never rewrite code
            lighting["fog"] = {"density": round(density, 4), "color": _mix(sky["horizon"], (0.78, 0.79, 0.8), 0.5),
                               "height_m": round(rng.uniform(40.0, 150.0), 2)}
            notes["fog_density"] = lighting["fog"]["density"]
        else:
            notes["skipped"].append("fog: this program's lighting code does not build fog")
    return lighting


def _materials(materials: dict, classes: dict[str, str], rng: random.Random, cfg: JitterConfig, notes: dict) -> dict:
    changed = 0
    for name in sorted(materials):
        spec = materials[name]
        hue_r, (v_lo, v_hi), (r_lo, r_hi) = CLASS_RANGES.get(classes.get(name, "other"), CLASS_RANGES["other"])
        h, s, v = colorsys.rgb_to_hsv(*[min(1.0, max(0.0, float(c))) for c in spec["color"]])
        h = (h + rng.uniform(-1, 1) * hue_r * cfg.hue_scale) % 1.0
        v = min(1.0, v * rng.uniform(v_lo, v_hi))
        spec["color"] = [round(c, 4) for c in colorsys.hsv_to_rgb(h, s, v)]
        spec["roughness"] = round(rng.uniform(r_lo, r_hi), 4)
        changed += 1
    notes["materials_changed"] = changed
    return materials


def _extent(obj: dict) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(size, location) of an object's solid; a plane is flat whatever its z size says."""
    (sx, sy, sz), loc = obj["size"], obj["location"]
    return (sx, sy, 0.0 if obj.get("shape") == "plane" else sz), tuple(loc)


def _blocked(point: list[float], objects: list[dict]) -> str | None:
    """The name of an object whose (upright, yaw-turned) box the point is within clearance of."""
    for obj in objects:
        (sx, sy, sz), (x, y, z) = _extent(obj)
        yaw = math.radians(float(obj.get("yaw_deg", 0.0)))
        dx, dy = point[0] - x, point[1] - y
        lx, ly = dx * math.cos(yaw) + dy * math.sin(yaw), -dx * math.sin(yaw) + dy * math.cos(yaw)
        c = CAMERA_CLEARANCE_M
        if abs(lx) <= sx / 2 + c and abs(ly) <= sy / 2 + c and z - c <= point[2] <= z + sz + c:
            return obj["name"]
    return None


def _free_ahead(point: list[float], objects: list[dict]) -> float:
    """Distance from `point` along +Y (the street) to the first object box it would enter."""
    best = math.inf
    for obj in objects:
        (sx, sy, sz), (x, y, z) = _extent(obj)
        if not z <= point[2] <= z + sz:
            continue
        yaw = math.radians(float(obj.get("yaw_deg", 0.0)))
        c, s = math.cos(yaw), math.sin(yaw)
        px, py = point[0] - x, point[1] - y
        ox, oy = px * c + py * s, -px * s + py * c  # the point and +Y in the box's own axes
        dx, dy = s, c
        t0, t1 = 0.0, math.inf
        for o, d, half in ((ox, dx, sx / 2), (oy, dy, sy / 2)):
            if abs(d) < 1e-12:
                if abs(o) > half:
                    t0, t1 = 1.0, 0.0
                continue
            a, b = (-half - o) / d, (half - o) / d
            t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
        if t0 <= t1:
            best = min(best, t0)
    return best


def _camera(composition: dict, objects: list[dict], rng: random.Random, cfg: JitterConfig, notes: dict) -> dict:
    cam = composition["camera"]
    start = [float(v) for v in cam["location"]]
    yaw = math.radians(float(cam["yaw_deg"]))
    lateral = rng.uniform(-1, 1) * cfg.camera_lateral_m
    lift = rng.uniform(-1, 1) * cfg.camera_height_m
    turn = rng.uniform(-1, 1) * cfg.camera_yaw_deg
    forward = rng.uniform(0, cfg.forward_m)
    moved = [start[0] + lateral * math.cos(yaw), start[1] + lateral * math.sin(yaw),
             max(MIN_CAMERA_HEIGHT_M, start[2] + lift)]
    forward = min(forward, 0.5 * _free_ahead(moved, objects))  # never cover more than half the free street ahead
    while forward > 0 and _blocked([moved[0], moved[1] + forward, moved[2]], objects):
        forward = max(0.0, forward - 0.5)  # step back until the camera stands in free space
    moved[1] += forward
    if _blocked(moved, objects):  # even the jittered start is inside something: keep the original place
        notes["skipped"].append(f"camera move: blocked by {_blocked(moved, objects)}")
        moved, forward, lateral = start, 0.0, 0.0
    cam["location"] = [round(v, 4) for v in moved]
    cam["yaw_deg"] = round(float(cam["yaw_deg"]) + turn, 4)
    notes.update(camera_location=cam["location"], camera_yaw_deg=cam["yaw_deg"], forward_m=round(forward, 4),
                 lateral_m=round(lateral, 4))
    return composition


def make_variant(program: str, index: int, seed: int, cfg: JitterConfig, title: str = "") -> Variant:
    """Variant `index` of `program` drawn with `seed` (see variant_seed)."""
    notes: dict[str, Any] = {"variant": index, "seed": seed, "skipped": []}
    prog = parse(program)
    dicts: dict[str, Any] = {}
    for section in ("geometry", "materials", "composition", "lighting"):
        try:
            dicts[section] = section_params(prog.get(section), section)
        except SectionError as exc:
            notes["skipped"].append(f"{section}: {exc}")
    geometry = dicts.get("geometry")
    objects = geometry.get("objects", []) if isinstance(geometry, dict) else []
    objects = [o for o in objects if _object_like(o)]
    classes = {o["name"]: str(o.get("class", "other")) for o in objects}
    out = program
    # Each change draws from its own generator, so switching one off leaves the others as they were.
    for section, change, needs in (
            ("lighting", lambda d, r: _lighting(d, prog.get("lighting"), r, cfg, notes), ("sun", "sky")),
            ("materials", lambda d, r: _materials(d, classes, r, cfg, notes) if cfg.materials else d, ()),
            ("composition", lambda d, r: _camera(d, objects, r, cfg, notes), ("camera",))):
        sub = random.Random(f"{seed}:{section}")
        params = dicts.get(section)
        if not isinstance(params, dict) or not all(isinstance(params.get(k), dict) for k in needs):
            if section in dicts:
                notes["skipped"].append(f"{section}: its dict does not have seig's shape")
            continue
        try:
            out = with_section_params(out, section, change(params, sub))
        except (KeyError, TypeError, ValueError) as exc:
            notes["skipped"].append(f"{section}: {type(exc).__name__}: {exc}"[:200])
    header = parse(out).header
    line = f"# Variant {index:02d}{' of ' + title if title else ''}: seed {seed}; made by seig from the program's own numbers.\n"
    out = out.replace(header, header.rstrip("\n") + "\n" + line + "\n", 1) if header else line + out
    return Variant(index=index, seed=seed, program=out, params=notes)


def _object_like(obj: Any) -> bool:
    try:
        return (isinstance(obj, dict) and isinstance(obj["name"], str) and len(obj["size"]) == 3
                and len(obj["location"]) == 3 and all(isinstance(v, (int, float)) for v in [*obj["size"], *obj["location"]]))
    except (KeyError, TypeError):
        return False
