"""Throughput of the real batch job on the local config, and where its time goes.

Measures the job of configs/local.yaml as it ships (2 actors x 0.5 CPU, offline backend,
long side 128 px, 8 Cycles samples, default rounds 5/3/3/2, 2 candidates per round) on N
images (default 10: the 5 photos of examples/photos, each listed under N/5 different
image_ids) into a temporary output, through `pipeline.driver.Driver.run()` unchanged.

Reports
  job        images/min, wall, Summary.blender_render_s and Summary.render_efficiency
             (Blender render time / (wall x actors); target >= 0.85), the pool start-up
             (ray.init + actor handles), the actors' busy time (inside BlenderWorker.render)
             and the Cycles/Workbench split of their jobs.
  per stage  time per image per stage from the results Parquet (<stage>_time_s), plus
             the image's time_s (init task start -> finalize) and its Cycles render_s.
  reference  the same Cycles renders in one bare loop: every finished image's record.json
             lists its programs (initial program + every candidate of every round >= 1
             that was rendered; round 0 candidates are the stage's start program, which the
             job does not render again); they are rendered one after another by one
             BlenderWorker(threads=--ref-threads, default 2) at the record's size/samples/seed.
             reference efficiency = sum(record.timings["render_s"]) / wall of that loop
             (the child was started before the loop; its start-up is reported apart).
  profile    (--profile-images, default 1) one image's task chain run serially in this
             process, no Ray: pipeline.tasks.init_image -> stage_step x4 -> finalize_image
             with the actor replaced by a BlenderWorker(threads=1) (what each actor has),
             and timers around photo (re)loading, the vision initial program, scoring,
             static sandbox checks (engine and worker side), object-ID mask (Workbench)
             renders, artifact writes, state pickling (what Ray does between tasks) and the
             Blender jobs (split into reset/exec/setup/render/encode).
  ray tasks  from ray.timeline(): per task type / actor method, count and total/mean/max
             seconds (argument deserialisation + execution + storing outputs).
  CPU        CPU seconds of this process tree during the job and the reference, by process
             kind (Blender children, actor processes, task workers, Ray system, driver;
             bench/_proctree.py), against the whole machine's busy cores over the same span.

Note: Blender's render_s is wall time inside the child, so on a contended machine it
grows and flatters render_efficiency; compare the job's render_s per Cycles job with the
reference's and the profile's.

Run:  .venv/bin/python bench/throughput.py                         # 10 images, local config
      .venv/bin/python bench/throughput.py --images 2 --set 'reconstruct.rounds={geometry: 1, materials: 1, composition: 1, lighting: 1}'   # quick check
      .venv/bin/python bench/throughput.py --no-reference --profile-images 0
Sets RAY_AUTH_MODE=disabled and a private RAY_TMPDIR (so no other local Ray is joined).
Prints tables and one `SUMMARY {json}` line at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
_RAY_TMP = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
os.environ["RAY_TMPDIR"] = _RAY_TMP  # our own ray_current_cluster: never join another agent's Ray

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import ray  # noqa: E402

from _common import busy_warning, loadavg, machine, print_json_summary  # noqa: E402
from _proctree import CpuSampler  # noqa: E402

from blender_actors.config import WorkerConfig  # noqa: E402
from blender_actors.protocol import RenderRequest  # noqa: E402
from blender_actors.worker import BlenderWorker  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.driver import Driver  # noqa: E402
from pipeline.results import STAGES  # noqa: E402

PHOTOS = ROOT / "examples" / "photos"


def make_manifest(path: Path, n: int) -> list[tuple[str, str]]:
    photos = sorted(PHOTOS.glob("*.jpg"))
    rows = [(f"{photos[i % len(photos)].stem}-{i // len(photos)}", str(photos[i % len(photos)].resolve()))
            for i in range(n)]
    pq.write_table(pa.table({"image_id": [r[0] for r in rows], "uri": [r[1] for r in rows]}), path)
    return rows


class TimedDriver(Driver):
    """The real driver; only notes when the pool started and when each row came back."""

    def _start_pool(self) -> None:
        t0 = time.perf_counter()
        super()._start_pool()
        self.pool_start_s = time.perf_counter() - t0
        self.pool_started_at = time.monotonic()

    def _record(self, writer, row, bar) -> None:
        self.finished_at = getattr(self, "finished_at", [])
        self.finished_at.append((time.monotonic(), row.get("image_id"), row.get("status")))
        super()._record(writer, row, bar)


# --- ray timeline ------------------------------------------------------------------
def timeline_stats() -> dict:
    """Per task/actor-method name: count and seconds (deserialize args + execute + store outputs),
    and over all tasks the seconds in each of those phases."""
    try:
        events = ray.timeline()
    except Exception as exc:  # noqa: BLE001 - best effort: the timeline's format is not a stable API
        return {"error": f"{type(exc).__name__}: {exc}"}
    per: dict[str, list[float]] = defaultdict(list)
    phases: dict[str, float] = defaultdict(float)
    for ev in events:
        if ev.get("ph") != "X" or "dur" not in ev:
            continue
        cat = str(ev.get("cat", ""))
        if cat.startswith("task::"):
            per[cat[6:]].append(ev["dur"] / 1e6)
        elif cat.startswith("task:"):
            phases[cat[5:]] += ev["dur"] / 1e6
    out = {name: {"count": len(v), "total_s": round(sum(v), 2), "mean_s": round(sum(v) / len(v), 3),
                  "max_s": round(max(v), 3)} for name, v in sorted(per.items())}
    return {"tasks": out, "phases_s": {k: round(v, 2) for k, v in sorted(phases.items())}}


# --- the serial profile --------------------------------------------------------------
class Timers:
    def __init__(self):
        self.s: dict[str, float] = defaultdict(float)
        self.n: dict[str, int] = defaultdict(int)
        self.active: list[str] = []

    def wrap(self, key: str, fn):
        def timed(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.s[key] += time.perf_counter() - t0
                self.n[key] += 1
        return timed


def serial_profile(cfg, rows: list[tuple[str, str]], out_dir: str, threads: int) -> dict:
    """One (or more) image's task chain in this process, with timers around its parts."""
    import blender_actors.worker as worker_mod
    import pipeline.tasks as tasks
    import stages.backends.offline as offline
    import stages.engine as engine
    import stages.vision.photo_to_scene as p2s
    from pipeline.tasks import ImageJob

    T = Timers()
    saved = []

    def patch(mod, name, key):
        saved.append((mod, name, getattr(mod, name)))
        setattr(mod, name, T.wrap(key, getattr(mod, name)))

    patch(tasks, "_photo", "photo load+decode (per task)")
    patch(tasks, "_backend", "backend construction")
    patch(tasks, "read_bytes", "read best PNG back from storage")
    for name in ("write_initial", "write_stage", "write_final"):
        patch(tasks, name, "artifact writes (fsync'd)")
    patch(p2s, "initial_scene", "vision: initial_scene (init task)")
    patch(engine, "score", "scoring (PSNR+SSIM per render)")
    patch(engine, "check_program", "sandbox check, engine side")
    patch(worker_mod, "check_program", "sandbox check, worker side (again)")
    patch(offline, "object_masks", "object masks incl. their Workbench render")

    wcfg = cfg.worker.model_copy(update={"threads": threads})
    jobs: list[dict] = []

    class LocalRenderer:
        def __init__(self, actor):
            self.actor = actor

        def render(self, request: RenderRequest):
            c0 = T.s["sandbox check, worker side (again)"]
            t0 = time.perf_counter()
            res = self.actor.render(request)
            jobs.append({"engine": request.engine, "wall": time.perf_counter() - t0, **res.record.timings,
                         "startup": res.record.startup_s, "check": T.s["sandbox check, worker side (again)"] - c0})
            return res

    saved.append((tasks, "ActorRenderer", tasks.ActorRenderer))
    tasks.ActorRenderer = LocalRenderer
    per_image = []
    try:
        with BlenderWorker(wcfg) as worker:
            startup = worker.start()
            for image_id, uri in rows:
                job = ImageJob(image_id=f"profile-{image_id}", uri=uri, run_id="profile",
                               prefix=os.path.join(out_dir, "profile", "scenes", image_id))
                t0 = time.perf_counter()
                pickled = 0
                state = tasks.init_image(job, cfg, worker)
                tp = time.perf_counter()
                blob = pickle.dumps(state)
                pickle.loads(blob)
                T.s["state pickling (Ray hands state between tasks)"] += time.perf_counter() - tp
                pickled = max(pickled, len(blob))
                for stage in STAGES:
                    state = tasks.stage_step(state, stage, cfg, worker)
                    tp = time.perf_counter()
                    blob = pickle.dumps(state)
                    pickle.loads(blob)
                    T.s["state pickling (Ray hands state between tasks)"] += time.perf_counter() - tp
                    pickled = max(pickled, len(blob))
                row = tasks.finalize_image(state, cfg)
                per_image.append({"image_id": image_id, "wall_s": time.perf_counter() - t0,
                                  "status": row.get("status"), "state_bytes_max": pickled})
            fixed_cost = None
            snapshot, snapshot_n = dict(T.s), dict(T.n)  # the extra renders below are not part of the chain
            if state.rec is not None:  # how much of render_s does not depend on pixels x samples
                rec = state.rec
                tiny, full = [], []
                for _ in range(3):
                    full.append(worker.render(RenderRequest(program=rec.final_program, width=rec.width, height=rec.height,
                                                            samples=rec.samples)).record.timings.get("render_s", 0.0))
                    w, h = (16, max(8, round(16 * rec.height / rec.width))) if rec.width >= rec.height else \
                        (max(8, round(16 * rec.width / rec.height)), 16)
                    tiny.append(worker.render(RenderRequest(program=rec.final_program, width=w, height=h,
                                                            samples=1)).record.timings.get("render_s", 0.0))
                fixed_cost = {"repeats": 3, "size": f"{rec.width}x{rec.height}", "samples": rec.samples,
                              "config_render_s": sorted(full)[1], "tiny_render_s": sorted(tiny)[1]}
            T.s, T.n = defaultdict(float, snapshot), defaultdict(int, snapshot_n)
    finally:
        for mod, name, fn in reversed(saved):
            setattr(mod, name, fn)
    total = sum(p["wall_s"] for p in per_image)
    cyc = [j for j in jobs if j["engine"] == "CYCLES"]
    wb = [j for j in jobs if j["engine"] != "CYCLES"]

    def jsum(js, key):
        return sum(j.get(key, 0.0) for j in js)

    blender_wall = jsum(jobs, "wall")
    mask_render_wall = jsum(wb, "wall")
    parts = dict(T.s)
    # object_masks includes its render: keep only the decoding part under that name
    key = "object masks incl. their Workbench render"
    if key in parts:
        parts["object masks: decode only"] = parts.pop(key) - mask_render_wall
    # the worker-side sandbox check runs inside worker.render's wall: its own row, out of the job rows
    rows_out = {
        "Blender jobs, Cycles: render_s": jsum(cyc, "render_s"),
        "Blender jobs, Cycles: reset+exec+setup+encode": sum(jsum(cyc, k) for k in ("reset_s", "exec_s", "setup_s", "encode_s")),
        "Blender jobs, Cycles: pipe/parent (wall - child total)": jsum(cyc, "wall") - jsum(cyc, "total_s") - jsum(cyc, "check"),
        "Blender jobs, Workbench ID masks: wall": mask_render_wall - jsum(wb, "check"),
    }
    rows_out.update(parts)
    accounted = blender_wall + sum(v for k, v in parts.items() if k != "sandbox check, worker side (again)")
    rows_out["other (engine, backend moves, pydantic, ...)"] = total - accounted
    counts = dict(T.n)
    counts["object masks: decode only"] = counts.get("object masks incl. their Workbench render", 0)
    return {"images": per_image, "total_s": total, "startup_s": startup, "fixed_cost": fixed_cost, "counts": counts, "cycles_jobs": len(cyc),
            "workbench_jobs": len(wb), "parts": rows_out, "threads": threads,
            "cycles_job_timings_mean": {k: round(jsum(cyc, k) / max(1, len(cyc)), 4)
                                        for k in ("reset_s", "exec_s", "setup_s", "render_s", "encode_s", "total_s",
                                                  "wall")},
            "workbench_job_timings_mean": {k: round(jsum(wb, k) / max(1, len(wb)), 4)
                                           for k in ("reset_s", "exec_s", "setup_s", "render_s", "encode_s", "total_s",
                                                     "wall")}}


