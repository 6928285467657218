"""The semantic classes every scene object carries: the Cityscapes label set, plus `other`.

Simulators and perception datasets are built on these labels, so the ids and colours are
Cityscapes' own (`labels.py` of the Cityscapes scripts): a segmentation written by seig
loads in any Cityscapes tool. `other` is Cityscapes' "static" (id 4: other static
objects), and pixels with no surface at all (none in a seig render: the world is sky)
would be id 0 ("unlabeled"). See docs/contracts.md, "Classes".
"""
from __future__ import annotations

from typing import Literal, NamedTuple, get_args


class SemanticClass(NamedTuple):
    name: str
    label_id: int  # Cityscapes `id`: what semantic.png stores
    train_id: int  # Cityscapes `trainId` (255: ignored in training)
    color: tuple[int, int, int]  # Cityscapes palette (semantic previews)
    group: str  # the coarse group benchmarks score (vehicle, building, ...)


ClassName = Literal[
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle",
    "bicycle", "other",
]

CLASSES: tuple[SemanticClass, ...] = (
    SemanticClass("road", 7, 0, (128, 64, 128), "road"),
    SemanticClass("sidewalk", 8, 1, (244, 35, 232), "sidewalk"),
    SemanticClass("building", 11, 2, (70, 70, 70), "building"),
    SemanticClass("wall", 12, 3, (102, 102, 156), "building"),
    SemanticClass("fence", 13, 4, (190, 153, 153), "other"),
    SemanticClass("pole", 17, 5, (153, 153, 153), "pole"),
    SemanticClass("traffic light", 19, 6, (250, 170, 30), "pole"),
    SemanticClass("traffic sign", 20, 7, (220, 220, 0), "pole"),
    SemanticClass("vegetation", 21, 8, (107, 142, 35), "vegetation"),
    SemanticClass("terrain", 22, 9, (152, 251, 152), "terrain"),
    SemanticClass("sky", 23, 10, (70, 130, 180), "sky"),
    SemanticClass("person", 24, 11, (220, 20, 60), "person"),
    SemanticClass("rider", 25, 12, (255, 0, 0), "person"),
    SemanticClass("car", 26, 13, (0, 0, 142), "vehicle"),
    SemanticClass("truck", 27, 14, (0, 0, 70), "vehicle"),
    SemanticClass("bus", 28, 15, (0, 60, 100), "vehicle"),
    SemanticClass("train", 31, 16, (0, 80, 100), "vehicle"),
    SemanticClass("motorcycle", 32, 17, (0, 0, 230), "vehicle"),
    SemanticClass("bicycle", 33, 18, (119, 11, 32), "vehicle"),
    SemanticClass("other", 4, 255, (0, 0, 0), "other"),
)
BY_NAME: dict[str, SemanticClass] = {c.name: c for c in CLASSES}
BY_ID: dict[int, SemanticClass] = {c.label_id: c for c in CLASSES}
CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in CLASSES)
UNLABELED_ID = 0  # Cityscapes "unlabeled": a pixel that shows no surface

assert CLASS_NAMES == get_args(ClassName), "CLASSES and ClassName must list the same names"


def label_id(name: str) -> int:
    """Cityscapes id of a class name; ValueError names the allowed classes."""
    try:
        return BY_NAME[name].label_id
    except KeyError:
        raise ValueError(f"unknown class {name!r} (one of: {', '.join(CLASS_NAMES)})") from None


def palette() -> list[int]:
    """A 256-entry flat RGB palette (PIL "P" mode) mapping label ids to Cityscapes colours."""
    flat = [0] * (256 * 3)
    for c in CLASSES:
        flat[3 * c.label_id: 3 * c.label_id + 3] = c.color
    return flat
