"""`seig run` (the batch job on Ray) and `seig manifest` (a manifest from image files)."""
from __future__ import annotations

import argparse
import sys


def register(sub) -> None:
    p = sub.add_parser("run", help="the batch job: a Parquet manifest in, scenes and results out")
    p.add_argument("--config", default=None, metavar="FILE", help="YAML config (default: configs/local.yaml values)")
    p.add_argument("--manifest", metavar="URI")
    p.add_argument("--output", metavar="URI")
    p.add_argument("--run-id", metavar="ID")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="override any config field")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)

    p = sub.add_parser("manifest", help="build a Parquet manifest from image files")
    p.add_argument("pattern", metavar="PATH_OR_GLOB", help="a folder, a glob or a file; local or s3://")
    p.add_argument("--out", required=True, metavar="MANIFEST.parquet")
    p.set_defaults(func=manifest)


def run(args: argparse.Namespace) -> int:
    from pipeline.config import ConfigError, load_config
    from pipeline.driver import run_job
    from pipeline.manifest import ManifestError
    from pipeline.storage import StorageError

    overrides = list(args.set)
    for flag, key in (("manifest", "run.manifest"), ("output", "run.output"), ("run_id", "run.run_id")):
        if getattr(args, flag):
            overrides.append(f"{key}={getattr(args, flag)}")
    try:
        cfg = load_config(args.config, overrides)
        summary = run_job(cfg, progress=not args.no_progress)
    except (ConfigError, ValueError) as exc:
        print(f"seig run: {exc}", file=sys.stderr)
        return 2
    except (ManifestError, StorageError) as exc:
        print(f"seig run: {exc}", file=sys.stderr)
        return 1
    print(summary.text())
    from pipeline.report.cli import report_after_run  # a report failure is one line, never a failed run

    report_after_run(summary.output, summary.run_id, cfg.run.storage_options)
    if cfg.metrics.port is not None and cfg.metrics.linger_s:
        import time

        time.sleep(cfg.metrics.linger_s)
    # Failed images are results (rows with reasons), not a failed job: a night with one
    # corrupt photo succeeded. Only an aborted job (systematic failure) exits non-zero.
    return 1 if summary.aborted else 0


def manifest(args: argparse.Namespace) -> int:
    from pipeline.manifest import build_manifest

    n = build_manifest(args.pattern, args.out)
    print(f"{args.out}: {n} images")
    return 0 if n else 1
