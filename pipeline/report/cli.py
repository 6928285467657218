"""`seig report RUN_URI [--out DIR]`, and the report written at the end of `seig run`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("report", help="write a run's report: a static site that opens from disk, no server")
    p.add_argument("run", metavar="RUN_URI", help="a run folder, <output>/<run_id>, local or s3://")
    p.add_argument("--out", metavar="DIR", help="where to write it (local or s3://); default RUN_URI/report")
    p.add_argument("--config", metavar="FILE", help="a seig config: its run.storage_options are used")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    p.add_argument("--seed", type=int, default=0, help="seed of the random sample of cards (large runs)")
    p.set_defaults(func=report)


def report(args: argparse.Namespace) -> int:
    from pipeline.config import ConfigError, load_config
    from pipeline.report import ReportError, ReportOptions, write_report
    from pipeline.storage import StorageError, with_defaults

    try:
        cfg = load_config(args.config, args.set)
    except ConfigError as exc:
        print(f"seig report: {exc}", file=sys.stderr)
        return 2
    options = with_defaults([args.run, args.out or ""], cfg.run.storage_options)
    try:
        result = write_report(args.run, args.out, options, ReportOptions(seed=args.seed))
    except (ReportError, StorageError) as exc:
        print(f"seig report: {exc}", file=sys.stderr)
        return 1
    where = Path(result.index).as_uri() if "://" not in result.index else result.index
    print(f"{where}: {result.cards} cards, {result.thumbnails_made} new thumbnails, {result.seconds:.1f} s")
    return 0


def report_after_run(output: str, run_id: str, storage_options: dict) -> str | None:
    """The report of a finished `seig run` at <output>/<run_id>/report/. Never raises: a
    report that cannot be written is one line on stderr, and the run's outcome stands."""
    import posixpath

    from pipeline.storage import with_defaults

    try:
        from pipeline.report import write_report

        root = posixpath.join(output.rstrip("/"), run_id)
        result = write_report(root, None, with_defaults([output], storage_options))
    except Exception as exc:  # noqa: BLE001 - the run is done; its report is a courtesy
        reason = str(exc).strip().splitlines()
        print(f"seig run: report not written: {type(exc).__name__}: {reason[0] if reason else ''}"[:500],
              file=sys.stderr)
        return None
    print(f"report: {Path(result.index).as_uri() if '://' not in result.index else result.index}")
    return result.index
