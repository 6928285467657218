"""The driver at nightly scale, without rendering: a 10M-row manifest planned against a
done-index of 100M ids, a rerun of a 8M-row run, the submission loop, and Ray tasks.

Generates (once per --workdir; reused when it exists):
  manifest.parquet   --rows rows (default 10,000,000): image_id, uri, lat, lon, captured_at,
                     ids img-<n> for n in [--done - rows/2, --done + rows/2): half of them done
  out/_seig/done/    the done-index of --done ids (default 100,000,000) img-0 .. img-<done-1>,
                     added as 8 earlier runs (8 files per partition: the next add merges them)
  rerun-base/        a run's own results for the first 80% of the manifest: 90% ok, 10% failed
                     with storage_unreachable (transient), in parts of 100,000 rows
Then each phase runs in a fresh child process, so each peak RSS
(resource.getrusage(RUSAGE_SELF).ru_maxrss) is that phase's alone:

  plan        a new run id, history all: preflight + DoneIndex.load + pipeline.plan.make_plan.
              Target: under 60 s, driver RSS under 1.5 GB.
  plan_rerun  the same run id again over rerun-base's rows (copied fresh): keeps the OK rows,
              removes the transient rows from their parts (rewritten in place), plans new ones.
  loop        Driver.run() end to end with no Ray (each job answered in the driver at once):
              plan, every submission, every results row, then the done-index update (which
              merges every partition: the 9th file). On --loop-rows rows (default 1,000,000)
              around the done boundary: half done, half new (500,000 submissions); 0: all rows.
  schedule    Driver.run() with one trivial Ray task per image (--schedule-rows, default
              100,000, history off, an output without a done-index): tasks per second from
              the first submission to the last row, ray.wait collecting many refs at once.

Run:  .venv/bin/python bench/scale.py --workdir /tmp/seig-scale               # full size
      .venv/bin/python bench/scale.py --rows 200000 --done 2000000 --schedule-rows 5000   # quick check
Prints one line per phase (seconds, rows/s, peak RSS, load average before -> after) and
one `SUMMARY {json}` line at the end. Sets RAY_AUTH_MODE=disabled and a private RAY_TMPDIR.
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

CHUNK = 1_000_000
EARLIER_RUNS = 8


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cpu_s() -> float:
    """CPU seconds of this process (user + system): on a loaded machine a fairer figure than wall time."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def ids(start: int, n: int):
    """n ids 'img-<9 digits>' from `start`, built from buffers (no Python string per id)."""
    import numpy as np
    import pyarrow as pa

    idx = np.arange(start, start + n, dtype=np.int64)
    digits = np.empty((n, 9), dtype=np.uint8)
    v = idx.copy()
    for k in range(8, -1, -1):
        digits[:, k] = 48 + v % 10
        v //= 10
    prefix = np.broadcast_to(np.frombuffer(b"img-", np.uint8), (n, 4))
    data = np.concatenate([prefix, digits], axis=1).ravel()
    offsets = np.arange(n + 1, dtype=np.int32) * 13
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


