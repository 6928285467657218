"""What the simulation dataset costs: per output and per sample, and per run.

Part 1 (one warm BlenderWorker, the street scene): for `--repeat` rounds, a plain render
(what every reconstruction round costs) against the same render with the passes, then
with GLB and USD added, and the parent's work (checks, writers, USD labels); the bytes of
each file of a sample. Part 2 (`--photos N`, the batch job on local Ray with the offline
backend): the same photos with the dataset off, with sample 00 only, and with
`--variants` variants: wall time and images per minute.

    .venv/bin/python bench/dataset_cost.py                      # both parts, defaults below
    .venv/bin/python bench/dataset_cost.py --photos 0           # part 1 only
    .venv/bin/python bench/dataset_cost.py --skip-part1         # part 2 only
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from _common import busy_warning, loadavg, machine, median, print_json_summary

from blender_actors.config import WorkerConfig
from blender_actors.protocol import RenderRequest
from blender_actors.worker import BlenderWorker
from simdata.config import DatasetConfig
from simdata.generate import generate
from simdata.sample import blender_outputs, build
from simdata.usd_labels import label_files
from pipeline.storage import write_bytes
from scene_program.examples import street_scene
from scene_program.writer import write_program


def part1(args) -> dict:
    program = write_program(street_scene())
    cfg = DatasetConfig(enabled=True, samples=args.samples, variants=0)
    size = dict(width=args.width, height=args.height, samples=args.samples)
    rows: dict[str, list[float]] = {}
    with BlenderWorker(WorkerConfig(job_timeout_s=600, threads=args.threads)) as worker:
        worker.render(RenderRequest(program=program, **size))  # warm up: start, first kernels
        for _ in range(args.repeat):
            for name, outputs in (("plain", []), ("passes", ["passes"]), ("passes+glb+usd", ["passes", "glb", "usd"])):
                t0 = time.perf_counter()
                res = worker.render(RenderRequest(program=program, outputs=outputs, **size))
                assert res.ok, res.error
                rows.setdefault(f"job {name}", []).append(time.perf_counter() - t0)
                for key in ("render_s", "passes_s", "glb_s", "usd_s"):
                    if key in res.record.timings and name != "plain":
                        rows.setdefault(f"  child {key[:-2]} ({name})", []).append(res.record.timings[key])
            t0 = time.perf_counter()
            sample = build(res, args.width, args.height, cfg.outputs)
            rows.setdefault("parent checks + writers", []).append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            labelled = label_files([(sample.usd, sample.usd_labels, sample.usd_dome)])[0]
            rows.setdefault("parent USD labels (own process)", []).append(time.perf_counter() - t0)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            result = generate(program, "street", "bench", tmp, (args.width, args.height), cfg, worker, write_bytes)
            rows["generate() one sample, end to end"] = [time.perf_counter() - t0]
    sizes = {name: len(data) for name, data in sample.files.items()}
    sizes["scene.usdc"] = len(labelled)
    print(f"\nPart 1: street scene, {args.width}x{args.height}, {args.samples} samples, {args.threads} threads, "
          f"median of {args.repeat} (load {loadavg()})")
    for name, values in rows.items():
        print(f"  {name:42s} {median(values):7.3f} s")
    plain, full = median(rows["job plain"]), median(rows["job passes+glb+usd"])
    parent = median(rows["parent checks + writers"]) + median(rows["parent USD labels (own process)"])
    print(f"  a sample costs {full + parent:.2f} s = {(full + parent) / plain:.2f}x a plain render of the same size")
    print(f"  bytes per sample: {sum(sizes.values()):,}")
    for name, size_ in sorted(sizes.items(), key=lambda kv: -kv[1]):
        print(f"    {name:22s} {size_:10,d}")
    assert not result.failed
    return {"plain_s": plain, "sample_s": full + parent, "ratio": (full + parent) / plain,
            "bytes_per_sample": sum(sizes.values()), "bytes": sizes}


def part2(args) -> dict:
    import glob

    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.config import load_config
    from pipeline.driver import run_job

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    photos = sorted(glob.glob(os.path.join(root, "examples", "photos", "*.jpg")))[: args.photos]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        manifest = os.path.join(tmp, "m.parquet")
        pq.write_table(pa.table({"image_id": [os.path.basename(p)[:-4] for p in photos], "uri": photos}), manifest)
        for label, sets in (("dataset off", ["dataset.enabled=false"]),
                            ("sample 00 only", ["dataset.variants=0"]),
                            (f"{args.variants} variants", [f"dataset.variants={args.variants}"])):
            cfg = load_config(os.path.join(root, "configs", "local.yaml"), [
                f"run.manifest={manifest}", f"run.output={tmp}/{label.replace(' ', '_')}", "run.history=[]",
                f"dataset.long_side={args.long_side}", f"dataset.samples={args.samples}", *args.set, *sets])
            t0 = time.perf_counter()
            summary = run_job(cfg, progress=False)
            wall = time.perf_counter() - t0
            out[label] = {"wall_s": round(wall, 1), "images_per_min": round(summary.ok / wall * 60, 2),
                          "ok": summary.ok, "load": loadavg()}
            print(f"  {label:16s} {summary.ok} ok in {wall:6.1f} s: {summary.ok / wall * 60:5.2f} images/min "
                  f"(load {loadavg()})", flush=True)
    base = out["dataset off"]["wall_s"]
    for label, row in out.items():
        row["wall_vs_off"] = round(row["wall_s"] / base, 2)
    print("  wall time against the dataset off: " + ", ".join(f"{k} {v['wall_vs_off']}x" for k, v in out.items()))
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--samples", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--photos", type=int, default=2, help="part 2 on this many sample photos (0: skip)")
    p.add_argument("--variants", type=int, default=4)
    p.add_argument("--long-side", type=int, default=160, help="part 2's dataset size")
    p.add_argument("--set", action="append", default=[], help="more config overrides for part 2")
    p.add_argument("--skip-part1", action="store_true")
    args = p.parse_args(argv)
    busy_warning()
    summary = {"machine": machine()}
    if not args.skip_part1:
        summary["part1"] = part1(args)
    if args.photos:
        print(f"\nPart 2: the batch job on {args.photos} photos (configs/local.yaml, dataset {args.long_side} px, "
              f"{args.samples} samples)")
        summary["part2"] = part2(args)
    print_json_summary(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
