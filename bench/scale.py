"""The driver at a million images, without rendering: reading, resume planning, scheduling.

Generates a manifest of --rows rows (default 1,000,000: image_id and uri strings plus
lat / lon / captured_at passthrough columns, row groups of --row-group rows, default
100,000) and a results dataset of the same ids, all status "ok", for an earlier run
(pipeline.results.SCHEMA + the passthrough columns, written in parts of
--results-part-rows rows, default 200 = run.results_flush_rows, i.e. the 5,000 part files
a real 1M-image run leaves behind). Then each phase runs in a fresh child process, so
each peak RSS (resource.getrusage(RUSAGE_SELF).ru_maxrss) is that phase's alone:

  read        open_manifest + count_rows + iter_batches(manifest_batch_rows): the Arrow
              stream alone, then again with batch.to_pylist() (what the driver does per batch).
  resume      Driver.done_ids() for a new run over an output holding the earlier run's
              1M ok rows (history "all"), and pipeline.results.read_ids() alone. Target < 30 s.
  resume_run  Driver.run() on the 1M manifest against that output: every row is already
              done, so nothing is submitted and Ray never starts: the driver's planning
              loop end to end (stream, validate, dedupe, skip) at full size.
  loop        Driver.run() with _start_pool/_submit/_drain overridden to answer each job
              at once in the driver (no Ray at all): the driver's own per-image cost,
              results parts included (history [], so every row is submitted).
  schedule    Driver.run() with the benchmark's seams: _start_pool starts Ray (the
              driver's own ray.init) without actors, _submit sends one trivial Ray task per
              image that returns an ok row for the job. --schedule-rows images (default
              100,000, a manifest of the first N ids: on 2 busy cores the driver schedules
              roughly 900-1,200 tasks/s, so 1,000,000 would take 15-20 min; pass
              --schedule-rows 1000000 for the full run) for each max_in_flight in
              --in-flight (default: the local config's). Rows per second end to end (and
              after ray.init) and the driver's peak RSS (target < 1.5 GB).
  batched     Not the driver: the same manifest stream, ImageJob objects and ResultsWriter,
              but --batch images (default 100) per Ray task, at most max_in_flight tasks
              outstanding: what batching many images per task would give.

Run:  .venv/bin/python bench/scale.py                                   # 1M rows; scheduling on 100k
      .venv/bin/python bench/scale.py --rows 20000 --schedule-rows 5000  # quick check
      .venv/bin/python bench/scale.py --in-flight 4,64 --workdir /tmp/seig-scale   # keep the data for reruns
      .venv/bin/python bench/scale.py --schedule-rows 1000000 --phases schedule   # 1M Ray tasks (slow)
Sets RAY_AUTH_MODE=disabled and a private RAY_TMPDIR. Prints a table and one
`SUMMARY {json}` line at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import loadavg, machine, print_json_summary  # noqa: E402

EARLIER = "earlier-run"


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- generation ----------------------------------------------------------------------
def generate(work: Path, rows: int, row_group: int, part_rows: int, schedule_rows: int) -> dict:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.results import SCHEMA

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    schema = pa.schema([("image_id", pa.string()), ("uri", pa.string()), ("lat", pa.float64()),
                        ("lon", pa.float64()), ("captured_at", pa.timestamp("us", tz="UTC"))])

    def chunk(start: int, stop: int) -> pa.Table:
        idx = np.arange(start, stop)
        ids = [f"img-{i:08d}" for i in idx]
        return pa.table({
            "image_id": pa.array(ids, pa.string()),
            "uri": pa.array([f"s3://seig-photos/{i % 1000:03d}/img-{i:08d}.jpg" for i in idx], pa.string()),
            "lat": pa.array(rng.uniform(-60, 70, len(idx))),
            "lon": pa.array(rng.uniform(-180, 180, len(idx))),
            "captured_at": pa.array((1_600_000_000_000_000 + idx * 37_000_000).astype("int64"),
                                    pa.timestamp("us", tz="UTC")),
        }, schema=schema)

    def write_manifest(path: Path, n: int) -> None:
        with pq.ParquetWriter(path, schema) as w:
            for s in range(0, n, row_group):
                w.write_table(chunk(s, min(n, s + row_group)), row_group_size=row_group)

    write_manifest(work / "manifest.parquet", rows)
    if schedule_rows != rows:
        write_manifest(work / "manifest-schedule.parquet", schedule_rows)
    t_manifest = time.perf_counter() - t0

    # the earlier run's results: every manifest id ok, parts as ResultsWriter names them
    t1 = time.perf_counter()
    rdir = work / "out-resume" / EARLIER / "results"
    rdir.mkdir(parents=True, exist_ok=True)
    full_schema = pa.schema(list(SCHEMA) + [f for f in schema if f.name not in SCHEMA.names])
    parts = 0
    for s in range(0, rows, row_group):
        src = chunk(s, min(rows, s + row_group))
        n = src.num_rows
        cols = {}
        for f in full_schema:
            if f.name in src.column_names:
                cols[f.name] = src.column(f.name)
            elif f.name == "run_id":
                cols[f.name] = pa.array([EARLIER] * n, pa.string())
            elif f.name == "status":
                cols[f.name] = pa.array(["ok"] * n, pa.string())
            elif f.name in ("time_s", "render_s", "finished_at", "final_psnr", "final_ssim"):
                cols[f.name] = pa.array(rng.uniform(1, 100, n))
            else:
                cols[f.name] = pa.nulls(n, f.type)
        table = pa.table(cols, schema=full_schema)
        for p in range(0, n, part_rows):
            pq.write_table(table.slice(p, part_rows),
                           rdir / f"part-20260101T000000-{parts:05d}-{parts:08x}.parquet")
            parts += 1
    return {"manifest_s": round(t_manifest, 1), "results_s": round(time.perf_counter() - t1, 1), "result_parts": parts,
            "manifest_mb": round((work / "manifest.parquet").stat().st_size / 2**20, 1),
            "results_mb": round(sum(p.stat().st_size for p in rdir.iterdir()) / 2**20, 1)}


# --- phases (each in its own process) ----------------------------------------------
def _cfg(manifest: str, output: str, run_id: str, history, max_in_flight: int | None, extra: list[str]):
    from pipeline.config import load_config

    over = [f"run.manifest={manifest}", f"run.output={output}", f"run.run_id={run_id}",
            f"run.history={json.dumps(history)}", *extra]
    if max_in_flight:
        over.append(f"run.max_in_flight={max_in_flight}")
    return load_config(ROOT / "configs" / "local.yaml", over)


def phase_read(work: Path, args) -> dict:
    from pipeline.manifest import open_manifest

    cfg = _cfg(str(work / "manifest.parquet"), str(work / "out-read"), "read", [], None, args.set)
    t0 = time.perf_counter()
    m = open_manifest(cfg.run.manifest)
    total = m.count_rows()
    t_open = time.perf_counter() - t0
    t1 = time.perf_counter()
    n = sum(b.num_rows for b in m.iter_batches(cfg.run.manifest_batch_rows))
    t_arrow = time.perf_counter() - t1
    rss_arrow = maxrss_mb()
    t2 = time.perf_counter()
    n2 = 0
    for b in m.iter_batches(cfg.run.manifest_batch_rows):
        n2 += len(b.to_pylist())
    t_py = time.perf_counter() - t2
    assert n == n2 == total
    return {"rows": total, "open_count_s": round(t_open, 3), "arrow_s": round(t_arrow, 4),
            "arrow_rows_per_s": round(n / t_arrow), "to_pylist_s": round(t_py, 2),
            "to_pylist_rows_per_s": round(n / t_py), "maxrss_mb_arrow_only": round(rss_arrow, 1),
            "maxrss_mb": round(maxrss_mb(), 1), "batch_rows": cfg.run.manifest_batch_rows}


def phase_resume(work: Path, args) -> dict:
    from pipeline.driver import Driver
    from pipeline.results import read_ids

    out = str(work / "out-resume")
    cfg = _cfg(str(work / "manifest.parquet"), out, "resume-plan", "all", None, args.set)
    t0 = time.perf_counter()
    ids = read_ids(out, EARLIER, status="ok")
    t_read = time.perf_counter() - t0
    n_read = len(ids)
    del ids
    rss_read = maxrss_mb()
    t1 = time.perf_counter()
    here, earlier, recover = Driver(cfg, progress=False).done_ids()
    t_done = time.perf_counter() - t1
    return {"read_ids_s": round(t_read, 2), "read_ids_n": n_read, "done_ids_s": round(t_done, 2),
            "done_ids_earlier": len(earlier), "done_ids_here": len(here), "recover": len(recover),
            "maxrss_mb_after_read_ids": round(rss_read, 1), "maxrss_mb": round(maxrss_mb(), 1)}


def phase_resume_run(work: Path, args) -> dict:
    from pipeline.driver import Driver

    cfg = _cfg(str(work / "manifest.parquet"), str(work / "out-resume"), f"resume-run-{os.getpid()}", "all", None,
               args.set)
    t0 = time.perf_counter()
    s = Driver(cfg, progress=False).run()
    wall = time.perf_counter() - t0
    return {"rows": s.manifest_rows, "skipped": s.skipped_done_earlier_runs, "submitted": s.submitted,
            "wall_s": round(wall, 2), "rows_per_s": round(s.manifest_rows / wall), "maxrss_mb": round(maxrss_mb(), 1)}


def _ok_row(job) -> dict:
    return {"image_id": job.image_id, "uri": job.uri, "run_id": job.run_id, "status": "ok", "prefix": job.prefix,
            "attempts": 1, "finished_at": time.time(), **job.passthrough}


def phase_loop(work: Path, args) -> dict:
    """The driver's loop with no Ray at all: each job is answered in the driver at once."""
    from pipeline.driver import Driver

    class NoRayDriver(Driver):
        def _start_pool(self) -> None:
            self.actors = []

        def _submit(self, job):
            self._n = getattr(self, "_n", 0) + 1
            self._rows = getattr(self, "_rows", {})
            self._rows[self._n] = _ok_row(job)
            return self._n

        def _drain(self, in_flight, writer, bar, n) -> None:
            for key in list(in_flight)[:max(1, n)]:
                in_flight.pop(key)
                self._record(writer, self._rows.pop(key), bar)

    manifest = work / ("manifest-schedule.parquet" if args.loop_rows_schedule else "manifest.parquet")
    cfg = _cfg(str(manifest), str(work / "out-loop"), f"loop-{os.getpid()}", [], None, args.set)
    t0 = time.perf_counter()
    s = NoRayDriver(cfg, progress=False).run()
    wall = time.perf_counter() - t0
    parts = len(list((work / "out-loop" / cfg.run.run_id / "results").glob("*.parquet")))
    return {"rows": s.manifest_rows, "ok": s.ok, "wall_s": round(wall, 2), "rows_per_s": round(s.manifest_rows / wall),
            "result_parts": parts, "maxrss_mb": round(maxrss_mb(), 1), "max_in_flight": cfg.run.max_in_flight}


