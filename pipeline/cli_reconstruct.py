"""`seig reconstruct IMAGE... --out DIR`: the staged method on photos, in this process."""
from __future__ import annotations

import argparse
import posixpath
import sys
from pathlib import PurePosixPath


def register(sub) -> None:
    p = sub.add_parser("reconstruct", help="reconstruct photos as editable scene programs, stage by stage")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="paths or fsspec URIs")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--backend", choices=["offline", "openai"])
    p.add_argument("--config", metavar="FILE", help="YAML config (its worker and reconstruct sections)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="override a config field")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--samples", type=int)
    p.add_argument("--focal-35mm", type=float, metavar="MM",
                   help="the camera's 35 mm-equivalent focal length, for photos whose EXIF does not state it "
                        "(overrides the EXIF tag)")
    p.add_argument("--camera-height", type=float, metavar="M",
                   help="the camera's height above the ground in metres, when known (a vehicle's rig): with the "
                        "focal length it fixes the scene's depth scale")
    p.set_defaults(func=run)


def unique_names(images: list[str]) -> list[str]:
    """Output folder per image: its file stem, made unique (a/x.jpg, b/x.jpg -> x, x-2)."""
    seen: dict[str, int] = {}
    names = []
    for uri in images:
        stem = PurePosixPath(uri.rstrip("/")).stem or "image"
        seen[stem] = seen.get(stem, 0) + 1
        names.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return names


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from blender_actors.worker import BlenderWorker
    from pipeline.config import ConfigError, load_config
    from pipeline.single import reconstruct_photo
    from stages.photo import checked_35mm, checked_height_m

    overrides = list(args.set)
    for flag, key in (("backend", "backend"), ("width", "width"), ("height", "height"), ("samples", "samples")):
        if getattr(args, flag) is not None:
            overrides.append(f"reconstruct.{key}={getattr(args, flag)}")
    try:
        cfg = load_config(args.config, overrides)
    except ConfigError as exc:
        print(f"seig reconstruct: {exc}", file=sys.stderr)
        return 2
    for flag, value, check in (("--focal-35mm", args.focal_35mm, checked_35mm),
                               ("--camera-height", args.camera_height, checked_height_m)):
        try:
            if value is not None:
                check(value)
        except ValueError as exc:
            print(f"seig reconstruct: {flag} {exc}", file=sys.stderr)
            return 2
    outcomes = []
    names = unique_names(args.images)
    with BlenderWorker(cfg.worker) as worker, tqdm(total=len(args.images), unit="image", file=sys.stderr) as bar:
        for uri, name in zip(args.images, names):
            bar.set_postfix_str(name)
            outcome = reconstruct_photo(uri, name, posixpath.join(args.out, name), cfg.reconstruct, worker,
                                        focal_35mm=args.focal_35mm, camera_height_m=args.camera_height)
            outcomes.append(outcome)
            if not outcome.ok:
                tqdm.write(f"FAILED {uri}: [{outcome.error_kind}] {outcome.error}", file=sys.stderr)
            elif outcome.degraded:
                tqdm.write(f"DEGRADED {uri}: offline fallback after the VLM failed: {outcome.degraded}", file=sys.stderr)
            bar.update(1)
    print(summary_table(outcomes))
    return 0 if all(o.ok for o in outcomes) else 1


def summary_table(outcomes) -> str:
    """Per image and stage: PSNR and SSIM after the stage, and the final figures."""
    stage_names = ["geometry", "materials", "composition", "lighting"]
    head = ["image", "initial"] + stage_names + ["final", "time"]
    rows = [head]
    for o in outcomes:
        if not o.ok:
            rows.append([o.name, f"FAILED: {o.error_kind}"] + [""] * (len(head) - 2))
            continue
        rec = o.reconstruction
        by_stage = {s.stage: s.best_scores for s in rec.stages}

        def cell(s):
            return f"{s.psnr:.2f} dB / {s.ssim:.3f}" if s else "-"

        rows.append([o.name, cell(rec.initial_scores)] + [cell(by_stage.get(n)) for n in stage_names]
                    + [cell(rec.final_scores), f"{o.time_s:.0f} s"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "PSNR / SSIM after each stage\n" + "\n".join(lines)
