"""Static check of a generated scene program before it runs (sandbox layer 1 of 2).

Model-written code is untrusted. This module parses it and walks the AST against
allowlists; it never executes anything. Stdlib only, so the Blender child process can
re-check in its own interpreter (defence in depth). Rules, and why:

- imports: only modules a scene needs (bpy, bmesh, mathutils, math, random, colorsys);
  no `from bpy import ...` (aliases would dodge the attribute rules below).
- no name or attribute beginning with an underscore where it could reach Python
  internals: `__class__`, `__globals__`, `__builtins__` ... by any route: attributes,
  keyword arguments, `match` class patterns (`case E(__traceback__=tb)` reads an
  attribute without an attribute node), strings. Frames, tracebacks, code objects and
  generators expose the interpreter through plain names (`f_back`, `f_locals`,
  `tb_frame`, `ag_frame`, `co_consts`), so those families are denied by prefix, and
  `async` code (whose objects carry frames) is not allowed at all.
- no builtins that execute or reflect: open, exec, eval, compile, getattr, vars, type ...
  (getattr with a computed name would bypass every attribute rule).
- bpy APIs that touch files, run scripts, or register code are denied by attribute name
  wherever they appear, and by keyword name (`filepath=`): a name is split at `_` and
  denied when it contains a denied word (`path`, `file`, `cache`, `bake`, `export`,
  `handlers`, `texts`, `preferences` ...), which catches whole families
  (`cache_directory`, `debug_relations_graphviz`, `uv.export_layout`, `empty_image_add`)
  rather than only the names someone thought of. Node trees that are not materials or
  worlds (compositor, geometry nodes: File Output, Import OBJ/Text ...) and the
  sequencer are unreachable by any route (node_groups, modifiers, depsgraph.ids,
  editors): their node type names can be computed at run time.
- `bpy.context` only as `bpy.context.<member>` for an allowed member: `copy()` and
  `path_resolve()` turn a computed string into `preferences` or `window_manager`.
- `*.ops.FAMILY` only for in-memory families.
- no assignment to module state (`math.radians = ...`, `bpy.types.Mesh.from_pydata = ...`),
  and a module is only used as `module.NAME` (no aliases): the worker's process is warm,
  so a replaced function would run inside the next job, another image's program.
- node types that read/write files or run scripts are denied by their name string.
- no class definitions (registering classes is how add-ons hook into Blender).
- the only exemption: one `if __name__ == "__main__":` block identical to seig's
  canonical one (scene_program.builders.MAIN_CODE), which the worker never runs.

Layer 2 (run time, blender_actors.limits + child) assumes this layer can be wrong.
"""
from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass

MAX_PROGRAM_BYTES = 512 * 1024
MAX_AST_NODES = 200_000

ALLOWED_MODULES = frozenset({"bpy", "bmesh", "mathutils", "math", "random", "colorsys"})
ALLOWED_SUBMODULES = frozenset({"mathutils.noise", "mathutils.geometry", "mathutils.kdtree", "mathutils.bvhtree"})
ALLOWED_OPS_FAMILIES = frozenset({"mesh", "curve", "surface", "object", "transform", "material", "world", "uv"})
# What a scene needs from bpy.context; everything else there is UI, preferences or reflection.
CONTEXT_MEMBERS = frozenset({
    "scene", "view_layer", "collection", "layer_collection", "object", "active_object", "selected_objects",
    "selected_editable_objects", "selectable_objects", "visible_objects", "editable_objects", "edit_object",
    "objects_in_mode", "mode", "tool_settings", "engine", "blend_data", "evaluated_depsgraph_get",
})

DENIED_BUILTINS = frozenset({
    "open", "exec", "eval", "compile", "__import__", "getattr", "setattr", "delattr", "hasattr",
    "globals", "locals", "vars", "dir", "breakpoint", "input", "help", "exit", "quit", "memoryview",
    "type", "object", "super", "classmethod", "staticmethod", "property", "__build_class__", "id",
    "reload", "execfile", "file", "copyright", "credits", "license",
})

