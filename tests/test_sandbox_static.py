"""The static sandbox (layer 1) against hostile programs, and against seig's own programs.

Every file in tests/hostile/ starts with `# expect: rejected|contained`, a `# tries:` line
and, for rejected ones, optionally `# rule: RULE` (the rule that must be among the
violations, so a program is rejected for the right reason). Fast: no Blender.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from blender_actors.sandbox import (
    CONTEXT_MEMBERS, DENIED_BUILTINS, ProgramRejected, Violation, check_program, denied_name, require_safe,
)

ROOT = Path(__file__).resolve().parent.parent
HOSTILE_DIR = ROOT / "tests" / "hostile"
HOSTILE = sorted(HOSTILE_DIR.glob("*.py"))
RULES = {"import", "name", "dunder", "builtin", "bpy-api", "bpy-ops", "bpy-context", "class", "async", "module-state",
         "size", "syntax"}


def header(path: Path) -> dict[str, str]:
    """The `# key: value` lines at the top of a hostile program (first value wins)."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.startswith("# "):
            break
        key, _, value = line[2:].partition(":")
        out.setdefault(key.strip(), value.strip())
    return out


def test_hostile_corpus_is_complete():
    assert len(HOSTILE) >= 34
    kinds = [header(p).get("expect") for p in HOSTILE]
    assert set(kinds) == {"rejected", "contained"}, kinds
    for path in HOSTILE:
        lines = path.read_text().splitlines()
        assert lines[0] in ("# expect: rejected", "# expect: contained"), path.name
        assert lines[1].startswith("# tries: ") and len(lines[1]) > 20, path.name


@pytest.mark.parametrize("path", HOSTILE, ids=[p.stem for p in HOSTILE])
def test_static_verdict_matches_expectation(path: Path):
    meta = header(path)
    source = path.read_text()
    violations = check_program(source)
    if meta["expect"] == "contained":
        assert violations == [], f"{path.name} should pass the static check by design: {violations}"
        return
    assert violations, f"{path.name} passed the static check: a hole in layer 1"
    rules = {v.rule for v in violations}
    if "rule" in meta:
        assert meta["rule"] in rules, f"{path.name}: expected rule {meta['rule']!r}, got {sorted(rules)}"
    lines = source.splitlines()
    for v in violations:
        assert isinstance(v, Violation) and v.rule in RULES and v.message, v
        assert f"line {v.line}: [{v.rule}]" in str(v)
        if v.rule in ("size", "syntax"):
            continue  # about the whole program: line 0 is allowed
        assert 1 <= v.line <= len(lines), v
        code = lines[v.line - 1].strip()
        assert code and not code.startswith("#"), f"{path.name}: {v} points at {code!r}, not at code"


def test_rejection_message_names_line_and_rule():
    with pytest.raises(ProgramRejected) as err:
        require_safe("import bpy\n\nx = 1\nprint(open('/etc/passwd').read())\n")
    assert err.value.violations == [Violation(4, "builtin", "builtin 'open' is not allowed")]
    assert "line 4: [builtin] builtin 'open' is not allowed" in str(err.value)


def _seig_programs() -> dict[str, str]:
    from scene_program.examples import box_scene, street_scene
    from scene_program.model import Render
    from scene_program.sections import parse
    from scene_program.writer import section_params, with_section_params, write_program

    programs = {
        "examples/scenes/street.py": (ROOT / "examples" / "scenes" / "street.py").read_text(),
        "write_program(box_scene)": write_program(box_scene()),
        "write_program(street_scene)": write_program(street_scene(Render(width=64, height=48, samples=1))),
        "write_program(red box, size 3)": write_program(box_scene(size=3.0, color=(0.9, 0.1, 0.1))),
    }
    street = programs["write_program(street_scene)"]
    params = section_params(parse(street).get("lighting"), "lighting")
    params["exposure"] = 0.5
    programs["with_section_params(lighting)"] = with_section_params(street, "lighting", params)
    return programs


@pytest.mark.parametrize("name", list(_seig_programs()))
def test_seig_programs_pass_with_zero_violations(name):
    """No false positives on what seig itself writes (the canonical main block included)."""
    program = _seig_programs()[name]
    assert check_program(program) == []
    assert 'if __name__ == "__main__":' in program  # exempt only because it is the canonical block


def test_canonical_main_is_exempt_but_a_modified_copy_is_not():
    from scene_program.builders import MAIN_CODE

    assert check_program("import bpy\n" + MAIN_CODE) == []
    tampered = MAIN_CODE.replace("build_scene()", "build_scene()\n    sys.modules['os'].system('id')")
    rules = {v.rule for v in check_program("import bpy\n" + tampered)}
    assert "dunder" in rules  # __name__ is no longer exempt


@pytest.mark.parametrize("name", [
    "profile", "profile_type", "direction", "texture", "texture_coords", "pack_islands", "lightmap_pack",
    "evaluated_depsgraph_get", "collection", "modifier_apply", "display_settings", "image_settings",
    "keyframe_insert", "foreach_set", "from_pydata", "ray_cast", "matrix_world", "default_value", "links",
])
def test_common_bpy_names_are_allowed(name):
    """Denied words match whole `_`-separated words: no false positives on everyday names."""
    assert denied_name(name) is None


@pytest.mark.parametrize("name", [
    "filepath", "filepath_raw", "cache_directory", "debug_relations_graphviz", "export_layout",
    "empty_image_add", "path_resolve", "node_groups", "compositing_node_group", "sequence_editor_create",
    "new_image", "shading_system", "bytecode", "window_managers", "preferences", "texts", "driver_add",
    "draw_handler_add", "ag_frame", "f_back", "f_locals", "tb_frame", "gi_frame", "cr_frame", "co_consts",
    "_os", "__class__", "format", "fget", "user_map",
])
def test_dangerous_names_are_denied(name):
    assert denied_name(name) is not None


def test_context_members_are_plain_scene_access():
    assert not CONTEXT_MEMBERS & {"copy", "path_resolve", "preferences", "window_manager", "temp_override", "window"}


def test_keyword_names_are_checked_like_attributes():
    rules = {v.rule for v in check_program("import bpy\nbpy.ops.object.modifier_add(filepath='/x')\n")}
    assert rules == {"bpy-api"}


def test_unicode_identifiers_are_normalised_before_the_check():
    """Python NFKC-normalises identifiers while parsing (PEP 3131): the checker sees the dunder."""
    source = "f = lambda: 0\nx = f._\ufe33globals\ufe33\ufe33\n"
    assert ast.parse(source).body[1].value.attr == "__globals__"
    assert [v.rule for v in check_program(source)] == ["dunder"]


@pytest.mark.parametrize("source", [
    "\x00", "def f(:\n", "x = '\udcff'\n", "x = " + "-" * 5000 + "1\n", "x = " + "(" * 300 + ")" * 300 + "\n",
    "x = 1\n" * 200_000,
])
def test_checker_never_raises(source):
    violations = check_program(source)
    assert violations and violations[0].rule in ("syntax", "size")


def test_static_and_runtime_builtins_agree():
    """What the checker denies by name must also be missing from the child's builtins."""
    from blender_actors.child import SAFE_BUILTINS

    assert not DENIED_BUILTINS & set(SAFE_BUILTINS)
