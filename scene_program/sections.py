"""Split a scene program into its named sections and splice one back in.

A stage owns exactly one section; it must never touch the others. Sections are
delimited by marker lines `# === seig:NAME ===`; the text before the first marker is
the header (docstring and imports). Keeping this textual (rather than AST-based) means
a VLM's free-form edit of one section is replaced whole, comments and all.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MARKER = re.compile(r"^# === seig:([a-z_]+) ===[ \t]*$", re.MULTILINE)
STAGE_SECTIONS = ("geometry", "materials", "composition", "lighting")


class SectionError(ValueError):
    """A program does not have the section layout the contract requires."""


@dataclass(frozen=True)
class Program:
    """A program as header + ordered (name, body) sections. Bodies exclude the marker line."""

    header: str
    sections: tuple[tuple[str, str], ...]

    def names(self) -> list[str]:
        return [name for name, _ in self.sections]

    def get(self, name: str) -> str:
        for key, body in self.sections:
            if key == name:
                return body
        raise SectionError(f"program has no section {name!r} (has: {', '.join(self.names())})")

    def replace(self, name: str, body: str) -> "Program":
        """Return a copy with section `name` replaced; the others stay byte-identical."""
        self.get(name)
        if MARKER.search(body):
            raise SectionError(f"new body of section {name!r} contains a section marker")
        body = body.strip("\n") + "\n\n"
        return Program(self.header, tuple((k, body if k == name else b) for k, b in self.sections))

    def text(self) -> str:
        parts = [self.header]
        for name, body in self.sections:
            parts.append(f"# === seig:{name} ===\n{body}")
        return "".join(parts)


def parse(text: str) -> Program:
    """Split `text` into header and sections; raise SectionError on duplicates."""
    matches = list(MARKER.finditer(text))
    if not matches:
        raise SectionError("program has no '# === seig:NAME ===' section markers")
    header = text[: matches[0].start()]
    sections: list[tuple[str, str]] = []
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[m.end() + 1 : end]
        if any(name == m.group(1) for name, _ in sections):
            raise SectionError(f"section {m.group(1)!r} appears twice")
        sections.append((m.group(1), body))
    return Program(header, tuple(sections))


def section_line_ranges(text: str) -> dict[str, tuple[int, int]]:
    """1-based inclusive line ranges of each section, to map an error line to its owner."""
    out: dict[str, tuple[int, int]] = {}
    matches = list(MARKER.finditer(text))
    total = text.count("\n") + 1
    for i, m in enumerate(matches):
        start = text.count("\n", 0, m.start()) + 1
        end = (text.count("\n", 0, matches[i + 1].start()) if i + 1 < len(matches) else total)
        out[m.group(1)] = (start, end)
    return out