# Python's introspection attributes come in families named by prefix: frames (f_back,
# f_locals), tracebacks (tb_frame), code (co_consts), generators, coroutines and async
# generators (gi_frame, cr_frame, ag_frame). Any of them leads back to a module's globals.
INTERNAL_PREFIXES = ("_", "f_", "tb_", "co_", "gi_", "cr_", "ag_")

# Words denied inside attribute and keyword names (matched between `_` boundaries),
# grouped by the danger they stand for.
DENIED_WORDS: dict[str, str] = {}
for _reason, _words in {
    "reads or writes files": (
        "path", "paths", "filepath", "filepaths", "abspath", "relpath", "file", "files", "filename",
        "directory", "directories", "dir", "cache", "caches", "bake", "export", "import", "load", "reload",
        "save", "write", "unpack", "packed", "autopack", "library", "libraries", "asset", "assets",
        "external", "debug", "screenshot", "clipboard", "tempdir", "temp_data", "fonts", "sounds",
        "movieclips", "volumes", "empty_image", "new_image", "new_movie", "new_sound", "ies",
        "studio_light", "studio_lights", "bytecode", "shading_system",
    ),
    "renders or composites to outputs the worker did not choose (compositor, sequencer, geometry nodes)": (
        "compositing", "compositor", "sequence", "sequences", "sequencer", "sequence_editor", "strips",
        "node_group", "node_groups", "geometry_node", "geometry_nodes", "user_map",
        # every ID in the file, with the originals behind evaluated copies: quick_fur appends
        # geometry-node groups that `depsgraph.ids[i].original` would hand back
        "ids", "original", "fur",
        # the UI's data (editors hold texts, node trees and file browsers)
        "screen", "screens", "workspace", "workspaces", "areas", "spaces", "space_data", "regions",
    ),
    "runs code (scripts, text blocks, drivers, handlers)": (
        "text", "texts", "script", "scripts", "as_module", "as_string", "from_string", "driver", "drivers",
        "expression", "handler", "handlers", "timer", "timers", "msgbus", "app", "apps", "python", "exec",
        "execute", "autoexec", "custom_shader",
    ),
    "registers classes, add-ons or preferences": (
        "register", "register_class", "unregister", "unregister_class", "register_module", "register_tool",
        "utils", "props", "preferences", "user_preferences", "addon", "addons", "addon_utils", "extension",
        "extensions", "keyconfig", "keyconfigs", "keymap", "keymaps", "window", "windows", "window_manager",
        "window_managers",
    ),
    "reaches Python internals": ("format", "format_map", "mro", "fget", "fset", "fdel"),
}.items():
    for _word in _words:
        DENIED_WORDS[_word] = _reason
_DENIED_NAME = re.compile(
    r"(?:^|_)(" + "|".join(sorted(map(re.escape, DENIED_WORDS), key=len, reverse=True)) + r")(?=_|$)")

# Node and modifier type names that read or write files or run scripts (as they are
# spelled: CamelCase nodes, UPPER_CASE modifiers, so that "Important sign" stays allowed).
DENIED_STRING = re.compile(r"OutputFile|NodeScript|Import[A-Z]|Export[A-Z]|MESH_CACHE|MESH_SEQUENCE_CACHE|Compositor")


