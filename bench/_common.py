"""Shared helpers for the benchmarks in bench/: scene variants, statistics, machine load.

Not a benchmark itself. The scripts run as `.venv/bin/python bench/NAME.py`, which puts
bench/ on sys.path, so they import this module as `_common`.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys

from scene_program.examples import box_scene, street_scene
from scene_program.model import Render
from scene_program.writer import write_program


def street_variants(count: int, width: int, height: int, samples: int) -> list[str]:
    """`count` street programs that differ in camera yaw/pitch and sun azimuth/elevation.

    Deterministic (no randomness): variant i spreads evenly over yaw -12..12 deg,
    sun azimuth -100..100 deg and elevation 20..60 deg, so every run renders the same set.
    """
    programs = []
    for i in range(count):
        f = i / max(1, count - 1)
        scene = street_scene(render=Render(width=width, height=height, samples=samples))
        cam = scene.composition.camera.model_copy(update={
            "yaw_deg": -12.0 + 24.0 * f,
            "pitch_deg": -2.0 + 2.0 * ((i % 3) - 1),
        })
        sun = scene.lighting.sun.model_copy(update={
            "azimuth_deg": -100.0 + 200.0 * ((i * 7) % count) / max(1, count - 1),
            "elevation_deg": 20.0 + 40.0 * ((i * 11) % count) / max(1, count - 1),
        })
        scene = scene.model_copy(update={
            "composition": scene.composition.model_copy(update={"camera": cam}),
            "lighting": scene.lighting.model_copy(update={"sun": sun}),
        })
        programs.append(write_program(scene))
    return programs


def box_variants(count: int) -> list[str]:
    """Small box scenes (different sizes and colours): the cheapest valid programs."""
    colors = [(0.8, 0.2, 0.2), (0.2, 0.7, 0.3), (0.2, 0.3, 0.8), (0.9, 0.8, 0.2)]
    return [write_program(box_scene(size=0.6 + 0.3 * i, color=colors[i % len(colors)])) for i in range(count)]


def median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def percentile(values, q: float) -> float:
    """Nearest-rank percentile, q in [0, 100]."""
    values = sorted(values)
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, round(q / 100 * (len(values) - 1))))
    return values[k]


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "n/a"


def busy_warning() -> bool:
    """Print a warning (and return True) when the machine is already busy: the figures will be noisy."""
    try:
        one_min = float(loadavg().split()[0])
    except ValueError:
        return False
    cpus = os.cpu_count() or 1
    if one_min > 0.75 * cpus:
        print(f"WARNING: load average {one_min:.2f} on {cpus} CPUs before the run: other work is using the "
              "machine, timings will be noisy (rerun on a quiet machine for figures to quote)")
        return True
    return False


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform(),
            "loadavg": loadavg()}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def print_json_summary(summary: dict) -> None:
    """The last line of every benchmark: one JSON object, easy to grep and to compare."""
    print("SUMMARY " + json.dumps(summary, sort_keys=True))


def contact_sheet(tiles: list[list], path) -> None:
    """Rows of PIL images pasted into one grid (4 px gaps, cells as large as the largest
    first tile), saved to `path`: what a person looks at after a quality benchmark."""
    from PIL import Image

    w, h = max(t[0].size[0] for t in tiles), max(t[0].size[1] for t in tiles)
    cols = max(len(t) for t in tiles)
    sheet = Image.new("RGB", (cols * (w + 4), len(tiles) * (h + 4)), "white")
    for k, row in enumerate(tiles):
        for j, tile in enumerate(row):
            sheet.paste(tile, (j * (w + 4), k * (h + 4)))
    sheet.save(path)
