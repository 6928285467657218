"""The offline backend: classical vision for the first program, then render-and-compare
tuning of each section's numbers. No model, deterministic for a seed.

Per round it proposes a few candidates (config `candidates`) for the stage's section:
- materials: per-object colour fitted analytically. An object-ID pass (stages.masks)
  says which pixels each object covers; in linear light a diffuse pixel scales with its
  albedo, so albedo *= (photo / render)^alpha over the object's pixels, alpha varied
  across candidates (damped, full, over-relaxed); plus roughness/texture perturbations.
- lighting: the sky gradient's zenith and horizon colours fitted the same way over the
  background pixels (upper and lower halves); sun strength/elevation and exposure searched.
- geometry, composition: seeded coordinate search (sizes; camera pitch, yaw, height,
  focal length; object positions) with steps that shrink round by round.
Works on the section dicts that scene_program.writer writes; a section it cannot read
(a hand- or VLM-written one of another shape) gets no candidates (a reverted round).
"""
from __future__ import annotations

import copy
import dataclasses
import math
import random
import zlib

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from scene_program.model import Render
from scene_program.sections import STAGE_SECTIONS, SectionError, parse
from scene_program.writer import PARAM_NAMES, format_params, section_params, write_program
from stages.backends.base import Proposal, RenderSettings, StageContext
from stages.definitions import WHOLE_PROGRAM
from stages.masks import object_masks
from stages.photo import Photo
from stages.records import Usage
from stages.scoring import to_array


class OfflineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    candidates: int = Field(3, ge=1, le=16, description="candidate programs rendered per round")
    step_decay: float = Field(0.7, gt=0, le=1, description="search steps shrink by this factor each round")


def _lin(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0, 1)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0, 1)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def _fit_colour(colour, photo_px: np.ndarray, render_px: np.ndarray, alpha: float) -> list[float]:
    """New sRGB colour so that the render's mean over these pixels moves to the photo's."""
    target = _lin(photo_px.mean(axis=0))
    got = np.maximum(_lin(render_px.mean(axis=0)), 1e-4)
    ratio = np.clip(target / got, 0.05, 20.0) ** alpha
    return [round(float(v), 4) for v in _srgb(_lin(np.asarray(colour, dtype=np.float64)) * ratio)]


def _object_locations(program: str) -> dict[str, list[float]]:
    """{name: location} of the geometry section's objects (composition shifts them)."""
    try:
        geometry = section_params(parse(program).get("geometry"), "geometry")
        return {o["name"]: list(o.get("location", (0.0, 0.0, 0.0))) for o in geometry["objects"]}
    except (SectionError, KeyError, TypeError):
        return {}


