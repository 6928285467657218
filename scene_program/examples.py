"""Hand-written example scenes, used by the CLI's demo, the tests and the benchmarks."""
from __future__ import annotations

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
