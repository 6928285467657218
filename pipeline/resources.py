"""Can the cluster hold the job? Checked at start, watched while it runs.

Why: with the defaults (2 actors x 1 CPU) on a 2-core machine the actors took every CPU,
the stage tasks waited for a CPU forever, and `seig run` hung with no message. Now:
- a local Ray (no `ray.address`): `actors.num_cpus`, unless the config sets it, is
  derived from the CPUs Ray reports (the actors share what is left after one CPU for
  the stage tasks); then the actors plus one task must fit, or the job stops before it
  starts, naming the fields;
- any cluster (an autoscaler may still add nodes): the watchdog fails the job when,
  for `ray.resource_wait_s`, render actors cannot start, or images are in flight with
  no stage task running and no CPU free for one, naming the shortfall.
"""
from __future__ import annotations

import time

import ray

TASK_RESERVE_CPUS = 1.0  # what a local Ray keeps for the stage tasks when it derives actors.num_cpus


class ResourceError(RuntimeError):
    """The cluster cannot run the job; one line naming the fields to change."""


def fit_local(cfg, total_cpus: float, total_gpus: float) -> str | None:
    """Derive actors.num_cpus for a local Ray (when not set) and check that the job fits.
    Returns a note when something was derived."""
    actors, tasks = cfg.actors, cfg.tasks
    note = None
    if "num_cpus" not in actors.model_fields_set:
        reserve = TASK_RESERVE_CPUS if total_cpus >= 2 else total_cpus / 2
        actors.num_cpus = max(0.05, min(1.0, round((total_cpus - reserve) / actors.count, 2)))
        note = (f"actors.num_cpus {actors.num_cpus:g} (derived: {actors.count} actors share {total_cpus:g} CPUs "
                f"less {reserve:g} for the stage tasks)")
    need = actors.count * actors.num_cpus + tasks.num_cpus
    if need > total_cpus + 1e-9:
        raise ResourceError(
            f"actors.count {actors.count} x actors.num_cpus {actors.num_cpus:g} + tasks.num_cpus {tasks.num_cpus:g} "
            f"= {need:g} CPUs, but this Ray has {total_cpus:g} (ray.num_cpus): the stage tasks could never run; "
            "lower actors.num_cpus or actors.count")
    if actors.count * actors.num_gpus > total_gpus + 1e-9:
        raise ResourceError(
            f"actors.count {actors.count} x actors.num_gpus {actors.num_gpus:g} = {actors.count * actors.num_gpus:g} "
            f"GPUs, but this Ray has {total_gpus:g} (ray.num_gpus): set actors.num_gpus to 0 or give Ray GPUs")
    return note


def fit_before_start(cfg) -> str | None:
    """A local Ray (no ray.address, no RAY_ADDRESS): fit_local with the CPUs and GPUs Ray
    has or will detect, before anything starts. A cluster is watched instead (Watchdog)."""
    import os

    rc = cfg.ray
    if rc.address or os.environ.get("RAY_ADDRESS"):
        return None
    if ray.is_initialized():
        res = ray.cluster_resources()
        cpus, gpus = res.get("CPU", 0.0), res.get("GPU", 0.0)
    else:
        from ray._private.utils import get_num_cpus

        cpus = float(rc.num_cpus or get_num_cpus())
        gpus = float(rc.num_gpus) if rc.num_gpus is not None else float("inf")  # Ray detects GPUs itself
    return fit_local(cfg, cpus, gpus)


def _fmt(resources: dict) -> str:
    return ", ".join(f"{resources.get(k, 0):g} {k}" for k in ("CPU", "GPU"))


class Watchdog:
    """Fails a job that cannot make progress for lack of resources (see the module doc)."""

    def __init__(self, cfg, n_actors: int):
        self.cfg = cfg
        self.started = time.monotonic()
        self.last_progress = self.started
        self.ready: set[int] = set()
        self.n_actors = n_actors
        self.jobs_seen = 0

    def actor_answered(self, index: int, jobs: int | None = None) -> None:
        self.ready.add(index)
        if jobs is not None and jobs != self.jobs_seen:
            self.jobs_seen = jobs
            self.progress()

    def progress(self) -> None:
        self.last_progress = time.monotonic()

    def check(self, in_flight: int) -> str | None:
        """A one-line reason to stop the job, or None."""
        wait = self.cfg.ray.resource_wait_s
        now = time.monotonic()
        a, t = self.cfg.actors, self.cfg.tasks
        if len(self.ready) < self.n_actors and now - self.started > wait:
            return (f"{self.n_actors - len(self.ready)} of {self.n_actors} render actors did not start within {wait:g} s "
                    f"(ray.resource_wait_s): each needs {a.num_cpus:g} CPU and {a.num_gpus:g} GPU (actors.num_cpus, "
                    f"actors.num_gpus); the cluster has {_fmt(ray.cluster_resources())}, "
                    f"{_fmt(ray.available_resources())} free")
        if not in_flight or now - self.last_progress <= wait:
            return None
        total = ray.cluster_resources().get("CPU", 0.0)
        free = ray.available_resources().get("CPU", 0.0)
        actor_cpus = len(self.ready) * a.num_cpus
        task_cpus = total - free - actor_cpus
        if task_cpus < t.num_cpus / 2 and free < t.num_cpus:
            return (f"no stage task could start for {wait:g} s (ray.resource_wait_s): each needs tasks.num_cpus "
                    f"{t.num_cpus:g} CPU, {free:g} of {total:g} CPUs are free and the {len(self.ready)} render actors "
                    f"hold {actor_cpus:g} (actors.count x actors.num_cpus); lower actors.num_cpus or tasks.num_cpus, "
                    "or add CPUs")
        return None
