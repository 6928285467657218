"""The classical-vision half of the offline backend (stages.vision): photo -> initial Scene.

Fast: the vision steps are numpy only; one tiny Blender render checks the end to end.
Streets (synthetic, with known ground truth) are tested in test_street.py."""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from blender_actors.protocol import RenderRequest
from blender_actors.sandbox import check_program
from scene_program.contract import check_contract
from scene_program.model import Scene
from scene_program.writer import write_program
from stages.vision import initial_scene, read_photo
from stages.vision.photo_to_scene import scene_from_reading
from stages.vision.camera import PinholeCamera, pitch_for_horizon
from stages.vision.image import linear_to_srgb
from stages.vision.preview import preview
from stages.vision.raycast import Primitive, cast
from stages.vision.segment import GROUND, SKY

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
SKY_BLUE = (90, 140, 220)
GREY = (128, 128, 128)


def split_image(w: int = 160, h: int = 120) -> Image.Image:
    """Top half blue sky (a faint gradient), bottom half grey ground (a little texture)."""
    rng = np.random.default_rng(0)
    a = np.zeros((h, w, 3), dtype=np.float64)
    a[: h // 2] = SKY_BLUE
    a[: h // 2] += np.linspace(-10, 10, h // 2)[:, None, None]
    a[h // 2:] = GREY
    a[h // 2:] += rng.normal(0, 6, (h - h // 2, w, 1))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def readings(photos) -> dict:
    return {p.stem: read_photo(Image.open(p)) for p in photos}


@pytest.fixture(scope="module")
def scenes(readings) -> dict[str, Scene]:
    return {name: scene_from_reading(r, 96, 64, 4) for name, r in readings.items()}


def test_same_photo_and_seed_give_the_same_scene(photos, scenes):
    image = Image.open(photos[-1])
    a = initial_scene(image, 96, 64, 4, seed=3)
    b = initial_scene(image, 96, 64, 4, seed=3)
    assert write_program(a) == write_program(b)
    assert a.geometry == scenes[photos[-1].stem].geometry
    assert a.render.seed == 3 and scenes[photos[-1].stem].render.seed == 0


def ground_of(scene: Scene) -> str:
    """The name of the ground plane everything stands on (terrain, road or floor)."""
    return next(o.name for o in scene.geometry.objects if o.shape == "plane")


def test_different_photos_give_different_programs(scenes):
    programs = {name: write_program(s) for name, s in scenes.items()}
    assert len(set(programs.values())) == len(programs)
    colours = {name: s.materials[ground_of(s)].color for name, s in scenes.items()}
    assert len(set(colours.values())) == len(colours)


def test_every_scene_validates_passes_the_sandbox_and_names_objects(scenes):
    for name, scene in scenes.items():
        Scene.model_validate(scene.model_dump(by_alias=True))
        program = write_program(scene)
        assert check_program(program) == [], name
        assert check_contract(program) == [], name  # classes, meaningful names
        assert "TexImage" not in program and "images" not in program  # the photo is never painted in
        names = [o.name for o in scene.geometry.objects]
        assert len(names) == len(set(names)), name
        assert all(NAME.match(n) for n in names), names
        assert ground_of(scene) in ("terrain", "road", "floor"), names
        numbered: dict[str, list[int]] = {}
        for n in names:
            base, _, num = n.rpartition("_")
            if num.isdigit():
                numbered.setdefault(base, []).append(int(num))
        assert all(v == list(range(1, len(v) + 1)) for v in numbered.values()), names
        assert set(scene.materials) == set(names)
        for obj in scene.geometry.objects:
            assert obj.location[2] >= -0.02  # everything stands on the ground or on something


def test_no_object_is_a_thin_slab_facing_the_camera(scenes):
    """3D-true: an upright piece seen face-on has a real depth behind its face (fair play:
    no camera-facing billboards), and a box's depth is at least a quarter of a metre unless
    it lies flat on the ground (a road, a sidewalk, a strip of grass)."""
    for name, scene in scenes.items():
        for o in scene.geometry.objects:
            if o.shape != "box":
                continue
            lying = o.size[2] < 0.3
            facing = abs(((o.yaw_deg + 90) % 180) - 90) < 20  # its x axis across the view
            if not lying and facing:
                assert o.size[1] >= 0.14, (name, o.name, o.size)


def test_horizon_of_a_sky_over_ground_image_is_near_the_middle():
    r = read_photo(split_image())
    h = r.arrays.shape[0]
    assert abs(r.horizon.row - h / 2) < 0.1 * h, r.horizon
    assert abs(r.camera.pitch_deg) < 5.0
    labels = r.segmentation.labels
    assert (labels[: h // 2 - 4] == SKY).mean() > 0.9
    assert (labels[h // 2 + 4:] == GROUND).mean() > 0.9


def test_sky_over_ground_gives_a_ground_plane_and_the_image_sky_colours():
    image = split_image()
    r = read_photo(image)
    scene = initial_scene(image, 96, 72, 4)
    ground = ground_of(scene)
    assert {o.name: o.semantic for o in scene.geometry.objects}[ground] in ("terrain", "road")
    # the world gradient, seen through the camera, reproduces the sky rows' colours
    h, w = r.arrays.shape
    for row in (2, h // 4, h // 2 - 3):
        seen = linear_to_srgb(r.light.sky(r.camera.rays(np.array([w / 2]), np.array([float(row)])))[0])
        assert np.abs(seen - r.arrays.srgb[row].mean(0)).max() < 0.04, row
    sky = scene.lighting.sky
    assert sky.horizon[2] > sky.horizon[0] + 0.3  # blue
    # the ground's material under that light renders the photo's grey (numpy preview)
    predicted = preview(r)[h // 2 + 4:].reshape(-1, 3).mean(0)
    assert np.abs(predicted - np.array(GREY) / 255).max() < 0.04, predicted


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "P", "I;16", "1", "LA"])
def test_any_image_mode_works(mode):
    image = split_image(64, 48)
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 256).convert("I;16")
    else:
        image = image.convert(mode)
    scene = initial_scene(image, 64, 48, 2)
    assert check_program(write_program(scene)) == []


@pytest.mark.parametrize("size", [(1, 1), (3, 2), (8, 8), (2, 40), (300, 4)])
def test_tiny_and_thin_images_work(size):
    image = Image.new("RGB", size, (120, 90, 60))
    scene = initial_scene(image, 64, 48, 2)
    assert check_program(write_program(scene)) == []


@pytest.mark.parametrize("kind", ["black", "white", "noise"])
def test_uniform_and_noise_images_work(kind):
    a = {"black": np.zeros((50, 70, 3)), "white": np.full((50, 70, 3), 255.0),
         "noise": np.random.default_rng(1).uniform(0, 255, (50, 70, 3))}[kind]
    if True:
        scene = initial_scene(Image.fromarray(a.astype(np.uint8)), 64, 48, 2)
        assert check_program(write_program(scene)) == []


def test_converging_lines_give_the_vanishing_row():
    """Road edges and lane lines drawn towards a point on row 40 put the horizon there."""
    from PIL import ImageDraw

    from stages.vision.image import analyse
    from stages.vision.vanishing import vanishing_row

    k = 4  # drawn large, then shrunk: edges anti-aliased as a camera's are
    image = Image.new("RGB", (256 * k, 192 * k), (150, 150, 150))
    draw = ImageDraw.Draw(image)
    vp = (140 * k, 80 * k)  # row 80 of 192 = row 39.75 of the 96-row analysis grid
    for x in (-200, -60, 40, 200, 330, 460):
        draw.line([(x * k, 191 * k), vp], fill=(250, 250, 250), width=3 * k)
    for y in range(100, 192, 18):  # a few level edges (kerbs, shadows) that must not matter
        draw.line([(0, y * k), (255 * k, y * k)], fill=(120, 120, 120), width=k)
    row = vanishing_row(analyse(image.resize((256, 192), Image.LANCZOS)))
    assert row is not None and abs(row - 39.75) <= 3, row  # about 1.5 degrees


def test_camera_model_puts_the_horizon_where_asked():
    cam0 = PinholeCamera(128, 96)
    for row in (10.0, 47.5, 80.0, -30.0):
        pitch = pitch_for_horizon(row, 96, cam0.f_px)
        cam = PinholeCamera(128, 96, pitch_deg=pitch)
        assert abs(cam.horizon_row() - row) < 1e-6
        # a ground point projects back onto its pixel
        x, y, valid = cam.ground_point(np.array([20.0]), np.array([90.0]))
        if valid[0]:
            c, r, front = cam.project(np.array([[x[0], y[0], 0.0]]))
            assert front[0] and abs(c[0] - 20.0) < 1e-6 and abs(r[0] - 90.0) < 1e-6


def test_an_upright_box_stands_where_its_contact_row_says():
    """A box whose base is seen on row r stands at the depth of the ground seen on row r."""
    cam = PinholeCamera(128, 96, pitch_deg=-5.0)
    _, y, _ = cam.ground_point(np.array([64.0]), np.array([70.0]))
    box = Primitive("box", "box", (2.0, 0.1, 2.0), (0.0, float(y[0]) + 0.05, 0.0))
    hits = cast(cam, [box])
    col = hits.index[:, 64] == 0
    assert col.any()
    assert abs(np.flatnonzero(col).max() - 70) <= 1


def test_layout_objects_cover_the_photo_regions(readings):
    """Structure, not just colour: the ray-cast layout shows sky where the photo has sky
    and an object (ground or upright) where it has ground or upright things."""
    for name, r in readings.items():
        labels = r.segmentation.labels
        covered = r.hits.index >= 0
        solid = labels != SKY
        assert covered[solid].mean() > 0.9, name
        if (labels == SKY).any():
            assert (~covered[labels == SKY]).mean() > 0.8, name


def test_tiny_render_looks_like_sky_over_ground(worker):
    scene = initial_scene(split_image(), 64, 48, 4)
    result = worker.render(RenderRequest(program=write_program(scene), width=64, height=48, samples=4))
    assert result.ok, result.error
    a = np.asarray(Image.open(io.BytesIO(result.png)).convert("RGB"), dtype=np.float64)
    top, bottom = a[:18].mean((0, 1)), a[30:].mean((0, 1))
    assert top[2] > top[0] + 40  # blue sky
    assert np.abs(bottom - np.array(GREY)).max() < 30  # grey ground, about the photo's grey


def test_a_focal_length_the_photo_states_is_the_cameras(photos):
    """A focal length in the photo's EXIF (stages.photo) is taken over the prior and the
    vanishing points, through the offline backend's own path."""
    from scene_program.reader import read_scene
    from stages.backends.base import RenderSettings
    from stages.backends.offline import OfflineBackend
    from stages.photo import decode

    road = next(p for p in photos if p.stem == "storm_road")
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 50  # FocalLengthIn35mmFilm
    buf = io.BytesIO()
    Image.open(road).save(buf, "JPEG", exif=exif.tobytes())
    stated, plain = decode(buf.getvalue(), "stated"), decode(road.read_bytes(), "plain")
    assert stated.focal_mm is not None and plain.focal_mm is None
    settings = RenderSettings(96, 64, 4)
    got = {}
    for photo in (stated, plain):
        program, _ = OfflineBackend().initial_program(photo, settings)
        got[photo.name] = read_scene(program)
    cam = got["stated"].composition.camera
    assert cam.focal_mm == pytest.approx(stated.focal_mm, abs=1e-3)
    assert "mm (stated)" in got["stated"].title
    assert got["plain"].composition.camera.focal_mm < 0.8 * cam.focal_mm  # the prior (29 mm) or near it