def phase_schedule(work: Path, args) -> dict:
    import ray

    from pipeline.driver import Driver

    class NoRenderDriver(Driver):
        """The real planning and scheduling loop; Ray without actors, one trivial task per image."""

        def _start_pool(self) -> None:
            t0 = time.perf_counter()
            self._ray_init()
            self.ray_init_s = time.perf_counter() - t0
            self.actors = []
            self.task = ray.remote(_ok_row).options(num_cpus=self.cfg.tasks.num_cpus,
                                                    max_retries=self.cfg.tasks.max_retries)

        def _submit(self, job):
            return self.task.remote(job)

    manifest = work / ("manifest-schedule.parquet" if (work / "manifest-schedule.parquet").exists()
                       else "manifest.parquet")
    cfg = _cfg(str(manifest), str(work / "out-schedule"), f"schedule-{args.max_in_flight}-{os.getpid()}", [],
               args.max_in_flight, args.set)
    t0 = time.perf_counter()
    d = NoRenderDriver(cfg, progress=False)
    s = d.run()
    wall = time.perf_counter() - t0
    ray.shutdown()
    parts = len(list((work / "out-schedule" / cfg.run.run_id / "results").glob("*.parquet")))
    sched = wall - getattr(d, "ray_init_s", 0.0)
    return {"rows": s.manifest_rows, "ok": s.ok, "failed": s.failed, "wall_s": round(wall, 2),
            "ray_init_s": round(getattr(d, "ray_init_s", 0.0), 2), "rows_per_s": round(s.manifest_rows / wall),
            "rows_per_s_after_ray_init": round(s.manifest_rows / sched), "result_parts": parts,
            "maxrss_mb": round(maxrss_mb(), 1), "max_in_flight": cfg.run.max_in_flight,
            "task_num_cpus": cfg.tasks.num_cpus}


