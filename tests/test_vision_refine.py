"""The partition test (stages/vision/refine.py): solids placed a little wrong move towards
where the photo has them. Numpy only: the "photo" is the true layout's ray-cast object map,
one flat Lab colour per object."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from stages.vision.camera import PinholeCamera
from stages.vision.raycast import Primitive, cast
from stages.vision.refine import Partition, refine_solids

CAM = PinholeCamera(128, 96, focal_mm=28.0, pitch_deg=-3.0, height_m=2.0, x_m=-1.0)
COLOURS = {"terrain": (45, 0, 20), "road": (35, 0, 0), "sidewalk": (70, 0, 5), "building": (55, 20, 25),
           "car": (40, 50, 30)}
SKY = (85, -5, -25)


def _truth() -> list[Primitive]:
    return [
        Primitive("terrain", "plane", (1200.0, 1200.0, 1.0), (0.0, 300.0, -0.01), 0.0, "terrain"),
        Primitive("road", "box", (8.0, 200.0, 0.02), (0.0, 100.0, 0.0), 0.0, "road"),
        Primitive("sidewalk_right", "box", (3.0, 200.0, 0.15), (5.5, 100.0, 0.0), 0.0, "sidewalk"),
        Primitive("building_right_1", "box", (12.0, 50.0, 12.0), (13.0, 35.0, 0.0), 0.0, "building"),
        Primitive("car_1", "box", (1.8, 4.4, 1.5), (-2.5, 14.0, 0.0), 0.0, "car"),
    ]


def _photo_lab(prims: list[Primitive]) -> np.ndarray:
    """The Lab 'photo' at twice the grid (the partition halves it)."""
    index = cast(CAM.with_size(2 * CAM.width, 2 * CAM.height), prims).index
    lut = np.array([COLOURS[p.semantic] for p in prims] + [SKY], float)
    return lut[np.where(index >= 0, index, len(prims))]


def test_misplaced_solids_move_towards_the_photo():
    truth = _truth()
    lab = _photo_lab(truth)
    start = list(truth)
    start[1] = replace(truth[1], size=(6.8, 200.0, 0.02))  # road 1.2 m too narrow (both edges in)
    start[3] = replace(truth[3], size=(12.0, 50.0, 9.0), location=(14.5, 35.0, 0.0))  # facade 1.5 m far, roof low
    start[4] = replace(truth[4], location=(-2.5, 16.5, 0.0))  # car 2.5 m too far along
    before = Partition(CAM, start, lab).error
    got = refine_solids(CAM, start, lab, movable=[1, 3, 4])
    after = Partition(CAM, got, lab).error
    assert after < 0.5 * before
    assert abs(got[1].size[0] - 8.0) < abs(start[1].size[0] - 8.0)
    facade = lambda p: p.location[0] - p.size[0] / 2  # noqa: E731
    assert abs(facade(got[3]) - 7.0) < abs(facade(start[3]) - 7.0)
    assert abs(got[3].size[2] - 12.0) < abs(start[3].size[2] - 12.0)
    assert abs(got[4].location[1] - 14.0) < abs(start[4].location[1] - 14.0)
    assert got[0] == truth[0] and got[2] == truth[2]  # not movable: untouched


def test_the_truth_stays_put():
    truth = _truth()
    got = refine_solids(CAM, truth, _photo_lab(truth), movable=[1, 3, 4])
    assert got == truth
