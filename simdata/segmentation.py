"""Semantic and instance segmentation from the object-index pass.

- `instance.png`: uint16, each pixel the instance id of the surface it shows (ids 1..N as
  in objects.json, scene.glb extras and the USD prims' `userProperties:instance_id`); 0
  where no object is seen (sky or background).
- `semantic.png`: uint8 Cityscapes label ids (scene_program.classes): each object's pixels
  carry its class; a pixel with no surface is `sky` (23); a surface outside the object
  list (none in a seig scene) is `unlabeled` (0).
- `semantic_preview.png`: the same in Cityscapes' palette (RGB).
The index pass is written from the first sample at the pixel centre, so ids never blend.
"""
from __future__ import annotations

import numpy as np

from simdata.images import png
from scene_program.classes import BY_NAME, CLASSES, UNLABELED_ID

SKY_ID = BY_NAME["sky"].label_id
OTHER = "other"


def class_of(semantic: str | None) -> str:
    """An object's class; anything not in the label set counts as `other`."""
    return semantic if semantic in BY_NAME else OTHER


def semantic_ids(instance: np.ndarray, depth: np.ndarray, classes: dict[int, str]) -> np.ndarray:
    """Label id per pixel from instance ids, each id's class, and where there is a surface."""
    lut = np.full(max(classes, default=0) + 1, UNLABELED_ID, dtype=np.uint8)
    for instance_id, name in classes.items():
        lut[instance_id] = BY_NAME[class_of(name)].label_id
    out = lut[instance]
    out[(instance == 0) & (depth <= 0)] = SKY_ID
    return out


def preview(semantic: np.ndarray) -> np.ndarray:
    palette = np.zeros((256, 3), dtype=np.uint8)
    for c in CLASSES:
        palette[c.label_id] = c.color
    palette[SKY_ID] = BY_NAME["sky"].color
    return palette[semantic]


def class_fractions(semantic: np.ndarray) -> dict[str, float]:
    """Share of the image's pixels per class (every class, zeros included)."""
    counts = np.bincount(semantic.ravel(), minlength=256)
    total = float(semantic.size)
    return {c.name: float(counts[c.label_id]) / total for c in CLASSES}


def write(instance: np.ndarray, semantic: np.ndarray) -> dict[str, bytes]:
    return {"semantic.png": png(semantic), "semantic_preview.png": png(preview(semantic)),
            "instance.png": png(instance.astype(np.uint16))}
