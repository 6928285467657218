"""Check a program's data against the scene-program contract (docs/contracts.md), statically.

This is feedback for whoever wrote the program (a VLM, a person, seig's own tuner), not
security: it reads the section dicts as literals and never runs anything. It catches what
the renderer cannot: an object without a class, a class that is not a Cityscapes label, a
name that says nothing about the object (`billboard_17`, `Cube.003`), a size that is not a
size. Each problem is one line that names the object and says what to write instead.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from scene_program.classes import CLASS_NAMES
from scene_program.sections import STAGE_SECTIONS, SectionError, parse
from scene_program.writer import section_params

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
SHAPES = ("box", "cylinder", "cone", "sphere", "plane")
# Words that say what a primitive is, not what the object is: a name made only of these
# (and numbers, sides, parts) tells a simulator user nothing.
GENERIC_WORDS = frozenset({
    "billboard", "object", "obj", "mesh", "cube", "box", "plane", "patch", "panel", "blob", "thing", "item",
    "shape", "slab", "prim", "primitive", "part", "element", "node", "geometry", "geo", "region", "segment",
    "piece", "strip", "block", "cylinder", "sphere", "cone", "new", "tmp", "untitled", "unnamed", "default",
})
QUALIFIERS = frozenset({"left", "right", "near", "far", "front", "back", "top", "bottom", "main", "small", "large",
                        "big", "upper", "lower", "centre", "center", "middle", "base", "a", "b", "c"})
MAX_OBJECTS = 400


@dataclass(frozen=True)
class ContractProblem:
    where: str  # "geometry object 'car_1'", "section materials"
    message: str

    def __str__(self) -> str:
        return f"[contract] {self.where}: {self.message}"


def _finite_triple(value: Any) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) == 3
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value))


def name_problem(name: str) -> str | None:
    """Why `name` does not say what the object is, or None when it does."""
    if not NAME.match(name):
        return "names are lower case letters, digits and '_', starting with a letter (e.g. building_left_2)"
    words = [w for w in name.split("_") if w and not w.isdigit()]
    meaningful = [w for w in words if w not in GENERIC_WORDS and w not in QUALIFIERS]
    if not meaningful:
        return ("the name says what primitive it is, not what the object is: name it after the object "
                "(road, sidewalk_left, building_right_2, car_1, tree_3_crown)")
    return None


def check_geometry(params: Any) -> list[ContractProblem]:
    """Problems of a GEOMETRY dict: every object named for what it is, with a class and a solid."""
    where = "section geometry"
    if not isinstance(params, dict) or not isinstance(params.get("objects"), list):
        return [ContractProblem(where, "GEOMETRY must be a dict with a list under 'objects'")]
    objects = params["objects"]
    if len(objects) > MAX_OBJECTS:
        return [ContractProblem(where, f"{len(objects)} objects; at most {MAX_OBJECTS}")]
    problems: list[ContractProblem] = []
    seen: set[str] = set()
    for i, spec in enumerate(objects):
        if not isinstance(spec, dict):
            problems.append(ContractProblem(f"geometry object #{i + 1}", "must be a dict"))
            continue
        name = spec.get("name")
        here = f"geometry object {name!r}" if isinstance(name, str) else f"geometry object #{i + 1}"
        if not isinstance(name, str):
            problems.append(ContractProblem(here, "has no 'name'"))
        else:
            why = name_problem(name)
            if why:
                problems.append(ContractProblem(here, why))
            if name in seen:
                problems.append(ContractProblem(here, "the name is used twice; names are unique"))
            seen.add(name)
        cls = spec.get("class")
        if cls is None:
            problems.append(ContractProblem(here, "has no 'class' (one of: " + ", ".join(CLASS_NAMES) + ")"))
        elif cls not in CLASS_NAMES:
            problems.append(ContractProblem(here, f"class {cls!r} is not one of: " + ", ".join(CLASS_NAMES)))
        if spec.get("shape") not in SHAPES:
            problems.append(ContractProblem(here, f"shape {spec.get('shape')!r} is not one of: " + ", ".join(SHAPES)))
        size = spec.get("size")
        if not _finite_triple(size) or min(size) <= 0:
            problems.append(ContractProblem(here, f"size must be three positive numbers in metres, got {size!r}"))
        for key in ("location",):
            if key in spec and not _finite_triple(spec[key]):
                problems.append(ContractProblem(here, f"{key} must be three numbers in metres, got {spec[key]!r}"))
    return problems


def check_contract(program: str) -> list[ContractProblem]:
    """Every contract problem of a program's data, without running it (empty: it conforms)."""
    try:
        prog = parse(program)
    except SectionError as exc:
        return [ContractProblem("program", str(exc))]
    missing = [s for s in STAGE_SECTIONS if s not in prog.names()]
    if missing:
        return [ContractProblem("program", "missing section(s): " + ", ".join(missing))]
    try:
        geometry = section_params(prog.get("geometry"), "geometry")
    except SectionError as exc:
        return [ContractProblem("section geometry", str(exc))]
    return check_geometry(geometry)