class OfflineBackend:
    name = "offline"

    def __init__(self, config: OfflineConfig | None = None):
        self.config = config or OfflineConfig()
        self._masks: dict = {}

    # --- the first program ---------------------------------------------------------
    def initial_program(self, photo: Photo, render: RenderSettings) -> tuple[str, Usage]:
        from stages.vision.photo_to_scene import initial_scene

        scene = initial_scene(photo.image, render.width, render.height, render.samples, seed=render.seed)
        scene = scene.model_copy(update={"render": Render(width=render.width, height=render.height,
                                                          samples=render.samples, seed=render.seed)})
        return write_program(scene), Usage()

    # --- one round ------------------------------------------------------------------
    def propose(self, ctx: StageContext) -> Proposal:
        section = ctx.stage.section
        if section == WHOLE_PROGRAM:
            return self._propose_whole(ctx)
        try:
            params = section_params(ctx.section_body, section)
        except SectionError as exc:
            return Proposal(bodies=[], notes=f"offline tuner cannot read this section: {exc}")
        rng = random.Random(zlib.crc32(f"{section}:{ctx.seed}".encode()))
        step = self.config.step_decay ** (ctx.round - 1)
        try:
            variants = getattr(self, f"_{section}")(ctx, params, rng, step)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            return Proposal(bodies=[], notes=f"offline tuner: section {section!r} has an unexpected shape ({exc})")
        code = self._code_after_params(ctx.section_body, section)
        bodies = [format_params(PARAM_NAMES[section], v) + code for v in variants[: self.config.candidates]]
        return Proposal(bodies=bodies, notes=f"{len(bodies)} candidates, step {step:.2f}")

    def _propose_whole(self, ctx: StageContext) -> Proposal:
        """One-shot baseline: every candidate moves all four sections at once."""
        step = self.config.step_decay ** (ctx.round - 1)
        programs = [ctx.program] * self.config.candidates
        for section in STAGE_SECTIONS:
            body = parse(ctx.program).get(section)
            sub = dataclasses.replace(ctx, stage=ctx.stage.model_copy(update={"section": section}), section_body=body)
            rng = random.Random(zlib.crc32(f"*{section}:{ctx.seed}".encode()))
            try:
                variants = getattr(self, f"_{section}")(sub, section_params(body, section), rng, step)
            except (SectionError, KeyError, TypeError, ValueError, IndexError):
                continue
            code = self._code_after_params(body, section)
            programs = [parse(p).replace(section, format_params(PARAM_NAMES[section], v) + code).text()
                        for p, v in zip(programs, variants)]
        return Proposal(bodies=programs, notes=f"whole program, {len(programs)} candidates, step {step:.2f}")

    @staticmethod
    def _code_after_params(body: str, section: str) -> str:
        """The section's code after its params dict, unchanged (only numbers are tuned)."""
        import ast

        tree = ast.parse(body)
        for node in tree.body:
            if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [PARAM_NAMES[section]]:
                return "".join(body.splitlines(keepends=True)[node.end_lineno:])
        raise SectionError(f"no params dict in section {section!r}")

    def _masks_and_render(self, ctx: StageContext):
        h, w = ctx.photo.compare.shape[:2]
        key = hash((ctx.program, w, h))
        if key not in self._masks:  # materials and lighting moves of one round share one ID pass
            self._masks = {key: object_masks(ctx.program, ctx.renderer, ctx.render, (w, h))}
        got = self._masks[key]
        if got is None or ctx.best_png is None:
            return None
        masks, background = got
        return masks, background, to_array(ctx.best_png, (w, h))

    # --- per-section moves (data in, candidate dicts out) ----------------------------
    def _materials(self, ctx: StageContext, params: dict, rng: random.Random, step: float) -> list[dict]:
        fitted = self._masks_and_render(ctx)
        out = []
        alphas = [1.0, 0.6, 1.3][: self.config.candidates] + [1.0] * max(0, self.config.candidates - 3)
        for k, alpha in enumerate(alphas):
            cand = copy.deepcopy(params)
            if fitted:
                masks, _, render = fitted
                for name, spec in cand.items():
                    m = masks.get(name)
                    if m is not None and m.sum() >= 4:
                        spec["color"] = _fit_colour(spec["color"], ctx.photo.compare[m], render[m], alpha)
            if k >= 1:  # vary surface response too
                for spec in cand.values():
                    spec["roughness"] = float(np.clip(spec["roughness"] + rng.uniform(-0.2, 0.2) * step, 0, 1))
            out.append(cand)
        return out

    def _lighting(self, ctx: StageContext, params: dict, rng: random.Random, step: float) -> list[dict]:
        fitted = self._masks_and_render(ctx)
        base = copy.deepcopy(params)
        if fitted:
            _, background, render = fitted
            rows = np.nonzero(background.any(axis=1))[0]
            if rows.size:
                split = rows.min() + (rows.max() - rows.min() + 1) // 2
                upper = background.copy()
                upper[split:] = False
                lower = background.copy()
                lower[:split] = False
                for key, m in (("zenith", upper), ("horizon", lower)):
                    if m.sum() >= 4:
                        base["sky"][key] = _fit_colour(base["sky"][key], ctx.photo.compare[m], render[m], 1.0)
        out = [base]
        for _ in range(self.config.candidates - 1):
            cand = copy.deepcopy(base)
            sun = cand["sun"]
            sun["strength"] = round(sun["strength"] * math.exp(rng.uniform(-0.5, 0.5) * step), 4)
            sun["elevation_deg"] = round(float(np.clip(sun["elevation_deg"] + rng.uniform(-15, 15) * step, 5, 89)), 3)
            sun["azimuth_deg"] = round(sun["azimuth_deg"] + rng.uniform(-40, 40) * step, 3)
            cand["exposure"] = round(float(np.clip(cand["exposure"] + rng.uniform(-0.3, 0.3) * step, -5, 5)), 4)
            out.append(cand)
        return out

    def _geometry(self, ctx: StageContext, params: dict, rng: random.Random, step: float) -> list[dict]:
        out = []
        objects = params["objects"]
        for _ in range(self.config.candidates):
            cand = copy.deepcopy(params)
            picks = rng.sample(range(len(objects)), k=max(1, min(len(objects), rng.randint(1, 3))))
            for i in picks:
                size = cand["objects"][i]["size"]
                axis = rng.randrange(3)
                size[axis] = round(max(0.01, size[axis] * math.exp(rng.uniform(-0.35, 0.35) * step)), 4)
            out.append(cand)
        return out

    def _composition(self, ctx: StageContext, params: dict, rng: random.Random, step: float) -> list[dict]:
        moves = [("pitch_deg", 3.0, "add"), ("yaw_deg", 3.0, "add"), ("focal_mm", 0.15, "scale"),
                 ("height", 0.25, "scale"), ("object", 1.0, "add")]
        out = []
        for _ in range(self.config.candidates):
            cand = copy.deepcopy(params)
            cam = cand["camera"]
            key, amount, _kind = rng.choice(moves)
            delta = rng.choice([-1, 1]) * amount * step * rng.uniform(0.5, 1.0)
            if key in ("pitch_deg", "yaw_deg"):
                cam[key] = round(float(np.clip(cam[key] + delta, -89, 89)), 3)
            elif key == "focal_mm":
                cam[key] = round(cam[key] * math.exp(delta), 3)
            elif key == "height":
                cam["location"][2] = round(max(0.1, cam["location"][2] * math.exp(delta)), 4)
            else:
                placed = _object_locations(ctx.program)
                if placed:
                    name = rng.choice(sorted(placed))
                    adj = cand["objects"].setdefault(name, {"shift": [0.0, 0.0, 0.0], "turn_deg": 0.0})
                    axis = rng.randrange(2)
                    adj["shift"][axis] = round(adj["shift"][axis] + delta * max(1.0, abs(placed[name][1]) * 0.1), 4)
            out.append(cand)
        return out
