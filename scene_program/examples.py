"""Hand-written example scenes, used by the CLI's demo, the tests and the benchmarks."""
from __future__ import annotations

import math

from scene_program.model import (
    Camera, Composition, Geometry, Lighting, ObjectShape, Render, Scene, Sky, Sun, Surface,
)


def street_scene(render: Render | None = None) -> Scene:
    """A street seen from a pedestrian's eye height: road, sidewalks, buildings both sides,
    a car, a tree (trunk + crown), a pole, sun and sky."""
    objects: list[ObjectShape] = []
    materials: dict[str, Surface] = {}

    def add(name: str, cls: str, shape: str, size, location, color, rough=0.8, noise=0.0, yaw=0.0):
        objects.append(ObjectShape(name=name, semantic=cls, shape=shape, size=size, location=location, yaw_deg=yaw))
        materials[name] = Surface(color=color, roughness=rough, noise_strength=noise, noise_scale=6.0)

    add("terrain", "terrain", "plane", (400.0, 400.0, 1.0), (0.0, 100.0, -0.01), (0.42, 0.40, 0.34), noise=0.15)
    add("road", "road", "box", (7.0, 120.0, 0.02), (0.0, 60.0, 0.0), (0.24, 0.24, 0.25), noise=0.1)
    add("sidewalk_left", "sidewalk", "box", (3.0, 120.0, 0.15), (-5.0, 60.0, 0.0), (0.62, 0.60, 0.57))
    add("sidewalk_right", "sidewalk", "box", (3.0, 120.0, 0.15), (5.0, 60.0, 0.0), (0.62, 0.60, 0.57))
    left = [(12.0, 14.0, (0.70, 0.52, 0.40)), (18.0, 9.0, (0.82, 0.78, 0.70)), (16.0, 16.0, (0.55, 0.35, 0.30))]
    y = 4.0
    for i, (depth, height, color) in enumerate(left):
        add(f"building_left_{i + 1}", "building", "box", (8.0, depth, height), (-10.5, y + depth / 2, 0.0), color,
            noise=0.08)
        y += depth + 1.0
    right = [(15.0, 11.0, (0.78, 0.74, 0.66)), (10.0, 18.0, (0.45, 0.47, 0.52)), (20.0, 12.0, (0.66, 0.58, 0.48))]
    y = 6.0
    for i, (depth, height, color) in enumerate(right):
        add(f"building_right_{i + 1}", "building", "box", (8.0, depth, height), (10.5, y + depth / 2, 0.0), color,
            noise=0.08)
        y += depth + 1.0
    add("car_1", "car", "box", (1.8, 4.3, 1.45), (1.8, 14.0, 0.02), (0.65, 0.08, 0.07), rough=0.3)
    add("tree_1_trunk", "vegetation", "cylinder", (0.35, 0.35, 3.0), (-4.3, 18.0, 0.15), (0.30, 0.22, 0.15))
    add("tree_1_crown", "vegetation", "sphere", (3.2, 3.2, 3.4), (-4.3, 18.0, 2.6), (0.20, 0.38, 0.14), noise=0.3)
    add("pole_1", "pole", "cylinder", (0.16, 0.16, 6.5), (4.1, 11.0, 0.15), (0.35, 0.36, 0.38), rough=0.4)

    return Scene(
        title="Street scene",
        geometry=Geometry(objects=objects),
        materials=materials,
        composition=Composition(
            camera=Camera(location=(0.6, 0.0, 1.6), pitch_deg=-2.0, yaw_deg=0.0, focal_mm=24.0),
        ),
        lighting=Lighting(
            sun=Sun(elevation_deg=35.0, azimuth_deg=-40.0, strength=3.5),
            sky=Sky(zenith=(0.32, 0.50, 0.82), horizon=(0.78, 0.84, 0.92), strength=1.0),
        ),
        render=render or Render(width=256, height=192, samples=16),
    )


