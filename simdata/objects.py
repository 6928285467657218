"""objects.json: one entry per object, with its boxes in 3D and in the image.

- `box3d`: an upright box in world coordinates (metres, +Z up): `centre` (the box's
  middle, not its base), `size` (extent along the box's own x, y, z), `yaw_deg` (rotation
  about +Z, the object's own heading). It encloses the object's bounds as placed, so a
  tilted object still gets an upright box around it.
- `visible_pixels` and `box2d` ([u_min, v_min, u_max, v_max], inclusive, OpenCV pixel
  coordinates) from instance.png: what the camera actually sees (null when unseen).
- `box2d_amodal`: the projected 3D box, clipped to the image (null when behind the
  camera or outside it); `truncated`: some of the 3D box projects outside the image.
"""
from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel

from simdata.camera import CameraJson, project
from simdata.facts import ObjectFacts
from simdata.segmentation import class_of
from scene_program.classes import BY_NAME


class Box3D(BaseModel):
    centre: list[float]
    size: list[float]
    yaw_deg: float


class ObjectEntry(BaseModel):
    name: str
    instance_id: int
    class_: str
    label_id: int
    box3d: Box3D
    visible_pixels: int
    box2d: list[int] | None
    box2d_amodal: list[float] | None
    truncated: bool

    def as_json(self) -> dict:
        out = self.model_dump()
        out["class"] = out.pop("class_")
        return out


def corners(obj: ObjectFacts) -> np.ndarray:
    """The 8 corners of the object's local bounds, in world coordinates."""
    lo, hi = obj.bbox_min, obj.bbox_max
    local = np.array([[x, y, z, 1.0] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    return (np.asarray(obj.matrix_world).reshape(4, 4) @ local.T).T[:, :3]


def box3d(obj: ObjectFacts) -> Box3D:
    m = np.asarray(obj.matrix_world).reshape(4, 4)
    yaw = math.atan2(m[1, 0], m[0, 0]) if abs(m[0, 0]) + abs(m[1, 0]) > 1e-9 else 0.0
    c, s = math.cos(yaw), math.sin(yaw)
    to_box = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])  # world -> the box's own axes
    pts = corners(obj) @ to_box.T
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre = to_box.T @ ((lo + hi) / 2)
    return Box3D(centre=[round(float(v), 6) for v in centre], size=[round(float(v), 6) for v in hi - lo],
                 yaw_deg=round(math.degrees(yaw), 6))


def visible_boxes(instance: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per id 0..n: pixel count, and [u_min, v_min, u_max, v_max] (-1 where unseen)."""
    h, w = instance.shape
    ids = instance.ravel().astype(np.int64)
    counts = np.bincount(ids, minlength=n + 1)[: n + 1]
    vv, uu = np.divmod(np.arange(ids.size), w)
    boxes = np.full((n + 1, 4), -1, dtype=np.int64)
    lo_u = np.full(n + 1, w, dtype=np.int64)
    lo_v = np.full(n + 1, h, dtype=np.int64)
    hi_u = np.full(n + 1, -1, dtype=np.int64)
    hi_v = np.full(n + 1, -1, dtype=np.int64)
    np.minimum.at(lo_u, ids, uu)
    np.minimum.at(lo_v, ids, vv)
    np.maximum.at(hi_u, ids, uu)
    np.maximum.at(hi_v, ids, vv)
    seen = counts > 0
    boxes[seen] = np.stack([lo_u, lo_v, hi_u, hi_v], axis=1)[seen]
    return counts, boxes


def amodal_box(obj: ObjectFacts, camera: CameraJson) -> tuple[list[float] | None, bool]:
    uv, z = project(camera, corners(obj))
    w, h = camera.width, camera.height
    if np.any(z <= 1e-6):  # partly behind the camera: project the part in front is not exact; clip to the image
        return ([0.0, 0.0, float(w - 1), float(h - 1)] if np.any(z > 0) else None), True
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    truncated = bool(lo[0] < -0.5 or lo[1] < -0.5 or hi[0] > w - 0.5 or hi[1] > h - 0.5)
    box = [max(lo[0], 0.0), max(lo[1], 0.0), min(hi[0], w - 1.0), min(hi[1], h - 1.0)]
    if box[0] > box[2] or box[1] > box[3]:
        return None, True
    return [round(float(v), 3) for v in box], truncated


def entries(objects: list[ObjectFacts], instance: np.ndarray, camera: CameraJson) -> list[ObjectEntry]:
    counts, boxes = visible_boxes(instance, len(objects))
    out = []
    for obj in sorted(objects, key=lambda o: o.instance_id):
        cls = class_of(obj.semantic)
        seen = int(counts[obj.instance_id])
        amodal, truncated = amodal_box(obj, camera)
        out.append(ObjectEntry(
            name=obj.name, instance_id=obj.instance_id, class_=cls, label_id=BY_NAME[cls].label_id, box3d=box3d(obj),
            visible_pixels=seen, box2d=[int(v) for v in boxes[obj.instance_id]] if seen else None,
            box2d_amodal=amodal, truncated=truncated))
    return out
