"""The `openai` backend with the real `openai` client against a local fake endpoint
(tests/fake_openai.py) and real Blender renders: good replies, code in prose, broken
code, 429/500/timeouts, budgets, prompts and their versions in the records."""
from __future__ import annotations

import io
import re
import time

import pytest
from PIL import Image

from scene_program.examples import box_scene
from scene_program.sections import parse
from scene_program.writer import section_params, with_section_params, write_program
from stages import prompts
from stages.backends.base import BackendError, BudgetExhausted, RenderSettings, StageContext
from stages.backends.openai_backend import (
    GENERATOR_FIELDS, INITIAL_FIELDS, VERIFIER_FIELDS, OpenAIBackend, OpenAIConfig, estimate_prompt_tokens,
    extract_code, parse_verdict, required_names, section_from_reply,
)
from stages.backends.registry import make_backend
from stages.definitions import MATERIALS, STAGES
from stages.engine import run_stage
from stages.photo import Photo
from stages.records import Usage
from tests.fake_openai import FakeOpenAI, Scripted

SETTINGS = RenderSettings(width=64, height=48, samples=2)
START = write_program(box_scene(color=(0.2, 0.2, 0.8)))
VERDICT = '{"approve": false, "discrepancies": ["the box is too dark", "the ground is too bright"]}'


def _materials_body(program: str, colour) -> str:
    params = section_params(parse(program).get("materials"), "materials")
    params["crate"]["color"] = list(colour)
    return parse(with_section_params(program, "materials", params)).get("materials")


GOOD = _materials_body(START, (0.8, 0.15, 0.1))
BROKEN = re.sub(r"( +)(mat = bpy\.data\.materials\.new\(name\)\n)", r"\1\2\1scale = 1 / 0\n", GOOD, count=1)
assert BROKEN != GOOD  # the builders' materials code still has the line this breaks


@pytest.fixture(scope="module")
def photo(worker):
    """A synthetic photo with a known program: the box scene in red."""
    png = worker.render(SETTINGS.request(write_program(box_scene(color=(0.8, 0.15, 0.1))))).png
    return Photo(Image.open(io.BytesIO(png)).convert("RGB"), "box")


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def _backend(fake: FakeOpenAI, **options) -> OpenAIBackend:
    cfg = dict(base_url=fake.base_url, model="fake-vlm", api_key_env=None, timeout_s=10, max_retries=2)
    cfg.update(options)
    return OpenAIBackend(OpenAIConfig(**cfg))


def _ctx(photo: Photo, program: str = START, **over) -> StageContext:
    fields = dict(stage=MATERIALS, round=1, photo=photo, program=program,
                  section_body=parse(program).get("materials"), best_png=None, best_scores=None, history=[],
                  feedback=[], last_error=None, renderer=None, render=SETTINGS, seed=0)
    fields.update(over)
    return StageContext(**fields)


# --- prompts -------------------------------------------------------------------------------
def test_every_template_loads_and_renders_with_what_the_backend_supplies():
    names = prompts.available()
    for role in ("generator", "verifier"):
        for stage in STAGES:
            assert f"{stage.name}_{role}" in names
    assert "initial_generator" in names
    for name in names:
        p = prompts.load(name)
        assert p.version >= 1 and p.tag.startswith(f"{name}@{p.version}")
    for name, fields in [("initial_generator", INITIAL_FIELDS)] + [
            (f"{s.name}_generator", GENERATOR_FIELDS) for s in STAGES] + [
            (f"{s.name}_verifier", VERIFIER_FIELDS) for s in STAGES]:
        p = prompts.load(name)
        assert p.placeholders() <= set(fields), name
        text = p.render(**{f: f"<{f}>" for f in fields})
        assert "$" not in text.replace("$$", ""), name  # nothing left unsubstituted
        if name.endswith("_generator") and name != "initial_generator":
            assert "BLENDER_EEVEE_NEXT" in text and "compositing_node_group" in text and "'Factor'" in text
            assert "<section_body>" in text and "<last_error>" in text and "<feedback>" in text
            assert "```python" in text


