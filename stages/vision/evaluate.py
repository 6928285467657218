"""3D scores of a reconstruction against the program that made the photo (synthetic scenes).

Both scenes are ray-cast at the same pixel grid (scene3d.py), each from its own camera:
- depth: over the ground truth's non-sky pixels, the share whose reconstructed z-depth is
  within 25 % (delta < 1.25, max(d/g, g/d)); a pixel the reconstruction shows as sky counts
  as wrong. AbsRel: mean |d - g| / g over the pixels where both show a surface.
- semantics: IoU per class group (scene_program.classes: sky, road, sidewalk, terrain,
  building, vehicle, vegetation, pole), per image over the groups either map shows, and
  accumulated over a set (the Cityscapes convention) by summing intersections and unions.
- objects: how many of each group the program holds (a tree's trunk and crown are one tree).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from scene_program.classes import BY_NAME
from scene_program.model import Scene
from stages.vision.scene3d import SceneMaps, scene_maps

GROUPS = ("sky", "road", "sidewalk", "terrain", "building", "vehicle", "vegetation", "pole")


@dataclass
class DepthScore:
    delta125: float
    abs_rel: float
    pixels: int


@dataclass
class SegScore:
    intersection: dict[str, int]
    union: dict[str, int]

    def iou(self) -> dict[str, float]:
        return {g: self.intersection[g] / self.union[g] for g in GROUPS if self.union[g] > 0}

    def miou(self) -> float:
        v = list(self.iou().values())
        return float(np.mean(v)) if v else float("nan")


@dataclass
class Accumulator:
    """Sums over a set of images: pixel-weighted depth, Cityscapes-style IoU."""

    depth_good: int = 0
    depth_pixels: int = 0
    abs_rel_sum: float = 0.0
    abs_rel_pixels: int = 0
    intersection: Counter = field(default_factory=Counter)
    union: Counter = field(default_factory=Counter)

    def add(self, depth: DepthScore, seg: SegScore) -> None:
        self.depth_good += round(depth.delta125 * depth.pixels)
        self.depth_pixels += depth.pixels
        self.intersection.update(seg.intersection)
        self.union.update(seg.union)

    def seg(self) -> SegScore:
        return SegScore({g: self.intersection[g] for g in GROUPS}, {g: self.union[g] for g in GROUPS})


def depth_score(truth: SceneMaps, recon: SceneMaps) -> DepthScore:
    solid = np.isfinite(truth.depth)
    n = int(solid.sum())
    if n == 0:
        return DepthScore(float("nan"), float("nan"), 0)
    g = truth.depth[solid]
    d = recon.depth[solid]
    both = np.isfinite(d) & (d > 0)
    ratio = np.where(both, np.maximum(d / g, g / np.maximum(d, 1e-9)), np.inf)
    good = ratio < 1.25
    abs_rel = float(np.mean(np.abs(d[both] - g[both]) / g[both])) if both.any() else float("nan")
    return DepthScore(float(good.mean()), abs_rel, n)


def seg_score(truth: SceneMaps, recon: SceneMaps) -> SegScore:
    gt, pr = truth.group_map(), recon.group_map()
    inter, union = {}, {}
    for grp in GROUPS:
        a, b = gt == grp, pr == grp
        inter[grp] = int((a & b).sum())
        union[grp] = int((a | b).sum())
    return SegScore(inter, union)


def object_counts(scene: Scene) -> dict[str, int]:
    """Objects per group; a tree (trunk + crown, or any `tree_N_*` parts) counts once."""
    counts: Counter = Counter()
    trees = set()
    for o in scene.geometry.objects:
        group = BY_NAME[o.semantic].group
        if o.name.startswith("tree_") and group == "vegetation":
            trees.add("_".join(o.name.split("_")[:2]))
            continue
        counts[group] += 1
    counts["vegetation"] += len(trees)
    return dict(counts)


def compare(truth: Scene, recon: Scene, width: int, height: int) -> tuple[DepthScore, SegScore, SceneMaps, SceneMaps]:
    t = scene_maps(truth, width, height)
    r = scene_maps(recon, width, height)
    return depth_score(t, r), seg_score(t, r), t, r