def denied_name(name: str) -> tuple[str, str] | None:
    """(rule, reason) if an attribute or keyword called `name` is not allowed, else None."""
    if name.startswith(INTERNAL_PREFIXES):
        return "dunder", "reaches Python internals"
    found = _DENIED_NAME.search(name.lower())
    if found:
        return "bpy-api", f"{DENIED_WORDS[found.group(1)]} (denied word {found.group(1)!r})"
    return None


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
        self.exempt: list[ast.stmt] = []

    def add(self, node: ast.AST, rule: str, message: str) -> None:
        self.violations.append(Violation(getattr(node, "lineno", 0), rule, message))

    # --- statements -------------------------------------------------------------
    def visit_Module(self, node: ast.Module) -> None:
        for stmt in node.body:
            if isinstance(stmt, ast.If) and ast.dump(stmt) == self.canonical_main:
                self.exempt.append(stmt)  # the standalone entry point: never run by a worker
                continue
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

    def _check_member(self, node: ast.AST, name: str, kind: str) -> None:
        denied = denied_name(name)
        if denied:
            self.add(node, denied[0], f"{kind} {name!r} is not allowed: it {denied[1]}")

    def visit_Name(self, node: ast.Name) -> None:
        self._check_name(node, node.id)

    def visit_arg(self, node: ast.arg) -> None:
        self._check_name(node, node.arg)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._check_name(node, node.name)
        self.generic_visit(node)

    def _async(self, node: ast.AST) -> None:
        """Coroutines and async generators carry frames (cr_frame, ag_frame); no scene needs them."""
        self.add(node, "async", "async code is not allowed (its objects expose interpreter frames)")
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_Await = visit_AsyncFor = visit_AsyncWith = _async

    def visit_comprehension(self, node: ast.comprehension) -> None:
        if node.is_async:
            self.add(node.target, "async", "async comprehensions are not allowed")
        self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self._check_name(node, node.name)
        self.generic_visit(node)

    def visit_alias(self, node: ast.alias) -> None:  # reached via generic_visit only
        pass

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._check_member(node, node.attr, "attribute")
        if isinstance(node.value, ast.Attribute) and node.value.attr == "ops":
            base = node.value.value
            if not (isinstance(base, ast.Name) and base.id == "bmesh") and node.attr not in ALLOWED_OPS_FAMILIES:
                self.add(node, "bpy-ops", f"operator family 'ops.{node.attr}' is not allowed "
                         f"(allowed: {', '.join(sorted(ALLOWED_OPS_FAMILIES))})")
        if isinstance(node.value, ast.Attribute) and node.value.attr == "context" and node.attr not in CONTEXT_MEMBERS:
            self.add(node, "bpy-context", f"'context.{node.attr}' is not allowed "
                     f"(allowed: {', '.join(sorted(CONTEXT_MEMBERS))})")
        self.generic_visit(node)

    def visit_keyword(self, node: ast.keyword) -> None:
        """`f(filepath=...)` passes a path as surely as `x.filepath = ...` does."""
        if node.arg is not None:
            self._check_member(node, node.arg, "keyword")
        self.generic_visit(node)

    # --- match statements: class patterns read attributes named by plain strings ---
    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        for attr in node.kwd_attrs:
            self._check_member(node, attr, "attribute (in a class pattern)")
            if attr in ("ops", "context"):  # bound bare, they would dodge the rules on what follows them
                self.add(node, f"bpy-{attr}", f"'{attr}' may not be captured by a class pattern")
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name:
            self._check_name(node, node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self._check_name(node, node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            self._check_name(node, node.rest)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            if DENIED_STRING.search(node.value):
                self.add(node, "bpy-api", f"string {node.value[:60]!r} names a node or modifier "
                         "type that reads/writes files or runs scripts")
            if node.value.startswith("__") or ".__" in node.value:
                self.add(node, "dunder", f"string {node.value[:60]!r} names Python internals")


def _parents(tree: ast.AST) -> dict[int, ast.AST]:
    return {id(child): parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}


def _check_bare(tree: ast.AST, parents: dict[int, ast.AST]) -> list[Violation]:
    """`x = bpy.ops` or `C = bpy.context` (not followed by a member) would dodge the rules
    on what may follow them (`C.copy()["preferences"]`)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("ops", "context"):
            if node.attr == "ops" and isinstance(node.value, ast.Name) and node.value.id == "bmesh":
                continue
            parent = parents.get(id(node))
            if not (isinstance(parent, ast.Attribute) and parent.value is node):
                what = "an operator family" if node.attr == "ops" else "a member (bpy.context.scene ...)"
                out.append(Violation(node.lineno, f"bpy-{node.attr}", f"'{node.attr}' must be followed by {what}"))
    return out


def _imported_names(tree: ast.AST) -> dict[str, str]:
    """{name bound by an import: the module it came from}; `import a.b` binds `a`."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                names[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _chain(node: ast.AST) -> tuple[ast.AST, list[str]]:
    """`a.b.c` -> (Name a, ["b", "c"])."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.insert(0, node.attr)
        node = node.value
    return node, attrs


def _check_module_state(tree: ast.AST, parents: dict[int, ast.AST]) -> list[Violation]:
    """Stores into imported modules and classes outlive the job; so would aliases of modules."""
    imported = _imported_names(tree)
    modules = {name for name, origin in imported.items() if "." not in origin or origin in ALLOWED_SUBMODULES}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
            root, attrs = _chain(node)
            if isinstance(root, ast.Name) and root.id in imported and not (
                    imported[root.id] == "bpy" and attrs[0] in ("context", "data") and len(attrs) > 1):
                out.append(Violation(node.lineno, "module-state", f"assigning to {root.id}.{'.'.join(attrs)} "
                                     "changes shared module state, which would outlive this job"))
        elif isinstance(node, ast.Name) and node.id in modules and isinstance(node.ctx, ast.Load):
            parent = parents.get(id(node))
            if not (isinstance(parent, ast.Attribute) and parent.value is node):
                out.append(Violation(node.lineno, "module-state", f"module {node.id!r} may only be used "
                                     f"as {node.id}.NAME (an alias would let its attributes be replaced)"))
    return out


def _parse(source: str) -> ast.Module | Violation:
    if len(source.encode("utf-8", "replace")) > MAX_PROGRAM_BYTES:
        return Violation(0, "size", f"program is larger than {MAX_PROGRAM_BYTES} bytes")
    try:
        tree = ast.parse(source, filename="<scene>")
    except SyntaxError as exc:
        return Violation(exc.lineno or 0, "syntax", f"{exc.msg}")
    except (RecursionError, MemoryError, ValueError) as exc:
        return Violation(0, "syntax", f"program cannot be parsed safely: {type(exc).__name__}")
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_AST_NODES:
        return Violation(0, "size", f"program has {count} syntax nodes (limit {MAX_AST_NODES})")
    return tree


def check_program(source: str) -> list[Violation]:
    """Return every rule the program breaks; an empty list means it may run. Never raises.

    Cached by program text: the engine checks a candidate before asking for a render and
    the worker checks it again before running it (~15-25 ms each, ~10% of a job's CPU)."""
    return list(_check_cached(source))


@functools.lru_cache(maxsize=512)
def _check_cached(source: str) -> tuple[Violation, ...]:
    return tuple(_check(source))


def _check(source: str) -> list[Violation]:
    tree = _parse(source)
    if isinstance(tree, Violation):
        return [tree]
    checker = _Checker(_canonical_main())
    try:
        checker.visit(tree)
    except RecursionError:  # the visitor recurses: absurd nesting is refused, not a crash
        return [Violation(0, "size", "program is nested too deeply to check")]
    body = ast.Module(body=[s for s in tree.body if s not in checker.exempt], type_ignores=[])
    parents = _parents(body)
    violations = checker.violations + _check_bare(body, parents) + _check_module_state(body, parents)
    return sorted(set(violations), key=lambda v: (v.line, v.rule, v.message))


def require_safe(source: str) -> None:
    """Raise ProgramRejected unless `source` passes every rule."""
    violations = check_program(source)
    if violations:
        raise ProgramRejected(violations)