# --- generation ------------------------------------------------------------------------
def generate(work: Path, rows: int, done: int, row_group: int) -> dict:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from pipeline.done_index import DoneIndex, add_hashes
    from pipeline.keys import hash128
    from pipeline.results import ResultsWriter
    from pipeline.spill import Spill

    t0 = time.perf_counter()
    first = max(0, done - rows // 2)
    schema = pa.schema([("image_id", pa.string()), ("uri", pa.string()), ("lat", pa.float64()),
                        ("lon", pa.float64()), ("captured_at", pa.timestamp("us", tz="UTC"))])
    rng = np.random.default_rng(0)

    def chunk(start: int, n: int) -> pa.Table:
        image_ids = ids(start, n)
        folder = pc.cast(pa.array(np.arange(start, start + n) % 1000), pa.string())
        uri = pc.binary_join_element_wise("s3://seig-photos/", folder, "/", image_ids, ".jpg", "")
        return pa.table({"image_id": image_ids, "uri": uri, "lat": rng.uniform(-60, 70, n),
                         "lon": rng.uniform(-180, 180, n),
                         "captured_at": pa.array(1_600_000_000_000_000 + np.arange(start, start + n) * 37_000_000,
                                                 pa.timestamp("us", tz="UTC"))}, schema=schema)

    with pq.ParquetWriter(work / "manifest.parquet", schema) as w:
        for s in range(0, rows, row_group):
            w.write_table(chunk(first + s, min(row_group, rows - s)), row_group_size=row_group)
    t_manifest = time.perf_counter() - t0

    t1 = time.perf_counter()
    out = str(work / "out")
    index = DoneIndex.load(out)
    per_run = -(-done // EARLIER_RUNS)
    for r in range(EARLIER_RUNS):
        spill = Spill(str(work / "gen-spill"), f"run{r}")
        lo, hi = r * per_run, min(done, (r + 1) * per_run)
        for s in range(lo, hi, CHUNK):
            add_hashes(spill, *hash128(ids(s, min(CHUNK, hi - s))))
        index.add([spill], {f"earlier-{r}": {"ok_rows": hi - lo}})
        spill.remove()
        print(f"  index: run {r + 1}/{EARLIER_RUNS} added ({hi:,} ids, {time.perf_counter() - t1:.0f} s)", flush=True)
    t_index = time.perf_counter() - t1

    t2 = time.perf_counter()
    base = work / "rerun-base"
    writer = ResultsWriter(str(base), "run", schema, 100_000, 1e9)
    n_run = int(rows * 0.8)
    for s in range(0, n_run, 100_000):
        n = min(100_000, n_run - s)
        src = chunk(first + s, n)
        failed = (np.arange(s, s + n) % 10) == 9
        writer.add_table(pa.table({
            "image_id": src["image_id"], "uri": src["uri"], "lat": src["lat"], "lon": src["lon"],
            "captured_at": src["captured_at"], "run_id": pa.array(["rerun"] * n),
            "status": pa.array(np.where(failed, "failed", "ok")),
            "error_kind": pa.array(np.where(failed, "storage_unreachable", None)),
            "attempts": pa.array(np.ones(n, np.int64)), "finished_at": pa.array(np.full(n, 1.0)),
            "manifest_row": pa.array(np.arange(s, s + n, dtype=np.int64))}))
    return {"manifest_s": round(t_manifest, 1), "index_s": round(t_index, 1),
            "rerun_base_s": round(time.perf_counter() - t2, 1),
            "manifest_mb": round((work / "manifest.parquet").stat().st_size / 2**20, 1),
            "index_mb": round(sum(p.stat().st_size for p in (work / "out" / "_seig").rglob("*")) / 2**20, 1)}


# --- phases (each in its own process) ----------------------------------------------
def _private_output(work: Path, name: str) -> Path:
    """A copy of the output root with its done-index hard-linked (instant; the index never
    changes a file in place), so a phase that updates the index leaves the data as it was."""
    out = work / name
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(work / "out" / "_seig", out / "_seig", copy_function=os.link)
    return out


def _cfg(work: Path, manifest: str, run_id: str, history, extra: list[str], output: Path | None = None):
    from pipeline.config import load_config

    return load_config(ROOT / "configs" / "local.yaml", [
        f"run.manifest={work / manifest}", f"run.output={output or work / 'out'}", f"run.run_id={run_id}",
        f"run.history={json.dumps(history)}", "run.results_flush_rows=10000", "run.results_flush_s=60", *extra])


def _plan(work: Path, cfg, run_id: str) -> dict:
    from pipeline.done_index import DoneIndex
    from pipeline.plan import make_plan
    from pipeline.preflight import preflight
    from pipeline.results import ResultsWriter

    t0, c0 = time.perf_counter(), cpu_s()
    manifest = preflight(cfg)
    index = DoneIndex.load(cfg.run.output)
    writer = ResultsWriter(cfg.run.output, run_id, manifest.dataset.schema, 10_000, 60)
    plan = make_plan(cfg, manifest, index, writer, run_id, {})
    writer.flush()
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    c = plan.counts
    shutil.rmtree(plan.work, ignore_errors=True)
    return {"rows": c.manifest_rows, "todo": c.todo, "done_earlier": c.done_earlier_runs, "kept": sum(c.kept.values()),
            "retried": sum(c.retried.values()), "removed_rows": c.removed_rows, "index_ids": index.rows,
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 1), "rows_per_s": round(c.manifest_rows / wall),
            "maxrss_mb": round(maxrss_mb(), 1)}


def phase_plan(work: Path, args) -> dict:
    run_id = f"plan-{os.getpid()}"
    return _plan(work, _cfg(work, "manifest.parquet", run_id, "all", args.set), run_id)


def phase_plan_rerun(work: Path, args) -> dict:
    run_id = f"rerun-{os.getpid()}"
    shutil.copytree(work / "rerun-base" / "run", work / "out" / run_id)
    try:
        return _plan(work, _cfg(work, "manifest.parquet", run_id, "all", args.set), run_id)
    finally:
        shutil.rmtree(work / "out" / run_id, ignore_errors=True)


def _ok_row(job) -> dict:
    return {"image_id": job.image_id, "uri": job.uri, "run_id": job.run_id, "status": "ok", "prefix": job.prefix,
            "attempts": 1, "finished_at": time.time(), "manifest_row": job.manifest_row, **job.passthrough}


def phase_loop(work: Path, args) -> dict:
    """Driver.run() with no Ray: each job is answered in the driver at once."""
    from pipeline.driver import Driver

    class NoRayDriver(Driver):
        def _start_pool(self) -> None:
            self.answers = {}

        def _submit(self, job):
            key = len(self.answers) + self.summary.submitted
            self.answers[key] = (_ok_row(job), job)
            return key

        def _drain(self, in_flight, writer, bar) -> None:
            for key in list(in_flight):
                in_flight.pop(key)
                row, job = self.answers.pop(key)
                self._record(writer, row, bar, job)

    manifest = "manifest.parquet"
    if args.loop_rows and args.loop_rows < args.rows:
        manifest = _slice(work, args.loop_rows, (args.rows - args.loop_rows) // 2)  # half done, half new
    run_id = f"loop-{os.getpid()}"
    out = _private_output(work, "out-loop")
    cfg = _cfg(work, manifest, run_id, "all", args.set, output=out)
    t0, c0 = time.perf_counter(), cpu_s()
    s = NoRayDriver(cfg, progress=False).run()
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    shutil.rmtree(out, ignore_errors=True)
    return {"rows": s.manifest_rows, "submitted": s.submitted, "ok": s.ok, "done_earlier": s.done_earlier_runs,
            "plan_s": s.plan_s, "wall_s": round(wall, 2), "cpu_s": round(cpu, 1),
            "rows_per_s": round(s.manifest_rows / wall),
            "submit_per_s": round(s.submitted / max(wall - s.plan_s, 1e-9)), "maxrss_mb": round(maxrss_mb(), 1),
            "arithmetic": s.check() or "ok"}


def _slice(work: Path, n: int, start: int = 0) -> str:
    """A manifest of n rows of the big one, from row `start` (made by the parent process,
    streamed, so no phase's peak RSS includes making it)."""
    import pyarrow.parquet as pq

    name = f"manifest-{start}-{n}.parquet"
    if (work / name).exists():
        return name
    pf = pq.ParquetFile(work / "manifest.parquet")
    seen = 0
    with pq.ParquetWriter(work / (name + ".tmp"), pf.schema_arrow) as w:
        for batch in pf.iter_batches(batch_size=100_000):
            lo, hi = max(start - seen, 0), min(start + n - seen, batch.num_rows)
            if lo < hi:
                w.write_batch(batch.slice(lo, hi - lo))
            seen += batch.num_rows
            if seen >= start + n:
                break
    os.replace(work / (name + ".tmp"), work / name)
    return name


def phase_schedule(work: Path, args) -> dict:
    import ray

    from pipeline.driver import Driver

    class NoRenderDriver(Driver):
        """The real driver loop; Ray without actors, one trivial task per image."""

        def _start_pool(self) -> None:
            t0 = time.perf_counter()
            self._ray_init()
            self.ray_init_s = time.perf_counter() - t0
            self.task = ray.remote(_ok_row).options(num_cpus=self.cfg.tasks.num_cpus,
                                                    max_retries=self.cfg.tasks.max_retries)
            self.t_first = time.perf_counter()

        def _submit(self, job):
            return self.task.remote(job)

        def _record(self, *a, **k):
            super()._record(*a, **k)
            self.t_last = time.perf_counter()

    run_id = f"schedule-{os.getpid()}"
    out = work / "out-schedule"  # no done-index: its update (a merge on the bench's 9th night) is the loop's
    shutil.rmtree(out, ignore_errors=True)
    cfg = _cfg(work, _slice(work, args.schedule_rows), run_id, [], args.set, output=out)
    t0 = time.perf_counter()
    d = NoRenderDriver(cfg, progress=False)
    s = d.run()
    wall = time.perf_counter() - t0
    ray.shutdown()
    shutil.rmtree(out, ignore_errors=True)
    sched = d.t_last - d.t_first  # first submission to last row
    return {"rows": s.manifest_rows, "ok": s.ok, "failed": s.failed, "wall_s": round(wall, 2),
            "ray_init_s": round(getattr(d, "ray_init_s", 0.0), 2), "rows_per_s": round(s.manifest_rows / wall),
            "tasks_per_s": round(s.submitted / max(sched, 1e-9)), "maxrss_mb": round(maxrss_mb(), 1),
            "max_in_flight": cfg.run.max_in_flight}


PHASES = {"plan": phase_plan, "plan_rerun": phase_plan_rerun, "loop": phase_loop, "schedule": phase_schedule}


def run_phase(name: str, work: Path, args) -> dict:
    cmd = [sys.executable, __file__, "--phase", name, "--workdir", str(work), "--rows", str(args.rows),
           "--loop-rows", str(args.loop_rows or 0), "--schedule-rows", str(args.schedule_rows)]
    for item in args.set:
        cmd += ["--set", item]
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
    ap.add_argument("--rows", type=int, default=10_000_000, help="manifest rows")
    ap.add_argument("--done", type=int, default=100_000_000, help="ids in the done-index")
    ap.add_argument("--row-group", type=int, default=100_000)
    ap.add_argument("--loop-rows", type=int, default=1_000_000,
                    help="manifest rows of the loop phase (0: all; the loop submits ~2,000 rows/s here)")
    ap.add_argument("--schedule-rows", type=int, default=100_000)
    ap.add_argument("--phases", default="plan,plan_rerun,loop,schedule")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    ap.add_argument("--workdir", default=None, help="keep data here (default: a temp dir, removed at the end)")
    ap.add_argument("--phase-timeout", type=float, default=3600)
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.phase:  # child process: one phase, one JSON line
        print("PHASE " + json.dumps(PHASES[args.phase](Path(args.workdir), args)))
        return

    print(f"machine: {machine()}")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="seig-bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"rows": args.rows, "done": args.done}
    marker = work / "generated.json"
    try:
        if not marker.exists() or json.loads(marker.read_text()) != {"rows": args.rows, "done": args.done}:
            shutil.rmtree(work / "out", ignore_errors=True)
            shutil.rmtree(work / "rerun-base", ignore_errors=True)
            print(f"generating {args.rows:,} manifest rows, a done-index of {args.done:,} ids and a run of "
                  f"{int(args.rows * 0.8):,} rows in {work} ...", flush=True)
            l0 = loadavg()
            results["generate"] = generate(work, args.rows, args.done, args.row_group)
            results["generate"]["loadavg"] = f"{l0} -> {loadavg()}"
            marker.write_text(json.dumps({"rows": args.rows, "done": args.done}))
            print(f"  {results['generate']}", flush=True)
        phases = [p.strip() for p in args.phases.split(",") if p.strip()]
        if "loop" in phases and args.loop_rows and args.loop_rows < args.rows:
            _slice(work, args.loop_rows, (args.rows - args.loop_rows) // 2)
        if "schedule" in phases:
            _slice(work, args.schedule_rows)
        for name in phases:
            print(f"phase {name} ...", flush=True)
            results[name] = run_phase(name, work, args)
            print(f"  {results[name]}", flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"{'phase':44s} {'rows':>11s} {'wall s':>8s} {'CPU s':>7s} {'rows/s':>9s} {'peak RSS MB':>12s}  "
          "load (1/5/15 min)")
    labels = {"plan": f"plan: new run vs {args.done:,} done ids", "plan_rerun": "plan: rerun of a run's own rows",
              "loop": "Driver.run(), no Ray: plan+submit+index", "schedule": "Driver.run(), one Ray task per image"}
    for name, label in labels.items():
        if name in results:
            r = results[name]
            cpu = f"{r['cpu_s']:7.1f}" if "cpu_s" in r else f"{'-':>7s}"
            print(f"{label:44s} {r['rows']:11,d} {r['wall_s']:8.1f} {cpu} {r['rows_per_s']:9,d} "
                  f"{r['maxrss_mb']:12.1f}  {r['loadavg']}")
    summary = {k: v for k, v in results.items()}
    summary["loadavg_end"] = loadavg()
    summary["peak_rss_mb"] = max((r["maxrss_mb"] for k, r in results.items() if isinstance(r, dict) and
                                  "maxrss_mb" in r), default=None)
    print_json_summary(summary)


if __name__ == "__main__":
    main()
