"""Dataset outputs written inside the confined Blender job child: passes, scene facts, GLB, USD.

The functions of the `passes`, `glb` and `usd` writers of `child_outputs.WRITERS`. They
run in the job child after the program built its scene (bpy is imported inside the
functions: this module must import without bpy, because the parent validates output
names against `WRITERS`). One render serves every output: `prepare` runs before it
(instance ids as `pass_index`, Cycles view-layer passes: depth, normal, object index),
`write` after it (the passes read back from the render result, the exporters on the same
scene). Each writer writes only into the job directory and returns the names it wrote;
the parent (`blender_actors.outputs`, whose validators include these types) trusts
none of them: it checks format, size and count, and `simdata/` derives every
user-facing file from the checked data.

What is a "surface": an object that renders as a surface (mesh, curve, text, metaball)
and is not volume-only (a fog domain is lighting, not an object). Surfaces get instance
ids 1..N in name order, the same ids in every output; everything else keeps id 0.
"""
from __future__ import annotations

import json
import os
import time

MAX_OBJECTS = 2000
SURFACE_TYPES = ("MESH", "CURVE", "SURFACE", "META", "FONT")
PASSES_FILE = "passes.npy"  # float32 (H, W, 5): depth, normal x y z, instance id
FACTS_FILE = "scene.json"
GLB_FILE = "scene.glb"
USD_FILE = "scene.usdc"
USD_ROOT = "/World"  # Isaac Sim's convention for the default prim


def _volume_only(obj) -> bool:
    """True when every material of the object feeds only a Volume output (a fog domain)."""
    mats = [slot.material for slot in obj.material_slots if slot.material is not None]
    if not mats:
        return False
    for mat in mats:
        tree = mat.node_tree
        if tree is None:
            return False
        outputs = [n for n in tree.nodes if n.bl_idname == "ShaderNodeOutputMaterial"]
        if any(n.inputs["Surface"].is_linked for n in outputs) or not outputs:
            return False
    return True


def surfaces(scene) -> list:
    """The objects that get instance ids, in name order (stable across runs and outputs)."""
    found = [o for o in scene.objects if o.type in SURFACE_TYPES and not o.hide_render and not _volume_only(o)]
    return sorted(found, key=lambda o: o.name)[:MAX_OBJECTS]


GLTF_MODULES = ("io_scene_gltf2.blender.exp.export", "io_scene_gltf2.io.exp.user_extensions",
                "io_scene_gltf2.io.com.debug", "io_scene_gltf2.io.com.path")


def preload() -> dict:
    """What every dataset job would otherwise import itself, loaded once in the zygote:
    OpenEXR's bindings and the glTF exporter's modules (the add-on is on in factory
    settings, but its operator imports ~100 modules on its first export). None of it starts
    a thread (the zygote checks before every fork); USD's plugins load on the first export
    and cannot be loaded without one, so each job pays that itself."""
    import importlib
    import time as _time

    import addon_utils

    t0 = _time.perf_counter()
    loaded = {}
    try:
        import OpenEXR  # noqa: F401
        loaded["openexr"] = True
    except ImportError:
        loaded["openexr"] = False
    try:
        addon_utils.enable("io_scene_gltf2", default_set=False)
        for name in GLTF_MODULES:
            importlib.import_module(name)
        loaded["gltf"] = True
    except Exception:  # noqa: BLE001 - a job then imports it itself, and fails there if it must
        loaded["gltf"] = False
    loaded["seconds"] = round(_time.perf_counter() - t0, 4)
    return loaded


def _timing(job: dict, name: str, seconds: float) -> None:
    job.setdefault("_timings", {})[name] = round(seconds, 5)


# --- passes --------------------------------------------------------------------------
def assign_ids(scene, job: dict) -> None:
    """Instance ids into `pass_index` and the custom property `instance_id` (which the
    exporters carry into GLB extras and USD attributes); every other object gets 0."""
    for obj in scene.objects:
        obj.pass_index = 0
    for index, obj in enumerate(surfaces(scene), start=1):
        obj.pass_index = index
        obj["instance_id"] = index


def prepare_passes(scene, job: dict) -> None:
    """Instance ids, and the depth, normal and object-index passes on the view layer."""
    import bpy

    assign_ids(scene, job)
    scene.render.use_single_layer = True  # the active view layer only: one layer to read back
    layer = bpy.context.view_layer
    layer.use_pass_z = True
    layer.use_pass_normal = True
    layer.use_pass_object_index = True


