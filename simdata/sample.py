"""One sample's files, from one checked Blender job: the writers fed by the scene model.

Input: the render (PNG), `passes.npy` and `scene.json` (already format-checked by
`blender_actors.outputs`), `scene.glb` and `scene.usdc`. Here the meaning is
checked (ids 1..N and matching the passes, the requested size, a perspective camera)
and each writer makes its files. USD labelling is batched per image (one labeller
process), so `build` returns the unlabelled crate and its labels for the caller.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np

from blender_actors.dataset_writers import FACTS_FILE, GLB_FILE, PASSES_FILE, USD_FILE
from blender_actors.protocol import RenderResult
from simdata import depth as depth_writer
from simdata import normals as normal_writer
from simdata import segmentation
from simdata.camera import CameraJson, camera_json
from simdata.facts import SceneFacts
from simdata.objects import entries

# Every file of a sample, in the order of docs/contracts.md ("Datasets"), by output group.
OUTPUT_FILES: dict[str, tuple[str, ...]] = {
    "rgb": ("rgb.png",),
    "depth": ("depth.png", "depth.npy", "depth_preview.png"),
    "semantic": ("semantic.png", "semantic_preview.png"),
    "instance": ("instance.png",),
    "normal": ("normal.png",),
    "camera": ("camera.json",),
    "objects": ("objects.json",),
    "glb": ("scene.glb",),
    "usd": ("scene.usdc",),
}
ALL_OUTPUTS = tuple(OUTPUT_FILES)


class SampleError(ValueError):
    """The job's files are well-formed but do not make a consistent sample."""


@dataclass
class Sample:
    files: dict[str, bytes]
    camera: CameraJson
    class_fractions: dict[str, float]
    objects: int
    usd: bytes | None = None  # unlabelled: label with simdata.usd_labels, then store as scene.usdc
    usd_labels: dict[str, str] = field(default_factory=dict)
    usd_dome: dict | None = None  # the world as a uniform dome light (simdata.facts.WorldFacts)
    timings: dict[str, float] = field(default_factory=dict)


def blender_outputs(outputs: tuple[str, ...] | list[str]) -> list[str]:
    """The job outputs (blender_actors.dataset_writers) that these dataset outputs need."""
    need = ["passes"]  # camera and ids are needed by everything else
    if "glb" in outputs:
        need.append("glb")
    if "usd" in outputs:
        need.append("usd")
    return need


def _glb_nodes(data: bytes) -> dict[str, dict]:
    (json_len,) = np.frombuffer(data[12:16], dtype="<u4")
    doc = json.loads(data[20:20 + int(json_len)])
    return {n.get("name"): n for n in doc.get("nodes", []) if isinstance(n, dict)}


def build(result: RenderResult, width: int, height: int, outputs: tuple[str, ...] | list[str]) -> Sample:
    """The sample's files (without scene.usdc, see `Sample.usd`) from one job's result."""
    import time

    t0 = time.perf_counter()
    try:
        facts = SceneFacts.model_validate_json(result.files[FACTS_FILE])
        facts.check_ids(width, height)
    except (KeyError, ValueError) as exc:
        raise SampleError(f"scene.json: {str(exc)[:400]}") from exc
    passes = np.load(io.BytesIO(result.files[PASSES_FILE]), allow_pickle=False)
    index = passes[..., 4]
    instance = np.rint(index).astype(np.int64)
    if np.any(np.abs(index - instance) > 1e-3) or instance.min() < 0 or instance.max() > len(facts.objects):
        raise SampleError(f"the object-index pass holds values outside the {len(facts.objects)} instance ids")
    instance = instance.astype(np.uint16)
    depth = depth_writer.metres(passes[..., 0])
    classes = {o.instance_id: o.semantic for o in facts.objects}
    semantic = segmentation.semantic_ids(instance, depth, classes)
    camera = camera_json(facts.camera, facts.render)
    files: dict[str, bytes] = {}
    timings: dict[str, float] = {}

    def timed(name: str, make) -> None:
        t = time.perf_counter()
        files.update(make())
        timings[name] = time.perf_counter() - t

    if "rgb" in outputs:
        files["rgb.png"] = result.png or b""
    if "depth" in outputs:
        timed("depth", lambda: depth_writer.write(depth))
    seg = segmentation.write(instance, semantic)
    if "semantic" in outputs:
        files.update({k: seg[k] for k in OUTPUT_FILES["semantic"]})
    if "instance" in outputs:
        files["instance.png"] = seg["instance.png"]
    if "normal" in outputs:
        timed("normal", lambda: normal_writer.write(passes[..., 1:4], depth))
    if "camera" in outputs:
        files["camera.json"] = camera.model_dump_json(indent=1).encode()
    objs = entries(facts.objects, instance, camera)
    if "objects" in outputs:
        files["objects.json"] = json.dumps({"objects": [o.as_json() for o in objs]}, indent=1).encode()
    if "glb" in outputs:
        glb = result.files.get(GLB_FILE)
        if glb is None:
            raise SampleError("the job wrote no scene.glb")
        nodes = _glb_nodes(glb)
        lost = [o.name for o in facts.objects if (nodes.get(o.name) or {}).get("extras", {}).get("semantic")
                != o.semantic]
        if lost:
            raise SampleError(f"scene.glb lacks nodes or classes for {lost[:5]}")
        files["scene.glb"] = glb
    timings["encode"] = time.perf_counter() - t0
    sample = Sample(files=files, camera=camera, class_fractions=segmentation.class_fractions(semantic),
                    objects=len(facts.objects), timings=timings)
    if "usd" in outputs:
        if USD_FILE not in result.files:
            raise SampleError("the job wrote no scene.usdc")
        sample.usd = result.files[USD_FILE]
        sample.usd_labels = {o.name: segmentation.class_of(o.semantic) for o in facts.objects}
        sample.usd_dome = facts.world.model_dump() if facts.world else None
    return sample
