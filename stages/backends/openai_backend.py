"""The `openai` backend: a VLM behind any OpenAI-compatible chat endpoint plays generator
and verifier (OpenAI, vLLM or SGLang serving Qwen-VL, Ollama).

One instance serves ONE image: its call and token budgets (`budget_calls`,
`budget_tokens`) are per image, and the pipeline makes a backend per image
(pipeline.single). Reusing an instance for a second image would share its budget.

- Prompts: `prompts/{stage}_{generator,verifier}.md` and `initial_generator.md`, rendered
  by stages.prompts; every proposal records the template versions it used.
- Images: the photo (JPEG) and the current render (PNG) as base64 data URLs in
  `image_url` content parts.
- Retries: the SDK's own (`max_retries`, exponential backoff, honouring Retry-After) on
  429, 5xx, timeouts and connection errors; the retries taken are counted into Usage.
  After `give_up_after` failed calls in a row the endpoint is taken as down: the next call
  raises BudgetExhausted, so the stages keep their best instead of waiting on every round.
- Budget: checked before each call (BudgetExhausted); `max_tokens` is capped at what is
  left after an estimate of the prompt. A reply that takes the image over its budget is
  used; the next call raises BudgetExhausted.
- Code: taken from the reply's ```python block (or its only fenced block, or the whole
  reply if it is Python); from a whole program, this stage's section is cut out. It must
  parse and define what the rest of the program uses, or the round fails (BackendError
  "no_code" / "contract" / "truncated") and the reason goes to the next round.
"""
from __future__ import annotations

import ast
import base64
import io
import json
import logging
import math
import os
import re
import time
from typing import Any, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from blender_actors.sandbox import check_program
from scene_program.sections import MARKER, STAGE_SECTIONS, Program, SectionError, parse
from scene_program.writer import PARAM_NAMES
from stages import prompts
from stages.backends.base import BackendError, BudgetExhausted, Feedback, Proposal, RenderSettings, StageContext
from stages.photo import Photo
from stages.records import RoundRecord, Usage
from stages.scoring import Scores

log = logging.getLogger(__name__)

GENERATOR_FIELDS = ("stage", "goal", "section", "params_name", "required_names", "round", "rounds", "scores",
                    "program", "section_body", "feedback", "last_error", "history", "width", "height", "images")
VERIFIER_FIELDS = ("stage", "goal", "section", "round", "rounds", "scores", "section_body", "feedback", "images")
INITIAL_FIELDS = ("width", "height", "images", "program")
ERROR_CHARS = 2000  # the tail of a long error (tracebacks end with what matters)


class OpenAIConfig(BaseModel):
    """Settings of the `openai` backend. Budgets are per image (one backend per image)."""

    model_config = ConfigDict(extra="forbid")
    base_url: str = Field("https://api.openai.com/v1", description="any OpenAI-compatible /v1 endpoint")
    model: str = Field(..., min_length=1)
    api_key_env: str | None = Field("OPENAI_API_KEY",
                                    description="env var holding the key; null: no key (a local server)")
    timeout_s: float = Field(120.0, gt=0, description="per request attempt")
    max_retries: int = Field(3, ge=0, le=10, description="SDK retries on 429, 5xx, timeouts, connection errors")
    give_up_after: int = Field(3, ge=1, description="failed calls in a row before the endpoint is taken as down")
    max_tokens: int = Field(4096, ge=16, description="reply length cap per call")
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens", description="newer OpenAI models want max_completion_tokens")
    min_reply_tokens: int = Field(256, ge=1, description="below this many tokens left, no call is made")
    temperature: float | None = Field(0.2, ge=0, le=2, description="null: the server's default")
    budget_calls: int = Field(60, ge=1, description="VLM calls per image")
    budget_tokens: int = Field(1_000_000, ge=1, description="prompt + completion tokens per image")
    image_detail: Literal["auto", "low", "high"] = "auto"
    image_max_side: int = Field(768, ge=32, le=4096, description="images are shrunk to this long side before sending")
    candidates: int = Field(1, ge=1, le=8, description="choices asked per round (the `n` parameter)")
    initial: Literal["offline", "vlm"] = Field(
        "offline", description="offline: classical vision first, the VLM refines each stage; vlm: the VLM writes "
        "all four sections at once (falls back to offline if its program fails validation)")
    max_discrepancies: int = Field(5, ge=1, le=20)
    prompts_dir: str | None = Field(None, description="folder of prompt templates; default: the repository's prompts/")


