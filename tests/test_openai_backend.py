"""The `openai` backend with the real `openai` client against the local protocol-true
fake endpoint (tests/fake_openai.py), real Blender renders where a round runs: prompts and
their layout, replies (code, patches, prose), verdicts, sizing, the per-image health."""
from __future__ import annotations

import io
import math
import re

import pytest
from PIL import Image

from scene_program.examples import box_scene
from scene_program.sections import parse
from scene_program.writer import section_params, with_section_params, write_program
from stages import prompts
from stages.backends.base import BackendError, BudgetExhausted, RenderSettings, StageContext
from stages.backends.openai_backend import OpenAIBackend, OpenAIConfig
from stages.backends.registry import make_backend
from stages.backends.vlm import messages as msg
from stages.backends.vlm import tokens
from stages.backends.vlm.patch import apply_patch, diff_params
from stages.backends.vlm.replies import body_from_reply, extract_code, required_names, section_from_code
from stages.backends.vlm.verdicts import parse_verdict
from stages.definitions import GEOMETRY, MATERIALS, STAGES
from stages.engine import run_stage
from stages.photo import Photo
from stages.records import Candidate, Usage
from scene_program.classes import CLASS_NAMES
from tests.fake_openai import FakeOpenAI

SETTINGS = RenderSettings(width=64, height=48, samples=2)
START = write_program(box_scene(color=(0.2, 0.2, 0.8)))
VERDICT = '{"approve": false, "discrepancies": ["the box is too dark", "the ground is too bright"]}'
RED_PATCH = '```json\n{"crate": {"color": [0.8, 0.15, 0.1]}}\n```'


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
def flat_photo():
    return Photo(Image.new("RGB", (64, 48), (200, 40, 30)), "flat")


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def _backend(fake: FakeOpenAI, **options) -> OpenAIBackend:
    cfg = dict(base_url=fake.base_url, model="Qwen/Qwen2.5-VL-7B-Instruct", api_key_env=None, timeout_s=10,
               max_retries=2)
    cfg.update(options)
    return OpenAIBackend(OpenAIConfig(**cfg))


def _ctx(photo: Photo, program: str = START, stage=MATERIALS, **over) -> StageContext:
    fields = dict(stage=stage, round=1, photo=photo, program=program,
                  section_body=parse(program).get(stage.section), best_png=None, best_scores=None, history=[],
                  feedback=[], last_error=None, renderer=None, render=SETTINGS, seed=0)
    fields.update(over)
    return StageContext(**fields)


# --- prompts ---------------------------------------------------------------------------------
def test_templates_load_and_the_system_message_is_static():
    names = prompts.available()
    for stage in STAGES:
        assert {f"{stage.name}_generator", f"{stage.name}_verifier"} <= set(names)
    templates = msg.load_templates()
    for name, fields in msg.TEMPLATES.items():
        assert templates[name].placeholders() <= set(fields), name
        text = templates[name].render(**{f: f"<{f}>" for f in fields})
        assert "$" not in text, name
    system = msg.system_text(templates)
    assert system == msg.system_text(msg.load_templates())  # no per-call value in it
    for needle in ("BLENDER_EEVEE_NEXT", "compositing_node_group", "'Factor'", "Sandbox rules", "```json",
                   '"approve"', "semantic", "tree_N_trunk", "shift", "sensible `location`"):
        assert needle in system, needle
    assert all(f"`{c}`" in system for c in CLASS_NAMES)
    # the composition stage no longer claims placement that geometry owns
    assert "Only placement" not in system and "fine adjustments" in system


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


def test_program_view_shortens_seigs_scene_section():
    view = msg.program_view(START)
    scene = view.split("# === seig:scene ===", 1)[1]
    assert "NOT an example to imitate" in scene and "RENDER = {" in scene
    code = "\n".join(line for line in scene.splitlines() if not line.lstrip().startswith("#"))
    for forbidden in ("import sys", "__name__", "filepath", "bpy.ops.wm", "def build_scene"):
        assert forbidden not in code, forbidden
    assert parse(view).get("materials") == parse(START).get("materials")


