"""Warm worker against a cold process per job: what the warm Blender child saves.

Measures the same N street programs (N variants of scene_program.examples.street_scene
with different camera yaw/pitch and sun, written with write_program; 128x96 px, 8 Cycles
samples by default) rendered two ways:

  warm  one BlenderWorker (one warm child process): `worker.render(RenderRequest(...))`;
        wall time from the caller (record.wall_s) and the child's own timings
        (record.timings: reset_s, exec_s, setup_s, render_s, encode_s, total_s).
  cold  each program as a fresh process: `python program.py -- --render out.png`.
        The bpy module in a fresh interpreter is the cold equivalent of `blender -b
        --python program.py` (the same start-up: load Blender, factory settings, build,
        render, exit); a separate `blender -b` start was measured here at about 0.7 s.

By default warm and cold jobs are interleaved (warm i, cold i, warm i+1 ...) so that a
change in the machine's load hits both sides alike; the warm child sits idle while a
cold process runs. The worker's start-up (import bpy) is reported apart, and so is its
first job (Cycles' first render in a process is slower); the medians are over all N.

fork    the same programs in ONE plain bpy process, in-process (factory reset, exec,
        render), as the warm worker ran jobs before it forked a child per job: the
        baseline for the fork-per-job column ("fork overhead" = warm wall-render minus
        in-process wall-render, per job median).

Target (the issue): the warm worker adds at most 50 ms per job beyond Blender's own
render time. The overhead is reported two ways:
  overhead   = wall - render_s - exec_s  (the worker's own cost: factory reset, render
               settings, PNG read-back, pipe, the parent's sandbox check; the program's
               own scene building, exec_s, is the program's cost, not the worker's)
  wall-render = wall - render_s          (everything that is not Blender's render)

Run:  .venv/bin/python bench/warm_vs_cold.py                  # 30 jobs, 128x96, 8 samples
      .venv/bin/python bench/warm_vs_cold.py --count 5         # quick check
      .venv/bin/python bench/warm_vs_cold.py --width 256 --height 192 --samples 16 --threads 1
Prints a table per job, the medians, and one `SUMMARY {json}` line at the end.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import busy_warning, loadavg, machine, median, percentile, print_json_summary, street_variants

from blender_actors.config import WorkerConfig
from blender_actors.protocol import RenderRequest
from blender_actors.sandbox import check_program
from blender_actors.worker import BlenderWorker

TARGET_OVERHEAD_S = 0.050


def run_cold(program_path: Path, out_png: Path, timeout: float) -> float:
    """One fresh interpreter: import bpy, build the scene, render, write the PNG, exit."""
    env = dict(os.environ)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(program_path), "--", "--render", str(out_png)],
                          cwd=program_path.parent, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not out_png.exists() or out_png.stat().st_size == 0:
        raise RuntimeError(f"cold render of {program_path.name} failed (exit {proc.returncode}): "
                           f"{proc.stderr.decode(errors='replace')[-800:]}")
    return wall


def with_threads(program: str, threads: int) -> str:
    """Pin the standalone program's render threads too (the warm worker pins them via its config)."""
    if not threads:
        return program
    marker = "        bpy.ops.render.render(write_still=True)\n"
    assert marker in program, "the standalone main block changed; update bench/warm_vs_cold.py"
    return program.replace(marker, "        bpy.context.scene.render.threads_mode = 'FIXED'\n"
                                   f"        bpy.context.scene.render.threads = {threads}\n" + marker)


INPROC = r"""
import json, sys, time
import bpy
programs = json.load(open(sys.argv[1]))
out = []
for i, prog in enumerate(programs):
    t0 = time.perf_counter()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    env = {"__name__": "seig_scene"}
    exec(compile(prog["program"], "<scene>", "exec"), env)
    env["build_scene"]()
    s = bpy.context.scene
    s.render.resolution_x, s.render.resolution_y, s.render.resolution_percentage = prog["w"], prog["h"], 100
    s.cycles.samples, s.cycles.seed, s.cycles.use_denoising = prog["samples"], 0, False
    s.cycles.use_adaptive_sampling = False
    s.render.threads_mode, s.render.threads = "FIXED", prog["threads"]
    s.render.image_settings.file_format = "PNG"
    s.render.filepath = sys.argv[2] + "/inproc_%d.png" % i
    t1 = time.perf_counter()
    bpy.ops.render.render(write_still=True)
    t2 = time.perf_counter()
    open(s.render.filepath, "rb").read()
    out.append({"wall": time.perf_counter() - t0, "render_s": t2 - t1})
print("INPROC" + json.dumps(out))
"""


