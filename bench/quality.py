"""Quality of the offline backend on the sample photos: PSNR / SSIM / photometric loss after
each stage, staged against one-shot (the same total rounds spent on the whole program at
once), and the gains over a flat image of the photo's mean colour. Optionally a few
synthetic streets too (bench/street.py scores those in 3D).

    .venv/bin/python bench/quality.py [--long-side 256 --samples 16 --synthetic 0 --out bench/out/quality]

Floors, computed the same way (docs/contracts.md, "Scores"): a flat image of the photo's mean colour and an
image of each row's mean colour. Prints a table per image and the means, then JSON; writes a
contact sheet (photo | initial render | staged render) to the output folder.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from blender_actors.config import WorkerConfig  # noqa: E402
from blender_actors.worker import BlenderWorker  # noqa: E402
from blender_actors.protocol import RenderRequest  # noqa: E402
from scene_program.examples import random_street  # noqa: E402
from scene_program.model import Render  # noqa: E402
from scene_program.writer import write_program  # noqa: E402
from stages.backends.offline import OfflineBackend, OfflineConfig  # noqa: E402
from stages.definitions import ONE_SHOT, stages_with_rounds  # noqa: E402
from stages.engine import reconstruct  # noqa: E402
from stages.photo import Photo, decode  # noqa: E402
from stages.scoring import score_arrays  # noqa: E402
from pipeline.single import render_settings  # noqa: E402
from stages.config import ReconstructConfig  # noqa: E402
from _common import contact_sheet  # noqa: E402


def floors(photo: Photo) -> tuple[float, float]:
    a = photo.compare
    flat = np.broadcast_to(a.mean(axis=(0, 1)), a.shape)
    rows = np.broadcast_to(a.mean(axis=1, keepdims=True), a.shape)
    return score_arrays(flat, a).psnr, score_arrays(rows, a).psnr


def synthetic_photos(n: int, worker: BlenderWorker, first_seed: int = 9001) -> list[Photo]:
    """Random streets (scene_program.examples.random_street, the street benchmark's evaluation
    seeds), rendered as the 'photos'."""
    out = []
    for seed in range(first_seed, first_seed + n):
        program = write_program(random_street(seed, Render(width=256, height=192, samples=32)))
        result = worker.render(RenderRequest(program=program, width=256, height=192, samples=32))
        assert result.ok, result.error
        out.append(decode(result.png, f"street_{seed}"))
    return out


def run(photo: Photo, worker, cfg: ReconstructConfig, one_shot: bool):
    settings = render_settings(photo.size, cfg)
    stages = [ONE_SHOT] if one_shot else stages_with_rounds(cfg.rounds)
    return reconstruct(photo, OfflineBackend(cfg.offline), worker, settings, stages, seed=cfg.seed)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--long-side", type=int, default=256)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--candidates", type=int, default=3)
    p.add_argument("--synthetic", type=int, default=0)
    p.add_argument("--photos", default=str(ROOT / "examples" / "photos"))
    p.add_argument("--limit", type=int, default=0, help="at most this many sample photos (0: all)")
    p.add_argument("--no-one-shot", action="store_true")
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "quality"))
    args = p.parse_args()
    cfg = ReconstructConfig(long_side=args.long_side, samples=args.samples,
                            offline=OfflineConfig(candidates=args.candidates))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, tiles = [], []
    with BlenderWorker(WorkerConfig(threads=2, job_timeout_s=300)) as worker:
        photos = [decode(f.read_bytes(), f.stem) for f in sorted(Path(args.photos).glob("*.jpg"))]
        if args.limit:
            photos = photos[: args.limit]
        sets = [("photo", ph) for ph in photos] + [("synthetic", ph) for ph in synthetic_photos(args.synthetic, worker)]
        for kind, photo in sets:
            flat, rowmean = floors(photo)
            t0 = time.perf_counter()
            staged = run(photo, worker, cfg, one_shot=False)
            t_staged = time.perf_counter() - t0
            one = None if args.no_one_shot else run(photo, worker, cfg, one_shot=True)
            row = {"set": kind, "image": photo.name, "flat": flat, "row_mean": rowmean,
                   "initial": staged.initial_scores.model_dump() if staged.initial_scores else None,
                   "stages": {s.stage: s.best_scores.model_dump() for s in staged.stages if s.best_scores},
                   "staged": staged.final_scores.model_dump(), "time_s": t_staged,
                   "stage_time_s": {s.stage: s.time_s for s in staged.stages},
                   "one_shot": one.final_scores.model_dump() if one else None, "renders": staged.renders}
            ssim_flat = score_arrays(np.broadcast_to(photo.compare.mean((0, 1)), photo.compare.shape), photo.compare).ssim
            row["ssim_flat"] = ssim_flat
            rows.append(row)
            size = (photo.compare.shape[1], photo.compare.shape[0])
            initial_png = staged.stages[0].rounds[0].candidates[0].png if staged.stages else staged.final_png
            tiles.append([photo.image.convert("RGB").resize(size)] + [
                Image.open(io.BytesIO(png)).convert("RGB").resize(size) if png else Image.new("RGB", size)
                for png in (initial_png, staged.final_png)])
            Image.open(io.BytesIO(staged.final_png)).save(out / f"{photo.name}_staged.png")
            photo.image.save(out / f"{photo.name}_photo.png")
            (out / f"{photo.name}_scene.py").write_text(staged.final_program)
            stage_txt = "  ".join(f"{k[:4]} {v['psnr']:.2f}" for k, v in row["stages"].items())
            print(f"{kind:9s} {photo.name:22s} flat {flat:5.2f} rows {rowmean:5.2f} | init "
                  f"{row['initial']['psnr']:5.2f}  {stage_txt} | staged {row['staged']['psnr']:5.2f} "
                  f"ssim {row['staged']['ssim']:.3f} loss {row['staged']['photometric_loss']:.4f}"
                  + (f" | one-shot {row['one_shot']['psnr']:5.2f}" if one else "") + f" | {t_staged:.0f} s",
                  flush=True)
    summary = {}
    for kind in ("photo", "synthetic"):
        sel = [r for r in rows if r["set"] == kind]
        if not sel:
            continue
        mean = lambda f: float(np.mean([f(r) for r in sel]))  # noqa: E731
        summary[kind] = {
            "n": len(sel), "flat": mean(lambda r: r["flat"]), "row_mean": mean(lambda r: r["row_mean"]),
            "initial_psnr": mean(lambda r: r["initial"]["psnr"]),
            **{f"{st}_psnr": mean(lambda r, st=st: r["stages"][st]["psnr"]) for st in sel[0]["stages"]},
            "staged_psnr": mean(lambda r: r["staged"]["psnr"]), "staged_ssim": mean(lambda r: r["staged"]["ssim"]),
            "staged_loss": mean(lambda r: r["staged"]["photometric_loss"]),
            "one_shot_psnr": mean(lambda r: r["one_shot"]["psnr"]) if sel[0]["one_shot"] else None,
            "time_s": mean(lambda r: r["time_s"]),
            **{f"{st}_time_s": mean(lambda r, st=st: r["stage_time_s"][st]) for st in sel[0]["stage_time_s"]},
        }
        s = summary[kind]
        s["gain_over_flat_db"] = s["staged_psnr"] - s["flat"]
        s["initial_gain_over_flat_db"] = s["initial_psnr"] - s["flat"]
        s["ssim_flat"] = mean(lambda r: r["ssim_flat"])
        s["ssim_gain"] = s["staged_ssim"] - s["ssim_flat"]
        if s["one_shot_psnr"] is not None:
            s["staging_gain_db"] = s["staged_psnr"] - s["one_shot_psnr"]
    (out / "summary.json").write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))
    print(json.dumps(summary))
    if tiles:
        contact_sheet(tiles, out / "contact.png")
        print(f"contact sheet (photo | initial render | staged render): {out / 'contact.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