# --- reading replies ---------------------------------------------------------------------------
def test_code_extraction_and_section_validation():
    prose = f"I will brighten the box.\n\n```python\n{GOOD}```\n\nThis should help."
    assert extract_code(prose) == GOOD
    assert extract_code(f"Here:\n```\n{GOOD}```\n") == GOOD
    assert extract_code(GOOD) == GOOD
    assert extract_code("Sorry, I cannot help with that.") is None
    assert extract_code('```json\n{"a": 1}\n```') is None
    whole = START.replace("'color': [0.2, 0.2, 0.8]", "'color': [0.3, 0.3, 0.3]")
    body = section_from_code(whole, "materials", ["MATERIALS", "build_materials"])
    assert "[0.3, 0.3, 0.3]" in body and "seig:" not in body and "def build_geometry" not in body
    assert required_names(parse(START), "geometry") == ["GEOMETRY", "build_geometry", "srgb_to_linear"]
    with pytest.raises(BackendError) as missing:
        section_from_code("MATERIALS = {}\n", "materials", ["MATERIALS", "build_materials"])
    assert missing.value.kind == "contract" and "build_materials" in str(missing.value)


def test_patches_change_only_the_keys_given():
    body, form = body_from_reply("Make it red.\n" + RED_PATCH + "\nThat is all.", START, "materials",
                                 ["MATERIALS", "build_materials"])
    assert form == "patch" and body == GOOD
    body, _ = body_from_reply('{"MATERIALS": {"crate": {"color": [0.8, 0.15, 0.1]}}}', START, "materials", [])
    assert body == GOOD  # the dict's name around the patch is tolerated
    geometry = section_params(parse(START).get("geometry"), "geometry")
    crate = next(o for o in geometry["objects"] if o["name"] == "crate")
    patch = {"objects": {"crate": {"size": [2.0, 2.0, 2.0]}, "terrain": None,
                         "car_1": {"class": "car", "shape": "box", "size": [4.2, 1.8, 1.5],
                                   "location": [2.0, 8.0, 0.0], "yaw_deg": 0.0}}}
    new = apply_patch(geometry, patch, "geometry")
    names = [o["name"] for o in new["objects"]]
    assert "terrain" not in names and names[-1] == "car_1"
    assert next(o for o in new["objects"] if o["name"] == "crate") == {**crate, "size": [2.0, 2.0, 2.0]}
    assert apply_patch(geometry, diff_params(geometry, new, "geometry"), "geometry") == new
    list_form = {"objects": [{"name": "crate", "size": [2.0, 2.0, 2.0]}]}
    assert apply_patch(geometry, list_form, "geometry")["objects"][-1]["size"] == [2.0, 2.0, 2.0]
    with pytest.raises(BackendError) as same:
        body_from_reply('```json\n{"crate": {"roughness": 0.7}}\n```', START, "materials", [])
    assert same.value.kind == "unchanged"
    with pytest.raises(BackendError) as none:
        body_from_reply("I would make the box redder.", START, "materials", [])
    assert none.value.kind == "no_code" and "neither a ```json patch nor a ```python block" in str(none.value)


@pytest.mark.parametrize("reply,approve,items", [
    ('```json\n' + VERDICT + '\n```', False, ["the box is too dark", "the ground is too bright"]),
    ('```python\nx = {"a": 1}\n```\nMy verdict: {"approve": true, "discrepancies": []} as asked.', True, []),
    (VERDICT + "\n\nThe render is close; the box should be red {not blue}.", False,
     ["the box is too dark", "the ground is too bright"]),
    ("{'approve': True, 'discrepancies': ['sky too blue']}", True, ["sky too blue"]),
])
def test_verdicts_are_read_wherever_the_json_sits(reply, approve, items):
    verdict = parse_verdict(reply, 5)
    assert verdict.found and verdict.approve is approve and verdict.discrepancies == items


def test_a_reply_without_a_verdict_is_lost_not_a_silent_no():
    verdict = parse_verdict("- sky too blue\n- box too small\nthanks", 1)
    assert not verdict.found and verdict.discrepancies == ["sky too blue"] and not verdict.approve
    assert not parse_verdict("Looks good to me!", 5).found


# --- token counts ------------------------------------------------------------------------------
def test_vendored_qwen_vocabulary_is_the_published_one():
    """The file in stages/backends/vlm/vocab/ is byte for byte the one its NOTICE names, and
    encodes as Qwen 2's tokenizer does ("Hello world" is [9707, 1879] there)."""
    import hashlib

    data = tokens._vocab_file().read_bytes()
    assert hashlib.sha256(data).hexdigest() == "b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186"
    assert tokens.qwen_encoding().encode("Hello world") == [9707, 1879]


