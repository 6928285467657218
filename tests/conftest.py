"""Shared fixtures: real Blender workers, a real local Ray, the sample photos."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.progress import pytest_collection_modifyitems, pytest_runtest_logreport, pytest_sessionfinish  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT / "examples" / "photos"  # the sample photos, vendored with their SOURCES.tsv
STREET = ROOT / "examples" / "scenes" / "street.py"

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # loopback-only test clusters (Ray 2.60 enables token auth by default)
# moto's dummy credentials for the S3 tests, set before any Ray starts: secrets never travel with
# tasks, a local Ray's workers inherit the driver's environment (pipeline.config.TaskConfig)
for _key, _value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_DEFAULT_REGION": "us-east-1"}.items():
    os.environ.setdefault(_key, _value)


@pytest.fixture(scope="session")
def street_program() -> str:
    return STREET.read_text()


@pytest.fixture(scope="session")
def box_program() -> str:
    from scene_program.examples import box_scene
    from scene_program.writer import write_program

    return write_program(box_scene())


@pytest.fixture(scope="module")
def worker():
    """One warm worker shared by a module's tests (as in production: many jobs, one process)."""
    from blender_actors.config import WorkerConfig
    from blender_actors.worker import BlenderWorker

    with BlenderWorker(WorkerConfig(job_timeout_s=60, threads=1)) as w:
        yield w


@pytest.fixture(scope="session")
def ray_local():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def photos() -> list[Path]:
    found = sorted(PHOTOS.glob("*.jpg"))
    assert found, f"no sample photos under {PHOTOS}"
    return found
