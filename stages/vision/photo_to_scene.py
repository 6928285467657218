"""Photo -> initial Scene: the offline backend's first program, every object a classed
solid standing where the photo has it.

The steps, each in its own module: measure the photo (image); label sky / upright /
ground on superpixels (superpixels, segment); find the horizon, the street's vanishing
point and the camera (horizon, vanishing, calibrate); then read the scene. A street
(street.py: ground cross-section, facades, cars, trees, poles) when the photo shows one;
otherwise the photo pop-up's pieces as solids (layout, generic). Then fit sky and sun
(sky, sun), and give each object the colour that, under that light and with what the other
objects block (raycast, occlusion, shading), renders like the photo where the object will
be seen (colours). preview.py shows the result in numpy. No Blender needed;
deterministic (the seed only reaches the render settings).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from scene_program.model import (
    Camera, Composition, Geometry, Lighting, ObjectShape, Render, Scene, Sky, Sun, Surface,
)
from stages.photo import SENSOR_MM
from stages.vision.calibrate import CameraFit, CameraPrior, fit_camera
from stages.vision.camera import PinholeCamera
from stages.vision.colours import MAX_ALBEDO, ObjectStats, object_stats, surface
from stages.vision.generic import solid_pieces
from stages.vision.horizon import HorizonEstimate, estimate_horizon, looks_outdoor, sky_below_horizon
from stages.vision.image import PhotoArrays, analyse, linear_to_srgb, srgb_to_linear
from stages.vision.layout import build_layout
from stages.vision.occlusion import Visibility, trace_visibility
from stages.vision.raycast import RayHits, cast
from stages.vision.regions import Region, merge_regions
from stages.vision.segment import GROUND, SKY, Segmentation, segment
from stages.vision.shading import LightModel, shading, sun_direction
from stages.vision.sky import SkyFit, SunFit, fit_sky, fit_sun
from stages.vision.street import Piece, StreetLayout, read_street
from stages.vision.sun import estimate_sun, sun_share
from stages.vision.vanishing import vanishing_row

SUN_ANGLE_DEG = 3.0  # slightly soft shadows
MAX_SUN_STRENGTH = 8.0
STREET_VP_SHARE = 0.15  # a vanishing point this many lines agree on says: a street (or a corridor)
SUN_MIN_GAIN = 0.2  # shadows explain at least this share of the brightness variation: trust their sun  # a clear midday sun is about 3-5 in Blender's units next to a sky of strength 1
REGION_THRESHOLD = 11.0  # Lab distance below which neighbouring superpixels of a class merge
TARGET_ALBEDO = 0.8  # the brightest surfaces (90th percentile by area) get this albedo
MIN_ALBEDO = 0.03  # the darkest surfaces (10th percentile by area) need at least this: asphalt, foliage


@dataclass
class Reading:
    """Everything the vision steps found, kept for tests, the bench and debugging."""

    arrays: PhotoArrays
    segmentation: Segmentation
    regions: list[Region]
    horizon: HorizonEstimate
    camera: PinholeCamera
    fit: CameraFit
    mode: str  # "street" or "generic"
    pieces: list[Piece]
    street: StreetLayout | None
    sky: SkyFit
    sun: SunFit
    light: LightModel
    hits: RayHits
    stats: list[ObjectStats | None]
    visibility: Visibility
    radiance: np.ndarray  # (n_objects, 3) linear colour each object shows in the photo


def _light_model(sky: SkyFit, sun: SunFit, ground_radiance: np.ndarray, sun_strength: float) -> LightModel:
    return LightModel(horizon=sky.horizon, zenith=sky.zenith, strength=sky.strength,
                      sun_dir=sun_direction(sun.elevation_deg, sun.azimuth_deg), sun_strength=sun_strength,
                      sun_color=np.array(sun.color), ground_radiance=ground_radiance)


def _ambient_up(light: LightModel, channel: int | None = None) -> float:
    """Shading of a horizontal surface by the sky alone (one channel, or the luminance)."""
    no_sun = LightModel(light.horizon, light.zenith, light.strength, light.sun_dir, 0.0, light.sun_color,
                        light.ground_radiance)
    e = shading(np.array([[0.0, 0.0, 1.0]]), no_sun)[0]
    return float(e.mean() if channel is None else e[channel])


def _object_radiance(pa: PhotoArrays, hits: RayHits, n: int) -> np.ndarray:
    """What each object looks like in the photo (linear, from its sRGB mean): the light it
    bounces onto the others. Hidden objects get the photo's mean."""
    out = np.tile(srgb_to_linear(pa.srgb.reshape(-1, 3).mean(0)), (n, 1))
    for i in range(n):
        mask = hits.index == i
        if mask.any():
            out[i] = srgb_to_linear(pa.srgb[mask].mean(0))
    return out


