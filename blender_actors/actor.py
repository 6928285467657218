"""A Ray actor that owns one warm BlenderWorker.

Resources come from config (`num_cpus`, fractional `num_gpus`); inside the actor the
worker's render threads are set to the CPUs Ray assigned and the device to GPU when Ray
assigned one (Cycles then tries OptiX, CUDA, ...; the record says which it used).
The actor takes concurrent calls (`max_concurrency`) so that a stage task blocked on a
render never deadlocks a caller that waits on it; the worker's lock serialises the
renders themselves, and Blender lives in its own process, so no bpy on side threads.
"""
from __future__ import annotations

import math
import os

import ray
from pydantic import BaseModel, ConfigDict, Field

from blender_actors.config import WorkerConfig
from blender_actors.protocol import RenderRequest, RenderResult, WorkerStats
from blender_actors.worker import BlenderWorker


class ActorResources(BaseModel):
    model_config = ConfigDict(extra="forbid")
    num_cpus: float = Field(1.0, ge=0)
    num_gpus: float = Field(0.0, ge=0)
    max_concurrency: int = Field(4, ge=1)
    max_restarts: int = Field(3, ge=0, description="bounded: a crash-looping actor fails instead of looping")


class BlenderActor:
    """Ray-side wrapper; plain class so it is testable without Ray (`ray.remote` below)."""

    def __init__(self, config: WorkerConfig):
        gpu_ids = ray.get_gpu_ids() if ray.is_initialized() else []
        cpus = 1.0
        if ray.is_initialized():
            cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
        threads = config.threads or max(1, math.floor(cpus))
        device = config.device
        if device == "auto":
            device = "gpu" if gpu_ids else "cpu"
        self.config = config.model_copy(update={"threads": threads, "device": device})
        self.gpu_ids = [str(g) for g in gpu_ids]
        self.worker = BlenderWorker(self.config)

    def render(self, request: RenderRequest) -> RenderResult:
        return self.worker.render(request)

    def stats(self) -> WorkerStats:
        return self.worker.stats.model_copy()

    def info(self) -> dict:
        return {
            "actor_pid": os.getpid(),
            "blender_pid": self.worker.pid,
            "threads": self.config.threads,
            "device": self.config.device,
            "gpu_ids": self.gpu_ids,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        }

    def shutdown(self) -> None:
        self.worker.close()


def remote_actor_class(resources: ActorResources):
    """`ray.remote(BlenderActor)` with the configured resources and restart policy."""
    return ray.remote(BlenderActor).options(
        num_cpus=resources.num_cpus,
        num_gpus=resources.num_gpus,
        max_concurrency=resources.max_concurrency,
        max_restarts=resources.max_restarts,
        max_task_retries=0,
    )
