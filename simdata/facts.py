"""The scene facts a job child reports (`scene.json`), parsed strictly.

The child ran untrusted code, so its description of the scene is data to check, not to
believe: every field is typed, bounded and finite, strings are short, lists are capped,
and `check_ids` ties the instance ids to the passes. Everything downstream (camera.json,
objects.json, semantic.png, the USD labels) is computed from these checked values.
"""
from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from blender_actors.dataset_writers import MAX_OBJECTS

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)
Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Matrix = Annotated[list[float], Field(min_length=16, max_length=16)]
Vec3 = Annotated[list[float], Field(min_length=3, max_length=3)]
BIG = 1e7  # metres: anything beyond is not a street scene


def _bounded(values: list[float]) -> list[float]:
    if not all(math.isfinite(v) and abs(v) < BIG for v in values):
        raise ValueError("values must be finite and below 1e7 in magnitude")
    return values


class CameraFacts(BaseModel):
    model_config = _STRICT
    name: Name
    type: Literal["PERSP", "ORTHO", "PANO"]
    matrix_world: Matrix
    lens_mm: float = Field(gt=0, lt=10_000)
    sensor_width_mm: float = Field(gt=0, lt=10_000)
    sensor_height_mm: float = Field(gt=0, lt=10_000)
    sensor_fit: Literal["AUTO", "HORIZONTAL", "VERTICAL"]
    shift_x: float = Field(ge=-10, le=10)
    shift_y: float = Field(ge=-10, le=10)
    clip_start: float = Field(ge=0, lt=BIG)
    clip_end: float = Field(gt=0, lt=1e12)

    @field_validator("matrix_world")
    @classmethod
    def _finite(cls, v: list[float]) -> list[float]:
        return _bounded(v)


class RenderFacts(BaseModel):
    model_config = _STRICT
    width: int = Field(ge=8, le=8192)
    height: int = Field(ge=8, le=8192)
    pixel_aspect_x: float = Field(gt=0, le=200)
    pixel_aspect_y: float = Field(gt=0, le=200)


class ObjectFacts(BaseModel):
    model_config = _STRICT
    name: Name
    semantic: Annotated[str, StringConstraints(max_length=64)] | None
    instance_id: int = Field(ge=1, le=MAX_OBJECTS)
    matrix_world: Matrix
    bbox_min: Vec3
    bbox_max: Vec3

    @field_validator("matrix_world", "bbox_min", "bbox_max")
    @classmethod
    def _finite(cls, v: list[float]) -> list[float]:
        return _bounded(v)


class SunFacts(BaseModel):
    model_config = _STRICT
    name: Name
    matrix_world: Matrix
    energy: float = Field(ge=0, lt=BIG)
    color: Vec3

    @field_validator("matrix_world", "color")
    @classmethod
    def _finite(cls, v: list[float]) -> list[float]:
        return _bounded(v)


class WorldFacts(BaseModel):
    """The sky as one linear colour and a strength (the simulator's uniform dome light)."""

    model_config = _STRICT
    color: Vec3
    strength: float = Field(ge=0, le=1e6)

    @field_validator("color")
    @classmethod
    def _colour(cls, v: list[float]) -> list[float]:
        if not all(math.isfinite(c) and 0 <= c <= 1e4 for c in v):
            raise ValueError("colour channels must be finite, in [0, 1e4]")
        return v


class SceneFacts(BaseModel):
    model_config = _STRICT
    world: WorldFacts | None = None
    camera: CameraFacts
    render: RenderFacts
    objects: list[ObjectFacts] = Field(max_length=MAX_OBJECTS)
    suns: list[SunFacts] = Field(max_length=16)

    def check_ids(self, width: int, height: int) -> None:
        """Instance ids 1..N, unique; names unique; the size the request asked for."""
        ids = [o.instance_id for o in self.objects]
        if sorted(ids) != list(range(1, len(ids) + 1)):
            raise ValueError(f"instance ids are not 1..{len(ids)} exactly once each")
        names = [o.name for o in self.objects]
        if len(set(names)) != len(names):
            raise ValueError("object names repeat")
        if (self.render.width, self.render.height) != (width, height):
            raise ValueError(f"the scene rendered {self.render.width}x{self.render.height}, asked {width}x{height}")
        if self.camera.type != "PERSP":
            raise ValueError(f"the camera is {self.camera.type}: datasets need a perspective camera")
