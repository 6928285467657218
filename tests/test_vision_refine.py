"""The partition test (stages/vision/refine.py): solids placed a little wrong move towards
where the photo has them. Numpy only: the "photo" is the true layout's ray-cast object map,
one flat Lab colour per object."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from stages.vision.camera import PinholeCamera
from stages.vision.raycast import Primitive, cast
from stages.vision.refine import Partition, refine_solids, separate

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


def test_the_segmentation_sky_keeps_a_pale_roof_out_of_a_pale_sky():
    """A facade of the sky's own colour rising into the sky hardly changes the colour
    partition; the segmentation's sky must bring it down (and without it nothing does)."""
    truth = _truth()
    colours = dict(COLOURS, building=SKY)
    index = cast(CAM.with_size(2 * CAM.width, 2 * CAM.height), truth).index
    lut = np.array([colours[p.semantic] for p in truth] + [SKY], float)
    lab = lut[np.where(index >= 0, index, len(truth))]
    sky = index < 0  # the segmentation's sky (the photo's grid): exactly where the truth shows none
    start = list(truth)
    start[3] = replace(truth[3], size=(12.0, 50.0, 24.0))  # roof twice too high
    blind = refine_solids(CAM, start, lab, movable=[3])
    seeing = refine_solids(CAM, start, lab, movable=[3], sky=sky)
    assert blind[3].size[2] == 24.0
    assert abs(seeing[3].size[2] - 12.0) < 3.0


def test_buildings_along_a_side_never_share_volume():
    """Two boxes of one side that overlap along the street give up half the overlap each
    (coinciding faces render black in Cycles); boxes that only touch stay as they are."""
    a = Primitive("", "box", (14.0, 38.0, 8.0), (11.6, -11.0, 0.0), 0.0, "building")  # y -30 .. 8
    b = Primitive("", "box", (14.0, 24.0, 6.0), (12.6, 16.5, 0.0), 0.0, "building")  # y 4.5 .. 28.5
    c = Primitive("", "box", (14.0, 10.0, 9.0), (11.6, 33.5, 0.0), 0.0, "building")  # y 28.5 .. 38.5
    got = separate([a, b, c], [0, 1, 2])
    ends = [(p.location[1] - p.size[1] / 2, p.location[1] + p.size[1] / 2) for p in got]
    assert ends[0][0] == -30.0 and ends[1][1] == 28.5 and got[2] == c
    assert abs(ends[0][1] - 6.25) < 1e-9 and abs(ends[1][0] - 6.25) < 1e-9
    assert [p.size[2] for p in got] == [8.0, 6.0, 9.0] and [p.location[0] for p in got] == [11.6, 12.6, 11.6]


@pytest.mark.parametrize("a,b,want", [
    ((20.3, 24.0), (19.0, 40.0), ((20.3, 22.3), (22.3, 40.0))),  # the test street's 1.2 m slab: now 2 m
    ((10.0, 12.5), (11.0, 13.0), ((10.0, 11.5), (11.5, 13.0))),  # too short for 2 m each: halved
    ((10.0, 12.0), (10.0, 12.0), ((10.0, 11.0), (11.0, 12.0))),  # the same box twice: never a 0 m one
])
def test_separated_boxes_keep_a_building_s_length(a, b, want):
    def box(y0, y1):
        return Primitive("", "box", (14.0, y1 - y0, 8.0), (12.0, (y0 + y1) / 2, 0.0), 0.0, "building")

    got = separate([box(*a), box(*b)], [0, 1])
    ends = [(p.location[1] - p.size[1] / 2, p.location[1] + p.size[1] / 2) for p in got]
    assert ends == [pytest.approx(w) for w in want]


def test_an_end_building_brought_below_a_building_height_goes_and_the_street_runs_on():
    from stages.vision.street import ROAD_AHEAD_M, Piece, without_low_end

    road = Piece("road", Primitive("road", "box", (8.0, 80.0, 0.02), (0.0, 10.0, 0.0), 0.0, "road"))
    side = Piece("building_right", Primitive("", "box", (14.0, 20.0, 9.0), (13.0, 20.0, 0.0), 0.0, "building"))
    low = Piece("building_end", Primitive("", "box", (70.0, 14.0, 2.0), (0.0, 57.0, 0.0), 0.0, "building"))
    got = without_low_end([road, side, low])
    assert [p.stem for p in got] == ["road", "building_right"]
    assert got[0].prim.location[1] + got[0].prim.size[1] / 2 == ROAD_AHEAD_M and got[0].prim.size[0] == 8.0
    assert got[1] is side
    tall = Piece("building_end", replace(low.prim, size=(70.0, 14.0, 12.0)))
    assert without_low_end([road, side, tall]) == [road, side, tall]


def test_a_road_half_in_shadow_is_not_given_to_the_terrain():
    """The partition test is blind to classes: a road whose right half lies in a facade's
    shadow, the colour of the terrain plane beyond, fits better cut at the shadow's edge,
    the shaded half left to the terrain (dev streets 102, 113, 115). The road may give up
    only ground the cross-section saw as terrain, or hand it to the sidewalk beside it by
    moving the kerb line (both strips at once), which a kerb placed 1 m wrong needs."""
    from stages.vision.ground import CrossSection, Strip
    from stages.vision.street import ground_given_up_plausibly

    truth = _truth()
    big = CAM.with_size(2 * CAM.width, 2 * CAM.height)
    lab = _photo_lab(truth)
    rows, cols = np.mgrid[0:big.height, 0:big.width]
    x, _, ok = big.ground_point(cols.ravel().astype(float), rows.ravel().astype(float))
    index = cast(big, truth).index.ravel()
    shade = (index == 1) & ok & (x > 0.5)  # the road's right half, in shadow
    lab = lab.reshape(-1, 3)
    lab[shade] = COLOURS["terrain"]
    lab = lab.reshape(big.height, big.width, 3)
    neutral = lambda x0, x1, cls: Strip(x0, x1, np.array([40.0, 0.0, 0.0]), np.zeros(3), cls)  # noqa: E731
    section = CrossSection([Strip(-40.0, -4.0, np.array([50.0, -20.0, 25.0]), np.zeros(3)), neutral(-4.0, 4.0, "road"),
                            neutral(4.0, 7.0, "sidewalk"), neutral(7.0, 40.0, "terrain")])
    veto = lambda prims, changes: ground_given_up_plausibly(section, prims, changes)  # noqa: E731
    blind = refine_solids(CAM, truth, lab, movable=[1, 2])
    assert blind[1].location[0] + blind[1].size[0] / 2 < 2.0  # the problem: cut at the shadow
    held = refine_solids(CAM, truth, lab, movable=[1, 2], allowed=veto)
    assert held[1].location[0] + held[1].size[0] / 2 > 3.5, held[1]
    # a kerb 1 m too far right moves back with both strips, and nothing lies between them
    start = list(truth)
    start[1] = replace(truth[1], size=(9.0, 200.0, 0.02), location=(0.5, 100.0, 0.0))
    start[2] = replace(truth[2], size=(2.0, 200.0, 0.15), location=(6.0, 100.0, 0.0))
    got = refine_solids(CAM, start, _photo_lab(truth), movable=[1, 2], allowed=veto)
    road_right, walk_left = got[1].location[0] + got[1].size[0] / 2, got[2].location[0] - got[2].size[0] / 2
    assert abs(road_right - 4.0) < 0.5 and abs(walk_left - road_right) < 0.3, (got[1], got[2])