def test_prompt_errors_name_the_file(tmp_path):
    with pytest.raises(prompts.PromptError, match=r"nothing\.md: no such prompt template"):
        prompts.load("nothing", tmp_path)
    (tmp_path / "bare.md").write_text("no header here\n\nbody\n")
    with pytest.raises(prompts.PromptError, match=r"bare\.md: header line"):
        prompts.load("bare", tmp_path)
    (tmp_path / "noversion.md").write_text("description: x\n\nbody\n")
    with pytest.raises(prompts.PromptError, match=r"noversion\.md: header has no 'version"):
        prompts.load("noversion", tmp_path)
    (tmp_path / "t.md").write_text("---\nversion: 7\n---\ncode {braces} stay; $who and $$5\n")
    t = prompts.load("t", tmp_path)
    assert t.tag == "t@7" and t.render(who="you") == "code {braces} stay; you and $5\n"
    with pytest.raises(prompts.PromptError, match=r"t\.md: no value for placeholder\(s\) \$who"):
        t.render()


# --- reading replies -------------------------------------------------------------------------
def test_code_extraction():
    prose = f"I will brighten the box.\n\n```python\n{GOOD}```\n\nThis should help."
    assert extract_code(prose) == GOOD
    assert extract_code(f"Here:\n```\n{GOOD}```\n") == GOOD  # the only block, untagged
    assert extract_code(GOOD) == GOOD  # a bare reply that is Python
    assert extract_code("Sorry, I cannot help with that.") is None
    assert extract_code('```json\n{"a": 1}\n```') is None
    # a whole program: this stage's section is cut out of it
    whole = START.replace("'color': [0.2, 0.2, 0.8]", "'color': [0.3, 0.3, 0.3]")
    body = section_from_reply(f"```python\n{whole}```", "stop", "materials", ["MATERIALS", "build_materials"])
    assert "[0.3, 0.3, 0.3]" in body and "seig:" not in body and "def build_geometry" not in body
    whole = whole.replace("import bmesh\n", "import bmesh\nfrom mathutils import Vector\n")
    body = section_from_reply(f"```python\n{whole}```", "stop", "materials", ["MATERIALS"])
    assert body.startswith("from mathutils import Vector\nMATERIALS = ")  # its header's extra import kept
    assert required_names(parse(START), "geometry") == ["GEOMETRY", "build_geometry", "srgb_to_linear"]
    assert required_names(parse(START), "lighting") == ["LIGHTING", "build_lighting"]
    with pytest.raises(BackendError) as cut:  # cut off inside its code block
        section_from_reply(f"```python\n{GOOD[:200]}", "length", "materials", ["MATERIALS"])
    assert cut.value.kind == "truncated"
    with pytest.raises(BackendError) as missing:
        section_from_reply("```python\nMATERIALS = {}\n```", "stop", "materials", ["MATERIALS", "build_materials"])
    assert missing.value.kind == "contract" and "build_materials" in str(missing.value)
    assert parse_verdict("```json\n" + VERDICT + "\n```", 5) == (False, ["the box is too dark",
                                                                      "the ground is too bright"])
    assert parse_verdict('{"approve": true, "discrepancies": []}', 5) == (True, [])
    assert parse_verdict("- sky too blue\n- box too small\nthanks", 1) == (False, ["sky too blue"])


# --- config ------------------------------------------------------------------------------------
def test_config_and_api_key(fake, monkeypatch):
    monkeypatch.delenv("SEIG_TEST_KEY", raising=False)
    with pytest.raises(BackendError, match="SEIG_TEST_KEY is not set") as exc:
        make_backend("openai", {"base_url": fake.base_url, "model": "m", "api_key_env": "SEIG_TEST_KEY"})
    assert exc.value.kind == "config"
    with pytest.raises(ValueError, match="extra"):
        OpenAIConfig(model="m", temprature=0.1)
    monkeypatch.setenv("SEIG_TEST_KEY", "sk-local")
    backend = make_backend("openai", {"base_url": fake.base_url, "model": "m", "api_key_env": "SEIG_TEST_KEY"})
    assert isinstance(backend, OpenAIBackend)
    fake.reply(VERDICT)
    backend._call([{"role": "user", "content": "hi"}])
    assert fake.requests[0].headers["authorization"] == "Bearer sk-local"