def _light_ratio(stats: list[ObjectStats | None]) -> tuple[float, int]:
    """How much brighter the light must be (>1) or may be dimmer (<1), and in which channel:
    the level at which 90 % of the visible pixels belong to objects whose albedo is at most
    TARGET_ALBEDO in every channel, but never brighter while 10 % already need less than
    MIN_ALBEDO."""
    seen = [s for s in stats if s is not None]
    if not seen:
        return 1.0, 0
    albedo = np.array([s.albedo for s in seen]) / TARGET_ALBEDO  # (n, 3)
    weights = np.array([s.pixels for s in seen], dtype=float)
    best = (0.0, 0)
    for c in range(3):
        order = np.argsort(albedo[:, c])
        cum = np.cumsum(weights[order]) / weights.sum()
        q = float(albedo[order, c][min(np.searchsorted(cum, 0.9), len(order) - 1)])
        if q > best[0]:
            best = (q, c)
    q = best[0]
    # the other end: no brighter light once large surfaces already need (nearly) black paint,
    # whatever the bright ones ask: they are then lit by a sun from the wrong side, no
    # strength mends that, and black roads and trees are the worse error
    dark = albedo.mean(1) * TARGET_ALBEDO
    order = np.argsort(dark)
    cum = np.cumsum(weights[order]) / weights.sum()
    if q > 1.0 and float(dark[order][min(np.searchsorted(cum, 0.1), len(order) - 1)]) < MIN_ALBEDO:
        q = 1.0
    return float(np.clip(q, 0.25, 4.0)), best[1]


def read_photo(photo: Image.Image, prior: CameraPrior | None = None, focal_mm: float | None = None) -> Reading:
    """Run every vision step on `photo` (any PIL mode) and return what each found; `focal_mm`
    is the focal length the photo states (stages.photo), if it states one."""
    prior = prior or CameraPrior()
    pa = analyse(photo)
    h, w = pa.shape
    seg = segment(pa)
    f_prior = (focal_mm or prior.focal_mm) / SENSOR_MM * max(w, h)
    horizon = estimate_horizon(seg.labels, f_prior, vanishing_row(pa, seg.labels), looks_outdoor(pa.lab))
    seg.labels = sky_below_horizon(seg.labels, horizon.row)
    fit = fit_camera(pa, horizon, prior, horizon.outdoor, stated_focal_mm=focal_mm)
    cam = fit.camera
    street = None
    strong_vp = fit.vp is not None and fit.vp.share >= STREET_VP_SHARE
    if fit.vp is not None and (horizon.outdoor or strong_vp):
        if not horizon.outdoor:  # many lines meet on the horizon, yet no sky: a street under a grey sky
            cam = dataclasses.replace(cam, height_m=prior.height_m)
        street = read_street(pa, seg.labels, cam, fit.vp.col if fit.vp else None, prior,
                             fine=analyse(photo, 2 * max(pa.shape)))
        if street is not None and not any(p.stem.startswith("building_") for p in street.pieces):
            street = None  # no facade on either side: not a street; the generic reading keeps more
    regions = merge_regions(seg.superpixels, seg.labels, pa.lab, threshold=REGION_THRESHOLD)
    if street is not None:
        mode, cam, pieces = "street", street.camera, street.pieces
        if street.notes and street.notes[0].startswith("camera height"):
            fit.height_source = street.notes[0]  # cars or the road's width rescaled it
    else:
        sky_vis = bool((seg.labels == SKY).mean() > 0.01)
        layout = build_layout(cam, seg.labels, regions, horizon.outdoor, pa.srgb, sky_visible=sky_vis)
        mode, pieces = "generic", solid_pieces(layout, horizon.outdoor)
    prims = [p.prim for p in pieces]
    sky = fit_sky(pa, seg.labels, cam)
    sun = fit_sun(pa, seg.labels, sky)
    ground_px = seg.labels == GROUND
    solid = seg.labels != SKY
    ground_radiance = pa.linear[ground_px].mean(0) if ground_px.any() else (
        0.5 * pa.linear[solid].mean(0) if solid.any() else np.full(3, 0.1))

    hits = cast(cam, prims)
    views = cam.grid_rays()
    suns = [sun]
    if horizon.outdoor:
        est = estimate_sun(prims, hits, cam.origin, views, pa.linear)
        if est is not None and est.gain > SUN_MIN_GAIN:
            share = float(np.clip(sun_share(est.ratio, est.elevation_deg), 0.1, 0.8))
            suns = [SunFit(elevation_deg=round(est.elevation_deg, 2), azimuth_deg=round(est.azimuth_deg, 2),
                           share=share, color=sun.color)]
        elif sun.azimuth_deg != 0.0:
            # the left/right balance guess cannot tell the sun's side: a convex object is
            # brighter on the sun's side, a street's facades on the side facing away from it
            suns.append(dataclasses.replace(sun, azimuth_deg=-sun.azimuth_deg))
    radiance = _object_radiance(pa, hits, len(prims))
    best = None
    for candidate in suns:
        visibility = trace_visibility(prims, hits, views, cam.origin,
                                      sun_direction(candidate.elevation_deg, candidate.azimuth_deg))

        def all_stats(light: LightModel, vis: Visibility = visibility) -> list[ObjectStats | None]:
            return [object_stats(pa, hits, light, views, i, vis.shading(i, light, radiance)) for i in range(len(prims))]

        settled = _settle_light(sky, candidate, ground_radiance, all_stats)
        penalty = _implausibility(settled[2])
        if best is None or penalty < best[0]:
            best = (penalty, candidate, visibility, settled)
    _, sun, visibility, (sky, light, stats) = best
    return Reading(pa, seg, regions, horizon, cam, fit, mode, pieces, street, sky, sun, light, hits, stats,
                   visibility, radiance)


