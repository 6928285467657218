"""A tiny numpy ray caster for the shapes programs use (plane, box, cylinder, cone, sphere).

It answers, without Blender, what the render will show on each pixel: which object,
at what depth, with which surface normal. The colour step needs that to measure each
object's colour where it will actually be visible (after occlusion), and tests use it
to check that objects stand where the photo has them, and the street benchmark gets its
depth and label maps from it (checked against Blender's own object-ID pass). Objects may be
rotated about z only, which is all the contract allows (`yaw_deg`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stages.vision.camera import PinholeCamera


@dataclass(frozen=True)
class Primitive:
    """One object as builders.py makes it: origin at the centre of the base."""

    name: str
    shape: str  # box / cylinder / cone / sphere / plane
    size: tuple[float, float, float]
    location: tuple[float, float, float]
    yaw_deg: float = 0.0
    semantic: str = "other"  # the object's class (scene_program.classes)


@dataclass
class RayHits:
    index: np.ndarray  # (H, W) primitive index, -1 where the ray sees the sky
    depth: np.ndarray  # (H, W) distance along the ray, inf for sky
    normal: np.ndarray  # (H, W, 3) world-space surface normal (zero for sky)


def _to_local(p: Primitive, origin: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Origins (3,) or (..., 3) and directions (..., 3) in the primitive's frame. Origins
    come back with the coordinate axis first (3, ...) so o[0], o[1], o[2] broadcast."""
    a = math.radians(p.yaw_deg)
    c, s = math.cos(a), math.sin(a)
    rot = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])  # world -> local
    o = (np.asarray(origin, dtype=np.float64) - np.asarray(p.location)) @ rot.T
    return np.moveaxis(o, -1, 0), dirs @ rot.T, c, s


def _box(o: np.ndarray, d: np.ndarray, half: np.ndarray, zmax: float) -> tuple[np.ndarray, np.ndarray]:
    o = np.moveaxis(o, 0, -1)
    lo = np.array([-half[0], -half[1], 0.0])
    hi = np.array([half[0], half[1], zmax])
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / np.where(np.abs(d) < 1e-12, 1e-12, d)
        t1 = (lo - o) * inv
        t2 = (hi - o) * inv
    tmin = np.minimum(t1, t2)
    tmax = np.maximum(t1, t2)
    t_near = tmin.max(-1)
    t_far = tmax.min(-1)
    axis = tmin.argmax(-1)
    hit = (t_far >= t_near) & (t_near > 1e-6)
    n = np.zeros(d.shape)
    sign = -np.sign(np.take_along_axis(d, axis[..., None], -1))[..., 0]
    np.put_along_axis(n, axis[..., None], sign[..., None], -1)
    return np.where(hit, t_near, np.inf), n


