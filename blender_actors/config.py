"""Configuration of one Blender worker (embedded in the pipeline's config)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class WorkerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["bpy", "binary"] = Field(
        "bpy", description="bpy: the bpy module in a child Python; binary: a `blender` executable")
    blender_binary: str = "blender"
    job_timeout_s: float = Field(120.0, gt=0, description="hard wall-clock limit per job; the process is killed past it")
    startup_timeout_s: float = Field(60.0, gt=0)
    max_jobs_per_process: int = Field(200, ge=1, description="start a fresh zygote after this many jobs (each job "
                                                            "already runs in its own forked child)")
    max_rss_mb: int = Field(3072, ge=64, description="start a fresh zygote when its RSS exceeds this after a job")
    memory_limit_mb: int | None = Field(8192, ge=256, description="RLIMIT_AS; not applied on a GPU (CUDA maps huge address space)")
    file_size_limit_mb: int = Field(256, ge=1)
    max_processes: int | None = Field(64, ge=1, description="RLIMIT_NPROC margin over the tasks that exist at start")
    cpu_seconds_per_job: float | None = Field(None, gt=0, description="None: timeout x threads (CPU-time limit per job)")
    isolate_network: bool = True
    cache_dir: str | None = Field(
        None, description="persistent, writable cache (XDG_CACHE_HOME of the child): Cycles keeps compiled GPU "
                          "kernels there, which Hopper GPUs otherwise rebuild in every fresh process")
    writable_dirs: list[str] = Field(
        default_factory=list, description="directories left writable besides the job's temp dir, e.g. the "
                                          "persistent volume of Cycles' GPU kernel cache")
    threads: int = Field(0, ge=0, description="Cycles render threads; 0: all cores")
    device: Literal["auto", "cpu", "gpu"] = "auto"
    sandbox: Literal["full", "os_only"] = Field(
        "full", description="full: static check + restricted builtins + kernel layers; os_only (tests only) skips the "
                            "first two, as if a program had escaped them: the kernel layers alone must hold")
    allow_weaker: bool = Field(
        False, description="run programs even where the kernel lacks a required sandbox layer (seccomp, Landlock ...); "
                           "said at start and in every record. False: such a worker refuses every job")
    skip_layers: list[Literal["seccomp", "landlock_fs", "landlock_net", "landlock_scope", "nondumpable"]] = Field(
        default_factory=list, description="tests only: treat these layers as missing, as on an old kernel")
