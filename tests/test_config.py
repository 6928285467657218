"""Configs: every shipped YAML validates; bad fields are named; overrides apply."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "configs").glob("*.yaml")))
def test_shipped_configs_validate(name):
    cfg = load_config(ROOT / "configs" / name)
    if cfg.reconstruct.backend == "openai":
        from stages.backends.openai_backend import OpenAIConfig

        OpenAIConfig(**cfg.reconstruct.openai)


def test_local_default_is_laptop_sized():
    cfg = load_config(ROOT / "configs/local.yaml")
    assert cfg.ray.address is None and cfg.reconstruct.backend == "offline" and cfg.actors.num_gpus == 0
    assert cfg.actors.count * cfg.actors.num_cpus <= 1.0  # leaves room for the stage tasks on 2 cores


def test_cluster_config_renders_on_gpus_from_s3():
    cfg = load_config(ROOT / "configs/cluster.yaml")
    assert cfg.run.output.startswith("s3://") and cfg.actors.num_gpus > 0 and cfg.worker.memory_limit_mb is None


def test_errors_name_field_and_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run:\n  max_in_flight: 0\nworker:\n  device: tpu\nnonsense: 1\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    text = str(err.value)
    assert str(bad) in text and "run.max_in_flight" in text and "worker.device" in text and "nonsense" in text


def test_overrides_parse_yaml_values():
    cfg = load_config(None, ["reconstruct.rounds={geometry: 1}", "run.history=[a, b]", "actors.num_gpus=0.25"])
    assert cfg.reconstruct.rounds == {"geometry": 1} and cfg.run.history == ["a", "b"] and cfg.actors.num_gpus == 0.25
    with pytest.raises(ConfigError, match="section.field=value"):
        load_config(None, ["oops"])


def test_unreadable_and_non_mapping_configs(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("run: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "broken.yaml")


def test_errors_a_run_would_meet_later_are_refused_at_load():
    with pytest.raises(ConfigError, match=r"reconstruct\.rounds: unknown stage\(s\) 'texture'; the stages are "
                                          r"geometry, materials, composition, lighting"):
        load_config(None, ["reconstruct.rounds.texture=1"])
    with pytest.raises(ConfigError, match=r"reconstruct\.rounds: rounds must be >= 0"):
        load_config(None, ["reconstruct.rounds={geometry: -1}"])
    with pytest.raises(ConfigError, match=r"^override run\.output: the value '\[x' is not valid YAML"):
        load_config(None, ["run.output=[x"])
    with pytest.raises(ConfigError) as err:
        load_config(None, ["actors.count=0", "run.max_in_flight=x", "bogus.field=1"])
    assert "\n" not in str(err.value)  # one line, every field named
    assert all(f in str(err.value) for f in ("actors.count", "run.max_in_flight", "bogus: unknown field"))


def test_storage_deadline_and_resource_wait_are_settings():
    cfg = load_config(ROOT / "configs/cluster.yaml")
    assert cfg.run.storage_deadline_s > 0 and cfg.ray.resource_wait_s >= 600  # an autoscaler adds GPU pods slowly
    with pytest.raises(ConfigError, match="run.storage_deadline_s"):
        load_config(None, ["run.storage_deadline_s=0"])


def test_cli_flags_stay_strings():
    """`--run-id 2026-11-30` names a run; YAML would read it as a date and refuse it."""
    import argparse

    from pipeline.cli_batch import flag_overrides

    args = argparse.Namespace(manifest="m.parquet", output="5", run_id="2026-11-30")
    cfg = load_config(None, flag_overrides(args))
    assert (cfg.run.run_id, cfg.run.output, cfg.run.manifest) == ("2026-11-30", "5", "m.parquet")
def test_forward_env_is_refused_with_the_reason():
    """Secrets in a Ray runtime env end up in Ray's logs: the old field is refused, not ignored."""
    with pytest.raises(ConfigError, match="tasks.forward_env was removed: secrets in a Ray runtime env"):
        load_config(None, ["tasks.forward_env=[OPENAI_API_KEY]"])