def box_scene(size: float = 1.0, color=(0.8, 0.2, 0.2)) -> Scene:
    """The smallest useful scene: a crate (a box of class `other`) on the ground. Cheap to render in tests."""
    return Scene(
        title="Box",
        geometry=Geometry(objects=[
            ObjectShape(name="terrain", semantic="terrain", shape="plane", size=(50.0, 50.0, 1.0)),
            ObjectShape(name="crate", semantic="other", shape="box", size=(size, size, size)),
        ]),
        materials={"terrain": Surface(color=(0.5, 0.5, 0.5)), "crate": Surface(color=color)},
        composition=Composition(camera=Camera(location=(0.0, -6.0, 2.0), pitch_deg=-12.0)),
        render=Render(width=64, height=48, samples=4),
    )


# --- procedural streets: the synthetic benchmark's ground truth -------------------------
FACADES = [  # (sRGB colour, pattern): plaster, render, brick, concrete, glass
    ((0.86, 0.82, 0.72), "noise"), ((0.78, 0.70, 0.56), "noise"), ((0.92, 0.90, 0.86), "noise"),
    ((0.72, 0.55, 0.42), "noise"), ((0.60, 0.62, 0.64), "noise"), ((0.82, 0.70, 0.62), "noise"),
    ((0.58, 0.30, 0.22), "brick"), ((0.66, 0.38, 0.28), "brick"), ((0.48, 0.28, 0.22), "brick"),
    ((0.40, 0.45, 0.52), "noise"), ((0.88, 0.80, 0.55), "noise"), ((0.52, 0.50, 0.48), "noise"),
]
CAR_PAINTS = [(0.72, 0.08, 0.07), (0.08, 0.16, 0.45), (0.86, 0.86, 0.84), (0.06, 0.06, 0.07),
              (0.55, 0.56, 0.58), (0.12, 0.28, 0.16), (0.85, 0.65, 0.10), (0.30, 0.32, 0.36)]


def _jitter(rng, colour, amount: float = 0.08) -> tuple[float, float, float]:
    k = rng.uniform(1 - amount, 1 + amount)
    return tuple(min(1.0, max(0.0, c * k * rng.uniform(0.97, 1.03))) for c in colour)


