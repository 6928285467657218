"""Actors on a fixed CPU budget: one actor with 2 render threads vs two with 1 thread each.

Measures render throughput (jobs/s) of BlenderActors on a local Ray (`ray.init(num_cpus=2)`)
for street renders (20 variants at 128x96 px, 8 Cycles samples; 20 timed jobs per layout
per round, 4 rounds, so 80 per layout) spread over the actors. The fair comparison holds the total CPUs fixed at the machine's 2 cores:

  1x2  one actor,  num_cpus=2, WorkerConfig(threads=2): one Blender renders at a time on 2 threads
  2x1  two actors, num_cpus=1 each, threads=1: two Blenders render side by side, 1 thread each

(`--layouts` takes any ACTORSxTHREADS list; each actor gets num_cpus = --cpus / ACTORS.)
Two single-thread Blenders overlap what one multi-thread Blender does serially per job
(factory reset, scene building, Cycles' scene sync and BVH build, PNG writing, and the
tail of a render where threads run out of tiles), so 2x1 is expected to win on small
renders; 1x2 halves the latency of each job. Each actor gets one warm-up job first
(child start-up and Cycles' slow first render, not timed). Jobs are dispatched
dynamically: each actor keeps --inflight calls outstanding (the actor takes concurrent
calls; its worker lock serialises the renders), so no actor idles while work remains.
Layouts run in the order A B, B A, A B ... (--rounds) so a drift in machine load hits both;
besides the pooled throughput, the ratio is also given per round (A and B run back to
back), and their median is the figure least affected by other load on the machine.

Run:  .venv/bin/python bench/actors.py                       # 20 jobs x 4 rounds per layout (1x2, 2x1)
      .venv/bin/python bench/actors.py --count 6 --rounds 1  # quick check
Sets RAY_AUTH_MODE=disabled (loopback-only local cluster; Ray 2.60 enables token auth by default).
Prints per-round and per-layout figures and one `SUMMARY {json}` line at the end.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import ray  # noqa: E402

from _common import busy_warning, loadavg, machine, median, print_json_summary, street_variants  # noqa: E402

from blender_actors.actor import ActorResources, remote_actor_class  # noqa: E402
from blender_actors.config import WorkerConfig  # noqa: E402
from blender_actors.protocol import RenderRequest  # noqa: E402


def parse_layouts(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        actors, threads = item.strip().lower().split("x")
        out.append((int(actors), int(threads)))
    return out


def run_layout(actors_n: int, threads: int, cpus: float, programs: list[str], args) -> dict:
    resources = ActorResources(num_cpus=cpus / actors_n, max_concurrency=max(2, args.inflight + 1))
    cls = remote_actor_class(resources)
    config = WorkerConfig(threads=threads, job_timeout_s=args.timeout)
    t_start = time.perf_counter()
    actors = [cls.remote(config) for _ in range(actors_n)]

    def request(i: int) -> RenderRequest:
        return RenderRequest(program=programs[i % len(programs)], width=args.width, height=args.height,
                             samples=args.samples)

    warm = ray.get([a.render.remote(request(k)) for k, a in enumerate(actors)])
    for res in warm:
        if not res.ok:
            raise RuntimeError(f"warm-up failed: {res.error}")
    ready_s = time.perf_counter() - t_start
    infos = ray.get([a.info.remote() for a in actors])

    pending: dict = {}
    next_job = 0
    results = []
    per_actor = [0] * actors_n
    t0 = time.perf_counter()
    for k, a in enumerate(actors):
        for _ in range(args.inflight):
            if next_job < args.count:
                pending[a.render.remote(request(next_job))] = k
                next_job += 1
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            k = pending.pop(ref)
            res = ray.get(ref)
            if not res.ok:
                raise RuntimeError(f"job failed on actor {k}: {res.error}")
            results.append(res)
            per_actor[k] += 1
            if next_job < args.count:
                pending[actors[k].render.remote(request(next_job))] = k
                next_job += 1
    elapsed = time.perf_counter() - t0
    stats = ray.get([a.stats.remote() for a in actors])
    ray.get([a.shutdown.remote() for a in actors])
    for a in actors:
        ray.kill(a)
    time.sleep(0.5)  # let Ray return the CPUs before the next layout asks for them
    return {
        "layout": f"{actors_n}x{threads}", "actors": actors_n, "threads": threads, "num_cpus_each": cpus / actors_n,
        "jobs": len(results), "elapsed_s": elapsed, "jobs_per_s": len(results) / elapsed,
        "wall_med_s": median(r.record.wall_s for r in results),
        "render_med_s": median(r.record.timings["render_s"] for r in results),
        "threads_reported": sorted({r.record.threads for r in results}),
        "per_actor": per_actor, "ready_s": ready_s, "restarts": sum(s.starts - 1 for s in stats),
        "blender_pids": [i["blender_pid"] for i in infos],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=20, help="timed jobs per layout per round (default 20)")
    p.add_argument("--variants", type=int, default=20, help="distinct street programs cycled through")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--cpus", type=float, default=2, help="ray.init(num_cpus=...); the budget split among actors")
    p.add_argument("--layouts", default="1x2,2x1", help="ACTORSxTHREADS,...; the first is the baseline")
    p.add_argument("--rounds", type=int, default=4,
                   help="repeat the layouts as A B, B A, ... (default 4: 80 timed jobs per layout)")
    p.add_argument("--inflight", type=int, default=2, help="outstanding calls per actor")
    p.add_argument("--timeout", type=float, default=300.0)
    args = p.parse_args(argv)

    layouts = parse_layouts(args.layouts)
    programs = street_variants(min(args.variants, args.count), args.width, args.height, args.samples)
    load_before = loadavg()
    busy = busy_warning()
    print(f"actors: {args.count} street renders per layout per round, {args.width}x{args.height} px, "
          f"{args.samples} samples, ray num_cpus={args.cpus:g}, layouts {args.layouts}, rounds {args.rounds}; "
          f"machine {machine()}")
    t_ray = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    print(f"ray.init: {time.perf_counter() - t_ray:.1f} s")
    runs: list[dict] = []
    error = None
    try:
        for r in range(args.rounds):
            order = layouts if r % 2 == 0 else list(reversed(layouts))
            for actors_n, threads in order:
                res = run_layout(actors_n, threads, args.cpus, programs, args)
                res["round"] = r + 1
                res["loadavg"] = loadavg()
                runs.append(res)
                print(f"  round {r + 1} {res['layout']}: {res['jobs']} jobs in {res['elapsed_s']:.1f} s = "
                      f"{res['jobs_per_s']:.3f} jobs/s; job wall median {res['wall_med_s']:.3f} s, render_s median "
                      f"{res['render_med_s']:.3f} s, threads {res['threads_reported']}, jobs per actor "
                      f"{res['per_actor']}, actors ready in {res['ready_s']:.1f} s, restarts {res['restarts']}; "
                      f"loadavg {res['loadavg']}")
    except Exception as exc:  # noqa: BLE001 - report the rounds that finished, then fail
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        print(f"  STOPPED: a round failed ({error}); the figures below cover the finished rounds only")
    finally:
        ray.shutdown()
    if not runs:
        print("no round finished")
        return 1
    load_after = loadavg()

    print(f"\n{'layout':>7} {'actors':>6} {'cpus/actor':>10} {'threads':>7} {'jobs':>5} {'time':>8} {'jobs/s':>8} "
          f"{'job wall':>9} {'render_s':>9}")
    agg = {}
    for actors_n, threads in layouts:
        name = f"{actors_n}x{threads}"
        mine = [x for x in runs if x["layout"] == name]
        if not mine:
            continue
        jobs = sum(x["jobs"] for x in mine)
        t = sum(x["elapsed_s"] for x in mine)
        agg[name] = {"jobs_per_s": jobs / t, "wall_med_s": median(x["wall_med_s"] for x in mine),
                     "render_med_s": median(x["render_med_s"] for x in mine), "jobs": jobs, "time_s": t,
                     "per_round_jobs_per_s": [round(x["jobs_per_s"], 3) for x in mine]}
        print(f"{name:>7} {actors_n:>6} {args.cpus / actors_n:>10g} {threads:>7} {jobs:>5} {t:>7.1f}s "
              f"{jobs / t:>8.3f} {agg[name]['wall_med_s']:>8.3f}s {agg[name]['render_med_s']:>8.3f}s")
    base = f"{layouts[0][0]}x{layouts[0][1]}"
    ratios = {name: agg[name]["jobs_per_s"] / agg[base]["jobs_per_s"] for name in agg if name != base and base in agg}
    paired: dict[str, list[float]] = {name: [] for name in ratios}
    for r in range(1, args.rounds + 1):
        by = {x["layout"]: x["jobs_per_s"] for x in runs if x["round"] == r}
        for name in ratios:
            if name in by and base in by:  # only rounds where both ran back to back
                paired[name].append(by[name] / by[base])
    for name, ratio in ratios.items():
        print(f"throughput {name} / {base} = {ratio:.2f}x pooled; per round "
              f"{', '.join(f'{v:.2f}' for v in paired[name])} (median {median(paired[name]):.2f}x)")
    print(f"loadavg before {load_before}, after {load_after}")
    print_json_summary({
        "bench": "actors", "count": args.count, "size": f"{args.width}x{args.height}", "samples": args.samples,
        "cpus": args.cpus, "rounds": args.rounds,
        "layouts": {k: {kk: (round(vv, 4) if isinstance(vv, float) else vv) for kk, vv in v.items()}
                    for k, v in agg.items()},
        "ratio_vs_" + base: {k: round(v, 3) for k, v in ratios.items()},
        "paired_ratio_median_vs_" + base: {k: round(median(v), 3) if v else None for k, v in paired.items()},
        "busy_warning": busy, "rounds_finished": len({x["round"] for x in runs}), "error": error,
        "loadavg_before": load_before, "loadavg_after": load_after,
    })
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main())