def _implausibility(stats: list[ObjectStats | None]) -> float:
    """How far the visible objects' albedos are outside what paint can be (above
    MAX_ALBEDO (colours.py) or below MIN_ALBEDO, in log, weighed by pixels): a sun on the wrong side
    leaves lit facades needing albedos over 1 and shadowed ones black."""
    total = 0.0
    for s in stats:
        if s is not None:
            a = np.asarray(s.albedo, dtype=float)
            total += s.pixels * (max(0.0, math.log(max(a.max(), 1e-6) / MAX_ALBEDO))
                                 + max(0.0, math.log(MIN_ALBEDO / max(a.mean(), 1e-6))))
    return total


def _settle_light(sky: SkyFit, sun: SunFit, ground_radiance: np.ndarray,
                  all_stats: Callable[[LightModel], list[ObjectStats | None]]
                  ) -> tuple[SkyFit, LightModel, list[ObjectStats | None]]:
    """The sun starts at its fitted share of the light; then the light level is set so that
    the visible objects need plausible albedos (_light_ratio): with sky in view only the sun
    may change (the sky's look is the photo's), without it the unseen world scales too."""
    light = _light_model(sky, sun, ground_radiance, 0.0)
    sin_el = math.sin(math.radians(sun.elevation_deg))
    sun_strength = min(MAX_SUN_STRENGTH, sun.share / (1 - sun.share) * _ambient_up(light) * math.pi / sin_el)
    light = _light_model(sky, sun, ground_radiance, sun_strength)
    stats = all_stats(light)
    for _ in range(8):
        q, channel = _light_ratio(stats)
        if abs(q - 1.0) < 0.03:
            break
        if sky.visible:
            per_unit = sin_el / math.pi * sun.color[channel]  # a horizontal surface's light per unit of sun
            e_sky = _ambient_up(light, channel)
            new_strength = float(np.clip((q * (e_sky + sun_strength * per_unit) - e_sky) / per_unit, 0.0,
                                         MAX_SUN_STRENGTH))
            if new_strength == sun_strength == 0.0:
                break  # a dark scene under a bright sky: nothing left to dim
            sun_strength = new_strength
        else:
            sky = SkyFit(sky.horizon, sky.zenith, sky.strength * q, sky.visible, sky.clear)
            sun_strength *= q
        light = _light_model(sky, sun, ground_radiance, sun_strength)
        stats = all_stats(light)
    return sky, light, stats


UNNUMBERED = ("terrain", "road", "sidewalk_left", "sidewalk_right", "verge_left", "verge_right", "wall_back", "floor")