def _plane(o: np.ndarray, d: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -o[2] / np.where(np.abs(d[..., 2]) < 1e-12, 1e-12, d[..., 2])
    px, py = o[0] + t * d[..., 0], o[1] + t * d[..., 1]
    hit = (t > 1e-6) & (np.abs(px) <= half[0]) & (np.abs(py) <= half[1])
    n = np.zeros(d.shape)
    n[..., 2] = np.where(o[2] >= 0, 1.0, -1.0)
    return np.where(hit, t, np.inf), n


def _cylinder(o: np.ndarray, d: np.ndarray, half: np.ndarray, zmax: float) -> tuple[np.ndarray, np.ndarray]:
    # scale x, y so the ellipse is a unit circle
    o2 = np.moveaxis(o[:2], 0, -1)
    oq = o2 / half[:2]
    dq = d[..., :2] / half[:2]
    a = (dq**2).sum(-1)
    b = 2 * (dq * oq).sum(-1)
    c = (oq**2).sum(-1) - 1.0
    disc = b * b - 4 * a * c
    ok = (disc >= 0) & (a > 1e-12)
    sq = np.sqrt(np.maximum(disc, 0))
    t_side = np.where(ok, (-b - sq) / np.maximum(2 * a, 1e-12), np.inf)
    with np.errstate(invalid="ignore"):
        z_side = o[2] + t_side * d[..., 2]
    side = ok & (t_side > 1e-6) & (z_side >= 0) & (z_side <= zmax)
    t_side = np.where(side, t_side, np.inf)
    best, n = t_side, np.zeros(d.shape)
    with np.errstate(invalid="ignore"):
        px = o2 + np.where(side, t_side, 0.0)[..., None] * d[..., :2]
    n[..., :2] = np.where(side[..., None], px / half[:2] ** 2, 0.0)
    for zc, nz in ((zmax, 1.0), (0.0, -1.0)):
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (zc - o[2]) / np.where(np.abs(d[..., 2]) < 1e-12, 1e-12, d[..., 2])
        q = (o2 + t[..., None] * d[..., :2]) / half[:2]
        cap = (t > 1e-6) & ((q**2).sum(-1) <= 1.0) & (t < best)
        best = np.where(cap, t, best)
        n = np.where(cap[..., None], np.array([0.0, 0.0, nz]), n)
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    return best, np.where(norm > 0, n / np.maximum(norm, 1e-12), n)


def _cone(o: np.ndarray, d: np.ndarray, half: np.ndarray, zmax: float) -> tuple[np.ndarray, np.ndarray]:
    """A cone standing on z = 0 (radius half[:2] at the base, a point at zmax), base capped."""
    o2 = np.moveaxis(o[:2], 0, -1) / half[:2]
    d2 = d[..., :2] / half[:2]
    # |o2 + t d2|^2 = (1 - (oz + t dz) / zmax)^2
    s0 = 1.0 - o[2] / zmax
    s1 = -d[..., 2] / zmax
    a = (d2**2).sum(-1) - s1**2
    b = 2 * ((o2 * d2).sum(-1) - s0 * s1)
    c = (o2**2).sum(-1) - s0**2
    best = np.full(d.shape[:-1], np.inf)
    n = np.zeros(d.shape)
    disc = b * b - 4 * a * c
    sq = np.sqrt(np.maximum(disc, 0.0))
    safe_a = np.where(np.abs(a) < 1e-12, 1e-12, a)
    for sign in (-1.0, 1.0):
        with np.errstate(invalid="ignore", divide="ignore"):
            t = (-b + sign * sq) / (2 * safe_a)
            z = o[2] + t * d[..., 2]
        ok = (disc >= 0) & (t > 1e-6) & (z >= 0) & (z <= zmax) & (t < best)
        best = np.where(ok, t, best)
        p = o2 + np.where(ok, t, 0.0)[..., None] * d2
        radial = p / half[:2]
        nz = np.linalg.norm(p, axis=-1) / zmax
        side_n = np.concatenate([radial, nz[..., None]], axis=-1)
        n = np.where(ok[..., None], side_n, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -o[2] / np.where(np.abs(d[..., 2]) < 1e-12, 1e-12, d[..., 2])
    q = o2 + t[..., None] * d2
    cap = (t > 1e-6) & ((q**2).sum(-1) <= 1.0) & (t < best)
    best = np.where(cap, t, best)
    n = np.where(cap[..., None], np.array([0.0, 0.0, -1.0]), n)
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    return best, np.where(norm > 0, n / np.maximum(norm, 1e-12), n)


def _sphere(o: np.ndarray, d: np.ndarray, half: np.ndarray, zmax: float) -> tuple[np.ndarray, np.ndarray]:
    radii = np.array([half[0], half[1], zmax / 2])
    oq = (np.moveaxis(o, 0, -1) - np.array([0.0, 0.0, zmax / 2])) / radii
    dq = d / radii
    a = (dq**2).sum(-1)
    b = 2 * (dq * oq).sum(-1)
    c = (oq**2).sum(-1) - 1.0
    disc = b * b - 4 * a * c
    t = np.where(disc >= 0, (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a), np.inf)
    t = np.where(t > 1e-6, t, np.inf)
    p = oq + np.where(np.isfinite(t), t, 0.0)[..., None] * dq
    n = p / radii
    n = n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    return t, np.where(np.isfinite(t)[..., None], n, 0.0)


def intersect(prims: list[Primitive], origins: np.ndarray, dirs: np.ndarray) -> RayHits:
    """Nearest hit for rays from `origins` ((3,) or like `dirs`) along unit `dirs` (..., 3)."""
    shape = dirs.shape[:-1]
    best = np.full(shape, np.inf)
    index = np.full(shape, -1, dtype=np.int64)
    normal = np.zeros(shape + (3,))
    for i, p in enumerate(prims):
        o, d, c, s = _to_local(p, origins, dirs)
        half = np.array(p.size) / 2
        if p.shape == "plane":
            t, n = _plane(o, d, half)
        elif p.shape == "box":
            t, n = _box(o, d, half, p.size[2])
        elif p.shape == "sphere":
            t, n = _sphere(o, d, half, p.size[2])
        elif p.shape == "cone":
            t, n = _cone(o, d, half, p.size[2])
        else:
            t, n = _cylinder(o, d, half, p.size[2])
        closer = t < best
        best = np.where(closer, t, best)
        index = np.where(closer, i, index)
        world_n = np.stack([c * n[..., 0] - s * n[..., 1], s * n[..., 0] + c * n[..., 1], n[..., 2]], -1)
        normal = np.where(closer[..., None], world_n, normal)
    return RayHits(index=index, depth=best, normal=normal)


def _corners(p: Primitive) -> np.ndarray:
    """The 8 corners of a primitive's bounding box in world coordinates."""
    hx, hy = p.size[0] / 2, p.size[1] / 2
    z0, z1 = (0.0, 0.0) if p.shape == "plane" else (0.0, p.size[2])
    a = math.radians(p.yaw_deg)
    c, s = math.cos(a), math.sin(a)
    pts = np.array([[x, y, z] for x in (-hx, hx) for y in (-hy, hy) for z in (z0, z1)])
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return pts @ rot.T + np.asarray(p.location)


def footprint(camera: PinholeCamera, p: Primitive) -> tuple[int, int, int, int] | None:
    """Pixel rectangle (r0, r1, c0, c1) that contains a primitive's image, the whole grid when
    it reaches behind the camera, None when it is out of view."""
    col, row, front = camera.project(_corners(p))
    if not front.all():
        return 0, camera.height, 0, camera.width
    r0, r1 = int(max(0, math.floor(row.min()) - 1)), int(min(camera.height, math.ceil(row.max()) + 2))
    c0, c1 = int(max(0, math.floor(col.min()) - 1)), int(min(camera.width, math.ceil(col.max()) + 2))
    if r0 >= r1 or c0 >= c1:
        return None
    return r0, r1, c0, c1


def cast(camera: PinholeCamera, prims: list[Primitive],
         region: tuple[int, int, int, int] | None = None) -> RayHits:
    """Nearest hit per pixel of `camera`'s grid (or of its rectangle `region` = (r0, r1, c0,
    c1): the maps are still full size, the rest left empty). Each primitive is intersected
    only with the rays of its projected bounding rectangle (the same answer as `intersect`,
    much faster)."""
    dirs = camera.grid_rays()
    h, w = camera.height, camera.width
    best = np.full((h, w), np.inf)
    index = np.full((h, w), -1, dtype=np.int64)
    normal = np.zeros((h, w, 3))
    for i, p in enumerate(prims):
        box = footprint(camera, p)
        if box is None:
            continue
        if region is not None:
            box = (max(box[0], region[0]), min(box[1], region[1]), max(box[2], region[2]), min(box[3], region[3]))
            if box[0] >= box[1] or box[2] >= box[3]:
                continue
        r0, r1, c0, c1 = box
        sub = intersect([p], camera.origin, dirs[r0:r1, c0:c1])
        closer = sub.depth < best[r0:r1, c0:c1]
        best[r0:r1, c0:c1] = np.where(closer, sub.depth, best[r0:r1, c0:c1])
        index[r0:r1, c0:c1] = np.where(closer, i, index[r0:r1, c0:c1])
        normal[r0:r1, c0:c1] = np.where(closer[..., None], sub.normal, normal[r0:r1, c0:c1])
    return RayHits(index=index, depth=best, normal=normal)
