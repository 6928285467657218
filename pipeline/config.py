"""The whole configuration: pydantic models loaded from YAML, overridable per field.

Every field is validated and an error names it (`reconstruct.samples: ...`). Secrets
are never in a config: a config names the environment variable that holds each one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from blender_actors.actor import ActorResources
from blender_actors.config import WorkerConfig
from stages.config import ReconstructConfig


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the field and the file."""


class SeigConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worker: WorkerConfig = WorkerConfig()
    actors: ActorResources = ActorResources()
    reconstruct: ReconstructConfig = ReconstructConfig()
    extra: dict[str, Any] = Field(default_factory=dict, description="sections of later subsystems")


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
        _set_path(data, key.strip(), yaml.safe_load(raw))
    try:
        return SeigConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r:.80})" for e in exc.errors()]
        raise ConfigError(f"invalid config ({where}):\n" + "\n".join(lines)) from exc
