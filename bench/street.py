"""Synthetic street benchmark: how 3D-true the offline reconstruction is, on streets whose
generating program is known.

Each seed makes a procedural street (scene_program.examples.random_street: random layout,
camera with focal length 24-35 mm, height 1.5-3 m, pitch, yaw, roll, and sun), rendered by
Blender as the "photo". The reconstruction (the initial program from classical vision, then
the four stages; and the one-shot baseline with the same budget) is compared with the
ground truth, both ray-cast at the photo's comparison grid (stages.vision.evaluate):

- PSNR gain over a flat image of the photo's mean colour (initial, staged, one-shot);
- depth: share of the ground truth's non-sky pixels within 25 % (delta < 1.25; a pixel the
  reconstruction shows as sky is wrong) and AbsRel;
- semantic IoU per class group, mean over the groups (per image, and accumulated);
- object counts per group against the ground truth; time per image.

Default seeds 9001-9008 are the evaluation set: the method was developed on seeds 100-131
and never tuned on these. `--check-raycast N` first checks, on N streets, that the numpy ray
caster agrees with Blender's own object-ID pass (the maps the scores rest on).

    .venv/bin/python bench/street.py [--seeds 9001-9008] [--initial-only] [--no-one-shot] [--check-raycast 2]
                                     [--oracle-camera] [--exif-focal] [--stated-height]

`--oracle-camera` is a diagnostic, not a result: the camera height and focal length priors
become each street's true ones (the depth of a ground point scales with both), which shows how
much of the depth error is the scale a single photo cannot fix.

`--exif-focal` gives each photo its true focal length the way a camera does: as the EXIF tag
FocalLengthIn35mmFilm, rounded to a whole millimetre, read by the product's own decoder
(stages.photo). Not an oracle: phones and most cameras write that tag; the camera height
stays unknown.

`--stated-height` states each street's true camera height, to the centimetre, the way a
manifest's `camera_height_m` column does (docs/contracts.md, "Manifest"): a fleet knows its
rig. With `--exif-focal` it is the whole camera known through the product's own inputs.

Writes bench/out/street/: the photos and programs, summary.json, and contact.png (photo |
staged render | true depth | reconstructed depth | true classes | reconstructed classes).
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import contact_sheet, loadavg  # noqa: E402
from blender_actors.config import WorkerConfig  # noqa: E402
from blender_actors.protocol import RenderRequest  # noqa: E402
from blender_actors.worker import BlenderWorker  # noqa: E402
from pipeline.single import render_settings  # noqa: E402
from scene_program.classes import BY_ID  # noqa: E402
from scene_program.examples import random_street  # noqa: E402
from scene_program.model import Render  # noqa: E402
from scene_program.reader import read_scene  # noqa: E402
from scene_program.writer import write_program  # noqa: E402
from stages.backends.base import RenderSettings  # noqa: E402
from stages.backends.offline import OfflineBackend, OfflineConfig  # noqa: E402
from stages.config import ReconstructConfig  # noqa: E402
from stages.definitions import ONE_SHOT, stages_with_rounds  # noqa: E402
from stages.engine import reconstruct, start_reconstruction  # noqa: E402
from stages.masks import object_masks  # noqa: E402
from stages.photo import EXIF_FOCAL_35MM, EXIF_IFD, Photo, decode, focal_to_35mm  # noqa: E402
from stages.scoring import psnr_from_mse  # noqa: E402
from stages.vision.evaluate import GROUPS, Accumulator, compare, object_counts  # noqa: E402
from stages.vision.scene3d import scene_maps  # noqa: E402

PHOTO_SIZE = (256, 192)
PHOTO_SAMPLES = 32


def with_exif_focal(photo: Photo, focal_mm: float) -> Photo:
    """The photo as a camera would have saved it: its focal length (seig's convention, 36 mm
    across the long side) written as a whole-millimetre FocalLengthIn35mmFilm tag, decoded again."""
    exif = Image.Exif()
    exif.get_ifd(EXIF_IFD)[EXIF_FOCAL_35MM] = round(focal_to_35mm(focal_mm, photo.image.size))
    buf = io.BytesIO()
    photo.image.save(buf, "PNG", exif=exif.tobytes())  # the Exif object alone writes no eXIf chunk
    return decode(buf.getvalue(), photo.name)


def seeds_arg(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out += list(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


def flat_psnr(compare_arr: np.ndarray) -> float:
    flat = np.broadcast_to(compare_arr.mean((0, 1)), compare_arr.shape)
    return psnr_from_mse(float(((flat - compare_arr) ** 2).mean()))


def street_photo(seed: int, worker: BlenderWorker, out: Path) -> tuple[str, Photo]:
    """The generating program and its render (cached under `out`)."""
    program = write_program(random_street(seed, Render(width=PHOTO_SIZE[0], height=PHOTO_SIZE[1],
                                                       samples=PHOTO_SAMPLES)))
    png_path, py_path = out / f"street_{seed}.png", out / f"street_{seed}.py"
    if png_path.exists() and py_path.exists() and py_path.read_text() == program:
        return program, decode(png_path.read_bytes(), f"street_{seed}")
    for _ in range(3):
        result = worker.render(RenderRequest(program=program, width=PHOTO_SIZE[0], height=PHOTO_SIZE[1],
                                             samples=PHOTO_SAMPLES))
        if result.ok:
            break
    if not result.ok:
        raise SystemExit(f"street {seed}: the ground truth did not render: {result.error}")
    png_path.write_bytes(result.png)
    py_path.write_text(program)
    return program, decode(result.png, f"street_{seed}")


def street_shots(description: str, default_seeds: str) -> list[tuple[int, str, Photo]]:
    """For the street diagnostics (street_scale.py, street_sun.py): parse --seeds, --out and
    --exif-focal, and return (seed, generating program, photo) per street, rendering the
    missing photos."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default=default_seeds)
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "street"))
    p.add_argument("--exif-focal", action="store_true", help="each photo states its true focal length in EXIF")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = seeds_arg(args.seeds)
    with BlenderWorker(WorkerConfig(threads=2, job_timeout_s=300)) as worker:
        shots = [(s, *street_photo(s, worker, out)) for s in seeds]
    if args.exif_focal:
        shots = [(s, prog, with_exif_focal(photo, read_scene(prog).composition.camera.focal_mm))
                 for s, prog, photo in shots]
    return shots


