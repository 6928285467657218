"""The offline backend: classical vision for the first program, then render-and-compare
tuning in which each stage does its own job. No model, deterministic for a seed.

Per round it proposes a few candidates (config `candidates`) for the stage's section:
- geometry: structural moves where the residual against the photo is largest (moves.py:
  heights, facades, building ends, splits, merges, removals, additions), pre-screened in
  numpy (predict.py) so that only the most promising are rendered;
- materials: per-object colour fitted analytically through an object-ID pass (stages.masks:
  one flat Workbench render gives exact masks of any program): in linear light a diffuse
  pixel scales with its albedo, so albedo *= (photo / render)^alpha over the object's pixels,
  alpha varied across candidates; and the procedural texture's strength set from the
  photo's own contrast on each object;
- composition: the camera (pitch, yaw, roll, and the focal length unless the photo states
  it; never the height, which no render of the photo can tell: moves.composition_moves)
  and objects slid along their contact lines, pre-screened the same way;
- lighting: the sky gradient fitted analytically over the background pixels, the sun's
  direction, strength and the exposure searched with shadows traced in numpy (a sun the
  first reading switched off is switched on by the raise: `_sun_strength`).
The one-shot baseline spends the same rounds and candidates on the whole program: its
candidate i takes each section's i-th best move at once.
Works on programs in seig's layout (scene_program.reader); a section it cannot read (a
hand- or VLM-written one of another shape) gets no candidates (a reverted round).
"""
from __future__ import annotations

import ast
import functools
import random
import zlib

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from scene_program.model import Render, Scene
from scene_program.reader import read_scene
from scene_program.sections import STAGE_SECTIONS, SectionError, parse
from scene_program.writer import PARAM_NAMES, format_params, scene_params, write_program
from stages.backends.base import Proposal, RenderSettings, StageContext
from stages.backends.moves import Move, composition_moves, geometry_moves
from stages.backends.predict import Predictor
from stages.definitions import WHOLE_PROGRAM
from stages.masks import object_masks
from stages.photo import Photo
from stages.records import Usage
from stages.scoring import to_array
from stages.vision.calibrate import CameraPrior


class OfflineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    candidates: int = Field(3, ge=1, le=16, description="candidate programs rendered per round")
    step_decay: float = Field(0.7, gt=0, le=1, description="search steps shrink by this factor each round")
    camera: CameraPrior = Field(default_factory=CameraPrior, description="the camera before the photo says otherwise")


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


def _contrast(px: np.ndarray) -> float:
    """Relative spread of lightness over an object's pixels (texture plus shading)."""
    lum = px.mean(-1)
    return float(np.std(lum) / max(float(np.mean(lum)), 1e-3))


def _ranked(pred: Predictor, moves: list[Move], score) -> list[Move]:
    """Moves by predicted PSNR, best first; only those predicted no worse than now (at least one)."""
    scored = sorted(((score(m.scene), k, m) for k, m in enumerate(moves)), key=lambda t: (-t[0], t[1]))
    good = [m for s, _, m in scored if s > pred.base_psnr - 0.02]
    return good or [m for _, _, m in scored[:1]]


SUN_OFF = 0.1  # a sun strength below this casts no visible light: raising it switches the sun on
SUN_ON = 1.0  # the strength a switched-on sun gets (times the round's step)


def _sun_strength(strength: float, factor: float, step: float) -> float:
    """The sun's strength scaled by `factor` (shrunk by the round's step); a sun that the first
    reading switched off (dev streets 104, 110: strength 0) is switched on by the raise instead,
    since no factor brings back a sun of strength 0."""
    if factor > 1 and strength < SUN_OFF:
        return strength + SUN_ON * step
    return strength * (1 + (factor - 1) * step)