def _channel(channels: dict, suffix: str):
    for name, pixels in channels.items():
        if name.endswith(suffix):
            return pixels
    raise RuntimeError(f"the render has no {suffix.lstrip('.')} pass")


def write_passes(scene, job_dir: str, job: dict) -> list[str]:
    """passes.npy (depth, normal, instance id per pixel) and scene.json (camera, objects)."""
    import bpy
    import numpy as np
    import OpenEXR

    t0 = time.perf_counter()
    exr = os.path.join(job_dir, "passes.exr")
    settings = scene.render.image_settings
    settings.media_type = "MULTI_LAYER_IMAGE"
    settings.color_depth = "32"
    settings.exr_codec = "ZIP"
    bpy.data.images["Render Result"].save_render(exr, scene=scene)
    with OpenEXR.File(exr, separate_channels=True) as exr_file:
        channels = {name: ch.pixels for part in exr_file.parts for name, ch in part.channels.items()}
    os.unlink(exr)
    stack = [_channel(channels, s) for s in (".Depth.Z", ".Normal.X", ".Normal.Y", ".Normal.Z", ".Object Index.X")]
    passes = np.ascontiguousarray(np.stack(stack, axis=-1), dtype="<f4")
    np.save(os.path.join(job_dir, PASSES_FILE), passes, allow_pickle=False)
    with open(os.path.join(job_dir, FACTS_FILE), "w", encoding="utf-8") as fh:
        json.dump(scene_facts(scene), fh, ensure_ascii=True, allow_nan=False)
    _timing(job, "passes_s", time.perf_counter() - t0)
    return [PASSES_FILE, FACTS_FILE]


def _matrix(m) -> list[float]:
    return [float(m[r][c]) for r in range(4) for c in range(4)]


def _text(value, limit: int = 128) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def scene_facts(scene) -> dict:
    """What only Blender knows after the program ran: the camera, each surface's class,
    instance id, transform and local bounds, the suns. Plain numbers; the parent checks them."""
    import bpy

    depsgraph = bpy.context.evaluated_depsgraph_get()
    cam = scene.camera
    data = cam.data
    objects = []
    for obj in surfaces(scene):
        corners = [tuple(c) for c in obj.evaluated_get(depsgraph).bound_box]
        objects.append({
            "name": _text(obj.name), "semantic": _text(obj.get("semantic"), 64), "instance_id": obj.pass_index,
            "matrix_world": _matrix(obj.matrix_world),
            "bbox_min": [min(c[i] for c in corners) for i in range(3)],
            "bbox_max": [max(c[i] for c in corners) for i in range(3)],
        })
    suns = [{"name": _text(o.name), "matrix_world": _matrix(o.matrix_world), "energy": float(o.data.energy),
             "color": [float(c) for c in o.data.color]}
            for o in scene.objects if o.type == "LIGHT" and o.data.type == "SUN"][:16]
    return {
        "world": world_facts(scene),
        "camera": {
            "name": _text(cam.name), "type": data.type, "matrix_world": _matrix(cam.matrix_world),
            "lens_mm": float(data.lens), "sensor_width_mm": float(data.sensor_width),
            "sensor_height_mm": float(data.sensor_height), "sensor_fit": data.sensor_fit,
            "shift_x": float(data.shift_x), "shift_y": float(data.shift_y),
            "clip_start": float(data.clip_start), "clip_end": float(data.clip_end),
        },
        "render": {"width": scene.render.resolution_x, "height": scene.render.resolution_y,
                   "pixel_aspect_x": float(scene.render.pixel_aspect_x),
                   "pixel_aspect_y": float(scene.render.pixel_aspect_y)},
        "objects": objects,
        "suns": suns,
    }


