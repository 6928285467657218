"""Typed scene parameters: the numbers each section keeps in its dict (docs/contracts.md).

The program is the artifact; these models are how seig's own code builds and checks
the dicts before writing them. Units: metres, degrees, sRGB colours in [0, 1]; the world
is Z-up, the street runs along +Y from the camera. Object origins sit at the centre of
their base, so z = 0 stands an object on the ground.

Who owns what: geometry says which objects exist, of which class, their shape, size and
where each stands (a new object must appear where it belongs, so placement starts in
geometry); composition owns the camera and fine adjustments of placement (a shift and a
turn per object, applied on top of geometry's location and yaw).
"""
from __future__ import annotations

from typing import Literal

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator

from scene_program.classes import ClassName

Shape = Literal["box", "cylinder", "cone", "sphere", "plane"]
RGB = tuple[float, float, float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Vec3 = tuple[float, float, float]


class ObjectShape(_Strict):
    """One object: what it is (`class`, a Cityscapes label), its solid, its size and where
    its base stands. In the program's dict the class key is `class` (a Python keyword,
    hence the `semantic` attribute here); Blender gets it as the custom property `semantic`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    semantic: ClassName = Field(alias="class")
    shape: Shape
    size: Vec3
    location: Vec3 = (0.0, 0.0, 0.0)
    yaw_deg: float = 0.0

    @field_validator("size")
    @classmethod
    def _positive(cls, v: Vec3) -> Vec3:
        if min(v) <= 0 or not all(map(math.isfinite, v)):
            raise ValueError(f"sizes must be positive and finite, got {v}")
        return v


class Geometry(_Strict):
    objects: list[ObjectShape]


Pattern = Literal["plain", "noise", "brick", "foliage"]


class Surface(_Strict):
    """A procedural material: a colour whose brightness a pattern varies by +-noise_strength
    (noise: plaster, asphalt, bark; brick: courses on walls; foliage: leaf clumps), with
    noise_scale features per metre in world space (for brick: bricks per metre along a course)."""

    color: RGB
    roughness: float = Field(0.7, ge=0, le=1)
    metallic: float = Field(0.0, ge=0, le=1)
    noise_scale: float = Field(4.0, gt=0, le=1000)
    noise_strength: float = Field(0.0, ge=0, le=1)
    pattern: Pattern = "noise"


class Adjustment(_Strict):
    """Composition's fine placement of one object, on top of geometry's location and yaw."""

    shift: Vec3 = (0.0, 0.0, 0.0)
    turn_deg: float = 0.0


class Camera(_Strict):
    location: tuple[float, float, float] = (0.0, 0.0, 1.6)
    pitch_deg: float = Field(0.0, ge=-89, le=89)
    yaw_deg: float = 0.0
    roll_deg: float = 0.0
    focal_mm: float = Field(28.0, gt=1, le=500)
    sensor_mm: float = Field(36.0, gt=1)


class Composition(_Strict):
    camera: Camera = Camera()
    objects: dict[str, Adjustment] = {}


class Sun(_Strict):
    elevation_deg: float = Field(45.0, ge=-10, le=90)
    azimuth_deg: float = 30.0
    strength: float = Field(3.0, ge=0)
    color: RGB = (1.0, 0.97, 0.92)
    angle_deg: float = Field(1.0, ge=0, le=90)


class Sky(_Strict):
    zenith: RGB = (0.35, 0.5, 0.8)
    horizon: RGB = (0.75, 0.8, 0.88)
    ground: RGB = (0.3, 0.28, 0.25)
    strength: float = Field(1.0, ge=0)


class Fog(_Strict):
    """Haze seen by the camera (Koschmieder's law): density per metre (visibility about
    3 / density metres), the colour distant things fade to, the height of the hazy layer."""

    density: float = Field(0.0, ge=0, le=1)
    color: RGB = (0.75, 0.77, 0.8)
    height_m: float = Field(100.0, gt=0, le=10_000)


class Lighting(_Strict):
    sun: Sun = Sun()
    sky: Sky = Sky()
    exposure: float = Field(0.0, ge=-10, le=10)
    fog: Fog | None = None  # optional: absent (or density 0) means clear air


class Render(_Strict):
    width: int = Field(256, ge=8, le=8192)
    height: int = Field(192, ge=8, le=8192)
    samples: int = Field(16, ge=1, le=4096)
    seed: int = 0
    engine: Literal["CYCLES", "BLENDER_WORKBENCH", "BLENDER_EEVEE"] = "CYCLES"
    # Cycles' denoiser (OpenImageDenoise) on the final picture: at a few samples per pixel a
    # surface lit only by the sky shows Monte Carlo speckle that no photo has.
    denoise: bool = False


class Scene(_Strict):
    """Everything a program holds, one model per section."""

    title: str = "seig scene"
    geometry: Geometry
    materials: dict[str, Surface] = {}
    composition: Composition = Composition()
    lighting: Lighting = Lighting()
    render: Render = Render()