def object_names(stems: list[str]) -> list[str]:
    """Names that say what each object is: unique stems as they are (road, sidewalk_left),
    the others numbered per stem (building_left_1, car_2); a tree's trunk and the crown after
    it share a number (tree_3_trunk, tree_3_crown)."""
    counts: dict[str, int] = {}
    once = {s for s in stems if stems.count(s) == 1 and s in UNNUMBERED}
    names = []
    trees = 0
    for stem in stems:
        if stem in once:
            names.append(stem)
        elif stem == "tree_trunk":
            trees += 1
            names.append(f"tree_{trees}_trunk")
        elif stem == "tree_crown":
            names.append(f"tree_{max(trees, 1)}_crown")
        else:
            counts[stem] = counts.get(stem, 0) + 1
            names.append(f"{stem}_{counts[stem]}")
    return names


def scene_from_reading(r: Reading, width: int, height: int, samples: int, seed: int = 0) -> Scene:
    """Write what was read as a typed Scene (the program's four sections + render)."""
    objects: list[ObjectShape] = []
    materials: dict[str, Surface] = {}
    # objects hidden behind nearer ones have nothing to show: left out (ground pieces and
    # a tree's parts stay: the ground carries everything, a crown needs its trunk)
    keep = [i for i, (p, st) in enumerate(zip(r.pieces, r.stats))
            if st is not None or p.prim.shape == "plane" or p.stem in ("road", "tree_trunk", "tree_crown")
            or p.stem.startswith("sidewalk")]
    names = object_names([r.pieces[i].stem for i in keep])
    for i, name in zip(keep, names):
        piece, st = r.pieces[i], r.stats[i]
        p = piece.prim
        objects.append(ObjectShape(name=name, semantic=p.semantic, shape=p.shape,
                                   size=tuple(round(max(float(v), 1e-3), 4) for v in p.size),
                                   location=tuple(round(float(v), 4) for v in p.location),
                                   yaw_deg=round(float(p.yaw_deg), 3)))
        if st is None:
            materials[name] = Surface(color=tuple(float(v) for v in linear_to_srgb(r.light.ground_radiance)),
                                      roughness=0.95, pattern=piece.pattern)
        else:
            rows, cols = np.nonzero(r.hits.index == i)
            extent = max(np.ptp(rows) + 1, np.ptp(cols) + 1)
            materials[name] = surface(st, float(extent), p.semantic).model_copy(update={"pattern": piece.pattern})
    horizon, zenith = r.sky.srgb()
    ground_sky = linear_to_srgb(np.clip(r.light.ground_radiance / max(r.light.strength, 1e-6), 0, 1))
    cam = r.camera
    lighting = Lighting(
        sun=Sun(elevation_deg=round(r.sun.elevation_deg, 2), azimuth_deg=round(r.sun.azimuth_deg, 2),
                strength=round(float(r.light.sun_strength), 4), color=r.sun.color, angle_deg=SUN_ANGLE_DEG),
        sky=Sky(zenith=_rounded(zenith), horizon=_rounded(horizon), ground=_rounded(ground_sky),
                strength=round(float(r.light.strength), 4)),
        exposure=0.0,
    )
    return Scene(
        title=f"{'Street' if r.mode == 'street' else 'Scene'} read from a photo ({r.fit.describe()})",
        geometry=Geometry(objects=objects),
        materials=materials,
        composition=Composition(
            camera=Camera(location=(round(cam.x_m, 4), round(cam.y_m, 4), round(cam.height_m, 4)),
                          pitch_deg=round(cam.pitch_deg, 3), yaw_deg=round(cam.yaw_deg, 3),
                          roll_deg=round(cam.roll_deg, 3), focal_mm=round(cam.focal_mm, 3), sensor_mm=cam.sensor_mm),
        ),
        lighting=lighting,
        render=Render(width=width, height=height, samples=samples, seed=seed),
    )


def _rounded(c) -> tuple[float, float, float]:
    return tuple(round(float(v), 4) for v in c)


def initial_scene(photo: Image.Image, width: int, height: int, samples: int, seed: int = 0,
                  prior: CameraPrior | None = None, focal_mm: float | None = None) -> Scene:
    """The entry point: a Scene whose render resembles `photo`, every object standing in 3D
    (`focal_mm`: the focal length the photo states, if any)."""
    return scene_from_reading(read_photo(photo, prior, focal_mm), width, height, samples, seed)