# --- rounds with Blender ------------------------------------------------------------------------
def test_good_reply_is_rendered_scored_and_recorded(worker, photo, fake):
    fake.reply(f"The box should be red.\n```python\n{GOOD}```\nDone.", prompt_tokens=1200, completion_tokens=300)
    fake.reply(VERDICT, prompt_tokens=900, completion_tokens=40)
    backend = _backend(fake, max_tokens=3000)
    result = run_stage(MATERIALS.model_copy(update={"rounds": 1}), START, photo, backend, worker, SETTINGS)
    rnd = result.rounds[1]
    assert rnd.kept and rnd.candidates[0].scores is not None and rnd.candidates[0].error is None
    assert result.best_scores.psnr > result.start_scores.psnr + 5
    assert parse(result.best_program).get("geometry") == parse(START).get("geometry")
    assert rnd.feedback == ["the box is too dark", "the ground is too bright"]
    assert rnd.usage.calls == 2 and rnd.usage.prompt_tokens == 2100 and rnd.usage.completion_tokens == 340
    assert rnd.usage.latency_s > 0 and rnd.usage.retries == 0
    gen, ver = prompts.load("materials_generator"), prompts.load("materials_verifier")
    assert rnd.prompt_version == f"{gen.tag};{ver.tag}" and rnd.prompt_version.startswith("materials_generator@")
    first, second = fake.requests
    assert first.body["model"] == "fake-vlm" and first.body["max_tokens"] == 3000
    assert [u.split(",")[0] for u in first.image_urls] == ["data:image/jpeg;base64", "data:image/png;base64"]
    assert "keep defining these top-level names, which the rest of the program uses: `MATERIALS`, " \
        "`build_materials`;" in first.prompt
    assert "def build_geometry" in first.prompt  # the rest of the program, for context
    assert len(second.image_urls) == 2 and "JSON" in second.prompt


def test_failed_rounds_reach_the_next_prompt(worker, photo, fake):
    fake.reply("I think the box should be red, but I will not write code today.")  # round 1: no code
    fake.reply(f"```python\n{BROKEN}```")  # round 2: raises in Blender
    fake.reply(f"```python\n{GOOD}```")  # round 3: fixed
    fake.reply(VERDICT)
    result = run_stage(MATERIALS.model_copy(update={"rounds": 3}), START, photo, _backend(fake), worker, SETTINGS)
    r1, r2, r3 = result.rounds[1:]
    assert r1.error and "no_code" in r1.error.message and not r1.candidates
    assert r2.candidates[0].error.kind == "program" and not r2.kept
    assert r3.kept and r3.candidates[0].scores is not None
    assert "no ```python block" in fake.requests[1].prompt
    assert "ZeroDivisionError" in fake.requests[2].prompt
    assert "round 2: reverted" in fake.requests[2].prompt or "candidate 0 failed (program)" in fake.requests[2].prompt


def test_429_then_success_counts_the_retry(photo, fake):
    fake.error(429, "slow down", headers={"Retry-After": "0"})
    fake.reply(f"```python\n{GOOD}```")
    proposal = _backend(fake).propose(_ctx(photo))
    assert proposal.bodies == [GOOD.strip("\n") + "\n"] and proposal.usage.calls == 1 and proposal.usage.retries == 1
    assert len(fake.requests) == 2 and fake.requests[1].headers.get("x-stainless-retry-count") == "1"


def test_candidates_come_from_choices_and_bad_ones_are_dropped(photo, fake):
    other = _materials_body(START, (0.5, 0.5, 0.1))
    fake.reply(f"```python\n{GOOD}```", f"Same again:\n```python\n{GOOD}```", "no code, sorry", f"```py\n{other}```")
    proposal = _backend(fake, candidates=4).propose(_ctx(photo))
    assert fake.requests[0].body["n"] == 4
    assert [b.strip() for b in proposal.bodies] == [GOOD.strip(), other.strip()]
    assert "dropped: the reply has no ```python block" in proposal.notes
    fake.reply(f"```python\n{START}```")  # the whole program back, unchanged
    with pytest.raises(BackendError) as exc:
        _backend(fake).propose(_ctx(photo))
    assert exc.value.kind == "unchanged" and exc.value.usage.calls == 1


def test_unusable_response_bodies_fail_the_round(photo, fake):
    fake.script.append(Scripted(body=b"<html>bad gateway</html>"))
    fake.reply()  # a completion with no choices
    backend = _backend(fake)
    for expected in ("not a chat completion", "returned no choices"):
        with pytest.raises(BackendError, match=expected) as exc:
            backend.propose(_ctx(photo))
        assert exc.value.kind == "bad_reply"


