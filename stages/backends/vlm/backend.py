"""The `openai` backend: a VLM behind any OpenAI-compatible chat endpoint plays generator
and verifier (OpenAI, vLLM or SGLang serving Qwen-VL, Ollama).

One instance serves one image, or one task of an image (the batch job hands each stage
task's instance the image's `usage` and `health` so far). The parts, one job each:
`client` (calls, budgets, health), `errors` (naming failures), `messages` (cache-friendly
requests), `replies` and `patch` (reading a generator), `verdicts` (reading a verifier),
`tokens` (sizing), `config`.
"""
from __future__ import annotations

import json
import logging
import math
import re
from typing import Any

from blender_actors.sandbox import check_program
from scene_program.sections import MARKER, STAGE_SECTIONS, SectionError, parse
from scene_program.writer import PARAM_NAMES, section_params, with_section_params
from stages.backends.base import BackendError, BudgetExhausted, Feedback, Proposal, RenderSettings, StageContext
from stages.backends.vlm import messages as msg
from stages.backends.vlm.client import VlmClient
from stages.backends.vlm.config import OpenAIConfig
from stages.backends.vlm.patch import diff_params
from stages.backends.vlm.replies import (body_from_reply, extract_code, required_names, same_code,
                                         section_from_code)
from stages.backends.vlm.verdicts import parse_verdict
from stages.photo import Photo
from stages.records import Candidate, RoundRecord, Usage, VlmHealth
from stages.scoring import Scores

log = logging.getLogger(__name__)
ERROR_CHARS = 2000  # the tail of a long error (tracebacks end with what matters)
SECTION_MARGIN = 1.15  # a rewritten section may grow a little


def scores_text(scores: Scores | None) -> str:
    return f"PSNR {scores.psnr:.2f} dB, SSIM {scores.ssim:.3f}" if scores else "no render"


def history_text(history: list[RoundRecord]) -> str:
    lines = []
    for rec in history:
        if rec.round == 0:
            lines.append(f"start: {scores_text(rec.scores_after)}"
                         + (f" (did not render: {rec.error.message[:200]})" if rec.error else ""))
        elif rec.error:
            lines.append(f"round {rec.round}: failed ({rec.error.message[:200]})")
        else:
            outcome = "kept" if rec.kept else "reverted"
            errs = [f"candidate {c.index} failed ({c.error.kind})" for c in rec.candidates if c.error]
            lines.append(f"round {rec.round}: {outcome}, best so far {scores_text(rec.scores_after)}"
                         + (f"; {', '.join(errs)}" if errs else ""))
    return "\n".join(f"- {line}" for line in lines) or "- (nothing yet)"


def bullets(items: list[str], empty: str) -> str:
    return "\n".join(f"- {x}" for x in items) if items else empty


