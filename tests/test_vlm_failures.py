"""A VLM that is down, hangs, refuses the key, serves no such model, answers HTML or cuts
its replies off is named as such, stops being called, and never yields an `ok` image
(real `openai` client, the protocol-true fake endpoint, real Blender and Ray)."""
from __future__ import annotations

import json
import time

import pytest
from PIL import Image

from pipeline.config import load_config
from pipeline.single import reconstruct_photo
from scene_program.examples import box_scene
from scene_program.sections import parse
from scene_program.writer import write_program
from stages.backends.base import BackendError, BudgetExhausted, RenderSettings, StageContext
from stages.backends.openai_backend import OpenAIBackend, OpenAIConfig
from stages.definitions import MATERIALS
from stages.photo import Photo
from tests.fake_openai import FakeOpenAI, Scripted

SETTINGS = RenderSettings(width=64, height=48, samples=2)
START = write_program(box_scene(color=(0.2, 0.2, 0.8)))
PATCH = '```json\n{"crate": {"color": [0.8, 0.15, 0.1]}}\n```'


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def photo():
    return Photo(Image.new("RGB", (64, 48), (200, 40, 30)), "flat")


def _backend(base_url: str, **options) -> OpenAIBackend:
    cfg = dict(base_url=base_url, model="qwen2.5-vl-7b", api_key_env=None, timeout_s=5, max_retries=0)
    cfg.update(options)
    return OpenAIBackend(OpenAIConfig(**cfg))


def _ctx(photo, **over) -> StageContext:
    fields = dict(stage=MATERIALS, round=1, photo=photo, program=START, section_body=parse(START).get("materials"),
                  best_png=None, best_scores=None, history=[], feedback=[], last_error=None, renderer=None,
                  render=SETTINGS, seed=0)
    fields.update(over)
    return StageContext(**fields)


def _fails(backend, photo) -> BackendError:
    with pytest.raises(BackendError) as exc:
        backend.propose(_ctx(photo))
    return exc.value


def test_a_refused_key_loses_the_endpoint_at_once(fake, photo):
    fake.error(401, "Incorrect API key provided")
    backend = _backend(fake.base_url)
    err = _fails(backend, photo)
    assert err.kind == "auth" and "refused the API key (401)" in str(err)
    assert backend.health.lost.kind == "vlm_auth" and backend.health.failure().kind == "vlm_auth"
    assert isinstance(_fails(backend, photo), BudgetExhausted) and len(fake.requests) == 1  # no second call


def test_a_missing_model_is_named(fake, photo):
    fake.error(404, "The model `qwen2.5-vl-7b` does not exist.")
    backend = _backend(fake.base_url)
    err = _fails(backend, photo)
    assert err.kind == "model_missing" and "the model 'qwen2.5-vl-7b' is not served there" in str(err)
    assert backend.health.lost.kind == "vlm_model_missing"


def test_an_html_page_is_named_with_the_v1_hint_and_counts_toward_give_up(fake, photo):
    fake.site_html = True
    backend = _backend(fake.base_url[: -len("/v1")], give_up_after=2)
    err = _fails(backend, photo)
    assert err.kind == "bad_endpoint" and "returned an HTML page (status 200)" in str(err)
    assert "base_url usually ends in /v1" in str(err) and backend.health.lost is None
    assert _fails(backend, photo).kind == "bad_endpoint"
    assert isinstance(_fails(backend, photo), BudgetExhausted) and len(fake.requests) == 2
    assert backend.health.failure().kind == "vlm_bad_endpoint" and "2 failed calls in a row" in \
        backend.health.failure().message


def test_a_cut_off_reply_is_a_failed_call_never_rendered(fake, photo):
    fake.reply("I will now write the whole section:\n```python\nMATERIALS = {\n    'crate': {'color': [0.8,",
               finish_reason="length")
    fake.reply(PATCH, finish_reason="content_filter")
    fake.reply(PATCH)
    backend = _backend(fake.base_url, give_up_after=3)
    err = _fails(backend, photo)
    assert err.kind == "cut_off" and f"cut off at {fake.requests[0].body['max_tokens']} tokens" in str(err)
    assert "content_filter" in str(_fails(backend, photo)) and backend.health.failures_in_a_row == 2
    assert backend.propose(_ctx(photo)).bodies and backend.health.failures_in_a_row == 0  # a good reply resets
    assert backend.health.failure() is None


def test_a_hanging_endpoint_holds_an_image_no_longer_than_its_budget(fake, photo):
    fake.responder = lambda request: Scripted(contents=["late"], delay_s=30)
    backend = _backend(fake.base_url, timeout_s=0.5, max_retries=3, budget_s=1.2, give_up_after=5)
    t0 = time.perf_counter()
    errors = []
    for _ in range(4):
        with pytest.raises(BackendError) as exc:
            backend.propose(_ctx(photo))
        errors.append(exc.value)
    took = time.perf_counter() - t0
    assert errors[0].kind == "timeout" and took < 1.2 + 2.5  # budget + one back-off and slack, not 4 x 4 x 0.5 s
    assert isinstance(errors[-1], BudgetExhausted) and "time budget of 1.2 s ran out" in str(errors[-1])
    assert backend.health.lost.kind == "vlm_unreachable" and backend.health.wall_s < 3.5


def test_a_dead_vlm_never_yields_an_ok_image(worker, fake, tmp_path, photos):
    fake.responder = lambda request: Scripted(status=401, contents=["key revoked"])
    base = {"base_url": fake.base_url, "model": "qwen2.5-vl-7b", "api_key_env": None, "max_retries": 0}
    over = ["reconstruct.backend=openai", "reconstruct.samples=1", "reconstruct.long_side=48",
            "reconstruct.rounds={geometry: 1, materials: 1, composition: 0, lighting: 0}"]
    cfg = load_config(None, over + [f"reconstruct.openai={json.dumps(base)}"])
    out = reconstruct_photo(str(photos[0]), "a", str(tmp_path / "a"), cfg.reconstruct, worker)
    assert not out.ok and out.error_kind == "vlm_auth" and "refused the API key" in out.error
    assert len(fake.requests) == 1 and not (tmp_path / "a").exists()
    cfg = load_config(None, over + [f"reconstruct.openai={json.dumps(dict(base, offline_fallback=True))}"])
    out = reconstruct_photo(str(photos[0]), "b", str(tmp_path / "b"), cfg.reconstruct, worker)
    assert out.ok and out.degraded.startswith("[vlm_auth]") and (tmp_path / "b" / "record.json").exists()
    rec = out.reconstruction
    assert rec.vlm.fallback_rounds == 2 and rec.vlm.lost.where == "geometry round 1"
    assert "offline fallback" in rec.stages[0].rounds[1].notes and len(fake.requests) == 2
