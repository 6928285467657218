"""Predict, in numpy, how a render changes when a program's numbers change: the offline
tuner's pre-screen, so that each round renders only its most promising candidates.

The current render is known. For a candidate scene, ray casting says which object each
pixel now shows. A pixel that shows the same object keeps its rendered colour; one that
now shows another object takes that object's mean rendered colour (a new object: its
class's, which is what builders.build_materials gives it); one that now shows the sky
takes the sky's rendered colour on that row. For a lighting change, each pixel's colour
is scaled by the ratio of its new to old shading (sun, sky and the shadows the solids
cast, traced towards the sun). The prediction is scored like a render (PSNR against the
photo) on a half-size grid.
"""
from __future__ import annotations

import math

import numpy as np

from scene_program.model import Lighting, Scene
from stages.scoring import psnr_from_mse
from stages.vision.image import linear_to_srgb, srgb_to_linear
from stages.vision.raycast import RayHits, cast, footprint, intersect
from stages.vision.scene3d import scene_camera, scene_prims
from stages.vision.shading import LightModel, shading, sun_direction


def _half(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
    a = a[:h, :w]
    return 0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2])


def light_model(lighting: Lighting) -> LightModel:
    sky = lighting.sky
    sun = lighting.sun
    return LightModel(horizon=srgb_to_linear(np.array(sky.horizon)), zenith=srgb_to_linear(np.array(sky.zenith)),
                      strength=sky.strength, sun_dir=sun_direction(sun.elevation_deg, sun.azimuth_deg),
                      sun_strength=sun.strength, sun_color=np.array(sun.color),
                      ground_radiance=srgb_to_linear(np.array(sky.ground)) * sky.strength)


