"""The whole configuration: pydantic models loaded from YAML, overridable per field.

Every field is validated and an error names it (`reconstruct.samples: ...`). Secrets
are never in a config: a config names the environment variable that holds each one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from blender_actors.actor import ActorResources
from blender_actors.config import WorkerConfig
from simdata.config import DatasetConfig
from pipeline.metrics import MetricsConfig
from stages.config import ReconstructConfig


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the field and the file."""


class RayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(None, description="None: start a local Ray; 'auto' or ray://...: join a cluster")
    num_cpus: int | None = Field(None, ge=1, description="local Ray only")
    num_gpus: int | None = Field(None, ge=0, description="local Ray only")
    namespace: str = "seig"
    resource_wait_s: float = Field(
        60.0, gt=0, description="fail the job when, this long, render actors cannot start or stage tasks wait for "
                                "resources with nothing running (raise it where an autoscaler adds nodes)")


class ActorPool(ActorResources):
    count: int = Field(2, ge=1, description="render actors (each one warm Blender process)")


class TaskConfig(BaseModel):
    """Secrets never travel with tasks: Ray writes a runtime env's variables into its logs.
    Workers read credentials from their own environment (a pod's env from a Secret; a local
    Ray started by the driver inherits the driver's) or from a mounted file."""

    model_config = ConfigDict(extra="forbid")
    num_cpus: float = Field(0.1, ge=0, description="CPU of an init/stage/finalize task (the render runs in an actor)")
    max_retries: int = Field(3, ge=0, description="retries of a task after a transient error or a lost worker")

    @model_validator(mode="before")
    @classmethod
    def _no_forward_env(cls, data: Any) -> Any:
        if isinstance(data, dict) and "forward_env" in data:
            raise ValueError("tasks.forward_env was removed: secrets in a Ray runtime env are written to Ray's "
                             "logs. Workers read them from their own environment (a pod's env from a Secret; a "
                             "local Ray inherits the driver's) or from a mounted file "
                             "(reconstruct.openai.api_key_file); delete the field")
        return data


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    manifest: str | None = Field(None, description="Parquet manifest URI (file, glob or folder; local or s3://)")
    output: str = Field("./output", description="output root URI; a run writes under <output>/<run_id>/")
    run_id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
                               description="None: a new id from the UTC time")
    history: list[str] | str = Field("all", description="'all': skip images finished OK by any earlier run under "
                                     "output; or a list of run ids; [] for none")
    max_in_flight: int = Field(8, ge=1, description="images submitted and not yet finished")
    manifest_batch_rows: int = Field(10_000, ge=1)
    results_flush_rows: int = Field(200, ge=1)
    results_flush_s: float = Field(10.0, gt=0)
    max_consecutive_failures: int = Field(25, ge=1, description="abort the job after this many failed images in a row")
    max_consecutive_vlm_failures: int = Field(3, ge=1, description="abort the job after this many images in a row "
                                              "whose VLM failed (failed or degraded): a dead endpoint or key")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="fsspec options (no secrets: s3fs reads AWS_* itself)")
    storage_deadline_s: float = Field(120.0, gt=0, description="overall deadline of one storage call (retries "
                                                              "included); past it the call fails as storage_unreachable")
    log_dir: str | None = Field(None, description="local folder of the driver's log (None: a temporary folder); "
                                                  "the log is copied to <output>/<run_id>/logs/ at the end")


class SeigConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: RunConfig = RunConfig()
    ray: RayConfig = RayConfig()
    actors: ActorPool = ActorPool()
    tasks: TaskConfig = TaskConfig()
    worker: WorkerConfig = WorkerConfig()
    reconstruct: ReconstructConfig = ReconstructConfig()
    metrics: MetricsConfig = MetricsConfig()
    dataset: DatasetConfig = DatasetConfig()


def _set_path(data: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {key!r} is not a section")
    node[keys[-1]] = value


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> SeigConfig:
    """Load YAML (or defaults), apply `section.field=value` overrides (values parsed as YAML)."""
    data: dict[str, Any] = {}
    where = str(path) if path else "defaults"
    if path:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config {path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"config {path} must be a mapping of sections, got {type(data).__name__}")
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.field=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            where_ = getattr(exc, "problem", None) or "cannot be parsed"
            raise ConfigError(f"override {key.strip()}: the value {raw!r:.80} is not valid YAML ({where_}); "
                              "quote it, e.g. --set 'run.output=\"...\"'") from exc
        _set_path(data, key.strip(), value)
    try:
        return SeigConfig.model_validate(data)
    except ValidationError as exc:
        parts = [f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {_message(e)}" for e in exc.errors()]
        raise ConfigError(f"invalid config ({where}): " + "; ".join(parts)) from exc


def _message(error: dict) -> str:
    """One clause per field: pydantic's message without its 'Value error, ' prefix, and the input."""
    msg = str(error["msg"]).removeprefix("Value error, ").replace("\n", " ")
    if error.get("type") == "extra_forbidden":
        return "unknown field"
    return f"{msg} (got {error.get('input')!r:.80})"