# --- the reference loop --------------------------------------------------------------
def reference_loop(records: list[dict], threads: int, timeout: float) -> dict:
    requests = []
    for rec in records:
        size = dict(width=rec["width"], height=rec["height"], samples=rec["samples"], seed=rec.get("seed", 0))
        requests.append(RenderRequest(program=rec["initial_program"], **size))
        for stage in rec.get("stages", []):
            for rnd in stage["rounds"]:
                if rnd["round"] == 0:
                    continue
                for cand in rnd["candidates"]:
                    err = cand.get("error") or {}
                    if err.get("kind") in ("rejected", "section"):
                        continue  # never reached Blender in the job either
                    requests.append(RenderRequest(program=cand["program"], **size))
    with BlenderWorker(WorkerConfig(threads=threads, job_timeout_s=timeout)) as worker:
        startup = worker.start()
        t0 = time.perf_counter()
        render_s, failed, timings = 0.0, 0, defaultdict(float)
        for req in requests:
            res = worker.render(req)
            render_s += res.record.timings.get("render_s", 0.0)
            for k, v in res.record.timings.items():
                timings[k] += v
            failed += 0 if res.ok else 1
        wall = time.perf_counter() - t0
    return {"renders": len(requests), "failed": failed, "wall_s": wall, "render_s": render_s,
            "efficiency": render_s / wall if wall else 0.0, "startup_s": startup, "threads": threads,
            "mean_timings": {k: round(v / max(1, len(requests)), 4) for k, v in timings.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=10, help="manifest rows (the 5 sample photos, repeated)")
    ap.add_argument("--config", default=str(ROOT / "configs" / "local.yaml"))
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                    help="config override (repeatable), as in `seig run --set`")
    ap.add_argument("--output", default=None, help="output root (default: a temp dir, removed afterwards)")
    ap.add_argument("--keep", action="store_true", help="keep the temp output")
    ap.add_argument("--no-reference", action="store_true", help="skip the bare-loop reference")
    ap.add_argument("--ref-threads", type=int, default=2)
    ap.add_argument("--profile-images", type=int, default=1, help="images for the serial in-process profile (0: off)")
    args = ap.parse_args()

    print(f"machine: {machine()}")
    busy_warning()
    out_root = args.output or tempfile.mkdtemp(prefix="seig-bench-throughput-")
    manifest = os.path.join(out_root, "manifest.parquet")
    os.makedirs(out_root, exist_ok=True)
    rows = make_manifest(Path(manifest), args.images)
    run_id = "bench-" + time.strftime("%Y%m%d-%H%M%S")
    cfg = load_config(args.config, [f"run.manifest={manifest}", f"run.output={out_root}/out",
                                    f"run.run_id={run_id}", "run.history=[]", *args.set])
    print(f"config: actors {cfg.actors.count} x {cfg.actors.num_cpus} CPU, tasks {cfg.tasks.num_cpus} CPU, "
          f"backend {cfg.reconstruct.backend}, long side {cfg.reconstruct.long_side}, samples {cfg.reconstruct.samples}, "
          f"candidates {cfg.reconstruct.offline.candidates}, rounds {cfg.reconstruct.rounds or 'defaults 5/3/3/2'}, "
          f"max_in_flight {cfg.run.max_in_flight}, keep_round_renders {cfg.reconstruct.keep_round_renders}")
    load_before = loadavg()
    driver = TimedDriver(cfg, progress=False)
    t_run = time.monotonic()
    with CpuSampler(0.25) as job_cpu:
        summary = driver.run()
    load_after_job = loadavg()
    tl = timeline_stats()
    ray.shutdown()

    # --- per image, per stage, from the results Parquet ------------------------------
    rdir = os.path.join(out_root, "out", run_id, "results")
    table = pq.ParquetDataset(sorted(str(p) for p in Path(rdir).glob("*.parquet"))).read().to_pylist()
    ok_rows = [r for r in table if r["status"] == "ok"]
    print()
    print(summary.text())
    print()
    cols = [f"{s}_time_s" for s in STAGES] + ["time_s", "render_s", "renders"]
    print(f"{'image_id':24s} " + " ".join(f"{c.replace('_time_s', ''):>11s}" for c in cols))
    for r in sorted(table, key=lambda r: r["image_id"] or ""):
        vals = [r.get(c) for c in cols]
        print(f"{(r['image_id'] or '')[:24]:24s} " + " ".join(
            f"{v:11.2f}" if isinstance(v, float) else f"{v if v is not None else '-':>11}" for v in vals)
            + ("" if r["status"] == "ok" else f"  FAILED {r['error_kind']}: {r['error_message'][:80]}"))
    means = {c: (sum(r[c] or 0 for r in ok_rows) / len(ok_rows) if ok_rows else float("nan")) for c in cols}
    print(f"{'mean':24s} " + " ".join(f"{means[c]:11.2f}" for c in cols))
    outside = [r["time_s"] - sum(r[f"{s}_time_s"] or 0 for s in STAGES) for r in ok_rows]
    if outside:
        print(f"time_s minus the four stages (init task, finalize, waits between an image's tasks): mean "
              f"{sum(outside) / len(outside):.2f} s, max {max(outside):.2f} s")

    records = []
    for r in ok_rows:
        with open(r["record_uri"]) as fh:
            records.append(json.load(fh))
    cycles_render_s = sum(rec.get("render_s") or 0.0 for rec in records)
    cycles_renders = sum(rec.get("renders") or 0 for rec in records)
    stats = driver.actor_stats
    actor_jobs = sum(st.jobs for st in stats.values())
    actor_busy = sum(st.busy_s for st in stats.values())
    actor_render = sum(st.render_s for st in stats.values())
    n_act = max(1, summary.actors)
    finished = sorted(getattr(driver, "finished_at", []))
    first_done = finished[0][0] - t_run if finished else float("nan")
    last_done = finished[-1][0] - t_run if finished else float("nan")
    pool_at = getattr(driver, "pool_started_at", t_run) - t_run
    print()
    print("job breakdown")
    print(f"  wall {summary.wall_s:.1f} s; pool start (ray.init + {summary.actors} actor handles) "
          f"{getattr(driver, 'pool_start_s', float('nan')):.1f} s at +{pool_at:.1f} s; first image done at "
          f"+{first_done:.1f} s, last at +{last_done:.1f} s")
    print(f"  actors: {actor_jobs} Blender jobs ({cycles_renders} Cycles renders in the records, so "
          f"{actor_jobs - cycles_renders} Workbench ID-mask jobs), busy {actor_busy:.1f} s "
          f"= {actor_busy / (summary.wall_s * n_act):.2f} of wall x actors")
    print(f"  Blender render_s (all jobs) {actor_render:.1f} s, of which Cycles candidates (records) "
          f"{cycles_render_s:.1f} s; render_s / busy = {actor_render / max(actor_busy, 1e-9):.2f}")
    print(f"  render_efficiency {summary.render_efficiency:.3f} (target >= 0.85); Cycles-only efficiency "
          f"{cycles_render_s / (summary.wall_s * n_act):.3f}; load {load_before} -> {load_after_job}")
    jc = job_cpu.report()
    print(f"  CPU: the job's process tree used {jc['tree_cpu_s']:.0f} CPU-s = {jc['tree_cores']:.2f} cores on average; "
          f"the whole machine was busy {jc['machine_busy_cores']:.2f} of {jc['machine_cores']} cores (everyone's work)")
    print(f"  CPU-s by process kind: {jc['by_kind_cpu_s']}")
    if "tasks" in tl:
        print()
        print("ray tasks (ray.timeline, execution spans)")
        print(f"  {'task':40s} {'count':>6s} {'total s':>9s} {'mean s':>8s} {'max s':>8s}")
        for name, st in tl["tasks"].items():
            print(f"  {name[:40]:40s} {st['count']:6d} {st['total_s']:9.1f} {st['mean_s']:8.3f} {st['max_s']:8.3f}")
        print(f"  phases over all tasks (s): {tl['phases_s']}")
    else:
        print(f"ray timeline unavailable: {tl.get('error')}")

    ref = None
    if not args.no_reference and records:
        print()
        print(f"reference: {sum(1 for _ in records)} images' Cycles programs in one BlenderWorker(threads={args.ref_threads})")
        lr0 = loadavg()
        with CpuSampler(0.25) as ref_cpu:
            ref = reference_loop(records, args.ref_threads, cfg.worker.job_timeout_s)
        ref["cpu"] = ref_cpu.report()
        ref["loadavg"] = f"{lr0} -> {loadavg()}"
        print(f"  {ref['renders']} renders ({ref['failed']} failed) in {ref['wall_s']:.1f} s, render_s "
              f"{ref['render_s']:.1f} s: reference efficiency {ref['efficiency']:.3f} "
              f"(child start {ref['startup_s']:.1f} s not counted); load {ref['loadavg']}")
        print(f"  mean per job: {ref['mean_timings']}")
        print(f"  CPU: {ref['cpu']['tree_cores']:.2f} cores used by the loop (machine busy "
              f"{ref['cpu']['machine_busy_cores']:.2f} of {ref['cpu']['machine_cores']})")
        print(f"  the job rendered the same {cycles_renders} Cycles programs with {cycles_render_s:.1f} s of render_s "
              f"on {n_act} actors x 1 thread; the loop took {ref['render_s']:.1f} s of render_s on {args.ref_threads} "
              "threads")

    prof = None
    if args.profile_images > 0:
        print()
        print(f"serial profile: {args.profile_images} image(s), in-process chain, BlenderWorker(threads=1), no Ray")
        lp0 = loadavg()
        prof = serial_profile(cfg, rows[: args.profile_images], out_root, threads=1)
        prof["loadavg"] = f"{lp0} -> {loadavg()}"
        total = prof["total_s"]
        print(f"  {prof['cycles_jobs']} Cycles + {prof['workbench_jobs']} Workbench jobs; chain wall {total:.1f} s "
              f"(child start {prof['startup_s']:.1f} s before, not counted); load {prof['loadavg']}")
        print(f"  {'part':58s} {'s':>8s} {'share':>7s} {'calls':>6s} {'ms/call':>8s}")
        for k, v in sorted(prof["parts"].items(), key=lambda kv: -kv[1]):
            n = prof["counts"].get(k, 0)
            per = f"{v / n * 1000:8.1f}" if n else f"{'':8s}"
            print(f"  {k[:58]:58s} {v:8.2f} {v / total:7.1%} {n if n else '':>6} {per}")
        print(f"  mean Cycles job: {prof['cycles_job_timings_mean']}")
        print(f"  mean Workbench job: {prof['workbench_job_timings_mean']}")
        print(f"  largest pickled ImageState: {max(p['state_bytes_max'] for p in prof['images'])} bytes")
        fc = prof.get("fixed_cost")
        if fc:
            print(f"  one final program, median of {fc['repeats']}: render_s {fc['config_render_s']:.3f} s at "
                  f"{fc['size']} x {fc['samples']} samples vs {fc['tiny_render_s']:.3f} s at 16 px x 1 sample "
                  f"(the size/sample-independent part of Cycles' render_s: {fc['tiny_render_s'] / max(fc['config_render_s'], 1e-9):.0%})")

    result = {
        "images": args.images, "ok": summary.ok, "failed": summary.failed, "wall_s": summary.wall_s,
        "images_per_minute": summary.images_per_minute, "render_efficiency": summary.render_efficiency,
        "blender_render_s": summary.blender_render_s, "cycles_render_s": round(cycles_render_s, 2),
        "cycles_renders": cycles_renders, "actor_jobs": actor_jobs, "actor_busy_s": round(actor_busy, 2),
        "actor_busy_fraction": round(actor_busy / (summary.wall_s * n_act), 3),
        "pool_start_s": round(getattr(driver, "pool_start_s", float("nan")), 2),
        "stage_time_s_mean": {s: round(means[f"{s}_time_s"], 2) for s in STAGES},
        "image_time_s_mean": round(means["time_s"], 2),
        "reference_efficiency": round(ref["efficiency"], 3) if ref else None,
        "reference_wall_s": round(ref["wall_s"], 2) if ref else None,
        "reference_render_s": round(ref["render_s"], 2) if ref else None,
        "profile_parts_s": {k: round(v, 2) for k, v in prof["parts"].items()} if prof else None,
        "profile_total_s": round(prof["total_s"], 2) if prof else None,
        "loadavg_before": load_before, "loadavg_after_job": load_after_job, "loadavg_end": loadavg(),
        "actors": summary.actors, "actor_num_cpus": cfg.actors.num_cpus,
        "job_cpu": jc, "reference_cpu": ref["cpu"] if ref else None,
    }
    if not args.keep and not args.output:
        shutil.rmtree(out_root, ignore_errors=True)
    else:
        print(f"output kept: {out_root}")
    shutil.rmtree(_RAY_TMP, ignore_errors=True)
    print_json_summary(result)


if __name__ == "__main__":
    main()
