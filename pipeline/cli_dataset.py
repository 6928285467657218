"""`seig dataset PROGRAM.py --out DIR`: a program's simulation samples, without the batch job.

For a program a person edited (a variant's `variants/NN.py`, or any scene program): the
same samples the batch job writes (docs/contracts.md, "Datasets"), under
`DIR/scenes/<name>/samples/NN/`, with its index and card in `DIR/dataset/`, through one
warm sandboxed Blender worker in this process.
"""
from __future__ import annotations

import argparse
import posixpath
import sys
from pathlib import Path


def _cmd_dataset(args: argparse.Namespace) -> int:
    from blender_actors.config import WorkerConfig
    from blender_actors.worker import BlenderWorker
    from simdata.config import DatasetConfig
    from simdata.generate import generate
    from simdata.index import ROW_KEY, DatasetIndexWriter
    from pipeline.storage import StorageError, write_bytes

    try:
        source = Path(args.program).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"seig dataset: cannot read {args.program}: {exc}", file=sys.stderr)
        return 1
    fields = dict(enabled=True, samples=args.samples, variants=args.variants, seed=args.seed)
    if args.outputs:
        fields["outputs"] = args.outputs.split(",")
    cfg = DatasetConfig(**fields)
    name = Path(args.program).stem
    out = args.out.rstrip("/")
    put = write_bytes
    try:
        with BlenderWorker(WorkerConfig(job_timeout_s=args.timeout)) as worker:
            result = generate(source, name, "cli", posixpath.join(out, "scenes", name), (args.width, args.height),
                              cfg, worker, put)
        index = DatasetIndexWriter(out, "cli", put)
        index.add_from_row({ROW_KEY: result.rows})
        index.close({"variants": cfg.variants, "samples": cfg.samples, "seed": cfg.seed})
    except StorageError as exc:
        print(f"seig dataset: {exc}", file=sys.stderr)
        return 1
    for row in result.rows:
        print(f"{row['prefix']}: {row['width']}x{row['height']}, {row['objects']} objects, {row['bytes']:,} bytes")
    for failed in result.failed:
        print(f"seig dataset: sample {failed['variant']:02d} failed ({failed['kind']}): {failed['message']}",
              file=sys.stderr)
    print(f"index and card: {posixpath.join(out, 'dataset')}/")
    return 1 if result.failed or not result.rows else 0


def register(sub) -> None:
    p = sub.add_parser("dataset", help="render a scene program's simulation samples (depth, segmentation, "
                                       "camera, objects, GLB, USD) and optional variants")
    p.add_argument("program", metavar="PROGRAM.py")
    p.add_argument("--out", required=True, metavar="DIR", help="local folder or fsspec URI")
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--samples", type=int, default=32, help="Cycles samples per render")
    p.add_argument("--variants", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--outputs", default="", help="comma-separated subset of: rgb,depth,semantic,instance,normal,"
                                                 "camera,objects,glb,usd (default: all)")
    p.add_argument("--timeout", type=float, default=300.0, metavar="SEC")
    p.set_defaults(func=_cmd_dataset)
