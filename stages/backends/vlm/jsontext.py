"""Find JSON objects wherever they sit in a model's reply: in a ```json block, after a
python block, in the middle of prose, or written as a Python dict literal."""
from __future__ import annotations

import ast
import json
import re
from typing import Any

_JSON_FENCE = re.compile(r"```[ \t]*(?:json|javascript|js)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def _load(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:  # {'approve': True, ...}: a Python literal, as models sometimes write
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _balanced(text: str, start: int) -> int | None:
    """The index after the `}` closing the `{` at `start` (strings and escapes respected)."""
    depth, quote, escaped = 0, "", False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def json_objects(text: str) -> list[dict]:
    """Every top-level JSON (or Python-literal) object in `text`, in order of appearance;
    fenced json blocks first."""
    found: list[dict] = []
    for m in _JSON_FENCE.finditer(text):
        value = _load(m.group(1).strip())
        if isinstance(value, dict):
            found.append(value)
    i = 0
    while True:
        i = text.find("{", i)
        if i < 0:
            break
        end = _balanced(text, i)
        if end is None:
            i += 1
            continue
        value = _load(text[i:end])
        if isinstance(value, dict):
            if value not in found:
                found.append(value)
            i = end
        else:
            i += 1
    return found