def _ok_rows(jobs: list) -> list[dict]:
    return [_ok_row(j) for j in jobs]


def phase_batched(work: Path, args) -> dict:
    """Not the driver: what batching --batch images per Ray task would give (same manifest
    stream, ImageJob objects, ResultsWriter; at most --max-in-flight tasks outstanding)."""
    import posixpath

    import ray

    from pipeline.manifest import open_manifest
    from pipeline.results import ResultsWriter, run_root
    from pipeline.tasks import ImageJob

    manifest = work / ("manifest-schedule.parquet" if (work / "manifest-schedule.parquet").exists()
                       else "manifest.parquet")
    cfg = _cfg(str(manifest), str(work / "out-batched"), f"batched-{os.getpid()}", [], args.max_in_flight, args.set)
    t0 = time.perf_counter()
    ray.init(num_cpus=cfg.ray.num_cpus, include_dashboard=False, log_to_driver=False, namespace=cfg.ray.namespace)
    t_init = time.perf_counter() - t0
    task = ray.remote(_ok_rows).options(num_cpus=cfg.tasks.num_cpus, max_retries=cfg.tasks.max_retries)
    m = open_manifest(cfg.run.manifest)
    writer = ResultsWriter(cfg.run.output, cfg.run.run_id, m.dataset.schema, cfg.run.results_flush_rows,
                           cfg.run.results_flush_s)
    in_flight: list = []
    pending: list = []
    rows = done = 0

    def drain(n):
        nonlocal in_flight, done
        ready, in_flight = ray.wait(in_flight, num_returns=min(n, len(in_flight)))
        for ref in ready:
            for row in ray.get(ref):
                writer.add(row)
                done += 1

    root = run_root(cfg.run.output, cfg.run.run_id)
    for batch in m.iter_batches(cfg.run.manifest_batch_rows):
        names = [c for c in batch.schema.names if c not in ("image_id", "uri")]
        for row in batch.to_pylist():
            rows += 1
            pending.append(ImageJob(image_id=row["image_id"], uri=row["uri"], run_id=cfg.run.run_id,
                                    passthrough={c: row[c] for c in names},
                                    prefix=posixpath.join(root, "scenes", row["image_id"])))
            if len(pending) >= args.batch:
                while len(in_flight) >= cfg.run.max_in_flight:
                    drain(1)
                in_flight.append(task.remote(pending))
                pending = []
    if pending:
        in_flight.append(task.remote(pending))
    while in_flight:
        drain(len(in_flight))
    writer.flush()
    wall = time.perf_counter() - t0
    ray.shutdown()
    return {"rows": rows, "ok": done, "batch": args.batch, "wall_s": round(wall, 2), "ray_init_s": round(t_init, 2),
            "rows_per_s": round(rows / wall), "rows_per_s_after_ray_init": round(rows / (wall - t_init)),
            "maxrss_mb": round(maxrss_mb(), 1), "max_in_flight": cfg.run.max_in_flight}