class OfflineBackend:
    name = "offline"

    def __init__(self, config: OfflineConfig | None = None):
        self.config = config or OfflineConfig()
        self._masks: dict = {}

    # --- the first program ---------------------------------------------------------
    def initial_program(self, photo: Photo, render: RenderSettings) -> tuple[str, Usage]:
        from stages.vision.photo_to_scene import initial_scene

        scene = initial_scene(photo.image, render.width, render.height, render.samples, seed=render.seed,
                              prior=self._camera_prior(photo), focal_mm=photo.focal_mm)
        scene = scene.model_copy(update={"render": Render(width=render.width, height=render.height,
                                                          samples=render.samples, seed=render.seed,
                                                          denoise=render.denoise)})
        return write_program(scene), Usage()

    def _camera_prior(self, photo: Photo) -> CameraPrior:
        """The config's camera prior, with the height the photo's caller states, if any."""
        camera = self.config.camera
        return camera if photo.height_m is None else camera.stating_height(photo.height_m)

    # --- one round ------------------------------------------------------------------
    def propose(self, ctx: StageContext) -> Proposal:
        section = ctx.stage.section
        step = self.config.step_decay ** (ctx.round - 1)
        try:
            scene = read_scene(ctx.program)
        except SectionError as exc:
            return Proposal(bodies=[], notes=f"offline tuner cannot read this program: {exc}")
        if section == WHOLE_PROGRAM:
            return self._propose_whole(ctx, scene, step)
        rng = random.Random(zlib.crc32(f"{section}:{ctx.seed}".encode()))
        try:
            variants, notes = getattr(self, f"_{section}")(ctx, scene, rng, step)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            return Proposal(bodies=[], notes=f"offline tuner: section {section!r} has an unexpected shape ({exc})")
        code = self._code_after_params(ctx.section_body, section)
        bodies = [format_params(PARAM_NAMES[section], scene_params(v)[section]) + code
                  for v in variants[: self.config.candidates]]
        return Proposal(bodies=bodies, notes=f"{len(bodies)} candidates, step {step:.2f}: {notes}")

    def _propose_whole(self, ctx: StageContext, scene: Scene, step: float) -> Proposal:
        """One-shot baseline: candidate i moves all four sections at once, each by its
        section's i-th best move (the same generators and pre-screen as the stages)."""
        k = self.config.candidates
        per_section: dict[str, list[Scene]] = {}
        for section in STAGE_SECTIONS:
            rng = random.Random(zlib.crc32(f"*{section}:{ctx.seed}".encode()))
            try:
                per_section[section] = getattr(self, f"_{section}")(ctx, scene, rng, step)[0]
            except (KeyError, TypeError, ValueError, IndexError):
                per_section[section] = []
        programs = []
        prog = parse(ctx.program)
        for i in range(k):
            p = prog
            for section, variants in per_section.items():
                if not variants:
                    continue
                v = variants[min(i, len(variants) - 1)]
                body = p.get(section)
                p = p.replace(section, format_params(PARAM_NAMES[section], scene_params(v)[section])
                              + self._code_after_params(body, section))
            programs.append(p.text())
        return Proposal(bodies=programs, notes=f"whole program, {len(programs)} candidates, step {step:.2f}")

    @staticmethod
    def _code_after_params(body: str, section: str) -> str:
        """The section's code after its params dict, unchanged (only numbers are tuned)."""
        tree = ast.parse(body)
        for node in tree.body:
            if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [PARAM_NAMES[section]]:
                return "".join(body.splitlines(keepends=True)[node.end_lineno:])
        raise SectionError(f"no params dict in section {section!r}")

    def _render(self, ctx: StageContext) -> np.ndarray | None:
        h, w = ctx.photo.compare.shape[:2]
        return None if ctx.best_png is None else to_array(ctx.best_png, (w, h))

    def _masks_and_render(self, ctx: StageContext):
        h, w = ctx.photo.compare.shape[:2]
        key = hash((ctx.program, w, h))
        if key not in self._masks:  # materials and lighting moves of one round share one ID pass
            self._masks = {key: object_masks(ctx.program, ctx.renderer, ctx.render, (w, h))}
        got = self._masks[key]
        render = self._render(ctx)
        if got is None or render is None:
            return None
        masks, background = got
        return masks, background, render

    def _predictor(self, ctx: StageContext, scene: Scene) -> Predictor | None:
        render = self._render(ctx)
        return None if render is None else Predictor(scene, ctx.photo.compare, render)

    # --- per-section moves (scene in, candidate scenes out, best first) ----------------
    def _geometry(self, ctx: StageContext, scene: Scene, rng: random.Random, step: float) -> tuple[list[Scene], str]:
        return self._prescreened(ctx, scene, geometry_moves, rng, step)

    def _composition(self, ctx: StageContext, scene: Scene, rng: random.Random, step: float) -> tuple[list[Scene], str]:
        # a focal length the photo states is not searched (nor is the height: composition_moves)
        moves = functools.partial(composition_moves, focal_stated=ctx.photo.focal_mm is not None)
        return self._prescreened(ctx, scene, moves, rng, step)

    def _prescreened(self, ctx: StageContext, scene: Scene, moves, rng: random.Random,
                     step: float) -> tuple[list[Scene], str]:
        """The section's moves ranked by the numpy pre-screen against the current render."""
        pred = self._predictor(ctx, scene)
        if pred is None:
            return [], "no render to compare with"
        ranked = _ranked(pred, moves(scene, pred, rng, step), pred.geometry_score)
        return [m.scene for m in ranked], "; ".join(m.label for m in ranked[: self.config.candidates])

    def _materials(self, ctx: StageContext, scene: Scene, rng: random.Random, step: float) -> tuple[list[Scene], str]:
        fitted = self._masks_and_render(ctx)
        out = []
        variants = [(1.0, "colour"), (0.7, "colour, texture from the photo"), (1.3, "colour over-relaxed, less texture")]
        for k, (alpha, _) in enumerate(variants[: max(1, self.config.candidates)]):
            cand = scene.model_copy(deep=True)
            if fitted:
                masks, _, render = fitted
                for name, surf in cand.materials.items():
                    m = masks.get(name)
                    if m is None or m.sum() < 4:
                        continue
                    photo_px, render_px = ctx.photo.compare[m], render[m]
                    colour = _fit_colour(surf.color, photo_px, render_px, alpha)
                    update = {"color": tuple(colour)}
                    if k == 1:  # the procedural texture as strong as the photo's own contrast on it
                        excess = _contrast(photo_px) - _contrast(render_px)
                        update["noise_strength"] = float(np.clip(surf.noise_strength + 0.5 * excess * step, 0.0, 0.5))
                    elif k == 2:
                        update["noise_strength"] = float(surf.noise_strength * 0.5)
                    cand.materials[name] = surf.model_copy(update=update)
            out.append(cand)
        return out, ", ".join(v[1] for v in variants[: len(out)])

    def _lighting(self, ctx: StageContext, scene: Scene, rng: random.Random, step: float) -> tuple[list[Scene], str]:
        fitted = self._masks_and_render(ctx)
        base = scene.model_copy(deep=True)
        if fitted:
            _, background, render = fitted
            rows = np.nonzero(background.any(axis=1))[0]
            if rows.size:
                split = rows.min() + (rows.max() - rows.min() + 1) // 2
                upper = background.copy()
                upper[split:] = False
                lower = background.copy()
                lower[:split] = False
                sky = base.lighting.sky
                for key, m in (("zenith", upper), ("horizon", lower)):
                    if m.sum() >= 4:
                        sky = sky.model_copy(update={key: tuple(_fit_colour(getattr(sky, key), ctx.photo.compare[m],
                                                                            render[m], 1.0))})
                base.lighting = base.lighting.model_copy(update={"sky": sky})
        pred = self._predictor(ctx, scene)
        if pred is None:
            return [base], "sky fitted"
        sun = scene.lighting.sun
        moves = []
        turns = [(de, da, 1.0) for de in (-12.0, 0.0, 12.0) for da in (-45.0, -20.0, 0.0, 20.0, 45.0, 180.0)
                 if not de == da == 0.0]
        for de, da, fs in turns + [(0.0, 0.0, 0.75), (0.0, 0.0, 1.3)]:  # the sun turned, raised, lowered, dimmed
            cand = base.model_copy(deep=True)
            cand.lighting.sun = sun.model_copy(update={
                "elevation_deg": float(np.clip(sun.elevation_deg + de * step, 5, 89)),
                "azimuth_deg": float((sun.azimuth_deg + da * step + 180.0) % 360.0 - 180.0),
                "strength": _sun_strength(sun.strength, fs, step)})
            moves.append(Move(f"sun el {cand.lighting.sun.elevation_deg:.0f} az "
                              f"{cand.lighting.sun.azimuth_deg:.0f} x{fs:.2f}", cand))
        for de in (-0.25, 0.25):
            cand = base.model_copy(deep=True)
            cand.lighting = cand.lighting.model_copy(update={"exposure": float(cand.lighting.exposure + de * step)})
            moves.append(Move(f"exposure {de * step:+.2f}", cand))
        ranked = _ranked(pred, moves, lambda s: pred.score(pred.predict_lighting(scene.lighting, s.lighting)))
        out = [base] + [m.scene for m in ranked]
        return out, "sky fitted; " + "; ".join(m.label for m in ranked[: self.config.candidates - 1])


