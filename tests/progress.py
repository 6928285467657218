"""Which tests have ended, written as they end (env SEIG_TEST_PROGRESS), so that a test run
whose pytest process dies without a summary can be resumed where it died (scripts/test.sh);
and the skipping of the tests that ended in the run that died (env SEIG_TEST_RESUME_FROM).

Why: a Ray driver exits at once (exit code 1, no traceback, no summary) when its raylet dies,
and every test of a pytest process shares one local Ray. The suite runs under pytest-xdist:
there a dying worker is replaced and the test it was running is reported as crashed (written
`crashed`, not `failed`), and only the controller writes this file. scripts/test.sh runs the
crashed tests once more on their own, so a death that repeats fails the run; real failures
always count.
"""
from __future__ import annotations

import os

import pytest

PROGRESS = os.environ.get("SEIG_TEST_PROGRESS")
RESUME_FROM = os.environ.get("SEIG_TEST_RESUME_FROM")
FINISHED = "finished"


def _write(line: str) -> None:
    with open(PROGRESS, "a") as fh:  # one line per write, flushed at close: survives a sudden exit
        fh.write(line + "\n")


def _in_xdist_worker() -> bool:
    return "PYTEST_XDIST_WORKER" in os.environ  # set by xdist in its workers; the controller relays their reports


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not RESUME_FROM:
        return
    with open(RESUME_FROM) as fh:
        ended = {line.split("\t", 1)[1] for line in fh.read().splitlines() if line.startswith("ended\t")}
    done = [item for item in items if item.nodeid in ended]
    if done:
        config.hook.pytest_deselected(items=done)
        items[:] = [item for item in items if item.nodeid not in ended]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not PROGRESS or _in_xdist_worker():
        return
    if report.failed:
        crashed = "crashed while running" in str(report.longrepr)  # xdist's words for a dead worker
        _write(f"{'crashed' if crashed else 'failed'}\t{report.nodeid}")
    if report.when == "teardown" or "crashed while running" in str(report.longrepr):
        _write(f"ended\t{report.nodeid}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if PROGRESS and not _in_xdist_worker():
        _write(FINISHED)
