"""How bright a diffuse surface renders under the program's sun and sky, without Blender.

With view transform Standard a rough diffuse surface renders (in linear light) as
albedo x shading(normal) + a little reflected light; a material colour fitted from the
photo must divide the photo's colour by that shading, or every object comes out too
dark or too bright. The constants below were measured once with Cycles (bpy 5.0.1,
Principled BSDF, 64-128 samples); `bench/vision_initial.py --calibrate` re-renders the
test scenes and prints them beside this model (agreement within about 5 %, 10-20 % for
the gloss of the sun at grazing angles):

- a white diffuse surface renders its shading E: under a uniform sky of radiance L,
  a horizontal one renders L (theory: L); under a sun of strength S at elevation e,
  S sin(e) / pi;
- the Principled BSDF's specular layer takes a share g of that light and returns it
  white: a surface of albedo a renders E (a (1 - g) + g). Measured on a horizontal plane
  (roughness 1, albedo 0 and 0.5, 128 samples) g = 0.0146 seen face-on rising to 0.039
  at 75 degrees from the normal: g = GLOSS_FACING + GLOSS_GRAZING (1 - cos)^2, times
  1 + 2.5 (1 - roughness) (roughness 0.95: x1.12, 0.8: x1.5).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

GLOSS_FACING = 0.0146
GLOSS_GRAZING = 0.0435
GLOSS_ROUGHNESS = 2.5
_N_DIRS = 1024


def _sphere_dirs(n: int = _N_DIRS) -> np.ndarray:
    """Evenly spread unit vectors (Fibonacci sphere): a fixed quadrature, deterministic."""
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    r = np.sqrt(1 - z * z)
    phi = math.pi * (3 - math.sqrt(5)) * i
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


_DIRS = _sphere_dirs()


@dataclass
class LightModel:
    """The lighting section's numbers in linear light."""

    horizon: np.ndarray  # sky colour at the horizon (linear, before strength)
    zenith: np.ndarray
    strength: float
    sun_dir: np.ndarray  # unit vector towards the sun
    sun_strength: float
    sun_color: np.ndarray  # linear (builders passes it to the lamp unconverted)
    ground_radiance: np.ndarray  # what surfaces see below the horizon (the lit ground)

    def sky(self, dirs: np.ndarray) -> np.ndarray:
        """Radiance of the world gradient along `dirs` (the ramp: horizon at z = 0, zenith at z = 1)."""
        z = np.clip(dirs[..., 2:3], 0.0, 1.0)
        return self.strength * (self.horizon + z * (self.zenith - self.horizon))


def sun_direction(elevation_deg: float, azimuth_deg: float) -> np.ndarray:
    """Unit vector towards the sun for builders' lamp rotation (90 - elevation, 0, azimuth):
    the lamp shines along (-sin az cos el, cos az cos el, -sin el), so azimuth 0 is behind the camera."""
    e, a = math.radians(elevation_deg), math.radians(azimuth_deg)
    return np.array([math.sin(a) * math.cos(e), -math.cos(a) * math.cos(e), math.sin(e)])


def shading(normals: np.ndarray, light: LightModel) -> np.ndarray:
    """(..., 3) linear radiance of a white diffuse surface with these normals."""
    n = np.asarray(normals, dtype=np.float64)
    flat = n.reshape(-1, 3)
    uniq, inverse = np.unique(np.round(flat, 3), axis=0, return_inverse=True)
    cos = np.clip(uniq @ _DIRS.T, 0.0, None)  # (u, N)
    below = _DIRS[:, 2] < 0
    env = np.where(below[:, None], light.ground_radiance[None, :], light.sky(_DIRS))  # (N, 3)
    ambient = 4.0 / len(_DIRS) * cos @ env
    sun = light.sun_strength / math.pi * np.clip(uniq @ light.sun_dir, 0.0, None)[:, None] * light.sun_color
    out = ambient + sun
    return out[inverse.ravel()].reshape(n.shape)


def gloss_fraction(normals: np.ndarray, view_dirs: np.ndarray, roughness: float = 1.0) -> np.ndarray:
    """(..., 1) share g of the light the specular layer reflects (module docstring)."""
    cos = np.abs((np.asarray(normals) * np.asarray(view_dirs)).sum(-1, keepdims=True))
    return (GLOSS_FACING + GLOSS_GRAZING * (1 - cos) ** 2) * (1.0 + GLOSS_ROUGHNESS * (1.0 - roughness))


def rendered(albedo: np.ndarray, shade: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Linear radiance of a surface: shading x (albedo (1 - g) + g)."""
    return shade * (albedo * (1 - g) + g)


def albedo_for(target: np.ndarray, shade: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Least-squares albedo (3,) so that rendered(albedo, shade, g) matches target (N, 3)."""
    x = shade * (1 - g)
    return ((target - shade * g) * x).sum(0) / np.maximum((x * x).sum(0), 1e-12)