class OpenAIBackend:
    name = "openai"

    def __init__(self, config: OpenAIConfig, client: Any = None):
        self.config = config
        self.templates = msg.load_templates(config.prompts_dir)
        self.system = msg.system_text(self.templates)
        self.vlm = VlmClient(config, client)
        self.notes: list[str] = []  # what happened outside rounds (e.g. the initial program's origin)
        self._photo: tuple[int, str] | None = None
        self._offline = None

    # the image's spend and health so far (set by the batch job for each stage task)
    @property
    def usage(self) -> Usage:
        return self.vlm.usage

    @usage.setter
    def usage(self, value: Usage) -> None:
        self.vlm.usage = value

    @property
    def health(self) -> VlmHealth:
        return self.vlm.health

    @health.setter
    def health(self, value: VlmHealth) -> None:
        self.vlm.health = value

    def close(self) -> None:
        self.vlm.close()

    def _tags(self, *names: str) -> str:
        return ";".join(self.templates[n].tag for n in names)

    def _photo_url(self, photo: Photo) -> str:
        if self._photo is None or self._photo[0] != id(photo):
            self._photo = (id(photo), msg.data_url(photo.image, self.config.image_max_side, "JPEG"))
        return self._photo[1]

    def _wanted(self, code: str) -> int:
        """Reply tokens a whole rewrite of `code` needs, with room for brief reasoning."""
        return math.ceil(self.vlm.count(code) * SECTION_MARGIN) + self.config.reply_headroom_tokens

    # --- the offline fallback ---------------------------------------------------------
    def _fallback(self) -> bool:
        return self.config.offline_fallback and self.health.lost is not None

    def _offline_propose(self, ctx: StageContext, spent: Usage | None = None) -> Proposal:
        from stages.backends.offline import OfflineBackend

        if self._offline is None:
            self._offline = OfflineBackend()
        proposal = self._offline.propose(ctx)
        self.health.fallback_rounds += 1
        lost = self.health.lost
        proposal.notes = f"offline fallback (the VLM is lost: {lost.kind}); {proposal.notes}" if lost else proposal.notes
        if spent is not None:
            proposal.usage = proposal.usage + spent
        return proposal

    # --- the Backend interface ------------------------------------------------------------
    def initial_program(self, photo: Photo, render: RenderSettings) -> tuple[str, Usage]:
        from stages.backends.offline import OfflineBackend

        program, usage = OfflineBackend().initial_program(photo, render)
        if self.config.initial == "offline":
            self.health.initial_program = "offline"
            self.notes.append("initial program: offline (classical vision)")
            return program, usage
        request = self.templates["initial_request"].render(width=render.width, height=render.height,
                                                           photo_facts=msg.photo_facts(photo))
        prog = parse(program)
        stage_code = "\n".join(prog.get(s) for s in STAGE_SECTIONS)
        messages = msg.build(self.system, self._photo_url(photo), msg.program_view(prog), request,
                             self.config.image_detail)
        try:
            reply = self.vlm.call(messages, self._wanted(stage_code), where="initial program")
            usage = usage + reply.usage
            new = self._whole_program(reply.texts[0], program)
        except BackendError as exc:
            usage = usage + (getattr(exc, "usage", None) or Usage())
            self.health.initial_program = "offline_fallback"
            note = f"initial program: the VLM's was not usable ({exc.kind}: {exc}); started from the offline program"
            log.warning(note)
            self.notes.append(note)
            return program, usage
        self.health.initial_program = "vlm"
        self.notes.append(f"initial program: written by {self.config.model} ({self._tags('system', 'initial_request')})")
        return new, usage

    def _whole_program(self, reply: str, template: str) -> str:
        """Splice the reply's four stage sections into `template`; validate statically."""
        code = extract_code(reply or "")
        if code is None or not MARKER.search(code):
            raise BackendError("no_code", "the reply has no code block with '# === seig:NAME ===' sections")
        base = parse(template)
        program = base
        for section in STAGE_SECTIONS:
            if not re.search(rf"^# === seig:{section} ===[ \t]*$", code, re.MULTILINE):
                raise BackendError("no_code", f"the reply has no {section} section")
            program = program.replace(section, section_from_code(code, section, required_names(base, section)))
        text = program.text()
        violations = check_program(text)
        if violations:
            raise BackendError("rejected", "; ".join(map(str, violations[:5])))
        return text

    def propose(self, ctx: StageContext) -> Proposal:
        if self._fallback():
            return self._offline_propose(ctx)
        cfg, stage, section = self.config, ctx.stage, ctx.stage.section
        if section not in STAGE_SECTIONS:
            raise BackendError("config", f"the openai backend proposes one stage section, not {section!r}")
        program = parse(ctx.program)
        required = required_names(program, section)
        body_tokens = self.vlm.count(ctx.section_body)
        wanted = self._wanted(ctx.section_body)
        room = "" if wanted <= cfg.max_tokens else (
            f"The whole section is about {body_tokens} tokens, more than one reply may hold ({cfg.max_tokens}): "
            "answer with a patch.")
        last_error = ctx.last_error or "(none: the last round ran)"
        request = self.templates["generator_request"].render(
            stage=stage.name, goal=stage.goal, round=ctx.round, rounds=stage.rounds, section=section,
            params_name=PARAM_NAMES.get(section, "PARAMS"), required_names=", ".join(f"`{n}`" for n in required),
            scores=scores_text(ctx.best_scores) + ("" if ctx.best_png else " (it did not render: see the last error)"),
            reply_room=room, history=history_text(ctx.history), feedback=bullets(ctx.feedback, "(none yet)"),
            last_error=last_error if len(last_error) <= ERROR_CHARS else "..." + last_error[-ERROR_CHARS:],
            photo_facts=msg.photo_facts(ctx.photo))
        render = msg.data_url(ctx.best_png, cfg.image_max_side, "PNG") if ctx.best_png else None
        messages = msg.build(self.system, self._photo_url(ctx.photo), msg.program_view(program), request,
                             cfg.image_detail, render, "Image 2: the render of the program above (the best so far).")
        try:
            reply = self.vlm.call(messages, wanted, n=cfg.candidates, where=f"{stage.name} round {ctx.round}")
        except BackendError as exc:
            if self._fallback():
                return self._offline_propose(ctx, getattr(exc, "usage", None))
            raise
        bodies: list[str] = []
        problems: list[str] = list(reply.dropped)
        forms: list[str] = []
        kind = "no_code"
        for text in reply.texts:
            try:
                body, form = body_from_reply(text, ctx.program, section, required)
            except BackendError as exc:
                problems.append(str(exc))
                kind = exc.kind
                continue
            if same_code(body, ctx.section_body):
                problems.append(f"the reply repeats the current {section} section unchanged")
                kind = "unchanged"
            elif not any(same_code(body, b) for b in bodies):
                bodies.append(body)
                forms.append(form)
        if not bodies:
            err = BackendError(kind, "; ".join(dict.fromkeys(problems)))
            err.usage = reply.usage
            raise err
        notes = (f"{cfg.model}: {len(bodies)} candidate(s) ({', '.join(forms)}) of {len(reply.finish)} choice(s), "
                 f"finish {'/'.join(sorted(set(reply.finish)))}, max_tokens {reply.max_tokens}"
                 + (f"; dropped: {'; '.join(dict.fromkeys(problems))}" if problems else ""))
        return Proposal(bodies=bodies, notes=notes, usage=reply.usage,
                        prompt_version=self._tags("system", "generator_request", "verifier_request"))

    def _change_text(self, ctx: StageContext, new_body: str) -> str:
        """What the candidate changed in its section: a JSON patch when only the dict changed,
        else the whole new section."""
        section = ctx.stage.section
        try:
            old, new = section_params(ctx.section_body, section), section_params(new_body, section)
            same = same_code(parse(with_section_params(ctx.program, section, new)).get(section), new_body)
        except (SectionError, SyntaxError):
            same = False
        if same:
            return "```json\n" + json.dumps(diff_params(old, new, section)) + "\n```"
        return f"```python\n{new_body.strip()}\n```"

    def verify(self, ctx: StageContext, candidate: Candidate, kept: bool) -> Feedback:
        if self._fallback():
            return Feedback(discrepancies=[])
        cfg, stage = self.config, ctx.stage
        new_body = parse(candidate.program).get(stage.section)
        request = self.templates["verifier_request"].render(
            stage=stage.name, goal=stage.goal, round=ctx.round, rounds=stage.rounds, section=stage.section,
            change=self._change_text(ctx, new_body), candidate_scores=scores_text(candidate.scores),
            best_scores=scores_text(ctx.best_scores),
            outcome="kept: it is the new best" if kept else "reverted: the best so far stays as it was",
            feedback=bullets(ctx.feedback, "(none: first round)"), photo_facts=msg.photo_facts(ctx.photo))
        messages = msg.build(self.system, self._photo_url(ctx.photo), msg.program_view(ctx.program), request,
                             cfg.image_detail, msg.data_url(candidate.png, cfg.image_max_side, "PNG"),
                             "Image 2: the render of this round's candidate (see the request below).")
        reply = self.vlm.call(messages, cfg.verifier_max_tokens, where=f"{stage.name} round {ctx.round} verifier")
        verdict = parse_verdict(reply.texts[0], cfg.max_discrepancies)
        if not verdict.found:
            self.health.verdicts_lost += 1
        return Feedback(discrepancies=verdict.discrepancies, approve=verdict.approve and verdict.found,
                        usage=reply.usage,
                        verdict=("approve" if verdict.approve else "revise") if verdict.found else "lost")


__all__ = ["OpenAIBackend", "OpenAIConfig", "BudgetExhausted"]
