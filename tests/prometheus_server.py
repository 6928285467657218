"""A real Prometheus server for tests: Debian's `prometheus` binary on 127.0.0.1.

It runs with its own temporary config and storage directory, scrapes the given
targets every second (and evaluates the given rule files every second), and answers
PromQL through its HTTP API. Install it with `scripts/install_prometheus.sh`.

    with PrometheusServer({"seig-driver": ["127.0.0.1:9464"]}, rule_files=[ALERTS]) as prom:
        prom.wait_for_targets()
        prom.query('sum(seig_images_total)')          # instant vector: list of results
        prom.query_range('rate(x[30s])', t0, t1)       # matrix
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

INSTALL_HINT = "install it with `bash scripts/install_prometheus.sh` (Debian's prometheus package)"


class PrometheusError(RuntimeError):
    """Prometheus did not start, or answered a query with an error (the message says which)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise PrometheusError(f"`{name}` is not on PATH: {INSTALL_HINT}")
    return path


class PrometheusServer:
    def __init__(self, targets: dict[str, list[str]], rule_files: list[str | Path] = (),
                 scrape_interval: str = "1s", evaluation_interval: str = "1s"):
        self.targets = targets
        self.rule_files = [str(Path(p).resolve()) for p in rule_files]
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.workdir: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict:
        return {
            "global": {"scrape_interval": self.scrape_interval, "scrape_timeout": self.scrape_interval,
                       "evaluation_interval": self.evaluation_interval},
            "rule_files": self.rule_files,
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(addrs)}]}
                               for job, addrs in self.targets.items()],
        }

    # --- life cycle ---------------------------------------------------------------
    def start(self, timeout_s: float = 60.0) -> "PrometheusServer":
        exe = binary("prometheus")
        self.workdir = Path(tempfile.mkdtemp(prefix="seig-prom-"))
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(self.config(), sort_keys=False))
        self.port = free_port()
        log = open(self.workdir / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [exe, f"--config.file={self.workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.workdir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--storage.tsdb.retention.time=1d", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise PrometheusError(f"prometheus was not ready within {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> "PrometheusServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log(self) -> str:
        path = self.workdir / "prometheus.log" if self.workdir else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    # --- HTTP API -----------------------------------------------------------------
    def api(self, path: str, **params) -> dict:
        data = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None}).encode()
        req = urllib.request.Request(f"{self.url}/api/v1/{path}", data=data if params else None)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as exc:  # 400 / 422: a bad query, with Prometheus' reason
            body = json.loads(exc.read() or b"{}")
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        """An instant query; returns the result list ([] when no series matched)."""
        data = self.api("query", query=expr, time=at)
        return data["result"] if data["resultType"] in ("vector", "matrix") else [{"value": data["result"]}]

    def query_range(self, expr: str, start: float, end: float, step: float = 1.0) -> list[dict]:
        return self.api("query_range", query=expr, start=start, end=end, step=step)["result"]

    def active_targets(self) -> list[dict]:
        return self.api("targets")["activeTargets"]

    def rules(self) -> list[dict]:
        return [rule for group in self.api("rules")["groups"] for rule in group["rules"]]

    def wait_for_targets(self, timeout_s: float = 30.0) -> None:
        """Until every target has been scraped successfully at least once."""
        deadline = time.monotonic() + timeout_s
        while True:
            targets = self.active_targets()
            if targets and all(t["health"] == "up" for t in targets):
                return
            if time.monotonic() > deadline:
                raise PrometheusError("targets not up: " + ", ".join(
                    f"{t['scrapePool']} {t['scrapeUrl']} {t['health']} {t.get('lastError', '')}" for t in targets))
            time.sleep(0.5)


if __name__ == "__main__":  # a manual check: `python -m tests.prometheus_server HOST:PORT`
    import sys

    with PrometheusServer({"manual": sys.argv[1:] or [f"127.0.0.1:{os.environ.get('PORT', '9464')}"]}) as prom:
        print("prometheus at", prom.url, "(Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
