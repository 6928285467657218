"""How much of the sky and sun each object really receives, once the others block some.

The open-sky shading model (shading.py) is right for a lone surface; in a popped-up room
or street the walls and panels hide part of the sky from the floor and from each other,
and Cycles renders those surfaces darker. Colours fitted with open-sky shading then come
out too dark. Here, for a few points on each visible face, rays go out over the
hemisphere (cosine-weighted) and towards the sun; a ray that hits another object brings
back that object's own radiance (its colour in the photo: one bounce) instead of sky.
What is blocked does not depend on the light's strength, so it is traced once and the
shading re-evaluated cheaply while the light level is being set. Deterministic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stages.vision.raycast import Primitive, RayHits, intersect
from stages.vision.shading import LightModel

N_POINTS = 12  # sample points per face orientation
N_DIRS = 32  # hemisphere directions per point


def _hemisphere(n: int = N_DIRS) -> np.ndarray:
    """Cosine-weighted directions about +z (Fibonacci spiral on the disc, lifted)."""
    i = np.arange(n) + 0.5
    r = np.sqrt(i / n)
    phi = math.pi * (3 - math.sqrt(5)) * i
    x, y = r * np.cos(phi), r * np.sin(phi)
    return np.stack([x, y, np.sqrt(np.maximum(0.0, 1 - x * x - y * y))], axis=1)


_HEMI = _hemisphere()


def _frame(n: np.ndarray) -> np.ndarray:
    """(3, 3) rotation whose third column is the unit normal n."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(n[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    t = np.cross(helper, n)
    t /= np.linalg.norm(t)
    return np.stack([t, np.cross(n, t), n], axis=1)


@dataclass
class FaceVisibility:
    normal: np.ndarray  # (3,) unit
    dirs: np.ndarray  # (D, 3) world directions
    hit: np.ndarray  # (P, D) index of the object each ray meets, -1: open sky
    sun_lit: float  # share of the sample points the sun reaches


@dataclass
class Visibility:
    """Per object, per visible face orientation (normal rounded to 0.01): what it sees."""

    faces: dict[int, dict[tuple[float, float, float], FaceVisibility]]

    def shading(self, index: int, light: LightModel, radiance: np.ndarray) -> dict[tuple[float, float, float], np.ndarray]:
        """White-surface shading (linear RGB) per face of object `index`; `radiance`
        (n_objects, 3) is what each object sends back when it blocks a ray."""
        out = {}
        for key, f in self.faces.get(index, {}).items():
            below = f.dirs[:, 2] < 0
            env = np.where(below[:, None], light.ground_radiance, light.sky(f.dirs))  # (D, 3)
            seen = np.where((f.hit >= 0)[..., None], radiance[np.maximum(f.hit, 0)], env[None])
            cos_sun = max(0.0, float(f.normal @ light.sun_dir))
            sun = light.sun_strength / math.pi * cos_sun * f.sun_lit * light.sun_color
            out[key] = seen.mean(axis=(0, 1)) + sun
        return out


def trace_visibility(prims: list[Primitive], hits: RayHits, view_dirs: np.ndarray, origin: np.ndarray,
                     sun_dir: np.ndarray) -> Visibility:
    """Trace hemisphere and sun rays from sample points on every visible face (all rays
    of all faces in one batch: the ray caster's cost is per primitive, not per ray)."""
    normals_all = np.round(hits.normal, 2)
    jobs = []  # (object index, key, normal, dirs, points)
    for index in range(len(prims)):
        mask = hits.index == index
        if not mask.any():
            continue
        normals = normals_all[mask]
        points = origin + view_dirs[mask] * hits.depth[mask][:, None]
        keys, counts = np.unique(normals, axis=0, return_counts=True)
        for key, count in zip(keys, counts):
            if count < 3 and len(keys) > 1:
                continue  # a sliver of a side face: not worth rays
            sel = np.flatnonzero(np.all(normals == key, axis=1))
            pick = sel[np.linspace(0, len(sel) - 1, min(N_POINTS, len(sel))).round().astype(int)]
            n = key / max(float(np.linalg.norm(key)), 1e-9)
            jobs.append((index, tuple(float(v) for v in key), n, _HEMI @ _frame(n).T, points[pick] + n * 2e-3))
    faces: dict[int, dict[tuple[float, float, float], FaceVisibility]] = {}
    if not jobs:
        return Visibility(faces)
    origins = np.concatenate([np.repeat(pts, len(dirs), axis=0) for *_, dirs, pts in jobs]
                             + [pts for *_, pts in jobs])
    dirs_all = np.concatenate([np.tile(dirs, (len(pts), 1)) for *_, dirs, pts in jobs]
                              + [np.broadcast_to(sun_dir, pts.shape) for *_, pts in jobs])
    hit_all = intersect(prims, origins, dirs_all).index
    at = 0
    hemi_hits = []
    for *_, dirs, pts in jobs:
        k = len(pts) * len(dirs)
        hemi_hits.append(hit_all[at:at + k].reshape(len(pts), len(dirs)))
        at += k
    for (index, key, n, dirs, pts), hit in zip(jobs, hemi_hits):
        shadow = hit_all[at:at + len(pts)] >= 0
        at += len(pts)
        lit = 1.0 - float(shadow.mean()) if float(n @ sun_dir) > 0 else 1.0
        faces.setdefault(index, {})[key] = FaceVisibility(n, dirs, hit, lit)
    return Visibility(faces)
