"""What the engine remembers: every round, every stage, the whole reconstruction.

Pydantic models so that `record.json` is the models' JSON, and readers (results rows,
metrics, tests) parse it back with the same types. PNG bytes are excluded from JSON;
the artifact writer stores them as files and fills in their URIs.
"""
from __future__ import annotations

from pydantic import BaseModel, Field

from stages.scoring import Scores


class Usage(BaseModel):
    """VLM (or other backend) cost of one step."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens the server reports as served from its prefix cache
    latency_s: float = 0.0
    retries: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(**{k: getattr(self, k) + getattr(other, k) for k in Usage.model_fields})

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class VlmFailure(BaseModel):
    """Why a VLM could not serve an image: a kind for results and alerts, a message for people."""

    kind: str  # vlm_auth | vlm_model_missing | vlm_unreachable | vlm_server | vlm_rate_limit | vlm_bad_endpoint
    #            | vlm_bad_request | vlm_bad_reply | vlm_cut_off | vlm_content_filter
    message: str
    where: str = ""  # "materials round 2", "initial program"


class VlmHealth(BaseModel):
    """What the VLM did for one image, carried across the image's tasks (a backend per task).

    `lost` is set when the backend gave the endpoint up for this image: at once for an
    error no retry can fix (a refused key, a missing model), or after `give_up_after`
    failed calls in a row, or when the VLM's wall-clock budget ran out while it was
    failing. An image whose VLM was lost, or whose every call failed, is never `ok`
    (`failure()`): it fails with the kind, or is `degraded` when an offline fallback is allowed."""

    initial_program: str | None = None  # vlm | offline | offline_fallback
    calls_ok: int = 0
    calls_failed: int = 0
    failures_in_a_row: int = 0
    last_failure: VlmFailure | None = None
    lost: VlmFailure | None = None
    wall_s: float = 0.0  # seconds spent in calls (retries and back-off included)
    verdicts_lost: int = 0  # verifier replies without a readable verdict
    fallback_rounds: int = 0  # rounds proposed by the offline tuner after the VLM was lost

    def failure(self) -> VlmFailure | None:
        """Why this image's VLM path failed, or None when the VLM served it."""
        if self.lost is not None:
            return self.lost
        if self.calls_failed and not self.calls_ok and self.last_failure is not None:
            last = self.last_failure
            return last.model_copy(update={"message": f"every VLM call failed ({self.calls_failed}); last: "
                                           f"{last.message}"})
        return None


class RoundError(BaseModel):
    kind: str  # rejected | contract | program | timeout | crash | render | startup | section | backend
    message: str
    line: int | None = None


class Candidate(BaseModel):
    """One proposed program of a round, rendered and scored (or failed)."""

    index: int
    program: str
    scores: Scores | None = None
    error: RoundError | None = None
    render_s: float = 0.0
    png: bytes | None = Field(None, exclude=True)
    render_uri: str | None = None


class RoundRecord(BaseModel):
    stage: str
    round: int  # 0: the stage's starting program, re-scored
    candidates: list[Candidate] = []
    kept: bool = False  # a candidate of this round became the stage's best
    best_index: int | None = None
    scores_before: Scores | None = None
    scores_after: Scores | None = None
    feedback: list[str] = []  # discrepancies fed to the next round
    notes: str = ""
    error: RoundError | None = None  # the round as a whole failed (e.g. the backend)
    time_s: float = 0.0
    usage: Usage = Usage()
    prompt_version: str | None = None
    verdict: str | None = None  # approve | revise | lost (no readable verdict) | failed (no reply); None: no verifier


class StageResult(BaseModel):
    stage: str
    rounds: list[RoundRecord] = []
    start_scores: Scores | None = None
    best_scores: Scores | None = None
    best_program: str
    best_png: bytes | None = Field(None, exclude=True)
    time_s: float = 0.0
    usage: Usage = Usage()


class Reconstruction(BaseModel):
    image: str
    backend: str
    seed: int
    width: int
    height: int
    samples: int
    initial_program: str
    initial_scores: Scores | None = None
    initial_error: RoundError | None = None
    stages: list[StageResult] = []
    final_program: str
    final_scores: Scores | None = None
    final_png: bytes | None = Field(None, exclude=True)
    time_s: float = 0.0
    usage: Usage = Usage()
    vlm: VlmHealth | None = None  # None: the backend uses no VLM
    renders: int = 1  # the initial program's render included
    render_s: float = 0.0  # Blender's own render time, summed
    failed_rounds: int = 0
