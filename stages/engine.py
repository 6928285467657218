"""The stage engine: one loop for every stage (docs/design.md, "Stages").

A round: the backend proposes candidate bodies for the stage's section; each is spliced
into the stage's best program, statically checked, rendered and scored; the best
candidate is kept if it beats the stage's best, otherwise the round is reverted. A
candidate that is rejected or fails in Blender is a failed candidate whose error goes
back to the backend: nothing a program or backend does raises out of `run_stage`.
Re-running a stage from the same input program and seed gives the same result (Ray
retries rely on this).
"""
from __future__ import annotations

import time

from blender_actors.sandbox import check_program
from scene_program.contract import check_contract
from scene_program.sections import SectionError, parse, section_line_ranges
from stages.backends.base import Backend, BackendError, BudgetExhausted, Renderer, RenderSettings, StageContext
from stages.definitions import WHOLE_PROGRAM, StageDefinition
from stages.photo import Photo
from stages.records import Candidate, Reconstruction, RoundError, RoundRecord, StageResult, Usage
from stages.scoring import score

FATAL_KINDS = ("auth", "config", "model_missing")  # no later round of the stage can succeed


def locate(program: str, line: int | None) -> str:
    """' (section materials, its line 3)': where a program line sits, for the generator."""
    if not line:
        return ""
    for name, (first, last) in section_line_ranges(program).items():
        if first <= line <= last:
            return f" (section {name}, its line {line - first})"
    return ""


def section_of(program: str, section: str) -> str:
    return program if section == WHOLE_PROGRAM else parse(program).get(section)


def splice(program: str, section: str, body: str) -> str:
    """The candidate program: `body` replaces `section`; for the whole-program stage the
    body is a whole program whose seig-owned `scene` section must be unchanged."""
    if section != WHOLE_PROGRAM:
        return parse(program).replace(section, body).text()
    if parse(body).get("scene") != parse(program).get("scene"):
        raise SectionError("a whole-program proposal changed seig's own `scene` section")
    return body


def evaluate(program: str, photo: Photo, renderer: Renderer, render: RenderSettings, index: int = 0) -> Candidate:
    """Check (sandbox rules, then the contract), render and score one whole program."""
    violations = check_program(program)
    if violations:
        first = violations[0].line or None
        return Candidate(index=index, program=program,
                         error=RoundError(kind="rejected", line=first,
                                          message="; ".join(map(str, violations)) + locate(program, first)))
    problems = check_contract(program)
    if problems:
        return Candidate(index=index, program=program,
                         error=RoundError(kind="contract", message="; ".join(map(str, problems[:20]))
                                          + (f"; and {len(problems) - 20} more" if len(problems) > 20 else "")))
    result = renderer.render(render.request(program))
    render_s = result.record.timings.get("render_s", 0.0)
    if not result.ok:
        err = result.error
        return Candidate(index=index, program=program, render_s=render_s,
                         error=RoundError(kind=err.kind if err else "render", line=err.line if err else None,
                                          message=(str(err) + locate(program, err.line)) if err else "no image"))
    return Candidate(index=index, program=program, png=result.png, render_s=render_s,
                     scores=score(result.png, photo.compare))


def _feedback_text(rec: RoundRecord) -> list[str]:
    """Numeric feedback when the backend has no verifier of its own."""
    lines = []
    for c in rec.candidates:
        if c.error:
            lines.append(f"candidate {c.index} failed ({c.error.kind}): {c.error.message[:300]}")
        elif c.scores:
            lines.append(f"candidate {c.index}: PSNR {c.scores.psnr:.2f} dB, SSIM {c.scores.ssim:.3f}")
    lines.append("kept" if rec.kept else "reverted: no candidate beat the best so far")
    return lines


def _label(discrepancies: list[str], rec: RoundRecord, winner: Candidate) -> list[str]:
    """The verifier's discrepancies as the next generator reads them: about a reverted
    candidate they say so, since the program it edits is still the best, not that candidate."""
    if rec.kept:
        return discrepancies
    best = f"{rec.scores_before.psnr:.2f} dB" if rec.scores_before else "no render"
    return [f"(about this round's reverted candidate, PSNR {winner.scores.psnr:.2f} dB against the best "
            f"{best}: the program you edit is still the best, not that candidate)"] + discrepancies