class Predictor:
    """Built once per round from the best program's scene and render (module docstring)."""

    def __init__(self, scene: Scene, photo: np.ndarray, render: np.ndarray):
        self.photo = _half(photo)
        self.render = _half(render)
        self.h, self.w = self.photo.shape[:2]
        self.scene = scene
        self.camera = scene_camera(scene, self.w, self.h)
        self.prims = scene_prims(scene)
        self.hits = cast(self.camera, self.prims)
        self.names = np.array([p.name for p in self.prims] + [""], dtype=object)
        idx = self.hits.index
        self.object_colour: dict[str, np.ndarray] = {}
        by_class: dict[str, list[np.ndarray]] = {}
        for i, p in enumerate(self.prims):
            m = idx == i
            if m.sum() >= 2:
                c = self.render[m].mean(0)
                self.object_colour[p.name] = c
                by_class.setdefault(p.semantic, []).append(c)
        self.class_colour = {k: np.mean(v, 0) for k, v in by_class.items()}
        sky = idx < 0
        rows = np.zeros((self.h, 3))
        have = sky.any(1)
        fallback = self.photo.mean(1)
        for r in range(self.h):
            rows[r] = self.render[r][sky[r]].mean(0) if have[r] else fallback[r]
        self.sky_rows = rows
        self.base_psnr = self.score(self.render)
        self._lit: dict = {}

    def score(self, image: np.ndarray) -> float:
        return psnr_from_mse(float(np.mean((image - self.photo) ** 2)))

    def _changed_region(self, cam, prims) -> tuple[int, int, int, int] | None:
        """The pixel rectangle a scene change can touch: the footprints, before and after, of
        the objects that differ (the whole grid when the camera moved); None: nothing changed."""
        if cam != self.camera:
            return 0, self.h, 0, self.w
        old = {p.name: p for p in self.prims}
        new = {p.name: p for p in prims}
        boxes = []
        for name in set(old) | set(new):
            if old.get(name) != new.get(name):
                for p in (old.get(name), new.get(name)):
                    if p is not None:
                        b = footprint(cam, p)
                        if b is not None:
                            boxes.append(b)
        if not boxes:
            return None
        return min(b[0] for b in boxes), max(b[1] for b in boxes), min(b[2] for b in boxes), max(b[3] for b in boxes)

    def predict_geometry(self, scene: Scene) -> np.ndarray:
        cam = scene_camera(scene, self.w, self.h)
        prims = scene_prims(scene)
        region = self._changed_region(cam, prims)
        if region is None:
            return self.render.copy()
        r0, r1, c0, c1 = region
        idx = self.hits.index.copy()
        idx_new = cast(cam, prims, region).index
        names = np.array([p.name for p in prims] + [""], dtype=object)
        new_names = self.names[np.where(idx >= 0, idx, len(self.prims))].copy()
        sub = idx_new[r0:r1, c0:c1]
        new_names[r0:r1, c0:c1] = names[np.where(sub >= 0, sub, len(prims))]
        old_names = self.names[np.where(self.hits.index >= 0, self.hits.index, len(self.prims))]
        out = self.render.copy()
        changed = new_names != old_names
        if not changed.any():
            return out
        classes = {p.name: p.semantic for p in prims}
        for name in np.unique(new_names[changed]):
            m = changed & (new_names == name)
            if name == "":
                out[m] = self.sky_rows[np.nonzero(m)[0]]
                continue
            colour = self.colour_of(name, classes.get(name, ""))
            if colour is None:
                colour = self.photo[m].mean(0)
            out[m] = colour
        return out

    def colour_of(self, name: str, cls: str) -> np.ndarray | None:
        """The colour a (possibly new) object renders with: its own, else the one whose name
        its name extends, else one of its class named alike, else its class's (the order of
        builders.build_materials)."""
        if name in self.object_colour:
            return self.object_colour[name]
        base = name
        while "_" in base:
            base = base.rsplit("_", 1)[0]
            if base in self.object_colour:
                return self.object_colour[base]
        last = name.rsplit("_", 1)[-1]
        classes = {p.name: p.semantic for p in self.prims}
        for other, colour in self.object_colour.items():
            if other.rsplit("_", 1)[-1] == last and classes.get(other) == cls:
                return colour
        return self.class_colour.get(cls)

    def geometry_score(self, scene: Scene) -> float:
        return self.score(self.predict_geometry(scene))

    def predict_lighting(self, old: Lighting, new: Lighting) -> np.ndarray:
        """The render relit: surfaces by the ratio of new to old shading (sun shadows traced),
        the sky by the ratio of the new to old gradient along each pixel's ray."""
        cam, hits = self.camera, self.hits
        dirs = cam.grid_rays()
        solid = hits.index >= 0
        out = self.render.copy()
        lin = srgb_to_linear(self.render)
        lo, ln = light_model(old), light_model(new)
        if solid.any():
            n = hits.normal[solid]
            pts = cam.origin + dirs[solid] * hits.depth[solid][:, None] + n * 2e-3
            e_old = self._shade(n, pts, lo)
            e_new = self._shade(n, pts, ln)
            lin[solid] = lin[solid] * e_new / np.maximum(e_old, 1e-5)
        sky = ~solid
        if sky.any():
            lin[sky] = lin[sky] * ln.sky(dirs[sky]) / np.maximum(lo.sky(dirs[sky]), 1e-5)
        out = linear_to_srgb(lin * 2.0 ** (new.exposure - old.exposure))
        return out

    def _shade(self, normals: np.ndarray, points: np.ndarray, light: LightModel) -> np.ndarray:
        no_sun = LightModel(light.horizon, light.zenith, light.strength, light.sun_dir, 0.0, light.sun_color,
                            light.ground_radiance)
        ambient = shading(normals, no_sun)
        cos = np.clip(normals @ light.sun_dir, 0.0, None)
        key = tuple(np.round(light.sun_dir, 6))
        if key not in self._lit:  # shadows depend on the sun's direction only: traced once each
            lit = cos > 0
            if lit.any():
                blocked = intersect(self.prims, points[lit], np.broadcast_to(light.sun_dir, (int(lit.sum()), 3))).index >= 0
                idx = np.flatnonzero(lit)
                lit[idx[blocked]] = False
            self._lit[key] = lit
        lit = self._lit[key]
        sun = light.sun_strength / math.pi * (cos * lit)[:, None] * light.sun_color
        return ambient + sun


__all__ = ["Predictor", "RayHits", "light_model"]
