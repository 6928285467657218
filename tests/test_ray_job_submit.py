"""The job as users run it on a cluster: `ray job submit` against `ray start --head`."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A one-node Ray cluster on loopback, in its own process group so teardown kills only it."""
    # Every port explicit: another Ray on this machine (the suite's own local instance)
    # holds the defaults, e.g. the dashboard agent's 52365, and the job agent never comes up.
    gcs, dash, agent, agent_grpc, metrics, runtime_env, client = (_free_port() for _ in range(7))
    # `python` in the job's entrypoint must be this environment's, as in a real image
    env = dict(os.environ, RAY_AUTH_MODE="disabled", PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("RAY_ADDRESS", None)
    temp = Path("/tmp") / f"ray-seig-{uuid.uuid4().hex[:6]}"  # short: unix socket paths are limited
    head = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", f"--port={gcs}", "--node-ip-address=127.0.0.1",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", "--num-cpus=2", "--num-gpus=0",
         "--include-dashboard=true", "--disable-usage-stats", f"--temp-dir={temp}",
         f"--dashboard-agent-listen-port={agent}", f"--dashboard-agent-grpc-port={agent_grpc}",
         f"--metrics-export-port={metrics}", f"--runtime-env-agent-port={runtime_env}",
         f"--ray-client-server-port={client}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    address = f"http://127.0.0.1:{dash}"
    deadline = time.time() + 90
    while time.time() < deadline:
        probe = subprocess.run([str(BIN / "ray"), "job", "list", "--address", address], env=env,
                               capture_output=True, text=True)
        if probe.returncode == 0:
            break
        time.sleep(1)
    else:
        os.killpg(head.pid, signal.SIGKILL)
        pytest.fail("the Ray head did not come up within 90 s")
    yield address, env
    os.killpg(head.pid, signal.SIGTERM)
    try:
        head.wait(timeout=5)  # `ray start --block` seldom stops on SIGTERM alone: its group is killed after
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
    shutil.rmtree(temp, ignore_errors=True)


def _submit(address, env, submission_id, *job_args):
    """`ray job submit`, retried while the head's job agent is still starting."""
    runtime_env = {"excludes": [".venv", ".git", "output", "bench", "tests", "*.egg-info", "__pycache__"]}
    for _ in range(30):
        res = subprocess.run(
            [str(BIN / "ray"), "job", "submit", "--address", address, "--submission-id", submission_id,
             "--working-dir", str(ROOT), "--runtime-env-json", json.dumps(runtime_env), "--",
             "python", "-m", "pipeline", *job_args],
            env=env, capture_output=True, text=True, timeout=600)
        if "No available agent" not in res.stderr + res.stdout:
            return res
        time.sleep(2)
    return res


@pytest.mark.timeout(600)  # ~50 s on a quiet machine; a cluster start under heavy load can take minutes
def test_ray_job_submit_runs_the_job_once_per_submission_id(cluster, tmp_path, photos):
    address, env = cluster
    manifest = tmp_path / "manifest.parquet"
    pq.write_table(pa.table({"image_id": [p.stem for p in photos[:2]], "uri": [str(p) for p in photos[:2]]}), manifest)
    out = tmp_path / "out"
    sid = f"seig-nightly-{uuid.uuid4().hex[:8]}"
    args = ["--config", "configs/local.yaml", "--manifest", str(manifest), "--output", str(out), "--run-id", "night",
            "--no-progress", "--set", "reconstruct.long_side=48", "--set", "reconstruct.samples=1",
            "--set", "reconstruct.rounds={geometry: 1, materials: 1, composition: 0, lighting: 0}"]
    first = _submit(address, env, sid, *args)
    if first.returncode != 0:
        logs = subprocess.run([str(BIN / "ray"), "job", "logs", "--address", address, sid], env=env,
                              capture_output=True, text=True)
        pytest.fail("job failed:\n" + logs.stdout[-4000:] + first.stderr[-2000:])
    assert "run night: 2 ok, 0 failed" in first.stdout
    table = pq.read_table(out / "night" / "results")
    assert sorted(table.column("image_id").to_pylist()) == sorted(p.stem for p in photos[:2])
    assert (out / "night" / "summary.json").exists()
    again = _submit(address, env, sid, *args)  # a nightly CronJob relies on this refusal
    assert again.returncode != 0 and "already exists" in (again.stdout + again.stderr)