def test_token_counts_and_the_estimate_is_conservative(street_program):
    qwen = tokens.counter("qwen")
    system = msg.system_text(msg.load_templates())
    for text in (street_program, START, system, "[0.2351, 0.5, 12.75]"):
        assert tokens.estimate(text) >= qwen(text), text[:40]
    numbers = "COLOR = [0.2351, 0.5, 12.75]"
    assert qwen(numbers) > math.ceil(len(numbers) / 4) * 2  # every digit is a token: chars/4 undercounts
    assert len(street_program) / 4 < qwen(street_program) * 0.8
    assert tokens.family_of("Qwen/Qwen2.5-VL-72B-Instruct") == "qwen" and tokens.family_of("gpt-4o") == "estimate"
    assert tokens.qwen_image_tokens(768, 576) == 27 * 21 + 2
    assert tokens.openai_image_tokens(768, 576, "low") == 85 and tokens.openai_image_tokens(768, 576) == 85 + 170 * 4


# --- config ------------------------------------------------------------------------------------
def test_api_key_from_env_or_file(fake, monkeypatch, tmp_path):
    monkeypatch.delenv("SEIG_TEST_KEY", raising=False)
    with pytest.raises(BackendError, match="SEIG_TEST_KEY is not set") as exc:
        make_backend("openai", {"base_url": fake.base_url, "model": "m", "api_key_env": "SEIG_TEST_KEY"})
    assert exc.value.kind == "config"
    with pytest.raises(ValueError, match="extra"):
        OpenAIConfig(model="m", temprature=0.1)
    with pytest.raises(BackendError, match="cannot read the API key file"):
        make_backend("openai", {"base_url": fake.base_url, "model": "m", "api_key_file": str(tmp_path / "none")})
    monkeypatch.setenv("SEIG_TEST_KEY", "sk-local")
    backend = make_backend("openai", {"base_url": fake.base_url, "model": "m", "api_key_env": "SEIG_TEST_KEY"})
    fake.reply(VERDICT)
    backend.vlm.call([{"role": "user", "content": "hi"}], 300)
    assert fake.requests[-1].headers["authorization"] == "Bearer sk-local"
    (tmp_path / "key").write_text("sk-from-file\n")
    backend = make_backend("openai", {"base_url": fake.base_url, "model": "m", "api_key_file": str(tmp_path / "key")})
    fake.reply(VERDICT)
    backend.vlm.call([{"role": "user", "content": "hi"}], 300)
    assert fake.requests[-1].headers["authorization"] == "Bearer sk-from-file"


# --- request layout and sizing (no Blender) -----------------------------------------------------
def test_cache_friendly_layout_shared_prefix_and_measured_usage(flat_photo, fake):
    fake.reply(RED_PATCH).reply(RED_PATCH).reply(VERDICT)
    backend = _backend(fake)
    backend.propose(_ctx(flat_photo))
    other = _backend(fake)  # another task of the same image: a new instance
    other.propose(_ctx(flat_photo, round=2, feedback=["the box is too dark"]))
    cand = Candidate(index=0, program=parse(START).replace("materials", GOOD).text(), png=_png(),
                     scores=_scores(20.0))
    fb = other.verify(_ctx(flat_photo, best_scores=_scores(22.5)), cand, kept=False)
    assert fb.verdict == "revise" and not fb.approve
    first, second, third = fake.requests
    for r in fake.requests:
        system, user = r.body["messages"]
        assert system["role"] == "system" and system["content"] == backend.system
        assert [p["type"] for p in user["content"][:3]] == ["text", "image_url", "text"]
        assert user["content"][2]["text"].startswith("## The current scene program")
    assert first.image_urls[0] == second.image_urls[0] == third.image_urls[0]  # the photo, byte-identical
    assert first.texts[:3] == second.texts[:3] == third.texts[:3]  # system, caption, program: shared
    assert "round 1 of 3" in first.texts[-1] and "round 2 of 3" in second.texts[-1]
    assert "the box is too dark" in second.texts[-1]
    verifier = third.texts[-1]
    assert "CANDIDATE of this round, not of the program above" in verifier
    assert "PSNR 20.00 dB" in verifier and "best before this round scored\nPSNR 22.50 dB" in verifier
    assert "reverted" in verifier and '{"crate": {"color": [0.8, 0.15, 0.1]}}' in verifier
    # usage as vLLM reports it: the shared start of the later calls is served from cache
    m = fake.measured
    assert m[0]["cached"] == 0 and m[1]["cached"] > 0.8 * m[1]["prompt"] and m[2]["cached"] > 0.5 * m[2]["prompt"]
    assert other.usage.cached_tokens == m[1]["cached"] + m[2]["cached"]
    assert backend.usage.prompt_tokens == m[0]["prompt"]
    assert abs(backend.vlm.prompt_tokens(first.body["messages"]) - m[0]["prompt"]) <= 8  # our count is the server's


