"""The `dataset:` section of a config: on or off, which outputs, size, variants, ranges."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from simdata.sample import ALL_OUTPUTS


class JitterConfig(BaseModel):
    """How far a variant may move from the program's own numbers (0 turns a change off)."""

    model_config = ConfigDict(extra="forbid")
    time_of_day: bool = Field(True, description="sun elevation and colour, sky colours from a time-of-day preset")
    sun_azimuth_deg: float = Field(60.0, ge=0, le=180, description="± around the program's sun azimuth")
    sky_mix: tuple[float, float] = Field((0.4, 0.8), description="how far sky colours move toward the preset")
    fog_probability: float = Field(0.3, ge=0, le=1, description="share of variants with haze")
    fog_density: tuple[float, float] = Field((0.004, 0.03), description="per metre: visibility about 3/density m")
    materials: bool = Field(True, description="hue and roughness within class-plausible ranges")
    hue_scale: float = Field(1.0, ge=0, le=1, description="scales each class's hue range")
    camera_lateral_m: float = Field(0.5, ge=0, le=10)
    camera_height_m: float = Field(0.3, ge=0, le=10)
    camera_yaw_deg: float = Field(5.0, ge=0, le=45)
    forward_m: float = Field(10.0, ge=0, le=200, description="novel views: up to this far forward along the street")

    @field_validator("sky_mix", "fog_density")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= v[0] <= v[1]:
            raise ValueError(f"expected 0 <= low <= high, got {v}")
        return v


class DatasetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(False, description="write a simulation dataset for every finished image")
    outputs: list[str] = Field(default_factory=lambda: list(ALL_OUTPUTS),
                               description=f"which outputs, of {', '.join(ALL_OUTPUTS)}")
    long_side: int | None = Field(None, ge=16, le=4096,
                                  description="sample size: the render's aspect, this long side (None: as rendered)")
    samples: int = Field(32, ge=1, le=4096, description="Cycles samples of a dataset render")
    variants: int = Field(0, ge=0, le=99, description="variants per scene besides the reconstruction itself")
    seed: int = Field(0, ge=0, description="variants come from (seed, image_id, variant): reproducible")
    timeout_s: float = Field(300.0, gt=0, description="per sample Blender job")
    jitter: JitterConfig = JitterConfig()

    @model_validator(mode="after")
    def _known(self) -> "DatasetConfig":
        unknown = sorted(set(self.outputs) - set(ALL_OUTPUTS))
        if unknown or not self.outputs:
            raise ValueError(f"outputs {unknown or '[]'}: choose from {', '.join(ALL_OUTPUTS)}")
        return self
