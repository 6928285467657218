"""Per-object pixel masks of any scene program, from one flat-shaded Workbench render.

The program is extended with an `idpass` section that wraps its `build_scene()`: every
mesh object gets a unique flat colour, anti-aliasing off, black background, and the
object names are printed in palette order (captured by the worker). Decoding the render
by nearest palette colour gives exact masks. Works on any program (offline- or
VLM-written) and costs one Workbench render (~0.1-0.6 s), not a Cycles one.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from stages.backends.base import Renderer, RenderSettings

LEVELS = 6  # per channel: 6**3 - 1 = 215 objects distinguishable (black is background)
STEP = 255 / (LEVELS - 1)
MARKER = "SEIG_IDPASS"

IDPASS_SECTION = f'''
# === seig:idpass ===
IDPASS_LEVELS = {LEVELS}


def idpass_colour(index):
    """Index -> a linear RGBA whose sRGB encoding is exactly a multiple of 51."""
    code = index + 1
    levels = [code // (IDPASS_LEVELS * IDPASS_LEVELS), (code // IDPASS_LEVELS) % IDPASS_LEVELS, code % IDPASS_LEVELS]
    return srgb_to_linear([v / (IDPASS_LEVELS - 1) for v in levels]) + [1.0]


build_scene_for_idpass = build_scene


def build_scene():
    objects = build_scene_for_idpass()
    scene = bpy.context.scene
    names = sorted(o.name for o in scene.objects if o.type == "MESH")
    print("{MARKER}")
    for index, name in enumerate(names[: IDPASS_LEVELS ** 3 - 1]):
        scene.objects[name].color = idpass_colour(index)
        print(name)
    shading = scene.display.shading
    shading.light = "FLAT"
    shading.color_type = "OBJECT"
    scene.display.render_aa = "OFF"
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.view_settings.exposure = 0.0
    scene.view_settings.gamma = 1.0
    if scene.world is None:
        scene.world = bpy.data.worlds.new("idpass")
    scene.world.color = (0.0, 0.0, 0.0)
    return objects
'''

SRGB_HELPER = '''

def srgb_to_linear(c):
    return [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
'''


def idpass_program(program: str) -> str:
    """`program` with the idpass section appended (before nothing: it only redefines)."""
    main = program.find('\nif __name__ == "__main__":')
    body, tail = (program, "") if main < 0 else (program[:main + 1], program[main + 1:])
    helper = "" if "def srgb_to_linear(" in program else SRGB_HELPER
    return body + helper + IDPASS_SECTION + "\n\n" + tail


def object_masks(program: str, renderer: Renderer, render: RenderSettings,
                 size: tuple[int, int]) -> tuple[dict[str, np.ndarray], np.ndarray] | None:
    """{object name: bool mask} at `size` (w, h), and the background mask; None on failure."""
    result = renderer.render(render.request(idpass_program(program), engine="BLENDER_WORKBENCH", samples=1,
                                             denoise=False))
    if not result.ok or MARKER not in result.record.stdout:
        return None
    names = result.record.stdout.split(MARKER, 1)[1].strip("\n").split("\n")
    names = [n for n in names if n]
    image = Image.open(io.BytesIO(result.png)).convert("RGB").resize(size, Image.NEAREST)
    levels = np.rint(np.asarray(image, dtype=np.float32) / STEP).astype(np.int32)
    codes = levels[..., 0] * LEVELS * LEVELS + levels[..., 1] * LEVELS + levels[..., 2]
    masks = {name: codes == i + 1 for i, name in enumerate(names)}
    return masks, codes == 0
