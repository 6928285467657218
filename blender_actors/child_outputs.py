"""Extra outputs a job child writes from its one render: the child side of the output mechanism.

The extension point (how the dataset's passes, `scene.glb` and `scene.usdc` were added):
  1. here: a `Writer` whose `prepare(scene, job)` runs in the confined job child before the
     one render (passes to turn on, ids to set; default: nothing) and whose
     `write(scene, job_dir, job)` runs after it, writes its files in the job dir (the only
     place it may write) and returns their names, each one of the `names` it declares;
     register it in `WRITERS` under the name callers put in `RenderRequest.outputs`. A
     writer may put `{name: seconds}` into `job["_timings"]`: the child adds them to the
     record's timings;
  2. in `blender_actors/outputs.py`: a parent-side validator for each new file suffix, with
     its size cap (`VALIDATORS`). The parent accepts only listed files whose suffix has a
     validator, opened without following links, regular, at most `MAX_FILES` of them.
Results arrive in `RenderResult.files` (name -> validated bytes); the render stays
`RenderResult.png`. A writer runs with the program's scene after the program ran, so it
must treat the scene's contents (names, custom properties) as untrusted data.

This module must import without bpy (the parent validates output names against WRITERS);
bpy is imported inside the writers, which only run in the child.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Callable

from blender_actors import dataset_writers

MAX_OBJECTS = 2000


def no_prepare(scene, job: dict) -> None:
    """Most writers need nothing before the render."""


@dataclass(frozen=True)
class Writer:
    description: str
    write: Callable[[object, str, dict], list[str]]
    names: tuple[str, ...]  # every file it may write: the parent accepts no other name
    prepare: Callable[[object, dict], None] = no_prepare  # (scene, job): before the render


def _objects_json(scene, job_dir: str, job: dict) -> list[str]:
    """objects.json: name, type, Cityscapes class (`semantic`), location, dimensions."""
    rows = []
    for obj in list(scene.objects)[:MAX_OBJECTS]:
        semantic = obj.get("semantic") if hasattr(obj, "get") else None
        rows.append({
            "name": obj.name[:128], "type": obj.type,
            "semantic": semantic[:64] if isinstance(semantic, str) else None,
            "location": [round(float(v), 6) for v in obj.location],
            "dimensions": [round(float(v), 6) for v in obj.dimensions],
        })
    path = os.path.join(job_dir, "objects.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"objects": rows}, fh, ensure_ascii=True)
    return ["objects.json"]


WRITERS: dict[str, Writer] = {
    "objects": Writer("objects.json: every object's name, type, semantic class, location and size", _objects_json,
                      ("objects.json",)),
    # the simulation dataset's job outputs (simdata/ turns them into a sample's files)
    "passes": Writer("passes.npy (depth, normal, instance id) and scene.json (camera, objects)",
                     dataset_writers.write_passes, (dataset_writers.PASSES_FILE, dataset_writers.FACTS_FILE),
                     dataset_writers.prepare_passes),
    "glb": Writer("scene.glb: nodes, materials, camera, sun; class in each node's extras", dataset_writers.write_glb,
                  (dataset_writers.GLB_FILE,), dataset_writers.assign_ids),
    "usd": Writer("scene.usdc: prims, materials, camera, sun; metersPerUnit 1, up axis Z", dataset_writers.write_usd,
                  (dataset_writers.USD_FILE,), dataset_writers.assign_ids),
}