def test_repeated_500s_fail_clearly_then_the_stage_stops_calling(worker, photo, fake):
    fake.error(500, "boom", headers={"retry-after-ms": "10"}, times=3)
    backend = _backend(fake, max_retries=2, give_up_after=2)
    t0 = time.perf_counter()
    with pytest.raises(BackendError) as exc:
        backend.propose(_ctx(photo))
    assert time.perf_counter() - t0 < 5
    assert exc.value.kind == "server" and exc.value.retryable and "after 3 attempt(s)" in str(exc.value)
    assert exc.value.usage.retries == 2 and len(fake.requests) == 3
    fake.error(500, "boom", headers={"retry-after-ms": "10"}, times=3)
    result = run_stage(MATERIALS.model_copy(update={"rounds": 3}), START, photo, backend, worker, SETTINGS)
    errors = [r.error.message for r in result.rounds[1:]]
    assert errors[0].startswith("server:") and errors[1].startswith("budget:") and "in a row" in errors[1]
    assert len(result.rounds) == 3 and len(fake.requests) == 6  # the stage ended; no more calls
    assert result.best_program == START and result.best_scores == result.start_scores
    with pytest.raises(BudgetExhausted, match="failed 2 calls in a row"):
        backend.propose(_ctx(photo))
    assert len(fake.requests) == 6


def test_reply_slower_than_the_timeout(photo, fake):
    fake.reply("late", delay_s=30).reply("late", delay_s=30)
    backend = _backend(fake, timeout_s=0.5, max_retries=1)
    t0 = time.perf_counter()
    with pytest.raises(BackendError) as exc:
        backend.propose(_ctx(photo))
    took = time.perf_counter() - t0
    assert exc.value.kind == "timeout" and exc.value.retryable and "0.5 s" in str(exc.value)
    assert took < 0.5 * 2 + 1.0 + 1.0 and len(fake.requests) == 2  # timeout x attempts + backoff + slack


def test_token_budget_caps_replies_and_ends_the_stage(worker, photo, fake):
    budget, max_tokens = 20_000, 16_000
    fake.reply(f"```python\n{_materials_body(START, (0.6, 0.2, 0.3))}```", prompt_tokens=1500, completion_tokens=500)
    fake.reply(VERDICT, prompt_tokens=1000, completion_tokens=100)
    fake.reply(f"```python\n{GOOD}```", prompt_tokens=15_000, completion_tokens=3000)  # over the budget
    backend = _backend(fake, budget_tokens=budget, max_tokens=max_tokens)
    result = run_stage(MATERIALS.model_copy(update={"rounds": 3}), START, photo, backend, worker, SETTINGS)
    assert len(fake.requests) == 3  # the verifier of round 2 and round 3's generator never called
    first, _, third = fake.requests
    assert first.body["max_tokens"] == min(max_tokens, budget - estimate_prompt_tokens(first.body["messages"], "auto"))
    assert third.body["max_tokens"] == budget - 3100 - estimate_prompt_tokens(third.body["messages"], "auto")
    assert third.body["max_tokens"] < max_tokens
    r1, r2, r3 = result.rounds[1:]
    assert r1.kept and r2.kept and r2.candidates[0].scores is not None  # the over-budget reply was used
    assert "verifier failed: token budget spent" in " ".join(r2.feedback)
    assert r3.error.message.startswith("budget: token budget spent") and not r3.candidates
    assert result.best_program == parse(START).replace("materials", GOOD).text()
    assert backend.usage.tokens == 21_100 and result.usage.tokens == 21_100


def test_initial_program_from_the_vlm_or_offline_fallback(photo, fake, monkeypatch):
    from stages.backends.offline import OfflineBackend

    monkeypatch.setattr(OfflineBackend, "initial_program", lambda self, p, r: (START, Usage()))
    assert _backend(fake).initial_program(photo, SETTINGS)[0] == START  # initial: offline makes no call
    assert not fake.requests
    sections = "\n".join(f"# === seig:{name} ===\n{parse(START).get(name)}"
                         for name in ("geometry", "materials", "composition", "lighting"))
    fake.reply("Here is the scene:\n```python\n" + sections.replace("[0.2, 0.2, 0.8]", "[0.7, 0.1, 0.1]") + "```")
    fake.reply("```python\n" + sections.replace("def build_lighting", "def lights") + "```")
    backend = _backend(fake, initial="vlm")
    program, usage = backend.initial_program(photo, SETTINGS)
    assert "[0.7, 0.1, 0.1]" in program and parse(program).get("scene") == parse(START).get("scene")
    assert usage.calls == 1 and "written by fake-vlm (initial_generator@" in backend.notes[-1]
    program, usage = backend.initial_program(photo, SETTINGS)
    assert program == START and usage.calls == 1 and "build_lighting" in backend.notes[-1]
    assert "starting program" in fake.requests[0].prompt and len(fake.requests[0].image_urls) == 1
