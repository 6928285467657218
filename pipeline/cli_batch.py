"""`seig run` (the batch job on Ray) and `seig manifest` (a manifest from image files).

Exit status of `seig run`: 0 the job ran to its end (failed images are rows with their
reasons); 1 the job aborted (failures in a row, no resources while running, storage
gone); 2 it could not start: a config, pre-flight or resource error, one line naming
the field. The summary goes to stdout, one line per message to stderr, everything else
(Ray's retry tracebacks included) to the log.
"""
from __future__ import annotations

import argparse
import json
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
    p.add_argument("--endpoint-url", metavar="URL", help="S3-compatible endpoint for s3:// paths (MinIO, moto, ...)")
    p.add_argument("--storage-options", metavar="YAML", default=None,
                   help="fsspec options as a YAML mapping, e.g. '{anon: true}' (no secrets: s3fs reads AWS_*)")
    p.add_argument("--config", metavar="FILE", default=None, help="take run.storage_options from this config")
    p.set_defaults(func=manifest)


def _fail(command: str, message: str, code: int) -> int:
    print(f"seig {command}: {' '.join(str(message).split())}", file=sys.stderr)
    return code


def flag_overrides(args: argparse.Namespace) -> list[str]:
    """`--manifest`, `--output` and `--run-id` as `--set` overrides, quoted so YAML keeps them
    strings: `--run-id 2026-11-30` must stay a name, not become a date."""
    out = []
    for flag, key in (("manifest", "run.manifest"), ("output", "run.output"), ("run_id", "run.run_id")):
        if getattr(args, flag, None):
            out.append(f"{key}={json.dumps(getattr(args, flag))}")
    return out


def run(args: argparse.Namespace) -> int:
    from pipeline.config import ConfigError, load_config
    from pipeline.driver import run_job
    from pipeline.manifest import ManifestError
    from pipeline.preflight import PreflightError
    from pipeline.resources import ResourceError
    from pipeline.runlog import RunLog
    from pipeline.storage import StorageError

    try:
        cfg = load_config(args.config, list(args.set) + flag_overrides(args))
    except ConfigError as exc:
        return _fail("run", exc, 2)
    if not cfg.run.manifest:
        return _fail("run", "run.manifest: not set (give --manifest URI or set it in the config)", 2)
    from pipeline.driver import new_run_id

    cfg.run.run_id = cfg.run.run_id or new_run_id()
    with RunLog(cfg.run.run_id, cfg.run.log_dir) as runlog:
        try:
            summary = run_job(cfg, progress=not args.no_progress, runlog=runlog)
        except (ConfigError, PreflightError, ResourceError, ManifestError) as exc:
            return _fail("run", exc, 2)
        except StorageError as exc:
            return _fail("run", f"[{exc.kind}] {exc}", 1)
        print(summary.text(), file=runlog.stdout, flush=True)
    from pipeline.report.cli import report_after_run  # a report failure is one line, never a failed run

    report_after_run(summary.output, summary.run_id, cfg.run.storage_options)
    if cfg.metrics.port is not None and cfg.metrics.linger_s:
        import time

        time.sleep(cfg.metrics.linger_s)
    # Failed images are results (rows with reasons), not a failed job: a night with one
    # corrupt photo succeeded. Only an aborted job (systematic failure) exits non-zero.
    return 1 if summary.aborted else 0


def manifest(args: argparse.Namespace) -> int:
    import yaml

    from pipeline.config import ConfigError, load_config
    from pipeline.manifest import build_manifest
    from pipeline.storage import StorageError, with_defaults

    options: dict = {}
    try:
        if args.config:
            options.update(load_config(args.config).run.storage_options)
        if args.storage_options:
            extra = yaml.safe_load(args.storage_options)
            if not isinstance(extra, dict):
                return _fail("manifest", f"--storage-options must be a YAML mapping, got {args.storage_options!r}", 2)
            options.update(extra)
    except ConfigError as exc:
        return _fail("manifest", exc, 2)
    except yaml.YAMLError as exc:
        return _fail("manifest", f"--storage-options is not valid YAML ({getattr(exc, 'problem', exc)})", 2)
    if args.endpoint_url:
        options.setdefault("client_kwargs", {})["endpoint_url"] = args.endpoint_url
    options = with_defaults([args.pattern, args.out], options)
    try:
        n = build_manifest(args.pattern, args.out, options)
    except FileNotFoundError as exc:
        return _fail("manifest", f"{args.pattern}: no such file or folder ({exc})", 2)
    except StorageError as exc:
        return _fail("manifest", f"[{exc.kind}] {exc}", 2)
    except (OSError, ValueError) as exc:
        return _fail("manifest", f"{args.pattern}: {type(exc).__name__}: {exc}", 2)
    print(f"{args.out}: {n} images")
    return 0 if n else 1
