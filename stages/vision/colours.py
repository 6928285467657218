"""Material numbers per object from the photo pixels it will cover in the render.

The ray caster says which pixels each object will show on; their linear colours, divided
by the shading that object's faces receive (shading.py), give its albedo by least squares
(a box's top and front are lit differently but share one colour). The texture of those
pixels sets the procedural noise, kept mild: noise is never aligned with the photo's own
texture, so strong noise costs PSNR, and the tuner can raise it. Small bright specks on an
otherwise darker surface suggest gloss, which lowers roughness.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scene_program.model import Surface
from stages.vision.image import PhotoArrays, linear_to_srgb, srgb_to_linear
from stages.vision.raycast import RayHits
from stages.vision.shading import LightModel, albedo_for, gloss_fraction, shading

MAX_ALBEDO = 0.92  # albedos above this do not exist in nature; the light must be stronger


@dataclass
class ObjectStats:
    pixels: int
    target: np.ndarray  # mean linear photo colour over the object's visible pixels
    albedo: np.ndarray  # unclipped least-squares albedo (linear)
    rel_std: float  # lightness spread within the object (texture + shading)
    speck: float  # share of pixels much brighter than the object's typical pixel
    roughness: float


def object_stats(pa: PhotoArrays, hits: RayHits, light: LightModel, view_dirs: np.ndarray,
                 index: int, face_shading: dict[tuple[float, float, float], np.ndarray] | None = None
                 ) -> ObjectStats | None:
    """Albedo, roughness and texture of object `index` from the photo pixels it will cover.

    The target is the photo's mean colour *in sRGB* (scores compare sRGB, and a flat
    colour minimising the error there is the sRGB mean, darker than the linear mean of a
    textured region), taken back to linear light. `face_shading` (from occlusion.py) gives
    the shading per face orientation with occlusion; faces it lacks use the open-sky model."""
    mask = hits.index == index
    n = int(mask.sum())
    if n == 0:
        return None
    target = pa.linear[mask]
    lum = target.mean(-1)
    med = max(float(np.median(lum)), 1e-4)
    speck = float((lum > 2.5 * med).mean())
    lab_l = pa.lab[..., 0][mask]
    rel_std = float(np.std(lab_l) / max(np.mean(lab_l), 1.0))
    # a smooth surface with a few bright specks is glossy; a textured one is just textured
    roughness = float(np.clip(0.95 - 3.0 * speck * max(0.0, 1.0 - 3.0 * rel_std), 0.6, 0.95))
    normals = hits.normal[mask]
    e = np.maximum(face_shades(normals, light, face_shading), 1e-4)
    albedo = albedo_for(target, e, gloss_fraction(normals, view_dirs[mask], roughness))
    srgb_mean = srgb_to_linear(pa.srgb[mask].mean(0))
    albedo = albedo * srgb_mean / np.maximum(target.mean(0), 1e-6)
    return ObjectStats(pixels=n, target=srgb_mean, albedo=np.clip(albedo, 0.0, None), rel_std=rel_std,
                       speck=speck, roughness=roughness)


def face_shades(normals: np.ndarray, light: LightModel,
                face_shading: dict[tuple[float, float, float], np.ndarray] | None) -> np.ndarray:
    """(N, 3) shading per pixel normal: the traced value for its face, else open sky."""
    e = shading(normals, light)
    if face_shading:
        keys = np.round(normals, 2)
        for key, value in face_shading.items():
            e[np.all(keys == np.array(key), axis=1)] = value
    return e


# Texture per class: (features per metre, most strength). Kept mild: noise is never aligned
# with the photo's own texture, so strong noise costs PSNR; the materials stage can raise it.
TEXTURE = {"road": (4.0, 0.08), "sidewalk": (2.0, 0.06), "terrain": (1.5, 0.15), "building": (1.0, 0.08),
           "wall": (1.0, 0.08), "vegetation": (2.0, 0.25)}


def surface(stats: ObjectStats, size_px: float, semantic: str = "other") -> Surface:
    """A Surface from measured stats: sRGB colour, roughness, and a procedural texture as
    strong as the object's measured contrast allows (TEXTURE's scale and ceiling per class)."""
    colour = linear_to_srgb(np.clip(stats.albedo, 0.0, 1.0))
    scale, ceiling = TEXTURE.get(semantic, (2.0, 0.05))
    noise = float(np.clip(0.5 * stats.rel_std, 0.0, ceiling))
    return Surface(color=tuple(round(float(c), 4) for c in colour), roughness=round(stats.roughness, 3),
                   metallic=0.0, noise_scale=scale, noise_strength=round(noise, 3))
