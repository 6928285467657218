"""Benchmark the vision backend's initial scenes on the sample photos.

For every photo: read it (stages.vision), write the program, render it with a warm
BlenderWorker (Cycles, 256 px on the long side, 16 samples by default), score it with
stages.scoring, and compare with the two floors of docs/contracts.md ("Scores") computed the same way
(a flat image of the photo's mean colour; an image of each row's mean colour).
Writes photo | render | labels | numpy preview side by side into --out so a person can look.

    .venv/bin/python bench/vision_initial.py [--photos DIR] [--out bench/out/vision] [--samples 16]
    .venv/bin/python bench/vision_initial.py --calibrate   # re-measure shading.py's constants
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from blender_actors.config import WorkerConfig  # noqa: E402
from blender_actors.protocol import RenderRequest  # noqa: E402
from blender_actors.worker import BlenderWorker  # noqa: E402
from scene_program.writer import write_program  # noqa: E402
from stages.photo import Photo  # noqa: E402
from stages.scoring import psnr_from_mse, score  # noqa: E402
from stages.vision.photo_to_scene import read_photo, scene_from_reading  # noqa: E402
from stages.vision.preview import preview  # noqa: E402
from stages.vision.segment import CLASS_NAMES  # noqa: E402

DEFAULT_PHOTOS = ROOT / "examples" / "photos"
LABEL_COLOURS = np.array([[70, 140, 255], [230, 70, 50], [70, 200, 70]], dtype=np.uint8)


def floors(compare: np.ndarray) -> tuple[float, float]:
    """PSNR of the flat mean-colour image and of the row-mean image (docs/contracts.md, "Scores")."""
    flat = np.broadcast_to(compare.mean((0, 1)), compare.shape)
    rows = np.broadcast_to(compare.mean(1, keepdims=True), compare.shape)
    return (psnr_from_mse(float(((flat - compare) ** 2).mean())),
            psnr_from_mse(float(((rows - compare) ** 2).mean())))


def side_by_side(photo: Image.Image, render_png: bytes, labels: np.ndarray, predicted: np.ndarray) -> Image.Image:
    render = Image.open(io.BytesIO(render_png)).convert("RGB")
    size = render.size
    lab = Image.fromarray(LABEL_COLOURS[labels]).resize(size, Image.NEAREST)
    over = Image.blend(photo.convert("RGB").resize(size, Image.BILINEAR), lab, 0.45)
    pred = Image.fromarray((predicted * 255).round().astype(np.uint8)).resize(size, Image.NEAREST)
    out = Image.new("RGB", (4 * size[0] + 12, size[1]), "white")
    for i, im in enumerate((photo.convert("RGB").resize(size, Image.BILINEAR), render, over, pred)):
        out.paste(im, (i * (size[0] + 4), 0))
    return out


def run(photos_dir: Path, out_dir: Path, long_side: int, samples: int) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = sorted(photos_dir.glob("*.jpg")) + sorted(photos_dir.glob("*.png"))
    if not paths:
        print(f"no photos under {photos_dir}")
        return 1
    rows = []
    with BlenderWorker(WorkerConfig(threads=1, job_timeout_s=120)) as worker:
        for path in paths:
            image = Image.open(path)
            photo = Photo(image.convert("RGB"), path.stem)
            width, height = photo.render_size(long_side)
            t0 = time.perf_counter()
            reading = read_photo(image)
            scene = scene_from_reading(reading, width, height, samples)
            vision_s = time.perf_counter() - t0
            program = write_program(scene)
            (out_dir / f"{path.stem}.py").write_text(program)
            result = worker.render(RenderRequest(program=program, width=width, height=height, samples=samples))
            if not result.ok:
                print(f"{path.stem}: render failed: {result.error}")
                rows.append((path.stem, float("nan"), float("nan"), *floors(photo.compare)))
                continue
            s = score(result.png, photo.compare)
            predicted = preview(reading)
            p = score(Image.fromarray((predicted * 255).round().astype(np.uint8)), photo.compare)
            side_by_side(image, result.png, reading.segmentation.labels, predicted).save(out_dir / f"{path.stem}.png")
            fl, rw = floors(photo.compare)
            rows.append((path.stem, s.psnr, s.ssim, fl, rw))
            frac = ", ".join(f"{n} {reading.segmentation.fraction(i):.2f}" for i, n in enumerate(CLASS_NAMES))
            classes = sorted({o.semantic for o in scene.geometry.objects})
            print(f"{path.stem:20s} psnr {s.psnr:6.2f}  ssim {s.ssim:.3f}  (flat {fl:5.2f}, rows {rw:5.2f}; preview {p.psnr:5.2f})  "
                  f"{reading.mode}, objects {len(scene.geometry.objects):2d} ({', '.join(classes)}); "
                  f"{reading.fit.describe()}; {frac}; vision {vision_s:.2f} s, render {result.record.wall_s:.2f} s")
    arr = np.array([r[1:] for r in rows], dtype=float)
    print(f"{'mean':20s} psnr {np.nanmean(arr[:, 0]):6.2f}  ssim {np.nanmean(arr[:, 1]):.3f}  "
          f"(flat {arr[:, 2].mean():5.2f}, rows {arr[:, 3].mean():5.2f})")
    print(f"side-by-side images (photo | render | labels: blue sky, red vertical, green ground | numpy preview) in {out_dir}")
    return 0


def calibrate() -> int:
    """Render grey test scenes with Cycles and print them next to stages.vision.shading's
    prediction (linear light, red channel): the constants there were measured this way."""
    from scene_program.model import Camera, Composition, Geometry, Lighting, ObjectShape, Render, Scene, Sky, Sun, Surface
    from stages.vision.camera import PinholeCamera
    from stages.vision.image import srgb_to_linear
    from stages.vision.shading import LightModel, gloss_fraction, rendered, shading, sun_direction

    def scene(sky: float, sun: float, ground: float = 0.5, elev: float = 45.0) -> Scene:
        objs = [ObjectShape(name="terrain", semantic="terrain", shape="plane", size=(1000, 1000, 1)),
                ObjectShape(name="wall", semantic="wall", shape="box", size=(4, 0.2, 4), location=(0, 10, 0))]
        return Scene(
            geometry=Geometry(objects=objs),
            materials={"terrain": Surface(color=(ground,) * 3, roughness=1.0),
                       "wall": Surface(color=(0.5,) * 3, roughness=1.0)},
            composition=Composition(camera=Camera(location=(0, 0, 1.6), pitch_deg=0, focal_mm=28)),
            lighting=Lighting(sun=Sun(strength=sun, elevation_deg=elev, azimuth_deg=0, color=(1, 1, 1)),
                              sky=Sky(zenith=(sky,) * 3, horizon=(sky,) * 3, ground=(0, 0, 0), strength=1.0)),
            render=Render(width=96, height=64, samples=64))

    cam = PinholeCamera(96, 64, 28.0, 36.0, 0.0, 1.6)
    up, front = np.array([[0.0, 0.0, 1.0]]), np.array([[0.0, -1.0, 0.0]])
    crops = {"panel": (slice(20, 40), slice(42, 54)), "ground near": (slice(56, 64), slice(40, 56)),
             "ground far": (slice(35, 37), slice(5, 15))}
    with BlenderWorker(WorkerConfig(threads=1)) as worker:
        for kw in (dict(sky=1.0, sun=0.0), dict(sky=0.0, sun=1.0), dict(sky=0.0, sun=3.0, elev=30.0),
                   dict(sky=1.0, sun=0.0, ground=0.0)):
            res = worker.render(RenderRequest(program=write_program(scene(**kw)), width=96, height=64, samples=64))
            a = srgb_to_linear(np.asarray(Image.open(io.BytesIO(res.png)).convert("RGB"), dtype=float) / 255)[..., 0]
            sky = np.full(3, float(srgb_to_linear(np.array(kw["sky"]))))
            g_alb = float(srgb_to_linear(np.array(kw.get("ground", 0.5))))
            light = LightModel(sky, sky, 1.0, sun_direction(kw.get("elev", 45.0), 0.0), kw["sun"], np.ones(3), np.zeros(3))
            out = []
            for name, (rs, cs) in crops.items():
                row = (rs.start + rs.stop - 1) / 2
                view = cam.rays(np.array([47.5]), np.array([row]))
                n = front if name == "panel" else up
                if name == "panel":  # the panel also sees the lit ground below it
                    e_ground = shading(up, light)[0] * g_alb
                    light.ground_radiance = e_ground
                alb = float(srgb_to_linear(np.array(0.5))) if name == "panel" else g_alb
                pred = rendered(alb, shading(n, light)[0], gloss_fraction(n, view)[0])[0]
                light.ground_radiance = np.zeros(3)
                out.append(f"{name} {a[rs, cs].mean():.4f} (model {pred:.4f})")
            print(kw, "; ".join(out))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "vision")
    ap.add_argument("--long-side", type=int, default=256)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--calibrate", action="store_true")
    args = ap.parse_args(argv)
    if args.calibrate:
        return calibrate()
    return run(args.photos, args.out, args.long_side, args.samples)


if __name__ == "__main__":
    raise SystemExit(main())
