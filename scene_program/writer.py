"""Write a Scene (scene_program.model) as a self-contained, editable scene program.

Layout: header (docstring, imports), then sections geometry, materials, composition,
lighting (each: one UPPERCASE dict of numbers, then its builder function), then the
seig-owned `scene` section (render settings, build_scene, standalone main block).
"""
from __future__ import annotations

import ast
from typing import Any

from scene_program import builders
from scene_program.model import Scene
from scene_program.sections import STAGE_SECTIONS, Program, SectionError, parse

SECTION_ORDER = STAGE_SECTIONS + ("scene",)
PARAM_NAMES = {
    "geometry": "GEOMETRY",
    "materials": "MATERIALS",
    "composition": "COMPOSITION",
    "lighting": "LIGHTING",
    "scene": "RENDER",
}
_CODE = {
    "geometry": builders.GEOMETRY_CODE,
    "materials": builders.MATERIALS_CODE,
    "composition": builders.COMPOSITION_CODE,
    "lighting": builders.LIGHTING_CODE,
    "scene": builders.SCENE_CODE + builders.MAIN_CODE,
}


def _round(value: Any) -> Any:
    """Round floats to 4 decimals and turn tuples into lists: readable, stable diffs."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, (list, tuple)):
        return [_round(v) for v in value]
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


LINE_WIDTH = 150


def _is_record(value: Any) -> bool:
    """A dict of scalars and short lists of numbers (one object, one material): one line."""
    return isinstance(value, dict) and all(
        not isinstance(v, (dict, list)) or (isinstance(v, list) and len(v) <= 4 and
                                             all(not isinstance(x, (dict, list)) for x in v))
        for v in value.values())


def _literal(value: Any, indent: int, column: int) -> str:
    """A Python literal of `value` starting at `column`: on one line where it fits in
    LINE_WIDTH (a record always is), otherwise one entry per line indented under `indent` (so an object of the
    geometry dict is one line a person can read and a model can copy, and a diff of one
    number touches one line)."""
    flat = repr(value)
    if column + len(flat) <= LINE_WIDTH or not isinstance(value, (dict, list)) or not value or _is_record(value):
        return flat
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            head = f"{pad}{k!r}: "
            items.append(head + _literal(v, indent + 4, len(head)) + ",")
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + _literal(v, indent + 4, len(pad)) + "," for v in value]
    return "[\n" + "\n".join(items) + "\n" + " " * indent + "]"


def format_params(name: str, params: dict[str, Any]) -> str:
    """`NAME = {...}` as a readable literal (one entry per line where it fits)."""
    return f"{name} = {_literal(_round(params), 0, len(name) + 3)}\n"


def section_text(section: str, params: dict[str, Any]) -> str:
    """The full body of a section: its params dict, then its builder code."""
    return format_params(PARAM_NAMES[section], params) + "\n" + _CODE[section].rstrip("\n") + "\n\n"


def scene_params(scene: Scene) -> dict[str, dict[str, Any]]:
    return {
        "geometry": scene.geometry.model_dump(mode="json", by_alias=True),
        "materials": {k: v.model_dump(mode="json") for k, v in scene.materials.items()},
        "composition": scene.composition.model_dump(mode="json"),
        "lighting": scene.lighting.model_dump(mode="json", exclude_none=True),
        "scene": scene.render.model_dump(mode="json"),
    }


def write_program(scene: Scene) -> str:
    """Return the program text for `scene`."""
    header = (
        f'"""{scene.title}: a scene program written by seig.\n\n'
        "Run standalone: python scene.py -- --render out.png  (or blender -b --python scene.py -- --render out.png).\n"
        "Each section keeps its numbers in the dict at its top: edit those to change the scene.\n"
        '"""\n' + builders.HEADER_IMPORTS + "\n"
    )
    params = scene_params(scene)
    sections = tuple((name, section_text(name, params[name])) for name in SECTION_ORDER)
    return Program(header, sections).text()


def section_params(body: str, section: str) -> dict[str, Any]:
    """Read the params dict at the top of a section body (a literal; never executed)."""
    name = PARAM_NAMES[section]
    try:
        tree = ast.parse(body)
    except SyntaxError as exc:
        raise SectionError(f"section {section!r} does not parse: {exc.msg} (line {exc.lineno})") from exc
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [name]:
            try:
                return ast.literal_eval(node.value)
            except ValueError as exc:
                raise SectionError(f"{name} in section {section!r} is not a plain literal") from exc
    raise SectionError(f"section {section!r} has no '{name} = {{...}}' dict")


def with_section_params(program: str, section: str, params: dict[str, Any]) -> str:
    """Return `program` with only the params dict of `section` replaced, code untouched."""
    prog = parse(program)
    body = prog.get(section)
    name = PARAM_NAMES[section]
    tree = ast.parse(body)
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [name]:
            lines = body.splitlines(keepends=True)
            start, end = node.lineno - 1, node.end_lineno
            new_body = "".join(lines[:start]) + format_params(name, params) + "".join(lines[end:])
            return prog.replace(section, new_body).text()
    raise SectionError(f"section {section!r} has no '{name} = {{...}}' dict")
