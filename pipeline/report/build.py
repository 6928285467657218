"""Write a run's report: `<out>/index.html`, `static/`, `thumbs/` (and `files/` when the
linked files live on other storage). `index.html` is written last, so a report folder
with an index is a complete one.
"""
from __future__ import annotations

import os
import posixpath
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

import numpy as np
import pyarrow.compute as pc
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel

from pipeline.report import charts
from pipeline.report.assets import Assets
from pipeline.report.data import SCORE_STEPS, ReportError, failure_groups, overview, read_results, read_summary, \
    select_cards
from pipeline.report.model import RunData
from pipeline.storage import write_bytes, write_text

STATIC = ("report.css", "report.js")
SHORT = {"composition": "compos."}  # column heads of a card's score table


class ReportOptions(BaseModel):
    """How many cards, and how they are chosen (see `data.select_cards`)."""
    all_below: int = 300  # a run with at most this many rows gets a card per image
    best: int = 24  # otherwise: the best and the worst this many by final PSNR,
    random: int = 96  # this many at random,
    per_kind: int = 5  # and this many failures of each kind
    failure_cap: int = 50  # rows listed per kind in the failures table
    seed: int = 0
    line_sample: int = 200  # per-image lines at most in the PSNR chart
    workers: int = 8  # threads making thumbnails (I/O bound on object storage)


class ReportResult(BaseModel):
    index: str
    cards: int
    thumbnails_made: int
    seconds: float


def _num(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "\u2013"
    return f"{value:,.{digits}f}"


def _attrnum(value) -> str:
    return "" if value is None or (isinstance(value, float) and not np.isfinite(value)) else repr(float(value))


def _duration(seconds) -> str:
    if seconds is None:
        return "\u2013"
    s = int(round(seconds))
    if s < 120:
        return f"{seconds:.0f} s"
    h, rem = divmod(s, 3600)
    return f"{h} h {rem // 60:02d} min" if h else f"{rem // 60} min {rem % 60:02d} s"


def environment() -> Environment:
    env = Environment(loader=PackageLoader("pipeline.report", "templates"), autoescape=select_autoescape(["j2", "html"]),
                      undefined=StrictUndefined, trim_blocks=False)
    env.filters.update(num=_num, attrnum=_attrnum, duration=_duration)
    return env


def normalise_root(run_uri: str) -> str:
    run_uri = run_uri.rstrip("/")
    return run_uri if "://" in run_uri else os.path.abspath(run_uri)


def write_report(run_uri: str, out: str | None = None, storage_options: dict | None = None,
                 options: ReportOptions | None = None) -> ReportResult:
    """Read the run at `run_uri` (`<output>/<run_id>`, any fsspec URI) and write its report
    to `out` (default `<run_uri>/report`). Raises ReportError when there is nothing to report."""
    t0 = time.monotonic()
    opts = options or ReportOptions()
    storage_options = storage_options or {}
    root = normalise_root(run_uri)
    out = normalise_root(out) if out else posixpath.join(root, "report")
    table, warnings = read_results(root, storage_options)
    summary = read_summary(root, storage_options)
    if summary is None:
        warnings.append("summary.json not found: the run is still going or its driver stopped early; "
                        "run time and throughput are estimated from the rows' finish times")
    elif summary.get("aborted"):
        warnings.append(f"the job aborted: {summary['aborted']}")
    ov = overview(table, summary)
    failures = failure_groups(table, opts.failure_cap)
    selection = select_cards(table, opts.all_below, opts.best, opts.random, opts.per_kind, opts.seed)

    assets = Assets(root, out, storage_options)
    with ThreadPoolExecutor(max_workers=opts.workers) as pool:
        cards = list(pool.map(assets.card, selection.cards))

    ok_mask = pc.fill_null(pc.equal(table["status"], "ok"), False)
    lines = [{s: c.row.get(f"{s}_psnr") for s in SCORE_STEPS} for c in cards  # unbiased: no best/worst
             if c.row.status == "ok" and {"all", "random"} & set(c.row.tags)]
    chart_svgs = {
        "psnr": charts.psnr_by_stage(ov, lines[:opts.line_sample]),
        "stage_time": charts.time_by_stage(ov),
        "image_time": charts.histogram(table["time_s"].filter(ok_mask).to_numpy().astype(float),
                                       "time per image", "seconds per image"),
        "final_psnr": charts.histogram(table["final_psnr"].filter(ok_mask).to_numpy().astype(float),
                                       "final PSNR", "final PSNR (dB)"),
    }
    kinds = sorted({g.kind for g in failures})
    data = RunData(run_uri=root, run_id=(summary or {}).get("run_id") or posixpath.basename(root),
                   generated_at=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), overview=ov,
                   failures=failures, selection_note=selection.note,
                   sampled=selection.sampled, cards=cards,
                   charts=chart_svgs, warnings=warnings, kinds=kinds)
    html = environment().get_template("index.html.j2").render(d=data, steps=SCORE_STEPS, short=SHORT)
    for name in STATIC:
        data_bytes = resources.files("pipeline.report").joinpath("static", name).read_bytes()
        write_bytes(posixpath.join(out, "static", name), data_bytes, **storage_options)
    index = posixpath.join(out, "index.html")
    write_text(index, html, **storage_options)
    return ReportResult(index=index, cards=len(cards), thumbnails_made=assets.made,
                        seconds=round(time.monotonic() - t0, 2))


__all__ = ["ReportError", "ReportOptions", "ReportResult", "write_report"]
