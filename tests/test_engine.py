"""The stage engine with real Blender: keep/revert, failed rounds, records, determinism."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from blender_actors.protocol import RenderRequest
from scene_program.examples import box_scene
from scene_program.reader import read_scene
from scene_program.sections import parse
from scene_program.writer import section_params, with_section_params, write_program
from stages.backends.base import Proposal, RenderSettings
from stages.backends.offline import OfflineBackend
from stages.definitions import LIGHTING, MATERIALS, stages_with_rounds
from stages.engine import reconstruct, run_stage
from stages.photo import Photo
from stages.records import Usage

SETTINGS = RenderSettings(width=64, height=48, samples=2)


@pytest.fixture(scope="module")
def truth(worker):
    """A synthetic photo with a known program: the box scene in red."""
    program = write_program(box_scene(color=(0.8, 0.15, 0.1)))
    png = worker.render(SETTINGS.request(program)).png
    return program, Photo(Image.open(io.BytesIO(png)).convert("RGB"), "box")


class Scripted:
    """A backend whose proposals are given: to drive the engine through every branch."""

    name = "scripted"

    def __init__(self, bodies_per_round):
        self.rounds = list(bodies_per_round)
        self.contexts = []

    def initial_program(self, photo, render):
        return write_program(box_scene(color=(0.2, 0.2, 0.8))), Usage()

    def propose(self, ctx):
        self.contexts.append(ctx)
        return Proposal(bodies=self.rounds.pop(0), usage=Usage(calls=1, prompt_tokens=10, completion_tokens=5))


def _materials_body(program: str, colour) -> str:
    params = section_params(parse(program).get("materials"), "materials")
    params["crate"]["color"] = list(colour)
    return parse(with_section_params(program, "materials", params)).get("materials")


def test_failed_rounds_feed_errors_back_and_never_raise(worker, truth):
    _, photo = truth
    start = write_program(box_scene(color=(0.2, 0.2, 0.8)))
    good = _materials_body(start, (0.8, 0.15, 0.1))
    backend = Scripted([
        ["MATERIALS = {}\ndef build_materials(objects):\n    x = 1 / 0\n"],  # fails in Blender
        ["import os\n"],  # rejected by the sandbox
        ["# === seig:geometry ===\n"],  # tries to smuggle a section marker
        [good, _materials_body(start, (0.1, 0.9, 0.1))],  # two candidates, the first is right
    ])
    result = run_stage(MATERIALS.model_copy(update={"rounds": 4}), start, photo, backend, worker, SETTINGS)
    kinds = [[c.error.kind if c.error else "ok" for c in r.candidates] for r in result.rounds[1:]]
    assert kinds == [["program"], ["rejected"], ["section"], ["ok", "ok"]]
    assert "ZeroDivisionError" in backend.contexts[1].last_error and "section materials, its line 3" in backend.contexts[1].last_error
    assert "import" in backend.contexts[2].last_error
    assert [r.kept for r in result.rounds[1:]] == [False, False, False, True]
    assert result.rounds[-1].best_index == 0
    assert result.best_scores.psnr > result.start_scores.psnr + 5
    assert parse(result.best_program).get("geometry") == parse(start).get("geometry")  # only its own section
    assert result.usage.calls == 4 and result.usage.tokens == 60


def test_worse_candidate_is_reverted(worker, truth):
    program, photo = truth
    worse = _materials_body(program, (0.1, 0.9, 0.1))
    result = run_stage(MATERIALS.model_copy(update={"rounds": 1}), program, photo, Scripted([[worse]]), worker,
                       SETTINGS)
    assert not result.rounds[1].kept and result.best_program == program
    assert result.best_scores == result.start_scores


def test_offline_tuner_improves_a_wrong_start_and_is_deterministic(worker, truth):
    program, photo = truth
    wrong = box_scene(color=(0.3, 0.3, 0.3))
    wrong.lighting.sky.zenith = (0.9, 0.9, 0.9)
    wrong.composition.camera.pitch_deg = -6.0

    class FromWrong(OfflineBackend):
        def initial_program(self, photo, render):
            return write_program(wrong), Usage()

    stages = stages_with_rounds({"geometry": 1, "materials": 2, "composition": 2, "lighting": 1})
    a = reconstruct(photo, FromWrong(), worker, SETTINGS, stages, seed=3)
    b = reconstruct(photo, FromWrong(), worker, SETTINGS, stages, seed=3)
    assert a.final_program == b.final_program and a.final_scores == b.final_scores
    for stage in a.stages:
        assert stage.best_scores.psnr >= stage.start_scores.psnr
    # +2.85 dB since the street tuner (its moves are shaped for streets and pre-screened in
    # numpy; before it: +3.13 dB on this box): a clear gain either way
    assert a.final_scores.psnr > a.initial_scores.psnr + 2.5
    assert a.renders == 1 + sum(len(r.candidates) for s in a.stages for r in s.rounds[1:])


def test_final_program_renders_the_same_standalone(worker, truth, tmp_path):
    """The contract: scene.py alone (python scene.py -- --render) gives seig's own picture."""
    import subprocess
    import sys

    from stages.scoring import score

    program, photo = truth
    settings = section_params(parse(program).get("scene"), "scene")
    standalone = with_section_params(program, "scene", settings | {"width": 64, "height": 48, "samples": 2})
    path = tmp_path / "scene.py"
    path.write_text(standalone)
    out = tmp_path / "alone.png"
    subprocess.run([sys.executable, str(path), "--", "--render", str(out)], check=True, capture_output=True,
                   timeout=120, cwd=tmp_path)
    ours = worker.render(RenderRequest(program=standalone, width=64, height=48, samples=2)).png
    assert score(out.read_bytes(), Image.open(io.BytesIO(ours))).psnr >= 40


def test_the_lighting_stage_switches_a_sun_that_is_off_back_on(worker, truth):
    """The first reading leaves the sun at strength 0 on 6 of 32 synthetic streets (dev 104,
    110, 119); the lighting stage's raise used to multiply the strength, which keeps 0 at 0."""
    program, photo = truth
    dark = read_scene(program)
    dark.lighting.sun = dark.lighting.sun.model_copy(update={"strength": 0.0})
    result = run_stage(LIGHTING, write_program(dark), photo, OfflineBackend(), worker, SETTINGS, seed=1)
    assert read_scene(result.best_program).lighting.sun.strength > 0.5
    assert result.best_scores.psnr > result.start_scores.psnr + 1.0