def run_stage(stage: StageDefinition, program: str, photo: Photo, backend: Backend, renderer: Renderer,
              render: RenderSettings, seed: int = 0, start: Candidate | None = None) -> StageResult:
    """Run one stage's rounds from `program`; return its best attempt and every round."""
    t_stage = time.perf_counter()
    base = start if start is not None and start.program == program else evaluate(program, photo, renderer, render)
    result = StageResult(stage=stage.name, best_program=program, start_scores=base.scores,
                         best_scores=base.scores, best_png=base.png)
    result.rounds.append(RoundRecord(stage=stage.name, round=0, candidates=[base], kept=base.scores is not None,
                                     best_index=0, scores_after=base.scores, error=base.error))
    feedback: list[str] = []
    last_error = base.error.message if base.error else None
    for r in range(1, stage.rounds + 1):
        t0 = time.perf_counter()
        rec = RoundRecord(stage=stage.name, round=r, scores_before=result.best_scores)
        ctx = StageContext(stage=stage, round=r, photo=photo, program=result.best_program,
                           section_body=section_of(result.best_program, stage.section), best_png=result.best_png,
                           best_scores=result.best_scores, history=result.rounds, feedback=feedback,
                           last_error=last_error, renderer=renderer, render=render, seed=seed * 1000 + r)
        try:
            proposal = backend.propose(ctx)
        except Exception as exc:  # noqa: BLE001 - a backend failure is a failed round, never a crash
            kind = exc.kind if isinstance(exc, BackendError) else type(exc).__name__
            rec.error = RoundError(kind="backend", message=f"{kind}: {exc}"[:2000])
            rec.usage = getattr(exc, "usage", None) or Usage()  # failed calls still cost
            rec.time_s = time.perf_counter() - t0
            result.rounds.append(rec)
            if isinstance(exc, BudgetExhausted) or (isinstance(exc, BackendError) and exc.kind in FATAL_KINDS):
                break  # no later round can succeed: keep the best so far
            last_error = str(exc)
            continue
        rec.usage, rec.notes, rec.prompt_version = proposal.usage, proposal.notes, proposal.prompt_version
        for i, body in enumerate(proposal.bodies):
            try:
                candidate_program = splice(result.best_program, stage.section, body)
            except SectionError as exc:
                rec.candidates.append(Candidate(index=i, program=body,
                                                error=RoundError(kind="section", message=str(exc))))
                continue
            rec.candidates.append(evaluate(candidate_program, photo, renderer, render, index=i))
        scored = [c for c in rec.candidates if c.scores is not None]
        winner = max(scored, key=lambda c: c.scores.psnr, default=None)
        if winner is not None:
            rec.best_index = winner.index
            if winner.scores.better_than(result.best_scores):
                rec.kept = True
                result.best_program, result.best_png, result.best_scores = winner.program, winner.png, winner.scores
        rec.scores_after = result.best_scores
        failures = [c.error for c in rec.candidates if c.error]
        last_error = failures[0].message if failures and not scored else None
        if winner is not None and hasattr(backend, "verify"):
            try:
                fb = backend.verify(ctx, winner, rec.kept)
                rec.usage = rec.usage + fb.usage
                rec.verdict = fb.verdict
                feedback = _label(fb.discrepancies, rec, winner) if fb.discrepancies else _feedback_text(rec)
                if fb.verdict == "lost":
                    feedback = feedback + ["(the verifier's reply held no readable verdict)"]
                rec.feedback = feedback
                if fb.approve and rec.kept:  # an approval of a reverted candidate says nothing about the best
                    rec.time_s = time.perf_counter() - t0
                    result.rounds.append(rec)
                    break
            except Exception as exc:  # noqa: BLE001 - fall back to numeric feedback
                rec.usage = rec.usage + (getattr(exc, "usage", None) or Usage())
                rec.verdict = "failed"
                feedback = _feedback_text(rec)
                rec.feedback = feedback + [f"(verifier failed: {exc})"]
        else:
            feedback = rec.feedback = _feedback_text(rec)
        rec.time_s = time.perf_counter() - t0
        result.rounds.append(rec)
    result.time_s = time.perf_counter() - t_stage
    result.usage = sum((rec.usage for rec in result.rounds), Usage())
    return result


def start_reconstruction(photo: Photo, backend: Backend, renderer: Renderer, render: RenderSettings,
                         seed: int = 0) -> tuple[Reconstruction, Candidate]:
    """The initial program, rendered and scored: the record every stage then extends."""
    program, usage = backend.initial_program(photo, render)
    start = evaluate(program, photo, renderer, render)
    rec = Reconstruction(image=photo.name, backend=backend.name, seed=seed, width=render.width,
                         height=render.height, samples=render.samples, initial_program=program,
                         initial_scores=start.scores, initial_error=start.error, final_program=program,
                         final_scores=start.scores, final_png=start.png, usage=usage, render_s=start.render_s)
    note_backend(rec, backend)
    return rec, start


def note_backend(rec: Reconstruction, backend: Backend) -> None:
    """Copy what a VLM backend knows about its endpoint (VlmHealth) into the record."""
    health = getattr(backend, "health", None)
    if health is not None:
        rec.vlm = health.model_copy(deep=True)


def add_stage(rec: Reconstruction, result: StageResult) -> Candidate:
    """Append a finished stage; its best becomes the current program. Returns that best."""
    rec.stages.append(result)
    rec.final_program, rec.final_scores, rec.final_png = result.best_program, result.best_scores, result.best_png
    rec.usage = rec.usage + result.usage
    rounds = [r for r in result.rounds if r.round > 0]
    cands = [c for r in rounds for c in r.candidates]
    rec.renders += sum(1 for c in cands if c.error is None or c.error.kind not in ("rejected", "contract", "section"))
    rec.render_s += sum(c.render_s for c in cands)
    rec.failed_rounds += sum(1 for r in rounds if r.error or not any(c.scores for c in r.candidates))
    return Candidate(index=0, program=result.best_program, scores=result.best_scores, png=result.best_png)


def reconstruct(photo: Photo, backend: Backend, renderer: Renderer, render: RenderSettings,
                stages: list[StageDefinition], seed: int = 0) -> Reconstruction:
    """The whole method for one photo, in this process: initial program, then each stage."""
    t0 = time.perf_counter()
    rec, current = start_reconstruction(photo, backend, renderer, render, seed)
    for stage in stages:
        if stage.rounds > 0:
            current = add_stage(rec, run_stage(stage, current.program, photo, backend, renderer, render, seed,
                                               start=current))
            note_backend(rec, backend)
    rec.time_s = time.perf_counter() - t0
    return rec
