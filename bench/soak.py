"""Soak: many jobs through one BlenderWorker with recycling on; memory must stay flat.

Measures: N jobs (default 500) of tiny renders (64x48 px, 2 Cycles samples) through one
BlenderWorker with max_jobs_per_process=100 and max_rss_mb from WorkerConfig (its
default unless --max-rss-mb), alternating a few valid programs (street variants and box
scenes), with one deliberately bad program every 50 jobs (alternately a program that
raises in build_scene and one the static sandbox rejects). The bad ones are counted
apart and must fail with their expected kind; the target is zero failed jobs among the
valid programs.

Each job runs in its own child forked from the warm zygote: "child" RSS below is the job
child's (reported by it), the zygote's RSS is read by the parent from /proc; after every
job the bench counts processes left in the job's session or under the zygote (target 0).

Reports: jobs, failed (valid / expected-bad), zygote starts, recycles, crashes, timeouts,
peak RSS of the Blender job child (max of record.rss_mb and worker.stats.peak_rss_mb) against
the bound (max_rss_mb), RSS sampled every --sample-every jobs (child and this parent
process), RSS growth within each child's lifetime, throughput and total time.

Run:  .venv/bin/python bench/soak.py                  # 500 jobs, recycle every 100
      .venv/bin/python bench/soak.py --jobs 60 --max-jobs-per-process 25 --sample-every 10   # quick check
Prints the RSS table, the figures, and one `SUMMARY {json}` line at the end.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from collections import Counter, defaultdict

from _common import busy_warning, box_variants, loadavg, machine, median, percentile, print_json_summary, street_variants

from blender_actors.config import WorkerConfig
from blender_actors.protocol import RenderRequest
from blender_actors.worker import BlenderWorker
from blender_actors.zygote_process import session_members


def _left_behind(worker: BlenderWorker, pid: int | None) -> int:
    """Processes of a finished job still alive: its session, and any child of the zygote."""
    left = len(session_members(pid)) if pid else 0
    if worker.pid:
        try:
            with open(f"/proc/{worker.pid}/task/{worker.pid}/children") as fh:
                left += len(fh.read().split())
        except OSError:
            pass
    return left

BAD_RAISES = (
    "import bpy\n\n"
    "def build_scene():\n"
    "    cam = bpy.data.objects.new('camera', bpy.data.cameras.new('camera'))\n"
    "    bpy.context.scene.collection.objects.link(cam)\n"
    "    raise ValueError('deliberate failure for the soak benchmark')\n"
)
BAD_REJECTED = "import os\n\ndef build_scene():\n    os.listdir('/')\n"
BAD = [("program", BAD_RAISES), ("rejected", BAD_REJECTED)]


def _self_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str] | None = None) -> int:
    defaults = WorkerConfig()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=500)
    p.add_argument("--max-jobs-per-process", type=int, default=100)
    p.add_argument("--max-rss-mb", type=int, default=defaults.max_rss_mb,
                   help=f"recycle bound; default WorkerConfig's ({defaults.max_rss_mb})")
    p.add_argument("--bad-every", type=int, default=50, help="a bad program every N jobs (0: none)")
    p.add_argument("--sample-every", type=int, default=50, help="print an RSS sample every N jobs")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--height", type=int, default=48)
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="render threads; 0: all cores")
    args = p.parse_args(argv)

    valid = street_variants(3, args.width, args.height, args.samples) + box_variants(3)
    # interleave street and box: s0 b0 s1 b1 s2 b2
    valid = [valid[i // 2 + (0 if i % 2 == 0 else 3)] for i in range(6)]
    config = WorkerConfig(max_jobs_per_process=args.max_jobs_per_process, max_rss_mb=args.max_rss_mb,
                          threads=args.threads, job_timeout_s=60)
    load_before = loadavg()
    busy = busy_warning()
    print(f"soak: {args.jobs} jobs, {args.width}x{args.height} px, {args.samples} samples, "
          f"max_jobs_per_process={config.max_jobs_per_process}, max_rss_mb={config.max_rss_mb}, "
          f"memory_limit_mb={config.memory_limit_mb}, bad program every {args.bad_every or 'never'}; "
          f"machine {machine()}")

    valid_failed: list[tuple[int, str]] = []
    bad_results: Counter = Counter()
    walls: list[float] = []
    restart_walls: list[float] = []
    rss_by_pid: dict[int, list[float]] = defaultdict(list)
    samples = []
    valid_i = bad_i = 0
    last = None  # the latest record that came from a child (a rejected job never reaches one)
    left_behind = 0
    zygote_rss: list[float] = []
    print(f"\n{'job':>5} {'child pid':>9} {'child jobs':>10} {'child RSS':>10} {'parent RSS':>10} "
          f"{'elapsed':>8} {'jobs/s':>7}")
    t0 = time.perf_counter()
    with BlenderWorker(config) as worker:
        for i in range(args.jobs):
            is_bad = args.bad_every and (i + 1) % args.bad_every == 0
            if is_bad:
                kind, program = BAD[bad_i % len(BAD)]
                bad_i += 1
            else:
                kind, program = None, valid[valid_i % len(valid)]
                valid_i += 1
            res = worker.render(RenderRequest(program=program, width=args.width, height=args.height,
                                              samples=args.samples))
            rec = res.record
            left_behind += _left_behind(worker, rec.pid)
            if rec.zygote_rss_mb:
                zygote_rss.append(rec.zygote_rss_mb)
            if is_bad:
                got = res.error.kind if res.error else "ok"
                bad_results["as expected" if got == kind else f"expected {kind}, got {got}"] += 1
            else:
                walls.append(rec.wall_s)
                if rec.restarted:
                    restart_walls.append(rec.wall_s)
                if not res.ok:
                    valid_failed.append((i, str(res.error)))
            if rec.pid and rec.rss_mb:
                rss_by_pid[rec.pid].append(rec.rss_mb)
                last = rec
            if (i + 1) % args.sample_every == 0 or i == args.jobs - 1:
                el = time.perf_counter() - t0
                pid = last.pid if last else 0
                rss = last.rss_mb if last else float("nan")
                row = {"job": i + 1, "pid": pid, "child_jobs": len(rss_by_pid.get(pid, [])),
                       "child_rss_mb": rss, "parent_rss_mb": round(_self_rss_mb(), 1),
                       "elapsed_s": round(el, 1)}
                samples.append(row)
                print(f"{row['job']:>5} {pid:>9} {row['child_jobs']:>10} {rss:>7.1f} MB "
                      f"{row['parent_rss_mb']:>7.1f} MB {el:>7.1f}s {(i + 1) / el:>7.2f}")
        stats = worker.stats.model_copy()
    total = time.perf_counter() - t0
    load_after = loadavg()

    all_rss = [r for rs in rss_by_pid.values() for r in rs]
    peak_record = max(all_rss) if all_rss else 0.0
    growth = {}
    for pid, rs in rss_by_pid.items():
        if len(rs) > 10:  # after the first few jobs (first render allocations) to the child's last job
            growth[pid] = round(rs[-1] - rs[min(9, len(rs) - 1)], 1)
    steady = [r for rs in rss_by_pid.values() for r in rs[10:]]
    print("\nfigures")
    rows = [
        ("jobs", f"{args.jobs} ({args.jobs - bad_i} valid, {bad_i} deliberately bad)"),
        ("failed among valid programs (target 0)", f"{len(valid_failed)}"),
        ("bad programs", ", ".join(f"{k}: {v}" for k, v in bad_results.items()) or "none"),
        ("worker stats", f"jobs {stats.jobs}, failed {stats.failed}, starts {stats.starts}, "
                         f"recycles {stats.recycles}, crashes {stats.crashes}, timeouts {stats.timeouts}"),
        ("processes left behind after jobs (target 0)", f"{left_behind}"),
        ("zygote RSS first / last / max", f"{zygote_rss[0]:.1f} / {zygote_rss[-1]:.1f} / {max(zygote_rss):.1f} MB"
         if zygote_rss else "n/a"),
        ("restarts (starts - 1)", f"{stats.starts - 1} (distinct child pids {len(rss_by_pid)})"),
        ("peak child RSS", f"{peak_record:.1f} MB (record.rss_mb max), {stats.peak_rss_mb:.1f} MB (stats.peak_rss_mb); "
                           f"bound max_rss_mb {config.max_rss_mb} MB"),
        ("child RSS after 10 jobs, min..max", f"{min(steady):.1f}..{max(steady):.1f} MB" if steady else "n/a"),
        ("RSS growth per child (10th job -> last)", ", ".join(f"{v:+.1f} MB" for v in growth.values()) or "n/a"),
        ("parent (this process) peak RSS", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MB"),
        ("valid job wall p50 / p95 / max", f"{median(walls) * 1000:.1f} / {percentile(walls, 95) * 1000:.1f} / "
                                           f"{max(walls) * 1000:.1f} ms"),
        ("jobs on a fresh child (incl. start-up), median", f"{median(restart_walls):.3f} s over {len(restart_walls)}"
         if restart_walls else "n/a"),
        ("throughput", f"{args.jobs / total:.2f} jobs/s"),
        ("total time", f"{total:.1f} s"),
        ("loadavg before / after", f"{load_before} / {load_after}"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    for i, err in valid_failed[:10]:
        print(f"  valid job {i} failed: {err}")
    print_json_summary({
        "bench": "soak", "jobs": args.jobs, "valid": args.jobs - bad_i, "bad": bad_i,
        "valid_failed": len(valid_failed), "left_behind": left_behind,
        "zygote_rss_mb": [zygote_rss[0], zygote_rss[-1], max(zygote_rss)] if zygote_rss else None, "bad_as_expected": bad_results.get("as expected", 0),
        "starts": stats.starts, "restarts": stats.starts - 1, "recycles": stats.recycles,
        "crashes": stats.crashes, "timeouts": stats.timeouts,
        "peak_child_rss_mb": peak_record, "stats_peak_rss_mb": stats.peak_rss_mb, "max_rss_mb": config.max_rss_mb,
        "max_jobs_per_process": config.max_jobs_per_process,
        "rss_growth_per_child_mb": list(growth.values()),
        "rss_samples_mb": [r["child_rss_mb"] for r in samples],
        "wall_p50_ms": round(median(walls) * 1000, 1), "wall_p95_ms": round(percentile(walls, 95) * 1000, 1),
        "throughput_jobs_s": round(args.jobs / total, 2), "total_s": round(total, 1),
        "size": f"{args.width}x{args.height}", "samples": args.samples,
        "busy_warning": busy, "loadavg_before": load_before, "loadavg_after": load_after,
    })
    return 0 if not valid_failed and not left_behind and bad_results.get("as expected", 0) == bad_i else 1


if __name__ == "__main__":
    sys.exit(main())
