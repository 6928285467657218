"""Typed messages between callers and a Blender worker (pydantic at the boundary).

`ChildResult` is what a job child sends back: it comes from a process that ran
untrusted code, so it is parsed strictly (no extra fields, capped lengths, finite
numbers, strings that encode as UTF-8); anything else is a `protocol` error.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

ErrorKind = Literal["rejected", "program", "timeout", "crash", "render", "startup", "protocol"]


class RenderRequest(BaseModel):
    """One job: build the scene by running `program`, render it with these settings."""

    model_config = ConfigDict(extra="forbid")
    program: str
    width: int = Field(256, ge=8, le=8192)
    height: int = Field(192, ge=8, le=8192)
    samples: int = Field(16, ge=1, le=4096)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    engine: Literal["CYCLES", "BLENDER_WORKBENCH", "BLENDER_EEVEE"] = "CYCLES"
    denoise: bool = False
    timeout_s: float | None = Field(None, gt=0, description="None: the worker's job_timeout_s")
    outputs: list[str] = Field(default_factory=list, max_length=8,
                               description="extra outputs from the same render, e.g. the dataset's passes, glb, "
                                           "usd (blender_actors.child_outputs)")

    @field_validator("outputs")
    @classmethod
    def _known_outputs(cls, value: list[str]) -> list[str]:
        from blender_actors.child_outputs import WRITERS

        unknown = [v for v in value if v not in WRITERS]
        if unknown:
            raise ValueError(f"unknown outputs {unknown}; known: {sorted(WRITERS)}")
        if len(set(value)) != len(value):
            raise ValueError(f"outputs {value} name a writer twice")
        return value


class RenderError(BaseModel):
    kind: ErrorKind
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class RenderRecord(BaseModel):
    """What happened, for the round record and metrics. Timings in seconds.

    `pid`, `zygote_pid`, `job_index`, `layers` and `layers_missing` are the parent's own
    knowledge (layers come from the child's first frame, written before the program ran);
    device, timings, counts, warnings, stdout and RSS are the child's claims."""

    pid: int | None = None
    zygote_pid: int | None = None
    job_index: int | None = None
    device: str | None = None
    threads: int | None = None
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}
    warnings: list[str] = []
    blender_warnings: list[str] = []
    stdout: str = ""
    rss_mb: float | None = None
    zygote_rss_mb: float | None = None
    startup_s: float = 0.0
    wall_s: float = 0.0
    restarted: bool = False
    layers: list[str] = []
    layers_missing: list[str] = []


class RenderResult(BaseModel):
    png: bytes | None = None
    files: dict[str, bytes] = {}
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
    protocol_errors: int = 0
    peak_rss_mb: float = 0.0
    rss_mb: float = 0.0  # after the last job
    render_s: float = 0.0  # Blender's own render time, summed over jobs (efficiency numerator)
    busy_s: float = 0.0  # wall time inside render() calls, summed


# --- what a job child may say (strict) ---------------------------------------------
def _utf8(value: str) -> str:
    value.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError -> validation error
    return value


def Text(max_length: int):  # noqa: N802 - a type factory
    return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(_utf8)]


_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class ChildError(BaseModel):
    model_config = _STRICT
    kind: Literal["program", "render"]  # what a child may claim; the parent decides the rest
    message: Text(4000)
    line: int | None = Field(None, ge=0, le=10_000_000)


class ChildRecord(BaseModel):
    model_config = _STRICT
    device: Text(16) | None = None
    threads: int | None = Field(None, ge=0, le=4096)
    timings: dict[Text(32), Annotated[float, Field(ge=0, le=10**6, allow_inf_nan=False)]] = Field(
        default_factory=dict, max_length=16)
    counts: dict[Text(32), Annotated[int, Field(ge=0, le=10**9)]] = Field(default_factory=dict, max_length=16)
    warnings: list[Text(500)] = Field(default_factory=list, max_length=50)
    blender_warnings: list[Text(500)] = Field(default_factory=list, max_length=50)
    stdout: Text(20_000) = ""
    rss_mb: float | None = Field(None, ge=0, le=10**7)


class ChildConfined(BaseModel):
    model_config = _STRICT
    op: Literal["confined"]
    layers: list[Text(64)] = Field(max_length=32)
    missing: list[Text(64)] = Field(max_length=32)


class ChildResult(BaseModel):
    model_config = _STRICT
    op: Literal["result"]
    error: ChildError | None
    record: ChildRecord
    files: list[Text(64)] = Field(max_length=16)
