"""Reading a generator's reply: a ```python block with a whole section (or a whole
program, from which the section is cut), or a JSON patch of the section's dict.

Every reading is validated before anything runs: the code must parse and keep defining
what the rest of the program uses; a patch must apply. Failures are BackendErrors whose
message goes back to the model in the next round.
"""
from __future__ import annotations

import ast
import re

from scene_program.sections import MARKER, Program, SectionError, parse
from scene_program.writer import PARAM_NAMES
from stages.backends.base import BackendError
from stages.backends.vlm.jsontext import json_objects
from stages.backends.vlm.patch import patched_body

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+.-]*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)
_OPEN_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+.-]*)[^\n]*\n(.*)\Z", re.MULTILINE | re.DOTALL)
_PYTHON = {"python", "py", "python3", "py3"}
_NOT_CODE = {"json", "text", "txt", "markdown", "md", "bash", "sh", "console", "output"}


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def extract_code(reply: str) -> str | None:
    """The code of a reply: its ```python block (the longest, if several), else its only
    fenced block, else the longest fenced block that parses, else the whole reply if it is
    Python with a definition in it. An unclosed fence gives what follows it."""
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(reply)]
    if not blocks:
        m = _OPEN_FENCE.search(reply)
        if m and m.group(1).lower() in _PYTHON | {""}:
            return m.group(2)
        try:
            tree = ast.parse(reply)
        except (SyntaxError, ValueError):
            return None
        defines = any(isinstance(n, (ast.FunctionDef, ast.Assign, ast.Import, ast.ImportFrom)) for n in tree.body)
        return reply if defines else None
    python = [b for lang, b in blocks if lang in _PYTHON]
    if python:
        return max(python, key=len)
    blocks = [(lang, b) for lang, b in blocks if lang not in _NOT_CODE]
    if len(blocks) == 1:
        return blocks[0][1]
    parsing = [b for _, b in blocks if _parses(b)]
    return max(parsing, key=len) if parsing else None


def defined_names(code: str) -> set[str]:
    """Top-level names a section body defines (functions, assignments, imports)."""
    names: set[str] = set()
    for node in ast.parse(code).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def required_names(program: Program, section: str) -> list[str]:
    """What a new body of `section` must define: its params dict, and every top-level name
    of its current body that another section uses (e.g. build_geometry, srgb_to_linear)."""
    body = program.get(section)
    try:
        own = defined_names(body)
    except SyntaxError:
        own = set()
    others = "\n".join(b for name, b in program.sections if name != section)
    used = sorted(n for n in own if re.search(rf"\b{re.escape(n)}\b", others))
    params = PARAM_NAMES.get(section)
    return ([params] if params else []) + [n for n in used if n != params]


def _extra_import(line: str) -> bool:
    """A header import line a cut-out section needs beyond seig's header (math, bpy, bmesh)."""
    try:
        node = ast.parse(line.strip()).body[0]
    except (SyntaxError, IndexError):
        return False
    if isinstance(node, ast.Import):
        return any(a.name not in ("math", "bpy", "bmesh") or a.asname for a in node.names)
    return isinstance(node, ast.ImportFrom)


def same_code(a: str, b: str) -> bool:
    """Equal as code (comments and formatting aside)."""
    try:
        return ast.dump(ast.parse(a)) == ast.dump(ast.parse(b))
    except SyntaxError:
        return a.strip() == b.strip()


def section_from_code(code: str, section: str, required: list[str]) -> str:
    """Validate `code` as the new body of `section` (cut out of a whole program if it is one)."""
    if MARKER.search(code):  # a whole program, or several sections: take ours
        try:
            prog = parse(code)
        except SectionError as exc:
            raise BackendError("no_code", f"the reply's code has broken section markers: {exc}") from None
        if section not in prog.names():
            raise BackendError("no_code", f"the reply's code has sections {', '.join(prog.names())} "
                               f"but not {section!r}")
        imports = [line for line in prog.header.splitlines() if _extra_import(line)]
        code = "\n".join(imports + [prog.get(section)])
    try:
        ast.parse(code)
    except SyntaxError as exc:
        raise BackendError("no_code", f"the {section} section in the reply does not parse: "
                           f"{exc.msg} (line {exc.lineno})") from None
    missing = [n for n in required if n not in defined_names(code)]
    if missing:
        raise BackendError("contract", f"the new {section} section does not define {', '.join(missing)} "
                           "(the rest of the program uses them)")
    return code.strip("\n") + "\n"


def _patch_of(reply: str, section: str) -> dict | None:
    """The reply's patch: the last JSON object in it (a verdict-like object is not a patch)."""
    objects = [o for o in json_objects(reply) if not ({"approve", "discrepancies"} & set(o))]
    if not objects:
        return None
    patch = objects[-1]
    name = PARAM_NAMES.get(section, "")
    if set(patch) == {name} and isinstance(patch[name], dict):  # {"MATERIALS": {...}}: the dict's name around it
        patch = patch[name]
    return patch


def body_from_reply(reply: str | None, program: str, section: str, required: list[str]) -> tuple[str, str]:
    """(new body of `section`, "code" | "patch") from a generator's reply; BackendError if none."""
    text = reply or ""
    code = extract_code(text)
    if code is not None:
        return section_from_code(code, section, required), "code"
    patch = _patch_of(text, section)
    if patch is not None:
        return patched_body(program, section, patch), "patch"
    start = " ".join(text.split())[:160]
    raise BackendError("no_code", f"the reply has neither a ```json patch nor a ```python block with the "
                       f"{section} section (it began: {start!r})")