PHASES = {"batched": phase_batched, "read": phase_read, "resume": phase_resume, "resume_run": phase_resume_run, "loop": phase_loop,
          "schedule": phase_schedule}


def run_phase(name: str, work: Path, args, extra: list[str] | None = None) -> dict:
    cmd = [sys.executable, __file__, "--phase", name, "--workdir", str(work), *(extra or [])]
    for item in args.set:
        cmd += ["--set", item]
    if args.loop_rows_schedule:
        cmd.append("--loop-rows-schedule")
    env = dict(os.environ)
    env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="rt-", dir="/tmp")  # our own Ray: never join another one
    load0 = loadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.phase_timeout)
    shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("PHASE ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"phase {name} failed (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    out = json.loads(lines[-1][6:])
    out["process_s"] = round(time.perf_counter() - t0, 1)
    out["loadavg"] = f"{load0} -> {loadavg()}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--row-group", type=int, default=100_000)
    ap.add_argument("--results-part-rows", type=int, default=200, help="rows per results part of the earlier run")
    ap.add_argument("--schedule-rows", type=int, default=100_000,
                    help="images through Ray in the schedule/batched phases (at most --rows)")
    ap.add_argument("--in-flight", default=None, help="comma list of run.max_in_flight for the schedule phase "
                                                      "(default: the local config's)")
    ap.add_argument("--phases", default="read,resume,resume_run,loop,schedule,batched",
                    help="batched is not the driver: raw Ray with --batch images per task, for comparison")
    ap.add_argument("--loop-rows-schedule", action="store_true", help="loop phase on --schedule-rows, not --rows")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    ap.add_argument("--workdir", default=None, help="keep data here (default: a temp dir, removed at the end)")
    ap.add_argument("--phase-timeout", type=float, default=3600)
    ap.add_argument("--batch", type=int, default=100, help="images per Ray task in the `batched` phase")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--max-in-flight", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.phase:  # child process: one phase, one JSON line
        print("PHASE " + json.dumps(PHASES[args.phase](Path(args.workdir), args)))
        return

    print(f"machine: {machine()}")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="seig-bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    schedule_rows = min(args.schedule_rows or args.rows, args.rows)
    results: dict = {"rows": args.rows, "schedule_rows": schedule_rows}
    try:
        if not (work / "manifest.parquet").exists() or not (work / "out-resume").exists():
            print(f"generating {args.rows:,} manifest rows and the earlier run's results in {work} ...", flush=True)
            l0 = loadavg()
            results["generate"] = generate(work, args.rows, args.row_group, args.results_part_rows, schedule_rows)
            print(f"  {results['generate']} (load {l0} -> {loadavg()})", flush=True)
        sched = work / "manifest-schedule.parquet"
        if schedule_rows == args.rows:
            sched.unlink(missing_ok=True)
        elif not sched.exists() or _rows(sched) != schedule_rows:  # a reused --workdir, another N
            import pyarrow.parquet as pq

            pq.write_table(pq.read_table(work / "manifest.parquet").slice(0, schedule_rows), sched,
                           row_group_size=args.row_group)
        phases = [p.strip() for p in args.phases.split(",") if p.strip()]
        for name in phases:
            if name == "batched":
                mif = int(args.in_flight.split(",")[0]) if args.in_flight else 4
                print(f"phase batched ({args.batch} images per task, {mif} tasks in flight, {schedule_rows:,} rows) ...",
                      flush=True)
                results["batched"] = run_phase("batched", work, args, ["--max-in-flight", str(mif),
                                                                        "--batch", str(args.batch)])
                print(f"  {results['batched']}", flush=True)
            elif name == "schedule":
                from pipeline.config import load_config

                default = load_config(ROOT / "configs" / "local.yaml", args.set).run.max_in_flight
                flights = [int(x) for x in args.in_flight.split(",")] if args.in_flight else [default]
                results["schedule"] = []
                for mif in flights:
                    print(f"phase schedule (max_in_flight {mif}, {schedule_rows:,} rows) ...", flush=True)
                    r = run_phase("schedule", work, args, ["--max-in-flight", str(mif)])
                    print(f"  {r}", flush=True)
                    results["schedule"].append(r)
            else:
                print(f"phase {name} ...", flush=True)
                results[name] = run_phase(name, work, args)
                print(f"  {results[name]}", flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"{'phase':34s} {'rows':>10s} {'seconds':>9s} {'rows/s':>10s} {'peak RSS MB':>12s}  load (1/5/15 min)")

    def line(label, rows, secs, rss, load):
        rate = f"{rows / secs:10.0f}" if secs else f"{'-':>10s}"
        print(f"{label:34s} {rows:10,d} {secs:9.3f} {rate} {rss:12.1f}  {load}")

    if "read" in results:
        r = results["read"]
        line("manifest read (Arrow batches)", r["rows"], r["arrow_s"], r["maxrss_mb_arrow_only"], r["loadavg"])
        line("manifest read + to_pylist", r["rows"], r["to_pylist_s"], r["maxrss_mb"], r["loadavg"])
    if "resume" in results:
        r = results["resume"]
        line("resume: read_ids (earlier run)", r["read_ids_n"], r["read_ids_s"], r["maxrss_mb_after_read_ids"],
             r["loadavg"])
        line("resume: Driver.done_ids()", r["done_ids_earlier"], r["done_ids_s"], r["maxrss_mb"], r["loadavg"])
    if "resume_run" in results:
        r = results["resume_run"]
        line("Driver.run(), all done earlier", r["rows"], r["wall_s"], r["maxrss_mb"], r["loadavg"])
    if "loop" in results:
        r = results["loop"]
        line("Driver.run(), no Ray (loop only)", r["rows"], r["wall_s"], r["maxrss_mb"], r["loadavg"])
    for r in results.get("schedule", []):
        line(f"Driver.run(), Ray tasks, mif {r['max_in_flight']}", r["rows"], r["wall_s"], r["maxrss_mb"], r["loadavg"])
        print(f"{'  same, after ray.init':34s} {r['rows']:10,d} {r['wall_s'] - r['ray_init_s']:9.2f} "
              f"{r['rows_per_s_after_ray_init']:10d}")
    if "batched" in results:
        r = results["batched"]
        line(f"raw Ray, {r['batch']}/task, {r['max_in_flight']} tasks (ref)", r["rows"], r["wall_s"], r["maxrss_mb"],
             r["loadavg"])
    if schedule_rows < args.rows and (results.get("schedule") or "batched" in results):
        print(f"NOTE: Ray scheduling was measured on {schedule_rows:,} rows, not {args.rows:,} "
              "(--schedule-rows); the other phases ran on every row")
    summary = {"rows": args.rows, "schedule_rows": schedule_rows, "loadavg_end": loadavg()}
    if "read" in results:
        summary["manifest_arrow_rows_per_s"] = results["read"]["arrow_rows_per_s"]
        summary["manifest_pylist_rows_per_s"] = results["read"]["to_pylist_rows_per_s"]
    if "resume" in results:
        summary["done_ids_s"] = results["resume"]["done_ids_s"]
        summary["read_ids_s"] = results["resume"]["read_ids_s"]
        summary["resume_peak_rss_mb"] = results["resume"]["maxrss_mb"]
    if "resume_run" in results:
        summary["resume_run_rows_per_s"] = results["resume_run"]["rows_per_s"]
        summary["resume_run_peak_rss_mb"] = results["resume_run"]["maxrss_mb"]
    if "loop" in results:
        summary["loop_rows_per_s"] = results["loop"]["rows_per_s"]
        summary["loop_peak_rss_mb"] = results["loop"]["maxrss_mb"]
    if results.get("schedule"):
        summary["schedule"] = [{k: r[k] for k in ("max_in_flight", "rows", "rows_per_s", "rows_per_s_after_ray_init",
                                                    "maxrss_mb", "wall_s", "loadavg")} for r in results["schedule"]]
        summary["driver_peak_rss_mb"] = max(r["maxrss_mb"] for r in results["schedule"])
    if "batched" in results:
        summary["batched_rows_per_s"] = results["batched"]["rows_per_s"]
        summary["batched_rows_per_s_after_ray_init"] = results["batched"]["rows_per_s_after_ray_init"]
    if "generate" in results:
        summary["generate"] = results["generate"]
    print_json_summary(summary)


if __name__ == "__main__":
    main()
