"""Typed messages between callers and a Blender worker (pydantic at the boundary)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ErrorKind = Literal["rejected", "program", "timeout", "crash", "render", "startup", "protocol"]


class RenderRequest(BaseModel):
    """One job: build the scene by running `program`, render it with these settings."""

    model_config = ConfigDict(extra="forbid")
    program: str
    width: int = Field(256, ge=8, le=8192)
    height: int = Field(192, ge=8, le=8192)
    samples: int = Field(16, ge=1, le=4096)
    seed: int = 0
    engine: Literal["CYCLES", "BLENDER_WORKBENCH", "BLENDER_EEVEE"] = "CYCLES"
    denoise: bool = False
    timeout_s: float | None = Field(None, gt=0, description="None: the worker's job_timeout_s")
    outputs: list[str] = Field(default_factory=list, max_length=8,
                               description="extra outputs written from the same render "
                                           "(blender_actors.dataset_writers: passes, glb, usd)")

    @field_validator("outputs")
    @classmethod
    def _known_outputs(cls, value: list[str]) -> list[str]:
        from blender_actors.dataset_writers import WRITERS

        unknown = [v for v in value if v not in WRITERS]
        if unknown or len(set(value)) != len(value):
            raise ValueError(f"outputs {value} must be distinct names from {sorted(WRITERS)}")
        return value


class RenderError(BaseModel):
    kind: ErrorKind
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class RenderRecord(BaseModel):
    """What happened, for the round record and metrics. Timings in seconds."""

    pid: int | None = None
    job_index: int | None = None
    device: str | None = None
    threads: int | None = None
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}
    warnings: list[str] = []
    blender_warnings: list[str] = []
    stdout: str = ""
    rss_mb: float | None = None
    startup_s: float = 0.0
    wall_s: float = 0.0
    restarted: bool = False


class RenderResult(BaseModel):
    png: bytes | None = None
    files: dict[str, bytes] = {}  # the requested outputs, checked by blender_actors.dataset_outputs
    error: RenderError | None = None
    record: RenderRecord = RenderRecord()

    @property
    def ok(self) -> bool:
        return self.error is None and self.png is not None


class WorkerStats(BaseModel):
    jobs: int = 0
    failed: int = 0
    starts: int = 0
    recycles: int = 0
    timeouts: int = 0
    crashes: int = 0
    peak_rss_mb: float = 0.0
    rss_mb: float = 0.0  # after the last job
    render_s: float = 0.0  # Blender's own render time, summed over jobs (efficiency numerator)
    busy_s: float = 0.0  # wall time inside render() calls, summed
