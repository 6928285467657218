"""Assembling requests so that servers can reuse most of each one.

Every call of every image starts with the same system message (the contract, the stages,
Blender 5.0 API notes, sandbox rules, reply formats: `prompts/system.md`); then the photo,
byte-identical in every call of an image; then the current program (shared by a round's
generator and verifier calls, and by later rounds until a candidate is kept); and last
what varies: the render and the request (job, stage, round, scores, feedback, errors).
vLLM's and SGLang's prefix caches and hosted prompt caching then serve the shared start
from cache.

The program shown to the model has seig's own `scene` section shortened and marked as
not to be imitated: it uses names (`sys`, `__name__`, file paths) that a model's section
may not.
"""
from __future__ import annotations

import base64
import io

from PIL import Image

from scene_program.classes import CLASS_NAMES
from scene_program.sections import Program, SectionError, parse
from scene_program.writer import format_params, section_params
from stages import prompts
from stages.backends.base import BackendError

SYSTEM_FIELDS = ("classes",)
GENERATOR_FIELDS = ("stage", "goal", "round", "rounds", "section", "params_name", "required_names", "scores",
                    "reply_room", "history", "feedback", "last_error", "photo_facts")
VERIFIER_FIELDS = ("stage", "goal", "round", "rounds", "section", "change", "candidate_scores", "best_scores",
                   "outcome", "feedback", "photo_facts")
INITIAL_FIELDS = ("width", "height", "photo_facts")
TEMPLATES = {"system": SYSTEM_FIELDS, "generator_request": GENERATOR_FIELDS,
             "verifier_request": VERIFIER_FIELDS, "initial_request": INITIAL_FIELDS}
PHOTO_CAPTION = "Image 1: the photograph to rebuild."

SCENE_NOTE = """\
# seig's own section, shortened here. Read only, and NOT an example to imitate: it uses names
# and calls (sys, __name__, file paths) that the sandbox refuses in your sections.
{render}# def build_scene(): objects = build_geometry(); build_materials(objects);
#     build_composition(objects); build_lighting(); then the render engine, size, samples, seed
#     and colour management from RENDER. Run standalone, it renders to the file after --render.
"""


def photo_facts(photo) -> str:
    """What is stated about the photo's camera (stages.photo), as lines for the requests;
    empty when nothing is. Its focal length and height fix the scene's scale, and no render
    comparison can recover them once changed."""
    facts = ""
    if photo.focal_mm is not None:
        facts += (f"The photo states its focal length: `focal_mm` {photo.focal_mm:.1f} for seig's 36 mm sensor "
                  "across the long side. Keep the camera's `focal_mm` at it.\n")
    if photo.height_m is not None:
        facts += (f"The camera's height above the ground is stated: {photo.height_m:.2f} m. Keep the camera's "
                  "`location` z at it, with the ground at z = 0.\n")
    return facts


def load_templates(directory: str | None = None) -> dict[str, prompts.Prompt]:
    """Every template the backend uses, loaded now: a missing one or an unknown placeholder
    fails at start-up, not in the middle of a night."""
    loaded = {}
    for name, fields in TEMPLATES.items():
        prompt = prompts.load(name, directory)
        unknown = prompt.placeholders() - set(fields)
        if unknown:
            raise prompts.PromptError(f"{prompt.path}: placeholder(s) {', '.join(sorted(unknown))} are not "
                                      f"supplied by the openai backend (it supplies: {', '.join(fields)})")
        loaded[name] = prompt
    return loaded


def system_text(templates: dict[str, prompts.Prompt]) -> str:
    return templates["system"].render(classes=", ".join(f"`{c}`" for c in CLASS_NAMES)).strip() + "\n"


def program_view(program: str | Program) -> str:
    """The program as the model sees it: whole, with seig's `scene` section shortened."""
    prog = parse(program) if isinstance(program, str) else program
    if "scene" in prog.names():
        try:
            render = format_params("RENDER", section_params(prog.get("scene"), "scene"))
        except SectionError:
            render = ""
        prog = prog.replace("scene", SCENE_NOTE.format(render=render))
    return prog.text().rstrip("\n")


def data_url(image: Image.Image | bytes, max_side: int, fmt: str) -> str:
    """An image as a base64 data URL, shrunk to `max_side`; the same input gives the same bytes."""
    try:
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
    except (OSError, ValueError) as exc:  # an image PIL cannot encode: a failed round, not a crash
        raise BackendError("image", f"cannot encode an image for the request: {exc}") from None
    mime = "jpeg" if fmt == "JPEG" else "png"
    return f"data:image/{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def build(system: str, photo_url: str, program: str, request: str, detail: str,
          render_url: str | None = None, render_caption: str = "") -> list[dict]:
    """The messages of one call, in cache order: system, photo, program, render, request."""
    image = {"type": "image_url", "image_url": {"url": photo_url, "detail": detail}}
    parts = [{"type": "text", "text": PHOTO_CAPTION}, image,
             {"type": "text", "text": f"## The current scene program\n```python\n{program}\n```"}]
    if render_url:
        parts += [{"type": "text", "text": render_caption},
                  {"type": "image_url", "image_url": {"url": render_url, "detail": detail}}]
    parts.append({"type": "text", "text": request.strip()})
    return [{"role": "system", "content": system}, {"role": "user", "content": parts}]
