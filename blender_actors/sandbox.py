"""Static check of a generated scene program before it runs (sandbox layer 1 of 2).

Model-written code is untrusted. This module parses it and walks the AST against
allowlists; it never executes anything. Stdlib only, so the Blender child process can
re-check in its own interpreter (defence in depth). Rules, and why:

- imports: only modules a scene needs (bpy, bmesh, mathutils, math, random, colorsys);
  no `from bpy import ...` (aliases would dodge the attribute rules below).
- no name or attribute beginning with an underscore where it could reach Python
  internals: `__class__`, `__globals__`, `__builtins__` ... by any route.
- no builtins that execute or reflect: open, exec, eval, compile, getattr, vars, type ...
  (getattr with a computed name would bypass every attribute rule).
- bpy APIs that touch files, run scripts, or register code are denied by attribute name
  wherever they appear (`filepath`, `save`, `load`, `handlers`, `texts`, `driver_add`,
  `register_class`, `preferences` ...), and `*.ops.FAMILY` only for in-memory families.
- node types that read/write files or run scripts are denied by their name string.
- no class definitions (registering classes is how add-ons hook into Blender).
- the only exemption: one `if __name__ == "__main__":` block identical to seig's
  canonical one (scene_program.builders.MAIN_CODE), which the worker never runs.

Layer 2 (run time, blender_actors.limits + child) assumes this layer can be wrong.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

MAX_PROGRAM_BYTES = 512 * 1024
MAX_AST_NODES = 200_000

ALLOWED_MODULES = frozenset({"bpy", "bmesh", "mathutils", "math", "random", "colorsys"})
ALLOWED_SUBMODULES = frozenset({"mathutils.noise", "mathutils.geometry", "mathutils.kdtree", "mathutils.bvhtree"})
ALLOWED_OPS_FAMILIES = frozenset({"mesh", "curve", "surface", "object", "transform", "material", "world", "uv"})

DENIED_BUILTINS = frozenset({
    "open", "exec", "eval", "compile", "__import__", "getattr", "setattr", "delattr", "hasattr",
    "globals", "locals", "vars", "dir", "breakpoint", "input", "help", "exit", "quit", "memoryview",
    "type", "object", "super", "classmethod", "staticmethod", "property", "__build_class__", "id",
    "reload", "execfile", "file", "copyright", "credits", "license",
})

# Attribute names denied wherever they appear, grouped by the danger they stand for.
DENIED_ATTRIBUTES: dict[str, str] = {}
for _reason, _names in {
    "reads or writes files": (
        "filepath", "filepath_raw", "filepath_from_user", "directory", "base_path", "file_slots",
        "save", "save_as", "save_render", "save_as_mainfile", "load", "reload", "pack", "unpack",
        "write", "libraries", "cache_files", "sounds", "movieclips", "fonts", "volumes", "path",
        "abspath", "relpath", "blend_paths", "bake", "bake_image", "screenshot", "tempdir",
        "binary_path", "clipboard",
    ),
    "runs code (scripts, text blocks, drivers, handlers)": (
        "texts", "text", "script", "scripts", "as_module", "as_string", "from_string",
        "driver_add", "driver_remove", "drivers", "expression", "driver_namespace", "handlers",
        "timers", "msgbus", "app", "python_args",
    ),
    "registers classes, add-ons or preferences": (
        "register_class", "unregister_class", "register_module", "register_tool", "utils", "props",
        "preferences", "user_preferences", "addons", "keyconfigs", "keymaps", "window_manager",
        "addon_utils",
    ),
    "reaches Python internals": ("format", "format_map", "mro", "f_globals", "gi_frame", "cr_frame"),
}.items():
    for _name in _names:
        DENIED_ATTRIBUTES[_name] = _reason

# Node and modifier type names that read or write files or run scripts.
DENIED_STRING = re.compile(r"(?i)(OutputFile|NodeScript|Import|Export|MESH_CACHE|MESH_SEQUENCE_CACHE)")


@dataclass(frozen=True)
class Violation:
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: [{self.rule}] {self.message}"


class ProgramRejected(ValueError):
    """Raised by `require_safe`; carries every violation found."""

    def __init__(self, violations: list[Violation]):
        self.violations = violations
        super().__init__("program rejected by the sandbox:\n" + "\n".join(f"  {v}" for v in violations))


def _canonical_main() -> str:
    from scene_program.builders import MAIN_CODE

    return ast.dump(ast.parse(MAIN_CODE).body[0])


class _Checker(ast.NodeVisitor):
    def __init__(self, canonical_main: str):
        self.canonical_main = canonical_main
        self.violations: list[Violation] = []

    def add(self, node: ast.AST, rule: str, message: str) -> None:
        self.violations.append(Violation(getattr(node, "lineno", 0), rule, message))

    # --- statements -------------------------------------------------------------
    def visit_Module(self, node: ast.Module) -> None:
        for stmt in node.body:
            if isinstance(stmt, ast.If) and ast.dump(stmt) == self.canonical_main:
                continue  # the standalone entry point: never run by a worker
            self.visit(stmt)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name not in ALLOWED_MODULES and alias.name not in ALLOWED_SUBMODULES:
                self.add(node, "import", f"import of {alias.name!r} is not allowed "
                         f"(allowed: {', '.join(sorted(ALLOWED_MODULES))})")
            if alias.asname and alias.asname.startswith("_"):
                self.add(node, "name", f"alias {alias.asname!r} starts with an underscore")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level or module in ("bpy", "bmesh") or (
            module not in ALLOWED_MODULES and module not in ALLOWED_SUBMODULES
        ):
            self.add(node, "import", f"'from {'.' * node.level}{module} import ...' is not allowed "
                     "(use 'import bpy' and full names; from-imports allowed only from "
                     "mathutils, math, random, colorsys)")
            return
        for alias in node.names:
            if alias.name == "*" or alias.name.startswith("_"):
                self.add(node, "import", f"'from {module} import {alias.name}' is not allowed")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.add(node, "class", "class definitions are not allowed (registering classes hooks into Blender)")

    def visit_Global(self, node: ast.Global) -> None:
        self._names(node, node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self._names(node, node.names)

    def _names(self, node: ast.AST, names: list[str]) -> None:
        for name in names:
            self._check_name(node, name)

    # --- expressions ------------------------------------------------------------
    def _check_name(self, node: ast.AST, name: str) -> None:
        if name.startswith("__"):
            self.add(node, "dunder", f"name {name!r} reaches Python internals")
        elif name in DENIED_BUILTINS:
            self.add(node, "builtin", f"builtin {name!r} is not allowed")
        elif name == "sys":
            self.add(node, "import", "'sys' is only available to seig's own main block")

    def visit_Name(self, node: ast.Name) -> None:
        self._check_name(node, node.id)

    def visit_arg(self, node: ast.arg) -> None:
        self._check_name(node, node.arg)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._check_name(node, node.name)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self._check_name(node, node.name)
        self.generic_visit(node)

    def visit_alias(self, node: ast.alias) -> None:  # reached via generic_visit only
        pass

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr.startswith("_"):
            self.add(node, "dunder", f"attribute {attr!r} reaches Python internals")
        elif attr in DENIED_ATTRIBUTES:
            self.add(node, "bpy-api", f"attribute {attr!r} is not allowed: it {DENIED_ATTRIBUTES[attr]}")
        if isinstance(node.value, ast.Attribute) and node.value.attr == "ops":
            base = node.value.value
            if not (isinstance(base, ast.Name) and base.id == "bmesh") and attr not in ALLOWED_OPS_FAMILIES:
                self.add(node, "bpy-ops", f"operator family 'ops.{attr}' is not allowed "
                         f"(allowed: {', '.join(sorted(ALLOWED_OPS_FAMILIES))})")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            if DENIED_STRING.search(node.value):
                self.add(node, "bpy-api", f"string {node.value[:60]!r} names a node or modifier "
                         "type that reads/writes files or runs scripts")
            if node.value.startswith("__") or ".__" in node.value:
                self.add(node, "dunder", f"string {node.value[:60]!r} names Python internals")


def _check_ops_bare(tree: ast.AST) -> list[Violation]:
    """`x = bpy.ops` (ops not immediately followed by a family) would dodge the family rule."""
    parents: dict[int, ast.AST] = {}
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            parents[id(child)] = parent
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "ops":
            if isinstance(node.value, ast.Name) and node.value.id == "bmesh":
                continue
            parent = parents.get(id(node))
            if not (isinstance(parent, ast.Attribute) and parent.value is node):
                out.append(Violation(node.lineno, "bpy-ops", "'ops' must be followed by an operator family"))
    return out


def check_program(source: str) -> list[Violation]:
    """Return every rule the program breaks; an empty list means it may run."""
    if len(source.encode("utf-8", "replace")) > MAX_PROGRAM_BYTES:
        return [Violation(0, "size", f"program is larger than {MAX_PROGRAM_BYTES} bytes")]
    try:
        tree = ast.parse(source, filename="<scene>")
    except SyntaxError as exc:
        return [Violation(exc.lineno or 0, "syntax", f"{exc.msg}")]
    except (RecursionError, MemoryError, ValueError) as exc:
        return [Violation(0, "syntax", f"program cannot be parsed safely: {type(exc).__name__}")]
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_AST_NODES:
        return [Violation(0, "size", f"program has {count} syntax nodes (limit {MAX_AST_NODES})")]
    checker = _Checker(_canonical_main())
    checker.visit(tree)
    main_exempt = [s for s in tree.body if isinstance(s, ast.If) and ast.dump(s) == checker.canonical_main]
    body = ast.Module(body=[s for s in tree.body if s not in main_exempt], type_ignores=[])
    violations = checker.violations + _check_ops_bare(body)
    return sorted(set(violations), key=lambda v: (v.line, v.rule, v.message))


def require_safe(source: str) -> None:
    """Raise ProgramRejected unless `source` passes every rule."""
    violations = check_program(source)
    if violations:
        raise ProgramRejected(violations)