def test_max_tokens_sized_from_the_section(flat_photo, fake):
    fake.reply(RED_PATCH)
    backend = _backend(fake)
    backend.propose(_ctx(flat_photo))
    section = parse(START).get("materials")
    assert fake.requests[0].body["max_tokens"] == math.ceil(tokens.counter("qwen")(section) * 1.15) + 1024
    fake.reply(RED_PATCH)
    _backend(fake, max_tokens=600).propose(_ctx(flat_photo))  # too small for a whole rewrite: ask for a patch
    assert fake.requests[1].body["max_tokens"] == 600 and "answer with a patch" in fake.requests[1].texts[-1]


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 90, 200)).save(buf, format="PNG")
    return buf.getvalue()


def _scores(psnr: float):
    from stages.scoring import Scores

    return Scores(psnr=psnr, ssim=0.5, photometric_loss=0.01)


# --- rounds with Blender ------------------------------------------------------------------------
def test_patch_reply_is_rendered_kept_and_its_verdict_read_from_prose(worker, photo, fake):
    fake.reply("The box should be red.\n" + RED_PATCH, prompt_tokens=1200, completion_tokens=30)
    fake.reply("```python\nprint('thinking')\n```\nVerdict: " + VERDICT + "\nHope this helps.",
               prompt_tokens=900, completion_tokens=40)
    backend = _backend(fake)
    result = run_stage(MATERIALS.model_copy(update={"rounds": 1}), START, photo, backend, worker, SETTINGS)
    rnd = result.rounds[1]
    assert rnd.kept and rnd.candidates[0].scores is not None and rnd.candidates[0].error is None
    assert result.best_scores.psnr > result.start_scores.psnr + 5
    assert parse(result.best_program).get("geometry") == parse(START).get("geometry")
    assert rnd.verdict == "revise" and rnd.feedback == ["the box is too dark", "the ground is too bright"]
    assert rnd.usage.calls == 2 and rnd.usage.prompt_tokens == 2100 and rnd.usage.completion_tokens == 70
    assert "(patch)" in rnd.notes and rnd.prompt_version.startswith("system@")
    assert backend.health.calls_ok == 2 and backend.health.failure() is None


def test_approval_of_a_reverted_candidate_does_not_end_the_stage(worker, photo, fake):
    fake.reply('```json\n{"crate": {"color": [0.1, 0.9, 0.1]}}\n```')  # worse than the start: reverted
    fake.reply('Looks right. {"approve": true, "discrepancies": ["the box is green, the photo red"]}')
    fake.reply(RED_PATCH)
    fake.reply("I cannot judge this image.")  # a lost verdict
    result = run_stage(MATERIALS.model_copy(update={"rounds": 2}), START, photo, _backend(fake), worker, SETTINGS)
    r1, r2 = result.rounds[1:]
    assert not r1.kept and r1.verdict == "approve" and len(result.rounds) == 3  # round 2 still ran
    assert r1.feedback[0].startswith("(about this round's reverted candidate")
    assert "the program you edit is still the best" in fake.requests[2].texts[-1]
    assert r2.kept and r2.verdict == "lost" and "no readable verdict" in r2.feedback[-1]


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
    assert "neither a ```json patch nor a ```python block" in fake.requests[1].texts[-1]
    assert "ZeroDivisionError" in fake.requests[2].texts[-1]


def test_a_contract_breaking_patch_fails_its_round_with_the_reason(worker, photo, fake):
    fake.reply('```json\n{"objects": {"crate": {"class": "box"}}}\n```')
    fake.reply('```json\n{"objects": {"crate": {"size": [1.2, 1.2, 1.2]}}}\n```')
    fake.reply(VERDICT)
    result = run_stage(GEOMETRY.model_copy(update={"rounds": 2}), START, photo, _backend(fake), worker, SETTINGS)
    r1 = result.rounds[1]
    assert r1.candidates[0].error.kind == "contract" and "'box' is not one of" in r1.candidates[0].error.message
    assert "is not one of" in fake.requests[1].texts[-1]


def test_429_then_success_counts_the_retry(flat_photo, fake):
    fake.error(429, "slow down", headers={"Retry-After": "0"})
    fake.reply(RED_PATCH)
    proposal = _backend(fake).propose(_ctx(flat_photo))
    assert proposal.bodies == [GOOD] and proposal.usage.calls == 1 and proposal.usage.retries == 1
    assert len(fake.requests) == 2 and fake.requests[1].headers.get("x-stainless-retry-count") == "1"


def test_candidates_come_from_choices_and_bad_ones_are_dropped(flat_photo, fake):
    other = _materials_body(START, (0.5, 0.5, 0.1))
    fake.reply(RED_PATCH, f"Same again:\n```python\n{GOOD}```", "no code, sorry", f"```py\n{other}```")
    proposal = _backend(fake, candidates=4).propose(_ctx(flat_photo))
    assert fake.requests[0].body["n"] == 4
    assert [b.strip() for b in proposal.bodies] == [GOOD.strip(), other.strip()]
    assert "dropped: the reply has neither" in proposal.notes


