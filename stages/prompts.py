"""Prompt templates for VLM backends, loaded by name from the top-level `prompts/` folder.

A template file is `prompts/NAME.md`: a small header, a blank line, then the body.

    version: 3
    includes: program_contract, blender_api
    description: free text, ignored

    Body text with $placeholders (string.Template: `$name` or `${name}`, `$$` for a dollar),
    so code braces `{}` in a template need no escaping.

`version` is required (an integer). `includes` names other templates whose rendered text
is bound to the placeholder of the same name (`$blender_api`), so facts shared by every
stage are written once. A template's `tag` ("geometry_generator@3+blender_api@2") names
every file and version that went into a rendered prompt: it is what records store.

Errors name the file: a missing template, a header without a version, a placeholder the
caller did not supply.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_HEADER_LINE = re.compile(r"^([a-z_]+):\s*(.*?)\s*$")


class PromptError(ValueError):
    """A template is missing, malformed, or was rendered without one of its placeholders."""


@dataclass(frozen=True)
class Prompt:
    name: str
    version: int
    path: Path
    body: str
    includes: tuple["Prompt", ...] = ()
    meta: tuple[tuple[str, str], ...] = ()

    @property
    def tag(self) -> str:
        """`name@version`, followed by every included template's `name@version`."""
        parts = [f"{self.name}@{self.version}"]
        for inc in self.includes:
            parts.extend(p for p in inc.tag.split("+") if p not in parts)
        return "+".join(parts)

    def placeholders(self) -> set[str]:
        """Every placeholder the caller must supply (this template's and its includes')."""
        names = set(Template(self.body).get_identifiers()) - {inc.name for inc in self.includes}
        for inc in self.includes:
            names |= inc.placeholders()
        return names

    def render(self, **values: object) -> str:
        """Substitute `values`; raise PromptError naming the file and any missing placeholder."""
        missing = sorted(self.placeholders() - set(values))
        if missing:
            raise PromptError(f"{self.path}: no value for placeholder(s) {', '.join('$' + m for m in missing)}")
        bound = {k: str(v) for k, v in values.items()}
        for inc in self.includes:
            bound[inc.name] = inc.render(**values).rstrip("\n")
        try:
            return Template(self.body).substitute(bound)
        except ValueError as exc:  # a lone `$` that is not a placeholder
            raise PromptError(f"{self.path}: {exc} (write $$ for a literal dollar sign)") from exc


def _parse(name: str, path: Path, text: str) -> tuple[dict[str, str], str]:
    lines = text.splitlines(keepends=True)
    if lines and lines[0].strip() == "---":  # YAML-style front matter between --- lines
        try:
            end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
        except StopIteration:
            raise PromptError(f"{path}: front matter opened with '---' is never closed") from None
        head, body = lines[1:end], lines[end + 1:]
    else:  # header lines up to the first blank line
        end = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
        head, body = lines[:end], lines[end + 1:]
    meta: dict[str, str] = {}
    for line in head:
        m = _HEADER_LINE.match(line.strip())
        if not m:
            raise PromptError(f"{path}: header line {line.strip()!r} is not 'key: value' "
                              "(the file must start with 'version: N', then a blank line, then the body)")
        meta[m.group(1)] = m.group(2)
    if "version" not in meta:
        raise PromptError(f"{path}: header has no 'version: N' line")
    if not meta["version"].isdigit():
        raise PromptError(f"{path}: version {meta['version']!r} is not a whole number")
    return meta, "".join(body)


def load(name: str, directory: str | Path | None = None, _seen: tuple[str, ...] = ()) -> Prompt:
    """Load `directory/NAME.md` (default: the repository's `prompts/`), with its includes."""
    if not _NAME.match(name):
        raise PromptError(f"prompt name {name!r} must be lower_snake_case (the file is NAME.md)")
    folder = Path(directory) if directory is not None else PROMPTS_DIR
    path = folder / f"{name}.md"
    if name in _seen:
        raise PromptError(f"{path}: includes itself (via {' -> '.join(_seen)})")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        known = ", ".join(available(folder)) or "none"
        raise PromptError(f"{path}: no such prompt template (templates in {folder}: {known})") from None
    meta, body = _parse(name, path, text)
    includes = tuple(load(inc.strip(), folder, _seen + (name,))
                     for inc in meta.get("includes", "").split(",") if inc.strip())
    extra = tuple((k, v) for k, v in meta.items() if k not in ("version", "includes"))
    return Prompt(name=name, version=int(meta["version"]), path=path, body=body, includes=includes, meta=extra)


def available(directory: str | Path | None = None) -> list[str]:
    """Names of the templates in `directory` (default: the repository's `prompts/`)."""
    folder = Path(directory) if directory is not None else PROMPTS_DIR
    return sorted(p.stem for p in folder.glob("*.md") if _NAME.match(p.stem))
