"""A scripted "model" behind the protocol-true fake endpoint, for bench/vlm_cost.py.

Run as its own process (`python bench/vlm_model.py --format patch|whole --stats OUT.json`)
from this checkout, so the benchmark can drive a backend from another checkout (the code
before a change) against the same server. It prints the base URL, serves until its stdin
closes, then writes what it measured per request: prompt, cached and completion tokens
(tests/fake_openai.py: Qwen's tokenizer, vLLM's prefix cache), the job, and the token ids'
shared prefix with the other calls of the same photo.

The model's edits are the same in both formats: 3 numbers of the stage's dict moved by
5-15 % (seeded by the call's number). `patch` answers with only those keys (```json);
`whole` rewrites the whole section (```python), as a model must without patches. A
verifier call gets a short verdict with three discrepancies. Both layouts of requests are
understood: the cache-friendly one (## Request: ...) and the earlier one ("This is the
**materials** stage", "## Your section as it is now").
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scene_program.sections import parse  # noqa: E402
from scene_program.writer import PARAM_NAMES, format_params, section_params  # noqa: E402
from stages.backends.vlm.patch import diff_params  # noqa: E402
from tests.fake_openai import FakeOpenAI, Received, Scripted, request_tokens  # noqa: E402

VERDICT = json.dumps({"approve": False, "discrepancies": [
    "building_left is about a third taller in the photo", "the road should be darker and greyer",
    "the sky near the horizon should be paler"]})


def _leaves(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            yield from _leaves(v, path + (i,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                yield path + (i,)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path


def edit(params: dict, seed: int) -> dict:
    """`params` with 3 numbers moved by 5-15 % (never to zero or below when positive)."""
    rng = random.Random(seed)
    new = json.loads(json.dumps(params))
    leaves = [p for p in _leaves(new) if "yaw_deg" not in p]
    for path in rng.sample(leaves, min(3, len(leaves))):
        node = new
        for key in path[:-1]:
            node = node[key]
        old = node[path[-1]]
        step = rng.choice([-1, 1]) * rng.uniform(0.05, 0.15)
        node[path[-1]] = round(old * (1 + step) if old else step, 4)
    return new


def _with_params(body: str, section: str, params: dict) -> str:
    name = PARAM_NAMES[section]
    node = next(n for n in ast.parse(body).body if isinstance(n, ast.Assign)
                and [getattr(t, "id", None) for t in n.targets] == [name])
    lines = body.splitlines(keepends=True)
    return "".join(lines[:node.lineno - 1]) + format_params(name, params) + "".join(lines[node.end_lineno:])


def _section(request: Received) -> tuple[str, str, str]:
    """(job, stage, the section's current body) of a request, either layout."""
    text = request.prompt
    job = "verifier" if ("## Request: VERIFIER" in text or "You are checking one stage" in text) else "generator"
    m = re.search(r"## Request: (?:GENERATOR|VERIFIER) for the (\w+) stage", text) or \
        re.search(r"\*\*(\w+)\*\* stage", text)
    stage = m.group(1) if m else "geometry"
    old = re.search(r"## Your section as it is now \(`(\w+)`\)\n```python\n(.*?)```", text, re.DOTALL)
    if old:
        return job, stage, old.group(2)
    program = re.search(r"## The current scene program\n```python\n(.*)\n```", text, re.DOTALL)
    return job, stage, parse(program.group(1)).get(stage) if program else ""


class Model:
    def __init__(self, form: str):
        self.form = form
        self.calls = 0
        self.log: list[dict] = []

    def __call__(self, request: Received) -> Scripted:
        self.calls += 1
        job, stage, body = _section(request)
        photo = hashlib.sha256(request.image_urls[0].encode()).hexdigest()[:12] if request.image_urls else ""
        self.log.append({"job": job, "stage": stage, "photo": photo, "ids": request_tokens(request.body)})
        if job == "verifier":
            return Scripted(contents=[VERDICT])
        params = section_params(body, stage)
        new = edit(params, self.calls)
        if self.form == "patch":
            reply = "I move a few values towards the photograph.\n```json\n" + \
                json.dumps(diff_params(params, new, stage)) + "\n```"
        else:
            reply = "I move a few values towards the photograph.\n```python\n" + \
                _with_params(body, stage, new).strip("\n") + "\n```"
        return Scripted(contents=[reply])


def _shared(a: list, b: list) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--format", choices=["patch", "whole"], required=True)
    ap.add_argument("--stats", required=True)
    args = ap.parse_args()
    model = Model(args.format)
    with FakeOpenAI() as fake:
        fake.responder = model
        print(fake.base_url, flush=True)
        sys.stdin.read()  # serve until the benchmark closes our stdin
        measured = list(fake.measured)
    first: dict[str, list] = {}
    rows = []
    for entry, usage in zip(model.log, measured):
        ids = entry.pop("ids")
        base = first.setdefault(entry["photo"], ids)
        rows.append({**entry, **usage, "shared_with_first": _shared(base, ids)})
    Path(args.stats).write_text(json.dumps(rows))


if __name__ == "__main__":
    main()