def random_street(seed: int, render: Render | None = None) -> Scene:
    """A street with a random layout, camera and sun: road, sidewalks (curbs), grass verges,
    buildings on both sides (setbacks, gaps, heights, facades of plaster or brick), sometimes a
    building closing the street, parked and moving cars, a truck, trees (trunk + crown),
    poles. The synthetic benchmark renders these as its "photos" and takes depth and labels
    from the program itself. Camera: focal 24-35 mm, height 1.5-3 m, pitch -8..4, yaw -15..15,
    roll -2..2 degrees, somewhere on the road."""
    import random

    rng = random.Random(seed)
    objects: list[ObjectShape] = []
    materials: dict[str, Surface] = {}

    def add(name, cls, shape, size, location, surface: Surface, yaw=0.0):
        objects.append(ObjectShape(name=name, semantic=cls, shape=shape, size=tuple(size),
                                   location=tuple(location), yaw_deg=yaw))
        materials[name] = surface

    road_w = rng.uniform(6.0, 12.0)
    y0, y1 = -30.0, 260.0
    length = y1 - y0
    grass = _jitter(rng, rng.choice([(0.30, 0.40, 0.18), (0.38, 0.42, 0.22), (0.45, 0.38, 0.26)]), 0.1)
    add("terrain", "terrain", "plane", (1200.0, 1200.0, 1.0), (0.0, 300.0, -0.01),
        Surface(color=grass, roughness=0.95, noise_scale=1.5, noise_strength=0.2))
    asphalt = _jitter(rng, (0.25, 0.25, 0.26), 0.25)
    add("road", "road", "box", (road_w, length, 0.02), (0.0, (y0 + y1) / 2, 0.0),
        Surface(color=asphalt, roughness=0.9, noise_scale=8.0, noise_strength=rng.uniform(0.04, 0.12)))
    paving = _jitter(rng, rng.choice([(0.62, 0.60, 0.57), (0.70, 0.66, 0.58), (0.55, 0.56, 0.58)]), 0.12)
    facades_x = {}
    sides = {"left": -1.0, "right": 1.0}
    for side, sgn in sides.items():
        sw = rng.uniform(1.5, 4.0)
        curb = rng.uniform(0.10, 0.20)
        add(f"sidewalk_{side}", "sidewalk", "box", (sw, length, curb), (sgn * (road_w / 2 + sw / 2), (y0 + y1) / 2, 0.0),
            Surface(color=paving, roughness=0.85, noise_scale=3.0, noise_strength=0.05))
        edge = road_w / 2 + sw
        if rng.random() < 0.35:
            verge = rng.uniform(1.0, 4.0)
            add(f"verge_{side}", "terrain", "box", (verge, length, 0.05), (sgn * (edge + verge / 2), (y0 + y1) / 2, 0.0),
                Surface(color=_jitter(rng, grass), roughness=0.95, noise_scale=1.5, noise_strength=0.2))
            edge += verge
        facades_x[side] = edge
    # buildings: a run of boxes along each side, some set back, some gaps, sometimes one open side
    count = {"left": 0, "right": 0}
    for side, sgn in sides.items():
        if rng.random() < 0.12:
            continue  # an open side: grass and trees only
        y = rng.uniform(-25.0, 5.0)
        end = rng.uniform(120.0, 220.0)
        while y < end:
            run = rng.uniform(8.0, 30.0)
            if rng.random() < 0.25:
                y += rng.uniform(2.0, 10.0)  # a gap between buildings
            depth = rng.uniform(10.0, 20.0)
            setback = 0.0 if rng.random() < 0.6 else rng.uniform(0.5, 3.0)
            height = math.exp(rng.uniform(math.log(5.0), math.log(30.0)))
            colour, pattern = rng.choice(FACADES)
            count[side] += 1
            x = sgn * (facades_x[side] + setback + depth / 2)
            add(f"building_{side}_{count[side]}", "building", "box", (depth, run, height), (x, y + run / 2, 0.0),
                Surface(color=_jitter(rng, colour), roughness=0.9, pattern=pattern,
                        noise_scale=4.0 if pattern == "brick" else rng.uniform(0.5, 2.0),
                        noise_strength=rng.uniform(0.08, 0.2) if pattern == "brick" else rng.uniform(0.02, 0.06)))
            y += run
    if rng.random() < 0.35:
        colour, pattern = rng.choice(FACADES)
        yb = rng.uniform(90.0, 200.0)
        add("building_end_1", "building", "box", (road_w + 60.0, 15.0, rng.uniform(8.0, 25.0)), (0.0, yb + 7.5, 0.0),
            Surface(color=_jitter(rng, colour), roughness=0.9, pattern=pattern, noise_scale=4.0,
                    noise_strength=0.1 if pattern == "brick" else 0.04))
    # vehicles: parked along the curbs or in a lane, never overlapping
    taken: list[tuple[float, float, float]] = []

    def free(x: float, y: float, length: float) -> bool:
        return all(abs(x - tx) > 2.2 or abs(y - ty) > (length + tl) / 2 + 0.8 for tx, ty, tl in taken)

    n_cars = rng.choice([0, 1, 2, 2, 3, 3, 4, 5, 6])
    cars = trucks = 0
    for _ in range(n_cars * 4):
        if cars + trucks >= n_cars:
            break
        truck = rng.random() < 0.08
        size = ((rng.uniform(2.3, 2.5), rng.uniform(6.5, 9.0), rng.uniform(2.8, 3.5)) if truck else
                (rng.uniform(1.7, 1.9), rng.uniform(4.1, 4.8), rng.uniform(1.4, 1.6)))
        lane = rng.random() < 0.35
        sgn = rng.choice([-1.0, 1.0])
        x = sgn * (road_w / 4 if lane else road_w / 2 - size[0] / 2 - 0.25)
        y = rng.uniform(8.0, 70.0)
        if not free(x, y, size[1]):
            continue
        taken.append((x, y, size[1]))
        yaw = (180.0 if (lane and sgn < 0) else 0.0) + rng.uniform(-3.0, 3.0)
        if truck:
            trucks += 1
            name, cls = f"truck_{trucks}", "truck"
        else:
            cars += 1
            name, cls = f"car_{cars}", "car"
        add(name, cls, "box", size, (x, y, 0.0),
            Surface(color=_jitter(rng, rng.choice(CAR_PAINTS), 0.05), roughness=rng.uniform(0.25, 0.45),
                    metallic=rng.uniform(0.0, 0.3)), yaw=yaw)
    # trees and poles along the sidewalks (trees also on an open side)
    sw_edge = {side: road_w / 2 for side in sides}
    n_trees = rng.choice([0, 0, 1, 2, 3, 4, 6])
    for i in range(n_trees):
        sgn = rng.choice([-1.0, 1.0])
        side = "left" if sgn < 0 else "right"
        x = sgn * (sw_edge[side] + rng.uniform(0.8, 1.4))
        y = rng.uniform(6.0, 60.0)
        trunk_h = rng.uniform(2.0, 3.5)
        crown = rng.uniform(2.5, 5.0)
        crown_h = crown * rng.uniform(0.9, 1.3)
        bark = _jitter(rng, (0.32, 0.24, 0.17))
        leaves = _jitter(rng, rng.choice([(0.20, 0.36, 0.13), (0.26, 0.42, 0.16), (0.17, 0.30, 0.12)]))
        add(f"tree_{i + 1}_trunk", "vegetation", "cylinder", (0.3, 0.3, trunk_h + 0.3 * crown_h), (x, y, 0.0),
            Surface(color=bark, roughness=0.9, noise_scale=6.0, noise_strength=0.1))
        add(f"tree_{i + 1}_crown", "vegetation", "sphere", (crown, crown, crown_h), (x, y, trunk_h),
            Surface(color=leaves, roughness=0.9, pattern="foliage", noise_scale=2.0, noise_strength=0.25))
    n_poles = rng.choice([0, 1, 2, 3, 4, 5])
    for i in range(n_poles):
        sgn = rng.choice([-1.0, 1.0])
        side = "left" if sgn < 0 else "right"
        d = rng.uniform(0.12, 0.25)
        add(f"pole_{i + 1}", "pole", "cylinder", (d, d, rng.uniform(4.0, 9.0)),
            (sgn * (sw_edge[side] + 0.4), rng.uniform(3.0, 70.0), 0.0),
            Surface(color=_jitter(rng, (0.38, 0.39, 0.40)), roughness=0.5, metallic=0.3))
    cam = Camera(location=(rng.uniform(-road_w / 4, road_w / 4), 0.0, rng.uniform(1.5, 3.0)),
                 pitch_deg=rng.uniform(-8.0, 4.0), yaw_deg=rng.uniform(-15.0, 15.0), roll_deg=rng.uniform(-2.0, 2.0),
                 focal_mm=rng.uniform(24.0, 35.0))
    zenith = _jitter(rng, (0.30, 0.47, 0.80), 0.15)
    horizon = _jitter(rng, (0.74, 0.80, 0.88), 0.08)
    return Scene(
        title=f"Random street {seed}",
        geometry=Geometry(objects=objects),
        materials=materials,
        composition=Composition(camera=cam),
        lighting=Lighting(
            sun=Sun(elevation_deg=rng.uniform(15.0, 70.0), azimuth_deg=rng.uniform(-180.0, 180.0),
                    strength=rng.uniform(2.5, 5.0), angle_deg=rng.uniform(0.5, 3.0)),
            sky=Sky(zenith=zenith, horizon=horizon, strength=rng.uniform(0.8, 1.2)),
        ),
        render=render or Render(width=256, height=192, samples=32),
    )
