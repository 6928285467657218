"""Variant programs (no Blender): seeded, reproducible, only the dicts change, never into
an object, and a program whose dicts are not seig's is left alone, saying so."""
from __future__ import annotations

import json

from blender_actors.sandbox import check_program
from simdata.config import JitterConfig
from simdata.variants import make_variant, variant_seed
from scene_program.contract import check_contract
from scene_program.examples import street_scene
from scene_program.sections import parse
from scene_program.writer import section_params, write_program

PROGRAM = write_program(street_scene())


def _dict(program: str, section: str) -> dict:
    return section_params(parse(program).get(section), section)


def test_same_seed_same_program_other_seed_other_program():
    cfg = JitterConfig(fog_probability=0.5)
    a, b = (make_variant(PROGRAM, 1, variant_seed(0, "img", 1), cfg, "img") for _ in range(2))
    c = make_variant(PROGRAM, 2, variant_seed(0, "img", 2), cfg, "img")
    assert a.program == b.program and a.params == b.params
    assert c.program != a.program and variant_seed(0, "img", 1) != variant_seed(1, "img", 1)
    for v in (a, c):
        assert check_program(v.program) == [] and check_contract(v.program) == []
        # Only the dicts changed: every section's code is the original's.
        for name, body in parse(v.program).sections:
            code = body[body.index("\n\ndef ") if "\n\ndef " in body else 0:]
            assert code in parse(PROGRAM).get(name), name
        assert _dict(v.program, "geometry") == _dict(PROGRAM, "geometry")


def test_changes_stay_in_their_ranges():
    cfg = JitterConfig(fog_probability=1.0, camera_lateral_m=0.5, camera_height_m=0.3, camera_yaw_deg=5,
                       forward_m=10)
    start = _dict(PROGRAM, "composition")["camera"]
    for n in range(1, 21):
        v = make_variant(PROGRAM, n, variant_seed(3, "s", n), cfg)
        cam = _dict(v.program, "composition")["camera"]
        assert abs(cam["yaw_deg"] - start["yaw_deg"]) <= 5 + 1e-9
        assert abs(cam["location"][2] - start["location"][2]) <= 0.3 + 1e-9
        assert 0 <= cam["location"][1] - start["location"][1] <= 10 + 1e-9
        assert not v.params["skipped"], v.params
        lighting = _dict(v.program, "lighting")
        assert 0.004 <= lighting["fog"]["density"] <= 0.03 and v.params["fog_density"] == lighting["fog"]["density"]
        for name, spec in _dict(v.program, "materials").items():
            assert all(0 <= c <= 1 for c in spec["color"]), name
        car = _dict(v.program, "materials")["car_1"]
        assert 0.15 <= car["roughness"] <= 0.5
        json.dumps(v.params)


def test_never_into_an_object_nor_past_half_the_free_street():
    scene = street_scene()
    wall = scene.geometry.objects[4].model_copy(update={"name": "wall_ahead", "semantic": "wall",
                                                         "size": (20.0, 1.0, 5.0), "location": (0.0, 6.0, 0.0)})
    scene.geometry.objects.append(wall)
    program = write_program(scene)
    for n in range(1, 30):
        v = make_variant(program, n, variant_seed(0, "w", n), JitterConfig(forward_m=50))
        y = _dict(v.program, "composition")["camera"]["location"][1]
        assert y <= 0 + (6.0 - 0.5) / 2 + 1e-6  # half the free street to the wall's face


def test_a_program_that_is_not_seigs_shape_is_left_alone():
    odd = PROGRAM.replace("COMPOSITION = {", "COMPOSITION = {'rig': 1, 'cam': 2} or {", 1)
    v = make_variant(odd, 1, 5, JitterConfig())
    assert any(s.startswith("composition") for s in v.params["skipped"])
    old_lighting = open("examples/scenes/street.py").read()  # lighting code from before fog existed
    v = make_variant(old_lighting, 1, 5, JitterConfig(fog_probability=1.0))
    assert "fog: this program's lighting code does not build fog" in v.params["skipped"]
    assert "'fog'" not in v.program
