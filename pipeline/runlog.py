"""The driver's log: everything that is not the summary goes here, not into stdout.

Why: Ray prints each task retry's traceback ("(raylet) Task ... failed ... retried")
on the driver's stdout, and its token-authentication warning on stderr; both ended up
mixed into the summary an operator (or a CronJob's log) reads. While a RunLog is open:
- `sys.stdout` writes to the log file (Ray's retry messages land there); the summary is
  printed to the real stdout (`RunLog.stdout`);
- Ray's Python loggers write to the log file only;
- seig's own logger ("seig") writes to the log file and, one line each, to stderr
  (through tqdm, so a progress bar stays intact).
The driver copies the file to `<output>/<run_id>/logs/` when the run ends.
"""
from __future__ import annotations

import logging
import os
import sys
import tempfile
import time

RAY_LOGGERS = ("ray",)


class _TqdmHandler(logging.StreamHandler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.__stderr__ if self.stream is None else self.stream)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


class _LogStream:
    """A text stream into the log file (for stray prints to stdout)."""

    def __init__(self, fh):
        self.fh = fh

    def write(self, text: str) -> int:
        if text.strip():
            self.fh.write(text if text.endswith("\n") else text + "\n")
            self.fh.flush()
        return len(text)

    def flush(self) -> None:
        self.fh.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.fh.fileno()


class RunLog:
    def __init__(self, run_id: str, log_dir: str | None = None, stderr_level: int = logging.INFO):
        folder = log_dir or os.path.join(tempfile.gettempdir(), "seig-logs")
        os.makedirs(folder, exist_ok=True)
        self.path = os.path.join(folder, f"{run_id}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}.log")
        self.stderr_level = stderr_level
        self.stdout = sys.stdout
        self._saved: list = []

    def __enter__(self) -> "RunLog":
        self.fh = open(self.path, "a", encoding="utf-8", buffering=1)
        fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.file_handler = logging.StreamHandler(self.fh)
        self.file_handler.setFormatter(fmt)
        seig = logging.getLogger("seig")
        self.console = _TqdmHandler(sys.stderr)
        self.console.setLevel(self.stderr_level)
        self.console.setFormatter(logging.Formatter("seig: %(message)s"))
        self._saved.append((seig, list(seig.handlers), seig.propagate, seig.level))
        seig.handlers = [self.file_handler, self.console]
        seig.propagate = False
        seig.setLevel(logging.INFO)
        for name in RAY_LOGGERS:
            lg = logging.getLogger(name)
            self._saved.append((lg, list(lg.handlers), lg.propagate, lg.level))
            lg.handlers = [self.file_handler]
            lg.propagate = False
        self.stdout = sys.stdout
        sys.stdout = _LogStream(self.fh)
        return self

    def quiet_ray(self) -> None:
        """Ray (re)configures its loggers in ray.init: point them at the file again."""
        for name in RAY_LOGGERS:
            lg = logging.getLogger(name)
            lg.handlers = [self.file_handler]
            lg.propagate = False
        for lg in [logging.getLogger(n) for n in logging.root.manager.loggerDict if n.startswith("ray.")]:
            if lg.handlers:
                lg.handlers = [self.file_handler]
                lg.propagate = False

    def upload(self, folder: str, storage_options: dict) -> str:
        """Copy the log so far next to the results; returns where it is (local if that failed)."""
        from pipeline.storage import StorageError, write_bytes

        uri = f"{folder.rstrip('/')}/{os.path.basename(self.path)}"
        try:
            self.fh.flush()
            with open(self.path, "rb") as fh:
                write_bytes(uri, fh.read(), **storage_options)
            return uri
        except (OSError, StorageError) as exc:
            logging.getLogger("seig").warning("the log stays at %s (%s)", self.path, exc)
            return self.path

    def __exit__(self, *exc) -> None:
        sys.stdout = self.stdout
        for lg, handlers, propagate, level in reversed(self._saved):
            lg.handlers, lg.propagate, lg.level = handlers, propagate, level
        self.fh.close()
