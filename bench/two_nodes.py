"""Scaling out: the real job on a two-node Ray cluster against one node, on this machine.

Measures the batch job (pipeline.driver.Driver.run(), unchanged) on a
ray.cluster_utils.Cluster started here:
  1 node   head num_cpus=1                          -> actors.count = 1
  2 nodes  head num_cpus=1 + worker node num_cpus=1 -> actors.count = 2
with actors.num_cpus=0.8 (so exactly one actor fits on each 1-CPU node: Ray must place
the second actor on the second node) and tasks.num_cpus=0.1 (two stage tasks fit next to
the actor on a node); each actor's Blender renders with 1 thread (floor of its CPUs).
Both runs take the same N images (default 10: the 5 sample photos, each under N/5
image_ids) with small settings: long side 64 px, 4 Cycles samples, rounds
{geometry: 2, materials: 1, composition: 1, lighting: 1}, the local config otherwise
(offline backend, 2 candidates, max_in_flight 4). The driver joins through
cfg.ray.address = cluster.address; each cluster is shut down (ray.shutdown, then
Cluster.shutdown) before the next starts.

Reports images/min, wall, Summary.render_efficiency and Blender render seconds per
layout, and the scaling ratio = images/min (2 nodes) / images/min (1 node); 2.0 would
be perfect. "job cores" is the CPU time of this process tree (driver, Ray, workers,
actors, Blender children; bench/_proctree.py) over the run's wall time, "busy cores" the
whole machine's (everyone's) over the same span: Ray's num_cpus is bookkeeping, not a
CPU limit, so a 1-node run's task processes may already use the second core. Note: both "nodes" share this machine's cores (2 here), so the 2-node run
has twice the Ray CPUs but not more hardware than the machine has; on a busy machine
the ratio is bounded by the cores actually free (see the load average printed).

Run:  .venv/bin/python bench/two_nodes.py                     # 10 images, 1 node then 2 nodes
      .venv/bin/python bench/two_nodes.py --images 2 --order 1,2     # quick check
      .venv/bin/python bench/two_nodes.py --order 1,2,2,1            # alternate to spread load drift
Sets RAY_AUTH_MODE=disabled and a private RAY_TMPDIR (the Cluster writes its address
there, so no other local ray.init() can join it). Prints a table and `SUMMARY {json}`.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
_RAY_TMP = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
os.environ["RAY_TMPDIR"] = _RAY_TMP

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from _common import busy_warning, loadavg, machine, print_json_summary  # noqa: E402
from _proctree import CpuSampler  # noqa: E402

from pipeline.config import load_config  # noqa: E402
from pipeline.driver import Driver  # noqa: E402

PHOTOS = ROOT / "examples" / "photos"
SMALL = ["reconstruct.long_side=64", "reconstruct.samples=4",
         "reconstruct.rounds={geometry: 2, materials: 1, composition: 1, lighting: 1}"]


def make_manifest(path: Path, n: int) -> None:
    photos = sorted(PHOTOS.glob("*.jpg"))
    ids = [f"{photos[i % len(photos)].stem}-{i // len(photos)}" for i in range(n)]
    uris = [str(photos[i % len(photos)].resolve()) for i in range(n)]
    pq.write_table(pa.table({"image_id": ids, "uri": uris}), path)


class PlacedDriver(Driver):
    """The real driver; notes the pool's start-up and on which node each actor runs."""

    def _start_pool(self) -> None:
        t0 = time.perf_counter()
        super()._start_pool()
        self.pool_start_s = time.perf_counter() - t0
        ray.get([a.info.remote() for a in self.actors])  # wait until every actor is up
        self.actors_ready_s = time.perf_counter() - t0
        try:
            from ray.util.state import list_actors

            self.actor_nodes = sorted(a.node_id[:8] for a in list_actors(filters=[("state", "=", "ALIVE")])
                                      if "BlenderActor" in a.class_name)
        except Exception as exc:  # noqa: BLE001 - the state API needs the dashboard; placement is forced anyway
            self.actor_nodes = [f"n/a ({type(exc).__name__})"]


