"""VLM cost per image, from measured requests: calls, prompt and completion tokens, the
share of the prompt a prefix cache serves, the prefix every call of an image shares, the
reply tokens per round, and the cost per million images at the prices in vlm_prices.yaml.

    .venv/bin/python bench/vlm_cost.py [--format patch] [--photos 5] [--long-side 512]
    # the code before a change, against the same server and model:
    git archive REV | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before .venv/bin/python bench/vlm_cost.py --format whole

The reconstruction is real (the engine, the backend, Blender renders of every candidate,
the sample photos' offline initial programs); the model is bench/vlm_model.py behind the
protocol-true fake endpoint, in its own process: Qwen's tokenizer counts every token and
vLLM's prefix cache (16-token blocks, unbounded) says what is cached. What a real model
would write differs; the layout, the sizes of the program, photo and renders, and the
reply formats are what is measured.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def _load(uptime: str) -> str:
    return uptime.split("load average:")[-1].strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--format", choices=["patch", "whole"], default="patch",
                    help="how the scripted model answers a generator (whole: as before patches)")
    ap.add_argument("--photos", type=int, default=5)
    ap.add_argument("--long-side", type=int, default=512, help="render size (the render is in the requests)")
    ap.add_argument("--samples", type=int, default=1)
    ap.add_argument("--model", default="Qwen/Qwen2.5-VL-7B-Instruct")
    ap.add_argument("--prices", default=str(HERE / "vlm_prices.yaml"))
    args = ap.parse_args()

    from blender_actors.config import WorkerConfig
    from blender_actors.worker import BlenderWorker
    from pipeline.single import render_settings
    from stages.backends.openai_backend import OpenAIBackend, OpenAIConfig
    from stages.config import ReconstructConfig
    from stages.definitions import stages_with_rounds
    from stages.engine import reconstruct
    from stages.photo import load

    import stages

    code = Path(stages.__file__).resolve().parent.parent
    photos = sorted((HERE.parent / "examples" / "photos").glob("*.jpg"))[:args.photos]
    stats = Path(tempfile.mkdtemp()) / "stats.json"
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    server = subprocess.Popen([sys.executable, str(HERE / "vlm_model.py"), "--format", args.format, "--stats",
                               str(stats)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    base_url = server.stdout.readline().strip()
    cfg = ReconstructConfig(long_side=args.long_side, samples=args.samples)
    per_image = []
    t0 = time.time()
    try:
        with BlenderWorker(WorkerConfig(job_timeout_s=120, threads=2)) as worker:
            for path in photos:
                photo = load(str(path))
                photo.name = path.stem
                backend = OpenAIBackend(OpenAIConfig(base_url=base_url, model=args.model, api_key_env=None,
                                                     max_retries=0, timeout_s=60))
                rec = reconstruct(photo, backend, worker, render_settings(photo.size, cfg), stages_with_rounds())
                rounds = [r for s in rec.stages for r in s.rounds if r.round > 0]
                per_image.append({"image": path.stem, "final_psnr": rec.final_scores.psnr if rec.final_scores else None,
                                  "failed_rounds": sum(1 for r in rounds if r.error or not any(c.scores for c in
                                                                                               r.candidates)),
                                  "kept": sum(1 for r in rounds if r.kept)})
    finally:
        server.stdin.close()
        server.wait(timeout=120)
    rows = json.loads(stats.read_text())
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    prices = yaml.safe_load(Path(args.prices).read_text())["models"]
    by_photo: dict[str, list[dict]] = {}
    for r in rows:
        by_photo.setdefault(r["photo"], []).append(r)
    print(f"code: {code}  format: {args.format}  photos: {len(photos)}  render long side {args.long_side}  "
          f"wall {time.time() - t0:.0f} s  load {load}")
    print("image | calls | prompt tokens | cached | cached share | completion | shared prefix | "
          "generator reply (mean) | verifier reply (mean) | kept / failed rounds")
    totals = []
    for (photo, calls), info in zip(by_photo.items(), per_image):
        prompt = sum(c["prompt"] for c in calls)
        cached = sum(c["cached"] for c in calls)
        completion = sum(c["completion"] for c in calls)
        shared = min(c["shared_with_first"] for c in calls)
        gen = [c["completion"] for c in calls if c["job"] == "generator"]
        ver = [c["completion"] for c in calls if c["job"] == "verifier"]
        totals.append((len(calls), prompt, cached, completion, shared, gen, ver))
        print(f"{info['image']} | {len(calls)} | {prompt} | {cached} | {cached / prompt:.2f} | {completion} | {shared} | "
              f"{statistics.mean(gen):.0f} | {statistics.mean(ver) if ver else 0:.0f} | "
              f"{info['kept']} / {info['failed_rounds']}")
    n = len(totals)
    mean = [sum(t[i] for t in totals) / n for i in range(5)]
    gen_all = [x for t in totals for x in t[5]]
    ver_all = [x for t in totals for x in t[6]]
    print(f"mean per image: {mean[0]:.1f} calls, {mean[1]:.0f} prompt tokens ({mean[2] / mean[1]:.2f} cached), "
          f"{mean[3]:.0f} completion tokens, shared prefix {mean[4]:.0f} tokens; reply tokens per generator round "
          f"{statistics.mean(gen_all):.0f} (max {max(gen_all)}), per verifier {statistics.mean(ver_all):.0f}")
    for name, p in prices.items():
        per_image_usd = ((mean[1] - mean[2]) * p["prompt"] + mean[2] * p["cached_prompt"]
                         + mean[3] * p["completion"]) / 1e6
        no_cache = (mean[1] * p["prompt"] + mean[3] * p["completion"]) / 1e6
        print(f"{name}: ${per_image_usd * 1e6:,.0f} per million images (${no_cache * 1e6:,.0f} without a prefix "
              f"cache) at {p['prompt']}/{p['cached_prompt']}/{p['completion']} USD per M prompt/cached/completion")


if __name__ == "__main__":
    main()