def test_initial_program_from_the_vlm_or_offline_fallback(flat_photo, fake, monkeypatch):
    from stages.backends.offline import OfflineBackend

    monkeypatch.setattr(OfflineBackend, "initial_program", lambda self, p, r: (START, Usage()))
    backend = _backend(fake)
    assert backend.initial_program(flat_photo, SETTINGS)[0] == START and not fake.requests
    assert backend.health.initial_program == "offline"
    sections = "\n".join(f"# === seig:{name} ===\n{parse(START).get(name)}"
                         for name in ("geometry", "materials", "composition", "lighting"))
    fake.reply("Here is the scene:\n```python\n" + sections.replace("[0.2, 0.2, 0.8]", "[0.7, 0.1, 0.1]") + "```")
    fake.reply("```python\n" + sections.replace("def build_lighting", "def lights") + "```")
    backend = _backend(fake, initial="vlm")
    program, usage = backend.initial_program(flat_photo, SETTINGS)
    assert "[0.7, 0.1, 0.1]" in program and parse(program).get("scene") == parse(START).get("scene")
    assert usage.calls == 1 and backend.health.initial_program == "vlm"
    program, usage = backend.initial_program(flat_photo, SETTINGS)
    assert program == START and usage.calls == 1 and "build_lighting" in backend.notes[-1]
    assert backend.health.initial_program == "offline_fallback"
    assert "## Request: INITIAL" in fake.requests[0].texts[-1] and len(fake.requests[0].image_urls) == 1


def test_token_and_call_budgets_cap_and_then_refuse_calls(flat_photo, fake):
    fake.reply(RED_PATCH, prompt_tokens=19_000, completion_tokens=500)
    backend = _backend(fake, budget_tokens=20_000, max_tokens=16_000)
    ctx = _ctx(flat_photo)
    backend.propose(ctx)
    first = fake.requests[0]
    prompt = backend.vlm.prompt_tokens(first.body["messages"])
    assert first.body["max_tokens"] == min(16_000, backend._wanted(ctx.section_body), 20_000 - prompt)
    with pytest.raises(BudgetExhausted, match="token budget nearly spent"):  # 500 left: no room for prompt + reply
        backend.propose(ctx)
    assert len(fake.requests) == 1
    fake.reply(RED_PATCH)
    calls = _backend(fake, budget_calls=1)
    calls.propose(ctx)
    with pytest.raises(BudgetExhausted, match="call budget spent: 1 of 1"):
        calls.propose(ctx)
    assert len(fake.requests) == 2 and calls.health.failure() is None  # a spent budget is not a VLM failure


def test_a_focal_length_the_photo_states_is_told_to_the_model(fake):
    """The EXIF focal length (stages.photo) is in every generator request, and only then."""
    stated = Photo(Image.new("RGB", (64, 48), (200, 40, 30)), "stated", focal_mm=31.25)
    plain = Photo(Image.new("RGB", (64, 48), (200, 40, 30)), "plain")
    fake.reply(RED_PATCH).reply(RED_PATCH)
    backend = _backend(fake)
    backend.propose(_ctx(stated))
    backend.propose(_ctx(plain))
    told, untold = fake.requests[-2].texts[-1], fake.requests[-1].texts[-1]
    assert "`focal_mm` 31.2" in told and "Keep the camera's `focal_mm`" in told
    assert "focal_mm" not in untold and "EXIF" not in untold and "camera's height" not in untold
    stated.height_m = 2.35  # a manifest's camera_height_m
    fake.reply(RED_PATCH)
    backend.propose(_ctx(stated))
    assert "camera's height above the ground is stated: 2.35 m" in fake.requests[-1].texts[-1]
    # and the verifier, whose feedback would otherwise ask for what the generator must keep
    fake.reply(VERDICT).reply(VERDICT)
    cand = Candidate(index=0, program=parse(START).replace("materials", GOOD).text(), png=_png(), scores=_scores(20.0))
    backend.verify(_ctx(stated, best_scores=_scores(22.5)), cand, kept=False)
    backend.verify(_ctx(plain, best_scores=_scores(22.5)), cand, kept=False)
    told, untold = fake.requests[-2].texts[-1], fake.requests[-1].texts[-1]
    assert "`focal_mm` 31.2" in told and "stated: 2.35 m" in told and "not a discrepancy" in told
    assert "focal_mm" not in untold and "camera's height" not in untold
