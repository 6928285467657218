"""Settings of the staged reconstruction (the `reconstruct:` section of a config)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from stages.backends.offline import OfflineConfig


class ReconstructConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["offline", "openai"] = "offline"
    offline: OfflineConfig = OfflineConfig()
    openai: dict[str, Any] = Field(default_factory=dict, description="OpenAIConfig fields (validated when the backend is made)")
    rounds: dict[str, int] = Field(default_factory=dict, description="per-stage round budget; defaults 5/3/3/2")
    long_side: int = Field(256, ge=16, le=4096, description="render size: the photo's aspect, this long side")
    width: int | None = Field(None, ge=8, le=8192, description="override the render width")
    height: int | None = Field(None, ge=8, le=8192, description="override the render height")
    samples: int = Field(16, ge=1, le=4096)
    denoise: bool = Field(True, description="denoise renders (OpenImageDenoise): at a few samples, surfaces lit "
                                            "only by the sky speckle, which costs SSIM and no photo shows")
    seed: int = 0
    render_timeout_s: float = Field(120.0, gt=0)
    keep_round_renders: bool = Field(True, description="store every candidate's render, not only the best")

    @field_validator("rounds")
    @classmethod
    def _known_stages(cls, rounds: dict[str, int]) -> dict[str, int]:
        """An unknown stage name would fail every image at run time: refuse it at load."""
        from stages.definitions import STAGES

        names = [s.name for s in STAGES]
        unknown = sorted(set(rounds) - set(names))
        if unknown:
            raise ValueError(f"unknown stage(s) {', '.join(map(repr, unknown))}; the stages are {', '.join(names)}")
        negative = sorted(k for k, v in rounds.items() if v < 0)
        if negative:
            raise ValueError(f"rounds must be >= 0 (got {', '.join(f'{k}={rounds[k]}' for k in negative)})")
        return rounds

    def backend_options(self) -> dict[str, Any]:
        return self.offline.model_dump() if self.backend == "offline" else dict(self.openai)
