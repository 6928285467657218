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
    latency_s: float = 0.0
    retries: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(**{k: getattr(self, k) + getattr(other, k) for k in Usage.model_fields})

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


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
    renders: int = 1  # the initial program's render included
    render_s: float = 0.0  # Blender's own render time, summed
    failed_rounds: int = 0
