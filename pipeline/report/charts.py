"""The report's charts: matplotlib drawn to SVG text that goes inline into the page.

Inline SVG needs no script, no network and no extra file, prints, and stays sharp at any
zoom. Every chart is drawn from run-wide aggregates (quantiles, histograms) plus at most
a bounded sample of per-image lines, so its size does not grow with the run.
"""
from __future__ import annotations

import io
import re
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display, ever
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.report.model import Overview  # noqa: E402

INK, MUTED, ACCENT, GRID = "#1f2933", "#7b8794", "#2f6fdf", "#e4e7eb"
STYLE = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable, drawn in the page's font
    "font.family": "sans-serif", "font.size": 9, "axes.edgecolor": MUTED, "axes.labelcolor": INK,
    "xtick.color": INK, "ytick.color": INK, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "grid.color": GRID, "axes.axisbelow": True, "figure.dpi": 100,
}


def _svg(fig, name: str) -> str:
    """The figure as an <svg> element for inline use (no XML prolog, no fixed pixel size)."""
    with plt.rc_context({"svg.hashsalt": name}):  # stable, distinct ids per chart on one page
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', rf'<svg\1 class="chart" role="img" '
                  rf'aria-label="{name}"', text, count=1)
    return text


def _empty(name: str, message: str) -> str:
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, message, ha="center", va="center", color=MUTED)
        return _svg(fig, name)


def psnr_by_stage(ov: Overview, lines: Sequence[dict[str, float | None]]) -> str:
    """Boxes of PSNR after each step across the run's finished images, the median joined
    across steps, and thin lines for a sample of single images ({step: PSNR} each): do
    the stages help? A step no image has a score for (a stage with no rounds) is left out."""
    steps = [s for s in ov.scores if s.step != "final" and s.psnr.n]
    if not steps:
        return _empty("PSNR after each stage", "no finished image yet: nothing to chart")
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 3.2))
        x = np.arange(len(steps))
        for line in lines:
            ys = np.array([np.nan if line.get(s.step) is None else line[s.step] for s in steps], dtype=float)
            ax.plot(x, ys, color=MUTED, alpha=0.25 if len(lines) > 20 else 0.45, lw=0.8, zorder=1)
        stats = [{"med": s.psnr.median, "q1": s.psnr.q1, "q3": s.psnr.q3, "whislo": s.psnr.p05,
                  "whishi": s.psnr.p95, "mean": s.psnr.mean, "fliers": [], "label": s.step} for s in steps]
        ax.bxp(stats, positions=x, widths=0.45, showmeans=False, patch_artist=True, zorder=2,
               boxprops={"facecolor": "#dbe7fb", "edgecolor": ACCENT}, medianprops={"color": ACCENT, "lw": 2},
               whiskerprops={"color": ACCENT}, capprops={"color": ACCENT})
        med = [s.psnr.median for s in steps]
        ax.plot(x, med, color=ACCENT, marker="o", lw=2, zorder=3)
        for xi, m in zip(x, med):
            ax.annotate(f"{m:.2f}", (xi, m), textcoords="offset points", xytext=(0, 8), ha="center",
                        color=INK, fontsize=8)
        ax.set_xticks(x, [s.step for s in steps])
        ax.set_ylabel("PSNR (dB)")
        gain = med[-1] - med[0]
        ax.set_title(f"median {med[0]:.2f} dB after {steps[0].step} -> {med[-1]:.2f} dB after "
                     f"{steps[-1].step} ({gain:+.2f} dB), {steps[0].psnr.n:,} images",
                     fontsize=9, color=INK, loc="left")
        return _svg(fig, "PSNR after each stage")


def time_by_stage(ov: Overview) -> str:
    """Seconds per image in each stage: the mean (bar), the median and 5th-95th percentile."""
    times = [t for t in ov.stage_times if t.n]
    if not times:
        return _empty("time per stage", "no finished image yet: nothing to chart")
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(4.2, 2.6))
        y = np.arange(len(times))[::-1]
        ax.barh(y, [t.mean for t in times], color=ACCENT, height=0.6)
        ax.errorbar([t.median for t in times], y, xerr=[[t.median - t.p05 for t in times],
                    [t.p95 - t.median for t in times]], fmt="o", ms=3, color=INK, lw=1, capsize=3, zorder=3)
        for yi, t in zip(y, times):
            ax.annotate(f"{t.mean:.2f} s", (max(t.mean, t.p95), yi), textcoords="offset points", xytext=(6, 3),
                        fontsize=8, color=INK)
        ax.set_yticks(y, [t.stage for t in times])
        ax.set_xlabel("seconds per image")
        ax.set_xlim(0, max(max(t.p95 for t in times) * 1.25, 1e-3))
        ax.grid(axis="y", visible=False)
        return _svg(fig, "time per stage")


def histogram(values: np.ndarray, name: str, xlabel: str, bins: int = 30) -> str:
    """A histogram of one per-image figure across the run (all rows: numpy on the column)."""
    values = values[np.isfinite(values)]
    if not values.size:
        return _empty(name, "no finished image yet: nothing to chart")
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(4.2, 2.6))
        ax.hist(values, bins=min(bins, max(3, values.size)), color=ACCENT, alpha=0.85)
        med = float(np.median(values))
        ax.axvline(med, color=INK, lw=1, ls="--")
        ax.annotate(f"median {med:.3g}", (med, ax.get_ylim()[1]), textcoords="offset points", xytext=(4, -12),
                    fontsize=8, color=INK)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("images")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        return _svg(fig, name)
