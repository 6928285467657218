"""What a Scene shows, per pixel, without Blender: its camera, its solids, depth and classes.

The camera and the solids are built exactly as the program's builders build them
(composition's shifts and turns applied on top of geometry's placement), then ray-cast
(raycast.py). The street benchmark takes ground-truth and reconstructed depth and label
maps from here; bench/street.py checks them against Blender's own object-ID pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scene_program.classes import BY_NAME
from scene_program.model import Scene
from stages.vision.camera import PinholeCamera
from stages.vision.raycast import Primitive, RayHits, cast

SKY_ID = BY_NAME["sky"].label_id


def scene_camera(scene: Scene, width: int, height: int) -> PinholeCamera:
    cam = scene.composition.camera
    x, y, z = cam.location
    return PinholeCamera(width, height, cam.focal_mm, cam.sensor_mm, cam.pitch_deg, z, cam.yaw_deg, cam.roll_deg,
                         x, y)


def scene_prims(scene: Scene) -> list[Primitive]:
    """Every object as a Primitive, with composition's adjustments applied."""
    adjust = scene.composition.objects
    out = []
    for o in scene.geometry.objects:
        loc, yaw = tuple(o.location), o.yaw_deg
        if o.name in adjust:
            a = adjust[o.name]
            loc = tuple(p + d for p, d in zip(loc, a.shift))
            yaw = yaw + a.turn_deg
        out.append(Primitive(o.name, o.shape, tuple(o.size), loc, yaw, o.semantic))
    return out


@dataclass
class SceneMaps:
    hits: RayHits
    prims: list[Primitive]
    camera: PinholeCamera
    depth: np.ndarray  # (H, W) z-depth along the optical axis in metres, inf where sky
    label: np.ndarray  # (H, W) Cityscapes label id (sky where no surface)

    def group_map(self) -> np.ndarray:
        """(H, W) array of group names ('sky', 'road', ..., 'other')."""
        from scene_program.classes import BY_ID

        groups = np.array([BY_ID[i].group if i in BY_ID else "other" for i in range(256)], dtype=object)
        return groups[self.label]


def scene_maps(scene: Scene, width: int, height: int) -> SceneMaps:
    """Depth and class of what each pixel of a (width x height) render of `scene` shows."""
    cam = scene_camera(scene, width, height)
    prims = scene_prims(scene)
    hits = cast(cam, prims)
    dirs = cam.grid_rays()
    depth = np.where(hits.index >= 0, hits.depth * (dirs @ cam.basis[2]), np.inf)
    ids = np.array([BY_NAME[p.semantic].label_id for p in prims] + [SKY_ID], dtype=np.int64)
    label = ids[np.where(hits.index >= 0, hits.index, len(prims))]
    return SceneMaps(hits, prims, cam, depth, label)
