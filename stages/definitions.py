"""The four stage definitions (docs/design.md, "Stages"). The engine is one; stages differ only in data."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StageDefinition(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    section: str  # the program section this stage owns and may replace
    rounds: int
    goal: str  # one sentence, shared by prompts and numeric feedback


GEOMETRY = StageDefinition(
    name="geometry", section="geometry", rounds=5,
    goal="which objects exist, their classes, shapes and sizes, and where each stands (ground, buildings, walls, "
         "vehicles, furniture, ...)")
MATERIALS = StageDefinition(
    name="materials", section="materials", rounds=3,
    goal="surface colours, roughness, metalness and procedural texture of each object")
COMPOSITION = StageDefinition(
    name="composition", section="composition", rounds=3,
    goal="the camera (position, pitch, yaw, focal length) and fine adjustments of where objects stand")
LIGHTING = StageDefinition(
    name="lighting", section="lighting", rounds=2,
    goal="sun direction, strength and colour, sky colours, exposure")

STAGES: tuple[StageDefinition, ...] = (GEOMETRY, MATERIALS, COMPOSITION, LIGHTING)

# The baseline the paper compares against: the same number of rounds, spent on the whole
# program at once. Its section "*" means every stage section (never seig's `scene`).
WHOLE_PROGRAM = "*"
ONE_SHOT = StageDefinition(
    name="oneshot", section=WHOLE_PROGRAM, rounds=sum(s.rounds for s in STAGES),
    goal="the whole scene at once: objects, materials, placement and camera, lighting")


def stages_with_rounds(rounds: dict[str, int] | None = None) -> list[StageDefinition]:
    """The stages in order, with round budgets overridden from config; 0 rounds skips a stage."""
    rounds = rounds or {}
    unknown = set(rounds) - {s.name for s in STAGES}
    if unknown:
        raise ValueError(f"unknown stage(s) in rounds: {', '.join(sorted(unknown))}")
    return [s.model_copy(update={"rounds": rounds.get(s.name, s.rounds)}) for s in STAGES]