def run_inproc(programs: list[str], args, tmpdir: Path) -> list[dict]:
    """The old warm job: every program in one bpy process, no fork, no jail (the baseline)."""
    import json

    spec = tmpdir / "inproc.json"
    spec.write_text(json.dumps([{"program": p, "w": args.width, "h": args.height, "samples": args.samples,
                                 "threads": args.threads or os.cpu_count() or 1} for p in programs]))
    proc = subprocess.run([sys.executable, "-c", INPROC, str(spec), str(tmpdir)], capture_output=True, text=True,
                          timeout=args.timeout * len(programs))
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("INPROC"))
    return json.loads(line[len("INPROC"):])


def bare_import_s(reps: int) -> list[float]:
    """Fresh-interpreter `import bpy` alone: the floor of any cold job."""
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import bpy"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=30, help="programs (street variants); default 30")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--threads", type=int, default=0,
                   help="Cycles render threads on both sides; 0: Blender's default, all cores (default)")
    p.add_argument("--order", choices=["interleaved", "warm-first"], default="interleaved")
    p.add_argument("--import-reps", type=int, default=3, help="fresh `import bpy` timings to report (0: skip)")
    p.add_argument("--timeout", type=float, default=300.0, help="per-job limit in seconds")
    p.add_argument("--quiet", action="store_true", help="no per-job table")
    args = p.parse_args(argv)

    load_before = loadavg()
    busy = busy_warning()
    programs = street_variants(args.count, args.width, args.height, args.samples)
    print(f"warm vs cold: {args.count} street variants, {args.width}x{args.height} px, {args.samples} samples, "
          f"threads={args.threads or 'all'}, order={args.order}; machine {machine()}")
    print("cold = `python program.py -- --render out.png` in a fresh interpreter: the bpy module "
          "started fresh is the cold equivalent of `blender -b --python program.py`.")

    check_s = []
    for prog in programs[: min(5, len(programs))]:
        t0 = time.perf_counter()
        assert not check_program(prog), check_program(prog)
        check_s.append(time.perf_counter() - t0)

    config = WorkerConfig(threads=args.threads, job_timeout_s=args.timeout)
    warm: list[dict] = []
    cold: list[float] = []
    with tempfile.TemporaryDirectory(prefix="seig-bench-cold-") as tmp, BlenderWorker(config) as worker:
        tmpdir = Path(tmp)
        paths = []
        for i, prog in enumerate(programs):
            path = tmpdir / f"street_{i:03d}.py"
            path.write_text(with_threads(prog, args.threads))
            paths.append(path)

        t0 = time.perf_counter()
        startup_s = worker.start()
        import_s = worker.info.get("import_s")

        def do_warm(i: int) -> None:
            res = worker.render(RenderRequest(program=programs[i], width=args.width, height=args.height,
                                              samples=args.samples, timeout_s=args.timeout))
            if not res.ok:
                raise RuntimeError(f"warm job {i} failed: {res.error}")
            t = res.record.timings
            warm.append({"wall": res.record.wall_s, **t, "rss_mb": res.record.rss_mb, "pid": res.record.pid,
                         "threads": res.record.threads})

        def do_cold(i: int) -> None:
            cold.append(run_cold(paths[i], tmpdir / f"out_{i:03d}.png", args.timeout))

        if args.order == "interleaved":
            for i in range(args.count):
                do_warm(i)
                do_cold(i)
        else:
            for i in range(args.count):
                do_warm(i)
            for i in range(args.count):
                do_cold(i)
        elapsed = time.perf_counter() - t0
        inproc = run_inproc(programs, args, tmpdir)
        pids = {w["pid"] for w in warm}
        stats = worker.stats.model_copy()
    imports = bare_import_s(args.import_reps) if args.import_reps else []
    load_after = loadavg()

    for w in warm:
        w["overhead"] = w["wall"] - w["render_s"] - w["exec_s"]
        w["nonrender"] = w["wall"] - w["render_s"]
        w["parent"] = w["wall"] - w["total_s"]

    if not args.quiet:
        print(f"\n{'job':>4} {'warm wall':>10} {'render_s':>9} {'exec_s':>8} {'reset_s':>8} {'overhead':>9} "
              f"{'wall-rend':>9} {'cold wall':>10} {'cold/warm':>9}")
        for i, (w, c) in enumerate(zip(warm, cold)):
            print(f"{i:>4} {w['wall']:>10.3f} {w['render_s']:>9.3f} {w['exec_s']:>8.4f} {w['reset_s']:>8.4f} "
                  f"{w['overhead'] * 1000:>7.1f}ms {w['nonrender'] * 1000:>7.1f}ms {c:>10.3f} {c / w['wall']:>9.2f}")

    def med(key: str) -> float:
        return median(w[key] for w in warm)

    warm_wall = med("wall")
    cold_wall = median(cold)
    overhead = med("overhead")
    nonrender = med("nonrender")
    print("\nmedians per job (seconds unless marked)")
    rows = [
        ("warm wall per job (caller side)", f"{warm_wall:.3f} s"),
        ("  Blender render (render_s)", f"{med('render_s'):.3f} s"),
        ("  program exec (exec_s: scene building)", f"{med('exec_s') * 1000:.1f} ms"),
        ("  factory reset (reset_s)", f"{med('reset_s') * 1000:.1f} ms"),
        ("  render settings (setup_s)", f"{med('setup_s') * 1000:.1f} ms"),
        ("  PNG read-back (encode_s)", f"{med('encode_s') * 1000:.1f} ms"),
        ("  parent side (wall - child total_s: sandbox check, pipe, pydantic)", f"{med('parent') * 1000:.1f} ms"),
        ("    of which the static sandbox check", f"{median(check_s) * 1000:.1f} ms"),
        ("warm overhead = wall - render_s - exec_s", f"{overhead * 1000:.1f} ms  (p90 {percentile([w['overhead'] for w in warm], 90) * 1000:.1f} ms)"),
        ("warm wall - render_s", f"{nonrender * 1000:.1f} ms  (p90 {percentile([w['nonrender'] for w in warm], 90) * 1000:.1f} ms)"),
        ("warm first job wall (first render in the process)", f"{warm[0]['wall']:.3f} s"),
        ("warm worker start-up (once; import bpy in the child)", f"{startup_s:.3f} s (import {import_s} s)"),
        ("warm amortised incl. start-up", f"{(startup_s + sum(w['wall'] for w in warm)) / len(warm):.3f} s"),
        ("cold wall per job (fresh process)", f"{cold_wall:.3f} s  (p90 {percentile(cold, 90):.3f} s)"),
        ("cold - warm per job", f"{cold_wall - warm_wall:.3f} s"),
        ("ratio cold/warm (medians)", f"{cold_wall / warm_wall:.2f}x"),
    ]
    inproc_nonrender = median(r["wall"] - r["render_s"] for r in inproc[1:] or inproc)
    fork_overhead = nonrender - inproc_nonrender
    rows += [
        ("in-process job wall (old warm design, no fork)", f"{median(r['wall'] for r in inproc):.3f} s"),
        ("in-process wall - render_s", f"{inproc_nonrender * 1000:.1f} ms"),
        ("fork-per-job overhead (warm wall-render minus in-process)", f"{fork_overhead * 1000:.1f} ms"),
    ]
    if imports:
        rows.append(("fresh `import bpy` alone (floor of a cold job)", f"{median(imports):.3f} s"))
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    verdict = "MET" if overhead <= TARGET_OVERHEAD_S else "NOT MET"
    verdict2 = "met" if nonrender <= TARGET_OVERHEAD_S else "not met"
    print(f"\ntarget: warm worker adds <= {TARGET_OVERHEAD_S * 1000:.0f} ms/job beyond Blender's render: {verdict} "
          f"(overhead {overhead * 1000:.1f} ms excluding the program's own exec; {verdict2} counting exec too: "
          f"{nonrender * 1000:.1f} ms)")
    print(f"fork per job: {fork_overhead * 1000:.1f} ms/job beyond the old in-process warm job "
          f"({'MET' if fork_overhead <= TARGET_OVERHEAD_S else 'NOT MET'}: target <= {TARGET_OVERHEAD_S * 1000:.0f} ms)")
    print(f"job children: {len(pids)} process(es), peak RSS {stats.peak_rss_mb:.0f} MB, jobs {stats.jobs}, "
          f"failed {stats.failed}, render threads reported {warm[0]['threads']}; total time {elapsed:.1f} s; "
          f"loadavg before {load_before}, after {load_after}")
    print_json_summary({
        "bench": "warm_vs_cold", "count": args.count, "size": f"{args.width}x{args.height}",
        "samples": args.samples, "threads": args.threads or "all", "order": args.order,
        "warm_wall_s": round(warm_wall, 4), "warm_render_s": round(med("render_s"), 4),
        "warm_exec_s": round(med("exec_s"), 4), "warm_reset_s": round(med("reset_s"), 4),
        "warm_overhead_ms": round(overhead * 1000, 1), "warm_wall_minus_render_ms": round(nonrender * 1000, 1),
        "warm_parent_ms": round(med("parent") * 1000, 1), "sandbox_check_ms": round(median(check_s) * 1000, 1),
        "warm_first_job_s": round(warm[0]["wall"], 3), "warm_startup_s": round(startup_s, 3),
        "cold_wall_s": round(cold_wall, 4), "cold_over_warm": round(cold_wall / warm_wall, 2),
        "bare_import_bpy_s": round(median(imports), 3) if imports else None,
        "inproc_wall_minus_render_ms": round(inproc_nonrender * 1000, 1),
        "fork_overhead_ms": round(fork_overhead * 1000, 1), "fork_target_met": fork_overhead <= TARGET_OVERHEAD_S,
        "target_overhead_ms": TARGET_OVERHEAD_S * 1000, "target_met": overhead <= TARGET_OVERHEAD_S,
        "busy_warning": busy, "loadavg_before": load_before, "loadavg_after": load_after, "total_s": round(elapsed, 1),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
