"""Read a program written in seig's layout back into a typed Scene (never running it).

The inverse of writer.write_program for the data half of each section: the four stage
dicts and RENDER are plain literals, so a Scene can be rebuilt from them. Benchmarks and
tests use it to ray-cast what a program shows (depth, classes) without Blender; a
program whose dicts do not fit the model (a hand-written one of another shape) raises
SectionError naming the section.
"""
from __future__ import annotations

from pydantic import ValidationError

from scene_program.model import Composition, Geometry, Lighting, Render, Scene, Surface
from scene_program.sections import SectionError, parse
from scene_program.writer import section_params


def read_scene(program: str) -> Scene:
    """The Scene whose dicts `program` holds (SectionError when a section does not fit)."""
    prog = parse(program)
    parts = {}
    for section, model in (("geometry", Geometry), ("composition", Composition), ("lighting", Lighting),
                           ("scene", Render)):
        params = section_params(prog.get(section), section)
        try:
            parts[section] = model.model_validate(params)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise SectionError(f"section {section!r} does not fit the model at {where}: {first['msg']}") from None
    materials = {}
    for name, spec in section_params(prog.get("materials"), "materials").items():
        try:
            materials[name] = Surface.model_validate(spec)
        except ValidationError as exc:
            raise SectionError(f"material {name!r} does not fit the model: {exc.errors()[0]['msg']}") from None
    title = "seig scene"
    head = prog.header.lstrip()
    if head.startswith('"""') and ": a scene program written by seig." in head.split("\n", 1)[0]:
        title = head[3:].split(": a scene program written by seig.", 1)[0]
    return Scene(title=title, geometry=parts["geometry"], materials=materials, composition=parts["composition"],
                 lighting=parts["lighting"], render=parts["scene"])