def run_layout(nodes: int, manifest: str, out: str, args) -> dict:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        run_id = f"nodes{nodes}-{time.strftime('%H%M%S')}"
        cfg = load_config(args.config, [f"run.manifest={manifest}", f"run.output={out}", f"run.run_id={run_id}",
                                        "run.history=[]", f"ray.address={cluster.address}",
                                        f"actors.count={nodes}", f"actors.num_cpus={args.actor_cpus}",
                                        f"tasks.num_cpus={args.task_cpus}", *SMALL, *args.set])
        load0 = loadavg()
        driver = PlacedDriver(cfg, progress=False)
        with CpuSampler(0.25) as cpu:
            summary = driver.run()
        cluster_cpus = ray.cluster_resources().get("CPU")
        node_count = len([n for n in ray.nodes() if n["Alive"]])
        load1 = loadavg()
    finally:
        ray.shutdown()
        cluster.shutdown()
    return {"nodes": nodes, "alive_nodes": node_count, "cluster_cpus": cluster_cpus, "ok": summary.ok,
            "failed": summary.failed, "wall_s": summary.wall_s, "images_per_minute": summary.images_per_minute,
            "render_efficiency": summary.render_efficiency, "blender_render_s": summary.blender_render_s,
            "actors": summary.actors, "pool_start_s": round(getattr(driver, "pool_start_s", 0.0), 2),
            "actors_ready_s": round(getattr(driver, "actors_ready_s", 0.0), 2),
            "actor_nodes": getattr(driver, "actor_nodes", []), "failures": summary.failures_by_kind,
            "cpu": cpu.report(),
            "loadavg": f"{load0} -> {load1}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--order", default="1,2", help="layouts (node counts) in run order, e.g. 1,2,2,1")
    ap.add_argument("--actor-cpus", type=float, default=0.8)
    ap.add_argument("--task-cpus", type=float, default=0.1)
    ap.add_argument("--config", default=str(ROOT / "configs" / "local.yaml"))
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    print(f"machine: {machine()}")
    busy_warning()
    work = tempfile.mkdtemp(prefix="seig-bench-two-nodes-")
    manifest = os.path.join(work, "manifest.parquet")
    make_manifest(Path(manifest), args.images)
    runs = []
    try:
        for nodes in [int(x) for x in args.order.split(",")]:
            print(f"{nodes} node(s): {args.images} images ...", flush=True)
            r = run_layout(nodes, manifest, os.path.join(work, "out"), args)
            print(f"  {r}", flush=True)
            runs.append(r)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(_RAY_TMP, ignore_errors=True)

    print()
    print(f"{'nodes':>5s} {'CPUs':>5s} {'actors':>6s} {'ok':>4s} {'wall s':>8s} {'img/min':>8s} {'render eff':>10s} "
          f"{'render s':>9s} {'pool s':>7s} {'job cores':>9s} {'busy cores':>10s}  actor nodes / load (1/5/15 min)")
    for r in runs:
        print(f"{r['nodes']:5d} {r['cluster_cpus']:5.0f} {r['actors']:6d} {r['ok']:4d} {r['wall_s']:8.1f} "
              f"{r['images_per_minute']:8.2f} {r['render_efficiency']:10.3f} {r['blender_render_s']:9.1f} "
              f"{r['actors_ready_s']:7.1f} {r['cpu']['tree_cores']:9.2f} {r['cpu']['machine_busy_cores']:10.2f}  "
              f"{r['actor_nodes']} / {r['loadavg']}")

    def mean_ipm(n):
        v = [r["images_per_minute"] for r in runs if r["nodes"] == n]
        return sum(v) / len(v) if v else None

    one, two = mean_ipm(1), mean_ipm(2)
    ratio = round(two / one, 3) if one and two else None
    for r in runs:
        print(f"  {r['nodes']} node(s): CPU-s by process kind {r['cpu']['by_kind_cpu_s']}")
    print(f"scaling ratio (images/min 2 nodes / 1 node): {ratio}")
    print_json_summary({"images": args.images, "images_per_minute_1_node": one, "images_per_minute_2_nodes": two,
                        "scaling_ratio": ratio, "runs": runs, "actor_cpus": args.actor_cpus,
                        "task_cpus": args.task_cpus, "loadavg_end": loadavg()})


if __name__ == "__main__":
    main()
