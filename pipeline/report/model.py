"""The report's data as plain models: what `data` computes and the template shows."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Stat(BaseModel):
    """One figure across the run's images: count, mean, extremes and quantiles (None when n is 0)."""
    n: int = 0
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    p05: float | None = None
    q1: float | None = None
    median: float | None = None
    q3: float | None = None
    p95: float | None = None


class ScoreStat(BaseModel):
    """PSNR across the run's finished images after one step (initial, a stage, final)."""
    step: str
    psnr: Stat
    ssim_median: float | None = None
    improved: float | None = None  # share of images whose PSNR rose in this step


class TimeStat(Stat):
    stage: str


class Overview(BaseModel):
    rows: int
    ok: int
    failed: int
    degraded: int
    scores: list[ScoreStat]
    stage_times: list[TimeStat]
    image_time: TimeStat
    render_s: float | None = None
    finished_span_s: float | None = None
    summary: dict[str, Any] = {}

    @property
    def wall_s(self) -> float | None:
        return self.summary.get("wall_s") or self.finished_span_s

    @property
    def images_per_minute(self) -> float | None:
        if self.summary.get("images_per_minute"):
            return self.summary["images_per_minute"]
        wall = self.wall_s
        return self.rows / wall * 60 if wall else None

    def score(self, step: str) -> ScoreStat | None:
        return next((s for s in self.scores if s.step == step), None)


class FailureGroup(BaseModel):
    kind: str
    count: int
    rows: list[dict[str, str | None]]  # image_id, message, uri


class CardRow(BaseModel):
    """One results row chosen for a card (every column `data.WANTED` names) and why it was chosen."""
    model_config = ConfigDict(extra="allow")
    image_id: str | None = None
    uri: str | None = None
    status: str | None = None
    error_kind: str | None = None
    error_message: str | None = None
    degraded: bool | None = None
    degraded_reason: str | None = None
    tags: list[str] = Field(default_factory=list)

    def get(self, name: str) -> Any:
        return getattr(self, name, None)


class Selection(BaseModel):
    cards: list[CardRow]
    note: str
    sampled: bool


class Picture(BaseModel):
    """One picture of a card: a thumbnail path relative to the report, or why there is none."""
    label: str
    src: str | None = None
    missing: str | None = None


class Card(BaseModel):
    row: CardRow
    pictures: list[Picture]
    links: dict[str, str]  # "scene.py" / "record.json" -> href relative to the report

    @property
    def gain(self) -> float | None:
        """Final PSNR minus the initial program's: what the stages added for this image."""
        final, initial = self.row.get("final_psnr"), self.row.get("initial_psnr")
        return final - initial if final is not None and initial is not None else None


class RunData(BaseModel):
    """Everything the page shows."""
    run_uri: str
    run_id: str
    generated_at: str
    overview: Overview
    failures: list[FailureGroup]
    selection_note: str
    sampled: bool
    cards: list[Card]
    charts: dict[str, str]  # name -> inline SVG
    warnings: list[str]
    kinds: list[str]
