"""The run report at a million images: time and peak memory of `write_report`.

Writes a synthetic run: --rows results rows (default 1,000,000) in parts of --part-rows
rows (default 200 = run.results_flush_rows: the 5,000 part files a real 1M-image run
leaves), pipeline.results.SCHEMA with plausible scores and timings, 2% failed over four
error kinds, every row's photo pointing at one of the sample photos and every ok row's
render at a rendered PNG (one file, linked under each sampled image's folder). Then runs
`seig report` on it in a fresh child process twice: the first makes every thumbnail,
the second finds them all made. Prints each run's seconds, peak RSS, cards, thumbnails
made, and the report's size on disk, then one `SUMMARY {json}` line.

Run:  .venv/bin/python bench/report_scale.py                     # 1M rows
      .venv/bin/python bench/report_scale.py --rows 20000        # quick check
      .venv/bin/python bench/report_scale.py --workdir /tmp/seig-report-scale   # keep the data
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

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.results import SCHEMA, STAGES  # noqa: E402


def make_run(run: Path, rows: int, part_rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    photos = sorted(str(p) for p in (ROOT / "examples" / "photos").glob("*.jpg"))
    render = run / "_render.png"
    run.mkdir(parents=True)
    from PIL import Image

    Image.open(photos[0]).convert("RGB").resize((256, 192)).save(render)
    (run / "results").mkdir()
    kinds = np.array(["photo_corrupt", "photo_missing", "vlm_budget", "task"])
    for start in range(0, rows, part_rows):
        n = min(part_rows, rows - start)
        ids = [f"img{i:08d}" for i in range(start, start + n)]
        failed = rng.random(n) < 0.02
        base = rng.normal(17, 2.5, n)
        cols = {"image_id": ids, "uri": [photos[i % len(photos)] for i in range(start, start + n)],
                "run_id": ["scale"] * n, "status": np.where(failed, "failed", "ok").tolist(),
                "error_kind": np.where(failed, kinds[rng.integers(0, 4, n)], None).tolist(),
                "error_message": np.where(failed, "synthetic failure", None).tolist()}
        psnr = base - 0.6
        for step in ("initial", *STAGES):
            psnr = psnr + (rng.random(n) * 0.3 if step != "initial" else 0)
            cols[f"{step}_psnr"] = np.where(failed, np.nan, psnr)
            cols[f"{step}_ssim"] = np.where(failed, np.nan, rng.uniform(0.2, 0.8, n))
        cols["final_psnr"], cols["final_ssim"] = cols["lighting_psnr"], cols["lighting_ssim"]
        for stage in STAGES:
            cols[f"{stage}_time_s"] = np.where(failed, np.nan, rng.gamma(4, 1.5, n))
        cols["time_s"] = np.where(failed, np.nan, sum(cols[f"{s}_time_s"] for s in STAGES) + rng.gamma(2, 2, n))
        cols["finished_at"] = 1.7e9 + np.arange(start, start + n) * 0.05
        table = pa.table({f.name: pa.array(cols[f.name], f.type, from_pandas=True) if f.name in cols
                          else pa.nulls(n, f.type) for f in SCHEMA}, schema=SCHEMA)
        pq.write_table(table, run / "results" / f"part-{start // part_rows:06d}.parquet")


def link_renders(run: Path) -> None:
    """A render for every image id a report of this run could pick (any ok row): hard
    links to one PNG would be 1M files, so only the ids the report picks are linked,
    found by a dry selection with the same options the report uses."""
    from pipeline.report.build import ReportOptions
    from pipeline.report.data import read_results, select_cards

    o = ReportOptions()
    table, _ = read_results(str(run), {})
    for row in select_cards(table, o.all_below, o.best, o.random, o.per_kind, o.seed).cards:
        d = run / "scenes" / row.image_id
        d.mkdir(parents=True, exist_ok=True)
        if not (d / "render.png").exists():
            os.link(run / "_render.png", d / "render.png")
        (d / "scene.py").write_text("# scene\n")
        (d / "record.json").write_text("{}")


def child(run: str) -> None:
    from pipeline.report import write_report

    t0 = time.monotonic()
    result = write_report(run)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps({"seconds": round(time.monotonic() - t0, 2), "peak_rss_mb": round(peak_mb),
                                  "cards": result.cards, "thumbnails_made": result.thumbnails_made}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--part-rows", type=int, default=200)
    ap.add_argument("--workdir")
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        return child(args.child)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="seig-report-scale-"))
    run = work / f"run-{args.rows}"
    if not (run / "results").exists():
        t0 = time.monotonic()
        make_run(run, args.rows, args.part_rows)
        link_renders(run)
        print(f"made {args.rows:,} rows in {len(list((run / 'results').iterdir())):,} parts "
              f"in {time.monotonic() - t0:.0f} s")
    shutil.rmtree(run / "report", ignore_errors=True)
    out = {"rows": args.rows, "parts": -(-args.rows // args.part_rows), "load": os.getloadavg()[0]}
    for phase in ("first", "again"):
        res = subprocess.run([sys.executable, __file__, "--child", str(run)], capture_output=True, text=True)
        if res.returncode:
            sys.exit(res.stderr)
        line = next(ln for ln in res.stdout.splitlines() if ln.startswith("RESULT "))
        out[phase] = json.loads(line[7:])
        print(f"{phase:6s} report: {out[phase]['seconds']:.1f} s, peak RSS {out[phase]['peak_rss_mb']} MB, "
              f"{out[phase]['cards']} cards, {out[phase]['thumbnails_made']} thumbnails made "
              f"(load {os.getloadavg()[0]:.1f})")
    size = sum(p.stat().st_size for p in (run / "report").rglob("*") if p.is_file())
    out["report_mb"] = round(size / 1e6, 2)
    out["index_kb"] = round((run / "report" / "index.html").stat().st_size / 1e3)
    print(f"report on disk: {out['report_mb']} MB (index.html {out['index_kb']} kB)")
    print("SUMMARY " + json.dumps(out))
    if not args.workdir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