def world_facts(scene) -> dict | None:
    """The world as one colour and strength, for the simulator's uniform dome light.

    Blender's USD exporter can turn the world into a dome light only through a texture it
    writes beside the file (a sky gradient becomes the world's viewport colour, which seig
    programs never set), and the dataset ships one file. So the child reports the sky's
    mean linear colour over the sphere and the parent's labeller adds the dome light
    (`simdata.usd_labels`): a Background colour as it is, or a colour ramp's mean (seig's
    sky gradient maps the view direction's z, uniform in solid angle, onto the ramp)."""
    world = scene.world
    tree = world.node_tree if world is not None else None
    if tree is None:
        return None
    background = next((n for n in tree.nodes if n.bl_idname == "ShaderNodeBackground"), None)
    if background is None:
        return None
    colour = background.inputs["Color"]
    strength = background.inputs["Strength"]
    if not colour.is_linked:
        rgb = [float(c) for c in colour.default_value[:3]]
    elif colour.links[0].from_node.bl_idname == "ShaderNodeValToRGB":
        ramp = colour.links[0].from_node.color_ramp
        samples = [ramp.evaluate(i / 63) for i in range(64)]
        rgb = [sum(float(c[k]) for c in samples) / len(samples) for k in range(3)]
    else:
        rgb = [float(c) for c in world.color[:3]]
    return {"color": rgb, "strength": float(strength.default_value) if not strength.is_linked else 1.0}


# --- exports -------------------------------------------------------------------------
def _select_exported(scene) -> None:
    """Select the surfaces, the camera and the suns: what a simulator loads."""
    import bpy

    keep = {o.name for o in surfaces(scene)} | {scene.camera.name}
    keep |= {o.name for o in scene.objects if o.type == "LIGHT"}
    layer = bpy.context.view_layer
    for obj in scene.objects:
        if obj.name in layer.objects:
            obj.select_set(obj.name in keep)


def flatten_procedural_colours(scene) -> None:
    """Exporters keep image textures, not procedural ones: glTF's exporter writes white for a
    Base Color fed by a noise texture. Unlink such inputs so each material exports the base
    colour its program set (seig's programs keep it in the socket's own value). Runs after
    the render, so the picture is unchanged."""
    for obj in surfaces(scene):
        for slot in obj.material_slots:
            tree = slot.material.node_tree if slot.material else None
            if tree is None:
                continue
            for node in tree.nodes:
                if node.bl_idname != "ShaderNodeBsdfPrincipled":
                    continue
                for name in ("Base Color", "Roughness", "Metallic"):
                    for link in list(node.inputs[name].links):
                        if link.from_node.bl_idname != "ShaderNodeTexImage":
                            tree.links.remove(link)


def write_glb(scene, job_dir: str, job: dict) -> list[str]:
    """scene.glb: named nodes, materials, the camera and the sun; each node's custom
    properties (`semantic`, `instance_id`) in its `extras`. glTF is +Y up (the exporter
    converts Blender's +Z up), metres."""
    import addon_utils
    import bpy

    t0 = time.perf_counter()
    addon_utils.enable("io_scene_gltf2", default_set=False)
    flatten_procedural_colours(scene)
    _select_exported(scene)
    bpy.ops.export_scene.gltf(
        filepath=os.path.join(job_dir, GLB_FILE), export_format="GLB", use_selection=True, export_extras=True,
        export_cameras=True, export_lights=True, export_yup=True, export_apply=True)
    _timing(job, "glb_s", time.perf_counter() - t0)
    return [GLB_FILE]


def write_usd(scene, job_dir: str, job: dict) -> list[str]:
    """scene.usdc: named prims under /World, materials (UsdPreviewSurface), camera, sun;
    custom properties as `userProperties:*` (the parent adds Isaac Sim's semantic labels and
    the world's dome light from `world_facts`: Blender's own world conversion writes a
    texture file, into a temp dir the jail does not let it write), metersPerUnit 1, up axis Z.
    The USD library cannot chmod its temporary file before renaming it over scene.usdc
    (seccomp): it warns, and the file keeps mode 0600, which the parent reads."""
    import bpy

    t0 = time.perf_counter()
    flatten_procedural_colours(scene)
    _select_exported(scene)
    bpy.ops.wm.usd_export(
        filepath=os.path.join(job_dir, USD_FILE), selected_objects_only=True, export_animation=False,
        export_custom_properties=True, export_materials=True, generate_preview_surface=True,
        export_textures_mode="KEEP", export_cameras=True, export_lights=True, convert_world_material=False,
        root_prim_path=USD_ROOT, convert_orientation=False, convert_scene_units="METERS", meters_per_unit=1.0)
    _timing(job, "usd_s", time.perf_counter() - t0)
    return [USD_FILE]


