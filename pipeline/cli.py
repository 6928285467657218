"""The `seig` command line: the top of the import graph (it may import anything below).

Subcommands: check, render (Blender workers), reconstruct (one or more photos, staged),
run and manifest (the Ray batch job), report (a run's static report), dataset (a program's
simulation samples). Exit status: 0 success, 1 the work failed (a rejected, failing or
timed-out program, a failed image), 2 bad usage or config.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_check(args: argparse.Namespace) -> int:
    from blender_actors.sandbox import check_program
    from scene_program.contract import check_contract

    status = 0
    for name in args.programs:
        try:
            source = Path(name).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{name}: cannot read: {exc}", file=sys.stderr)
            status = 1
            continue
        violations = check_program(source)
        problems = check_contract(source) if args.contract else []
        if violations or problems:
            status = 1
            for v in violations:
                print(f"{name}:{v.line}: [{v.rule}] {v.message}", file=sys.stderr)
            for problem in problems:
                print(f"{name}: {problem}", file=sys.stderr)
        else:
            print(f"{name}: ok")
    return status


def _say(text: str, err: bool = False) -> None:
    """One line, whatever a program put in its messages (never a UnicodeEncodeError traceback)."""
    stream = sys.stderr if err else sys.stdout
    enc = stream.encoding or "utf-8"
    stream.write(text.encode(enc, "backslashreplace").decode(enc, "replace").replace("\n", " ")[:2000] + "\n")


def _render_targets(programs: list[str], out: str) -> list[tuple[str, str]] | str:
    """(program, output) pairs; several programs (or an --out ending in /) write DIR/<name>.png."""
    if len(programs) == 1 and not out.endswith("/") and not Path(out).is_dir():
        return [(programs[0], out)]
    stems = [Path(p).stem for p in programs]
    if len(set(stems)) != len(stems):
        return "two programs have the same file name; their renders would overwrite each other"
    base = out.rstrip("/")
    return [(p, f"{base}/{stem}.png") for p, stem in zip(programs, stems)]


def _cmd_render(args: argparse.Namespace) -> int:
    from blender_actors.config import WorkerConfig
    from blender_actors.protocol import RenderRequest
    from blender_actors.worker import BlenderWorker
    from pipeline.storage import StorageError, write_bytes

    targets = _render_targets(args.programs, args.out)
    if isinstance(targets, str):
        _say(f"seig render: {targets}", err=True)
        return 2
    config = WorkerConfig(job_timeout_s=args.timeout, device=args.device)
    status = 0
    with BlenderWorker(config) as worker:  # one warm worker; every program in its own forked child
        for program, out in targets:
            try:
                source = Path(program).read_text()
            except (OSError, UnicodeDecodeError) as exc:
                _say(f"seig render: cannot read {program}: {exc}", err=True)
                status = 1
                continue
            request = RenderRequest(program=source, width=args.width, height=args.height, samples=args.samples,
                                    engine=args.engine, timeout_s=args.timeout, denoise=args.denoise)
            result = worker.render(request)
            if not result.ok:
                err = result.error
                where = f":{err.line}" if err and err.line else ""
                _say(f"seig render: {program}{where}: {err}", err=True)
                status = 1
                continue
            try:
                write_bytes(out, result.png)
            except StorageError as exc:
                _say(f"seig render: {exc}", err=True)
                status = 1
                continue
            rec = result.record
            _say(f"{out}: {args.width}x{args.height}, {args.samples} samples on {rec.device}, "
                 f"render {rec.timings.get('render_s', 0):.2f} s, {rec.counts.get('objects', 0)} objects")
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seig", description="Photographs to editable Blender scene programs.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="validate scene programs against the sandbox and the scene-program "
                                     "contract (docs/contracts.md) without running them")
    p.add_argument("programs", nargs="+", metavar="PROGRAM.py")
    p.add_argument("--no-contract", dest="contract", action="store_false",
                   help="only the sandbox rules (for bpy scripts that are not seig scene programs)")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("render", help="run scene programs, in order, through one warm sandboxed Blender worker")
    p.add_argument("programs", nargs="+", metavar="PROGRAM.py")
    p.add_argument("--out", required=True, metavar="OUT.png|DIR/",
                   help="local path or fsspec URI; with several programs a directory: DIR/<program name>.png")
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--height", type=int, default=192)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--timeout", type=float, default=120.0, metavar="SEC")
    p.add_argument("--engine", default="CYCLES", choices=["CYCLES", "BLENDER_WORKBENCH", "BLENDER_EEVEE"])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    p.add_argument("--denoise", action="store_true",
                   help="Cycles' denoiser, as reconstructions render (their RENDER says \"denoise\": true)")
    p.set_defaults(func=_cmd_render)

    from pipeline import cli_batch, cli_dataset, cli_reconstruct
    from pipeline.report import cli as cli_report

    cli_reconstruct.register(sub)
    cli_batch.register(sub)
    cli_report.register(sub)
    cli_dataset.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from pydantic import ValidationError

    try:
        return args.func(args)
    except ValidationError as exc:
        print(f"seig {args.command}: invalid settings:\n{exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
