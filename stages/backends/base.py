"""The interface every backend implements, and what the engine hands it each round."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from blender_actors.protocol import RenderRequest, RenderResult
from stages.definitions import StageDefinition
from stages.photo import Photo
from stages.records import RoundRecord, Usage
from stages.scoring import Scores


class Renderer(Protocol):
    """Anything that renders a request: a BlenderWorker, or an adapter over a Ray actor."""

    def render(self, request: RenderRequest) -> RenderResult: ...


class BackendError(RuntimeError):
    """A backend could not produce a proposal. `retryable` errors (429, 5xx, timeouts)
    were already retried inside the backend; seeing one here means retries ran out."""

    def __init__(self, kind: str, message: str, retryable: bool = False):
        self.kind = kind
        self.retryable = retryable
        super().__init__(message)


class BudgetExhausted(BackendError):
    """The per-image budget of calls or tokens is spent: stop proposing, keep the best."""

    def __init__(self, message: str):
        super().__init__("budget", message, retryable=False)


@dataclass
class RenderSettings:
    width: int
    height: int
    samples: int
    seed: int = 0
    timeout_s: float | None = None
    denoise: bool = False  # the same choice goes into the program's RENDER, so it renders alike alone

    def request(self, program: str, **override) -> RenderRequest:
        fields = dict(program=program, width=self.width, height=self.height, samples=self.samples,
                      seed=self.seed, timeout_s=self.timeout_s, denoise=self.denoise)
        fields.update(override)
        return RenderRequest(**fields)


@dataclass
class StageContext:
    """Everything a backend may look at to propose the next version of one section."""

    stage: StageDefinition
    round: int  # 1-based
    photo: Photo
    program: str  # the stage's best program so far (whole program)
    section_body: str  # its section for this stage
    best_png: bytes | None
    best_scores: Scores | None
    history: list[RoundRecord]  # this stage's rounds so far
    feedback: list[str]  # the verifier's discrepancies after the last round
    last_error: str | None  # why the last round failed, to be fixed
    renderer: Renderer
    render: RenderSettings
    seed: int
    extra_renders: list[float] = field(default_factory=list)  # seconds of renders a backend made itself


@dataclass
class Proposal:
    bodies: list[str]  # one or more candidate bodies for the stage's section
    notes: str = ""
    usage: Usage = field(default_factory=Usage)
    prompt_version: str | None = None


@dataclass
class Feedback:
    discrepancies: list[str]
    approve: bool = False  # the verifier is satisfied: the stage may end early (if its candidate was kept)
    usage: Usage = field(default_factory=Usage)
    verdict: str | None = None  # approve | revise | lost (the reply held no readable verdict)


class Backend(Protocol):
    name: str

    def initial_program(self, photo: Photo, render: RenderSettings) -> tuple[str, Usage]: ...

    def propose(self, ctx: StageContext) -> Proposal: ...

    # Optional: a backend with a verifier also has
    # def verify(self, ctx: StageContext, candidate: Candidate, kept: bool) -> Feedback: ...
    # called with the round's best-scoring candidate, and whether it became the stage's best.