def check_raycast(programs: list[str], worker: BlenderWorker) -> list[float]:
    """Share of pixels where the numpy ray caster and Blender's object-ID pass see the same object."""
    shares = []
    w, h = PHOTO_SIZE
    for program in programs:
        got = object_masks(program, worker, RenderSettings(w, h, 1), (w, h))
        if got is None:
            shares.append(float("nan"))
            continue
        masks, _ = got
        maps = scene_maps(read_scene(program), w, h)
        idx = np.full((h, w), -1)
        for i, p in enumerate(maps.prims):
            if p.name in masks:
                idx[masks[p.name]] = i
        shares.append(float((idx == maps.hits.index).mean()))
    return shares


def _palette() -> np.ndarray:
    pal = np.zeros((256, 3), np.uint8)
    for i, c in BY_ID.items():
        pal[i] = c.color
    return pal


def _depth_image(d: np.ndarray) -> Image.Image:
    v = np.where(np.isfinite(d), 255 * (1 - np.log(np.clip(d, 1, 300)) / np.log(300)), 0)
    return Image.fromarray(v.astype(np.uint8)).convert("RGB")


def score_program(truth, program: str, size: tuple[int, int]):
    recon = read_scene(program)
    depth, seg, tm, rm = compare(truth, recon, *size)
    return recon, depth, seg, tm, rm


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="9001-9008")
    p.add_argument("--long-side", type=int, default=256)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--candidates", type=int, default=3)
    p.add_argument("--initial-only", action="store_true", help="score the classical-vision program only (no stages)")
    p.add_argument("--no-one-shot", action="store_true")
    p.add_argument("--check-raycast", type=int, default=0, metavar="N")
    p.add_argument("--oracle-camera", action="store_true",
                   help="diagnostic: the camera height and focal length priors set to each street's true ones (how "
                        "much of the depth error is the scale a single photo cannot fix)")
    p.add_argument("--exif-focal", action="store_true",
                   help="each photo states its true focal length in EXIF, as a camera's would (module docstring)")
    p.add_argument("--stated-height", action="store_true",
                   help="each photo's camera height is stated to the centimetre, as a manifest's camera_height_m "
                        "column states a fleet's rig (module docstring)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "street"))
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = ReconstructConfig(long_side=args.long_side, samples=args.samples,
                            offline=OfflineConfig(candidates=args.candidates))
    seeds = seeds_arg(args.seeds)
    print(f"seeds {seeds}, render {args.long_side} px {args.samples} samples, {args.candidates} candidates; "
          f"load {loadavg()}", flush=True)
    rows, tiles = [], []
    acc = {"initial": Accumulator(), "staged": Accumulator(), "one_shot": Accumulator()}
    pal = _palette()
    with BlenderWorker(WorkerConfig(threads=args.threads, job_timeout_s=300)) as worker:
        truths = [street_photo(s, worker, out) for s in seeds]
        if args.check_raycast:
            shares = check_raycast([t[0] for t in truths[: args.check_raycast]], worker)
            print("ray caster against Blender's object-ID pass: " + ", ".join(f"{s:.4f}" for s in shares), flush=True)
        for seed, (program, photo) in zip(seeds, truths):
            truth = read_scene(program)
            if args.exif_focal:
                photo = with_exif_focal(photo, truth.composition.camera.focal_mm)
            if args.stated_height:
                photo.state_height(round(truth.composition.camera.location[2], 2))
            size = (photo.compare.shape[1], photo.compare.shape[0])
            settings = render_settings(photo.size, cfg)
            flat = flat_psnr(photo.compare)
            t0 = time.perf_counter()
            offline = cfg.offline
            if args.oracle_camera:
                tc = truth.composition.camera
                offline = offline.model_copy(update={"camera": offline.camera.model_copy(update={
                    "height_m": tc.location[2], "height_log_sigma": 0.01, "focal_mm": tc.focal_mm,
                    "focal_log_sigma": 0.01})})
            backend = OfflineBackend(offline)
            if args.initial_only:
                rec, _ = start_reconstruction(photo, backend, worker, settings, seed=cfg.seed)
            else:
                rec = reconstruct(photo, backend, worker, settings, stages_with_rounds(cfg.rounds), seed=cfg.seed)
            t_staged = time.perf_counter() - t0
            row = {"seed": seed, "flat": flat, "time_s": t_staged, "load": loadavg(),
                   "truth_counts": object_counts(truth)}
            finals = [("initial", rec.initial_program, rec.initial_scores)]
            if not args.initial_only:
                finals.append(("staged", rec.final_program, rec.final_scores))
                row["stages"] = {s.stage: s.best_scores.psnr for s in rec.stages if s.best_scores}
                if not args.no_one_shot:
                    t1 = time.perf_counter()
                    one = reconstruct(photo, OfflineBackend(offline), worker, settings, [ONE_SHOT], seed=cfg.seed)
                    row["one_shot_time_s"] = time.perf_counter() - t1
                    finals.append(("one_shot", one.final_program, one.final_scores))
            for key, prog, scores in finals:
                recon, depth, seg, tm, rm = score_program(truth, prog, size)
                acc[key].add(depth, seg)
                row[key] = {"psnr": scores.psnr if scores else None, "ssim": scores.ssim if scores else None,
                            "gain_db": (scores.psnr - flat) if scores else None, "delta125": depth.delta125,
                            "abs_rel": depth.abs_rel, "miou": seg.miou(), "iou": seg.iou(),
                            "counts": object_counts(recon)}
                if key == ("initial" if args.initial_only else "staged"):
                    render = rec.final_png  # the initial program's render when no stage ran
                    tiles.append([photo.image.resize(size), Image.open(io.BytesIO(render)).convert("RGB").resize(size)
                                  if render else Image.new("RGB", size), _depth_image(tm.depth), _depth_image(rm.depth),
                                  Image.fromarray(pal[tm.label]), Image.fromarray(pal[rm.label])])
            rows.append(row)
            line = f"street_{seed}: flat {flat:5.2f}"
            for key, _, _ in finals:
                r = row[key]
                line += (f" | {key} {r['psnr']:5.2f} (+{r['gain_db']:.2f}) d1 {r['delta125']:.3f} absrel "
                         f"{r['abs_rel']:.3f} mIoU {r['miou']:.3f}")
            line += f" | {t_staged:.0f} s (load {row['load']})"
            print(line, flush=True)
            counts = row[finals[-1][0] if args.initial_only else "staged"]["counts"]
            print("    objects (reconstructed / true): " + ", ".join(
                f"{g} {counts.get(g, 0)}/{row['truth_counts'].get(g, 0)}" for g in GROUPS if g != "sky"), flush=True)
    summary = {}
    for key, a in acc.items():
        sel = [r[key] for r in rows if key in r]
        if not sel:
            continue
        seg = a.seg()
        summary[key] = {
            "n": len(sel), "psnr": float(np.mean([r["psnr"] for r in sel])),
            "gain_db": float(np.mean([r["gain_db"] for r in sel])),
            "delta125_mean": float(np.mean([r["delta125"] for r in sel])),
            "delta125_pixels": a.depth_good / max(a.depth_pixels, 1),
            "abs_rel": float(np.nanmean([r["abs_rel"] for r in sel])),
            "miou_mean": float(np.mean([r["miou"] for r in sel])), "miou_accumulated": seg.miou(),
            "iou_accumulated": seg.iou(),
        }
    summary["flat"] = float(np.mean([r["flat"] for r in rows]))
    summary["time_s"] = float(np.mean([r["time_s"] for r in rows]))
    if "staged" in summary and "one_shot" in summary:
        summary["staged_minus_one_shot_db"] = summary["staged"]["psnr"] - summary["one_shot"]["psnr"]
    tc, rc = Counter(), Counter()
    for r in rows:
        tc.update(r["truth_counts"])
        rc.update(r["initial" if args.initial_only else "staged"]["counts"])
    summary["counts"] = {g: [rc.get(g, 0), tc.get(g, 0)] for g in GROUPS if g != "sky"}
    summary["load_end"] = loadavg()
    (out / "summary.json").write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))
    for key in ("initial", "staged", "one_shot"):
        if key in summary:
            s = summary[key]
            print(f"MEAN {key:8s} PSNR {s['psnr']:.2f} (gain {s['gain_db']:+.2f} dB over flat {summary['flat']:.2f}) "
                  f"d1 {s['delta125_mean']:.3f} (pixels {s['delta125_pixels']:.3f}) AbsRel {s['abs_rel']:.3f} "
                  f"mIoU {s['miou_mean']:.3f} (accumulated {s['miou_accumulated']:.3f}) "
                  + " ".join(f"{g} {v:.2f}" for g, v in s["iou_accumulated"].items()))
    if "staged_minus_one_shot_db" in summary:
        print(f"staged - one-shot: {summary['staged_minus_one_shot_db']:+.2f} dB")
    print("objects (reconstructed / true): " + ", ".join(f"{g} {a}/{b}" for g, (a, b) in summary["counts"].items()))
    print(f"time per image {summary['time_s']:.0f} s (staged); load at end {summary['load_end']}")
    if tiles:
        contact_sheet(tiles, out / "contact.png")
        print(f"contact sheet (photo | render | true depth | depth | true classes | classes): {out / 'contact.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