# --- reading replies ------------------------------------------------------------------
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
    Python with a definition in it. An unclosed fence (a cut-off reply) gives what follows it."""
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


def _same_code(a: str, b: str) -> bool:
    """Equal as code (comments and formatting aside)."""
    try:
        return ast.dump(ast.parse(a)) == ast.dump(ast.parse(b))
    except SyntaxError:
        return a.strip() == b.strip()


def section_from_reply(reply: str, finish_reason: str | None, section: str, required: list[str]) -> str:
    """The new body of `section` from a reply, validated; BackendError if there is none."""
    code = extract_code(reply or "")
    cut = finish_reason == "length"
    if code is None:
        if cut:
            raise BackendError("truncated", "the reply was cut off (max_tokens) before its code block; "
                               "write a shorter section")
        start = " ".join((reply or "").split())[:160]
        raise BackendError("no_code", f"the reply has no ```python block with the {section} section "
                           f"(it began: {start!r})")
    return section_from_code(code, cut, section, required)


def section_from_code(code: str, cut: bool, section: str, required: list[str]) -> str:
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
        kind = "truncated" if cut else "no_code"
        why = " (the reply was cut off at max_tokens)" if cut else ""
        raise BackendError(kind, f"the {section} section in the reply does not parse{why}: "
                           f"{exc.msg} (line {exc.lineno})") from None
    missing = [n for n in required if n not in defined_names(code)]
    if missing:
        raise BackendError("contract", f"the new {section} section does not define {', '.join(missing)} "
                           "(the rest of the program uses them)")
    return code.strip("\n") + "\n"


def parse_verdict(reply: str, limit: int) -> tuple[bool, list[str]]:
    """(approve, discrepancies) from a verifier reply: JSON, else bullet lines, else nothing."""
    text = reply or ""
    m = re.search(r"```(?:json)?\s*\n(.*?)```", text, re.DOTALL)
    candidate = m.group(1) if m else text[text.find("{"): text.rfind("}") + 1]
    try:
        data = json.loads(candidate)
    except ValueError:
        data = None
    if isinstance(data, dict):
        approve = data.get("approve") is True or str(data.get("approve")).lower() == "true"
        items = data.get("discrepancies") or data.get("issues") or []
        items = [items] if isinstance(items, str) else items if isinstance(items, list) else []
    else:
        approve = False
        items = [re.sub(r"^\s*(?:[-*]|\d+[.)])\s+", "", line) for line in text.splitlines()
                 if re.match(r"^\s*(?:[-*]|\d+[.)])\s+\S", line)]
    out = [" ".join(str(x).split())[:300] for x in items if str(x).strip()]
    return approve, out[:limit]


# --- building requests ------------------------------------------------------------------
def estimate_prompt_tokens(messages: list[dict], detail: str) -> int:
    """A rough count of a request's prompt tokens (text: 4 characters a token; an image:
    85 at low detail, 765 otherwise, OpenAI's figure for a 768 px image). Only used to cap
    max_tokens and to refuse a call that cannot fit; usage from the server is what counts."""
    chars, images = 0, 0
    for msg in messages:
        parts = msg["content"] if isinstance(msg["content"], list) else [{"type": "text", "text": msg["content"]}]
        for part in parts:
            if part.get("type") == "image_url":
                images += 1
            else:
                chars += len(part.get("text", ""))
    return math.ceil(chars / 4) + images * (85 if detail == "low" else 765)


def _data_url(image: Image.Image | bytes, max_side: int, fmt: str) -> str:
    if isinstance(image, (bytes, bytearray)):
        if fmt == "PNG" and max(Image.open(io.BytesIO(image)).size) <= max_side:
            return "data:image/png;base64," + base64.b64encode(image).decode("ascii")
        image = Image.open(io.BytesIO(image))
    image = image.convert("RGB")
    if max(image.size) > max_side:
        s = max_side / max(image.size)
        image = image.resize((max(1, round(image.width * s)), max(1, round(image.height * s))), Image.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    mime = "jpeg" if fmt == "JPEG" else "png"
    return f"data:image/{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _scores_text(scores: Scores | None) -> str:
    return f"PSNR {scores.psnr:.2f} dB, SSIM {scores.ssim:.3f}" if scores else "no render yet"


def _history_text(history: list[RoundRecord]) -> str:
    lines = []
    for rec in history:
        if rec.round == 0:
            lines.append(f"start: {_scores_text(rec.scores_after)}"
                         + (f" (did not render: {rec.error.message[:200]})" if rec.error else ""))
        elif rec.error:
            lines.append(f"round {rec.round}: failed ({rec.error.message[:200]})")
        else:
            outcome = "kept" if rec.kept else "reverted"
            errs = [f"candidate {c.index} failed ({c.error.kind})" for c in rec.candidates if c.error]
            lines.append(f"round {rec.round}: {outcome}, best so far {_scores_text(rec.scores_after)}"
                         + (f"; {', '.join(errs)}" if errs else ""))
    return "\n".join(f"- {line}" for line in lines) or "- (nothing yet)"


def _bullets(items: list[str], empty: str) -> str:
    return "\n".join(f"- {x}" for x in items) if items else empty


class OpenAIBackend:
    name = "openai"

    def __init__(self, config: OpenAIConfig, client: Any = None):
        import openai

        self.config = config
        self.usage = Usage()  # everything this instance spent (its image's budget)
        self.notes: list[str] = []  # what happened outside rounds (e.g. the initial program's origin)
        self._failures = 0  # failed calls in a row
        self._last_failure = ""
        self._photo_url: tuple[int, str] | None = None
        self._proposed: dict[tuple[str, int], list[str]] = {}
        self._prompts = {name: self._load(name, fields) for name, fields in self._templates()}
        if client is None:
            key = "unused"  # a local server that needs no key
            if config.api_key_env:
                key = os.environ.get(config.api_key_env, "")
                if not key:
                    raise BackendError("config", f"environment variable {config.api_key_env} is not set: it must hold "
                                       f"the API key for {config.base_url} (or set api_key_env: null for a "
                                       "server that needs no key)")
            client = openai.OpenAI(base_url=config.base_url, api_key=key, timeout=config.timeout_s,
                                   max_retries=config.max_retries)
        self.client = client

    def close(self) -> None:
        self.client.close()

    # --- prompts ------------------------------------------------------------------------
    @staticmethod
    def _templates():
        yield "initial_generator", INITIAL_FIELDS
        for s in STAGE_SECTIONS:
            yield f"{s}_generator", GENERATOR_FIELDS
            yield f"{s}_verifier", VERIFIER_FIELDS

    def _load(self, name: str, fields: tuple[str, ...]) -> prompts.Prompt:
        """Load a template now, so a missing one or an unknown placeholder fails at start-up."""
        prompt = prompts.load(name, self.config.prompts_dir)
        unknown = prompt.placeholders() - set(fields)
        if unknown:
            raise prompts.PromptError(f"{prompt.path}: placeholder(s) {', '.join(sorted(unknown))} are not supplied "
                                      f"by the openai backend (it supplies: {', '.join(fields)})")
        return prompt

    # --- calls --------------------------------------------------------------------------
    def _check_budget(self, messages: list[dict]) -> int:
        """Raise BudgetExhausted when no call may be made; else the max_tokens to ask for."""
        cfg, spent = self.config, self.usage
        if self._failures >= cfg.give_up_after:
            raise BudgetExhausted(f"the endpoint failed {self._failures} calls in a row (last: {self._last_failure}); "
                                  "no more calls for this image")
        if spent.calls >= cfg.budget_calls:
            raise BudgetExhausted(f"call budget spent: {spent.calls} of {cfg.budget_calls} calls for this image")
        if spent.tokens >= cfg.budget_tokens:
            raise BudgetExhausted(f"token budget spent: {spent.tokens} of {cfg.budget_tokens} tokens for this image")
        left = cfg.budget_tokens - spent.tokens - estimate_prompt_tokens(messages, cfg.image_detail)
        if left < cfg.min_reply_tokens:
            raise BudgetExhausted(f"token budget nearly spent: {cfg.budget_tokens - spent.tokens} tokens left for this "
                                  f"image, not enough for this prompt and a reply of {cfg.min_reply_tokens}")
        return min(cfg.max_tokens, left)

    def _call(self, messages: list[dict], n: int = 1):
        """One chat completion (with the SDK's retries); returns (completion, usage)."""
        import openai

        cap = self._check_budget(messages)
        cfg = self.config
        kwargs: dict[str, Any] = {cfg.max_tokens_param: cap}
        if cfg.temperature is not None:
            kwargs["temperature"] = cfg.temperature
        if n > 1:
            kwargs["n"] = n
        t0 = time.perf_counter()
        try:
            raw = self.client.chat.completions.with_raw_response.create(model=cfg.model, messages=messages, **kwargs)
            completion = raw.parse()
        except openai.APIError as exc:
            usage = Usage(calls=1, latency_s=time.perf_counter() - t0, retries=_retries_of(exc))
            self.usage = self.usage + usage
            err = _backend_error(exc, cfg)
            err.usage = usage
            self._failures += 1
            self._last_failure = f"{err.kind}: {err}"
            raise err from None
        except (ValueError, TypeError) as exc:  # a body that is not a chat completion (a proxy's HTML page ...)
            completion, why = None, f"the response is not a chat completion ({type(exc).__name__}: {str(exc)[:200]})"
        else:
            why = f"{cfg.model} at {cfg.base_url} returned no choices"
        latency = time.perf_counter() - t0
        self._failures = 0
        if not getattr(completion, "choices", None):
            usage = Usage(calls=1, latency_s=latency, retries=raw.retries_taken)
            self.usage = self.usage + usage
            err = BackendError("bad_reply", why)
            err.usage = usage
            raise err
        u = completion.usage
        text = "".join(c.message.content or "" for c in completion.choices)
        usage = Usage(calls=1, latency_s=latency, retries=raw.retries_taken,
                      prompt_tokens=u.prompt_tokens if u else estimate_prompt_tokens(messages, cfg.image_detail),
                      completion_tokens=u.completion_tokens if u else math.ceil(len(text) / 4))
        self.usage = self.usage + usage
        return completion, usage

    def _content(self, text: str, photo: Photo, render_png: bytes | None) -> list[dict]:
        try:
            return self._parts(text, photo, render_png)
        except (OSError, ValueError) as exc:  # an image PIL cannot encode: a failed round, not a crash
            raise BackendError("image", f"cannot encode an image for the request: {exc}") from None

    def _parts(self, text: str, photo: Photo, render_png: bytes | None) -> list[dict]:
        detail = self.config.image_detail
        if self._photo_url is None or self._photo_url[0] != id(photo):
            self._photo_url = (id(photo), _data_url(photo.image, self.config.image_max_side, "JPEG"))
        parts = [{"type": "text", "text": text}, {"type": "text", "text": "Image 1: the photograph."},
                 {"type": "image_url", "image_url": {"url": self._photo_url[1], "detail": detail}}]
        if render_png:
            parts += [{"type": "text", "text": "Image 2: the render of the current program."},
                      {"type": "image_url", "image_url": {"url": _data_url(render_png, self.config.image_max_side,
                                                                            "PNG"), "detail": detail}}]
        return parts

    # --- the Backend interface ------------------------------------------------------------
    def initial_program(self, photo: Photo, render: RenderSettings) -> tuple[str, Usage]:
        from stages.backends.offline import OfflineBackend

        program, usage = OfflineBackend().initial_program(photo, render)
        if self.config.initial == "offline":
            self.notes.append("initial program: offline (classical vision)")
            return program, usage
        prompt = self._prompts["initial_generator"]
        text = prompt.render(width=render.width, height=render.height, program=program.rstrip("\n"),
                             images="Image 1 is the photograph.")
        try:
            completion, used = self._call([{"role": "user", "content": self._content(text, photo, None)}])
            usage = usage + used
            choice = completion.choices[0]
            new = self._whole_program(choice.message.content, choice.finish_reason, program)
        except BackendError as exc:
            usage = usage + getattr(exc, "usage", Usage())
            note = (f"initial program: the VLM's was not usable ({exc.kind}: {exc}); "
                    "started from the offline program")
            log.warning(note)
            self.notes.append(note)
            return program, usage
        self.notes.append(f"initial program: written by {self.config.model} ({prompt.tag})")
        return new, usage

    def _whole_program(self, reply: str, finish_reason: str | None, template: str) -> str:
        """Splice the reply's four stage sections into `template`; validate statically."""
        code = extract_code(reply or "")
        if code is None or not MARKER.search(code):
            kind = "truncated" if finish_reason == "length" else "no_code"
            raise BackendError(kind, "the reply has no code block with '# === seig:NAME ===' sections")
        base = parse(template)
        program = base
        for section in STAGE_SECTIONS:
            if not re.search(rf"^# === seig:{section} ===[ \t]*$", code, re.MULTILINE):
                raise BackendError("no_code", f"the reply has no {section} section")
            body = section_from_code(code, finish_reason == "length", section, required_names(base, section))
            program = program.replace(section, body)
        text = program.text()
        violations = check_program(text)
        if violations:
            raise BackendError("rejected", "; ".join(map(str, violations[:5])))
        return text

    def propose(self, ctx: StageContext) -> Proposal:
        stage, section = ctx.stage, ctx.stage.section
        prompt = self._prompts[f"{stage.name}_generator"]
        verifier = self._prompts[f"{stage.name}_verifier"]
        program = parse(ctx.program)
        required = required_names(program, section)
        others = program.replace(section, f"# ... the {section} section: yours to rewrite (shown below) ...\n")
        last_error = ctx.last_error or "(none: the last round ran)"
        text = prompt.render(
            stage=stage.name, goal=stage.goal, section=section, params_name=PARAM_NAMES.get(section, "PARAMS"),
            required_names=", ".join(f"`{n}`" for n in required), round=ctx.round, rounds=stage.rounds,
            scores=_scores_text(ctx.best_scores), program=others.text().rstrip("\n"),
            section_body=ctx.section_body.strip("\n"),
            feedback=_bullets(ctx.feedback, "(none yet)"), history=_history_text(ctx.history),
            last_error=last_error if len(last_error) <= ERROR_CHARS else "..." + last_error[-ERROR_CHARS:],
            width=ctx.render.width, height=ctx.render.height,
            images=("Image 1 is the photograph; image 2 is the render of the current program."
                    if ctx.best_png else "Image 1 is the photograph. The current program did not render "
                    "(see the last error), so there is no render to compare."))
        completion, usage = self._call([{"role": "user", "content": self._content(text, ctx.photo, ctx.best_png)}],
                                       n=self.config.candidates)
        bodies: list[str] = []
        problems: list[BackendError] = []
        for choice in completion.choices:
            try:
                body = section_from_reply(choice.message.content, choice.finish_reason, section, required)
            except BackendError as exc:
                problems.append(exc)
                continue
            if _same_code(body, ctx.section_body):
                problems.append(BackendError("unchanged", f"the reply repeats the current {section} section unchanged"))
            elif body not in bodies:
                bodies.append(body)
        if not bodies:
            err = BackendError(problems[0].kind, "; ".join(dict.fromkeys(str(p) for p in problems)))
            err.usage = usage
            raise err
        self._proposed[(stage.name, ctx.round)] = bodies
        finish = sorted({c.finish_reason or "?" for c in completion.choices})
        notes = f"{self.config.model}: {len(bodies)} candidate(s) of {len(completion.choices)} choice(s), " \
                f"finish {'/'.join(finish)}" + (f"; dropped: {'; '.join(str(p) for p in problems)}" if problems else "")
        return Proposal(bodies=bodies, notes=notes, usage=usage, prompt_version=f"{prompt.tag};{verifier.tag}")

    def verify(self, ctx: StageContext, png: bytes, scores: Scores) -> Feedback:
        stage = ctx.stage
        prompt = self._prompts[f"{stage.name}_verifier"]
        proposed = self._proposed.get((stage.name, ctx.round), [])
        body = proposed[0] if len(proposed) == 1 else ctx.section_body  # the engine does not say which won
        text = prompt.render(stage=stage.name, goal=stage.goal, section=stage.section, round=ctx.round,
                             rounds=stage.rounds, scores=_scores_text(scores), section_body=body.strip("\n"),
                             feedback=_bullets(ctx.feedback, "(none: first round)"),
                             images="Image 1 is the photograph; image 2 is the render.")
        completion, usage = self._call([{"role": "user", "content": self._content(text, ctx.photo, png)}])
        approve, items = parse_verdict(completion.choices[0].message.content, self.config.max_discrepancies)
        return Feedback(discrepancies=items, approve=approve, usage=usage)


def _retries_of(exc: Exception) -> int:
    """Retries the SDK took before giving up: it stamps each attempt's request with them."""
    request = getattr(exc, "request", None)
    try:
        return int(request.headers.get("x-stainless-retry-count", 0)) if request is not None else 0
    except (TypeError, ValueError):
        return 0


def _backend_error(exc: Exception, cfg: OpenAIConfig) -> BackendError:
    """Map an SDK error (after its retries) to a BackendError with a clear kind."""
    import openai

    where = f"{cfg.model} at {cfg.base_url}"
    tries = f"after {_retries_of(exc) + 1} attempt(s)"
    if isinstance(exc, openai.APITimeoutError):
        return BackendError("timeout", f"{where}: no reply within {cfg.timeout_s:g} s, {tries}", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return BackendError("connection", f"{where}: cannot connect ({exc.__cause__ or exc}), {tries}", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status, detail = exc.status_code, str(exc)[:300]
        if status == 429:
            return BackendError("rate_limit", f"{where}: rate limited (429), {tries}: {detail}", retryable=True)
        if status >= 500:
            return BackendError("server", f"{where}: server error {status}, {tries}: {detail}", retryable=True)
        if status in (401, 403):
            return BackendError("auth", f"{where}: refused the API key ({status}); check "
                                f"{cfg.api_key_env or 'the key'}: {detail}")
        if status == 404:
            return BackendError("config", f"{where}: not found (404): wrong base_url or model? {detail}")
        return BackendError("bad_request", f"{where}: request refused ({status}): {detail}")
    return BackendError("bad_reply", f"{where}: unusable response ({type(exc).__name__}: {str(exc)[:300]})")
