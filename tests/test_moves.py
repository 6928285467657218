"""The offline geometry stage's structural moves (stages/backends/moves.py) keep the scene
usable: no move leaves two buildings of one side sharing volume (numpy only, no render)."""
from __future__ import annotations

import random

import numpy as np

from scene_program.examples import random_street
from stages.backends.moves import geometry_moves
from stages.backends.predict import Predictor


def _overlaps(scene) -> list[tuple[str, str]]:
    boxes = [o for o in scene.geometry.objects if o.semantic == "building" and not o.name.startswith("building_end")]
    out = []
    for a in boxes:
        for b in boxes:
            if a.name < b.name and a.location[0] * b.location[0] > 0:
                a0, a1 = a.location[1] - a.size[1] / 2, a.location[1] + a.size[1] / 2
                b0, b1 = b.location[1] - b.size[1] / 2, b.location[1] + b.size[1] / 2
                if min(a1, b1) - max(a0, b0) > 1e-6:
                    out.append((a.name, b.name))
    return out


def test_no_geometry_move_makes_buildings_interpenetrate():
    lengthened = 0
    for seed in (3, 5, 8):
        scene = random_street(seed)
        assert _overlaps(scene) == []
        rng = np.random.default_rng(seed)
        photo = rng.uniform(0, 1, (96, 128, 3))
        pred = Predictor(scene, photo, np.full_like(photo, 0.5))
        for move in geometry_moves(scene, pred, random.Random(seed), 1.0):
            assert _overlaps(move.scene) == [], move.label
            lengthened += "end +" in move.label
    assert lengthened > 0  # the moves that could overlap were made


def test_a_stated_focal_length_is_not_searched_and_the_height_never_is():
    from stages.backends.moves import composition_moves

    scene = random_street(4)
    rng = np.random.default_rng(4)
    photo = rng.uniform(0, 1, (96, 128, 3))
    pred = Predictor(scene, photo, np.full_like(photo, 0.5))
    f0 = scene.composition.camera.focal_mm
    free = composition_moves(scene, pred, random.Random(4), 1.0)
    stated = composition_moves(scene, pred, random.Random(4), 1.0, focal_stated=True)
    assert any(m.scene.composition.camera.focal_mm != f0 for m in free)
    assert stated and all(m.scene.composition.camera.focal_mm == f0 for m in stated)
    # a height move under objects that stay put rescales the ground under them (moves.py)
    z0 = scene.composition.camera.location[2]
    assert all(m.scene.composition.camera.location[2] == z0 for m in free + stated)
    assert any(m.scene.composition.camera.pitch_deg != scene.composition.camera.pitch_deg for m in free)
