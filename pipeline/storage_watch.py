"""Is the job waiting on storage, and for how long? Shown in the progress bar and logged.

Why: while storage was stopped the progress bar froze for minutes with no message. The
driver cannot see inside a task that waits on storage, but it can ask storage itself:
when no image has finished for `quiet_s` while images are in flight, a background
thread lists the output root (with a short deadline) every few seconds. A probe that
fails or hangs, or a storage call of the driver itself that has run for over `slow_s`,
makes `status()` say "waiting on storage for N s (...)" until storage answers again.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

from pipeline.storage import listdir

PROBE_DEADLINE_S = 10.0


class StorageWatch:
    def __init__(self, root: str, storage_options: dict, quiet_s: float = 15.0, every_s: float = 5.0,
                 slow_s: float = 5.0):
        self.root, self.opts = root, storage_options
        self.quiet_s, self.every_s, self.slow_s = quiet_s, every_s, slow_s
        self.last_image = time.monotonic()
        self.in_flight = 0
        self.failing_since: float | None = None
        self.error = ""
        self.call_since: float | None = None
        self.call_what = ""
        self.probe_since: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="seig-storage-watch", daemon=True)

    def start(self) -> "StorageWatch":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def image_finished(self) -> None:
        self.last_image = time.monotonic()

    @contextmanager
    def call(self, what: str):
        """Wrap a storage call of the driver itself (a results flush, the summary)."""
        self.call_since, self.call_what = time.monotonic(), what
        try:
            yield
        finally:
            self.call_since = None

    def waiting_s(self) -> float:
        now = time.monotonic()
        waits = [0.0]
        if self.call_since is not None and now - self.call_since > self.slow_s:
            waits.append(now - self.call_since)
        if self.failing_since is not None:
            waits.append(now - self.failing_since)
        if self.probe_since is not None and now - self.probe_since > self.slow_s:
            waits.append(now - (self.failing_since or self.probe_since))
        return max(waits)

    def status(self) -> str | None:
        wait = self.waiting_s()
        if wait <= 0:
            return None
        what = self.call_what if self.call_since is not None else (self.error or f"{self.root}: no answer yet")
        return f"waiting on storage for {wait:.0f} s" + (f" ({what})" if what else "")

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            quiet = time.monotonic() - self.last_image > self.quiet_s
            if not (quiet and self.in_flight) and self.failing_since is None:
                continue
            started = self.probe_since = time.monotonic()
            ok, error = True, ""
            try:
                listdir(self.root, deadline_s=PROBE_DEADLINE_S, **self.opts)
            except Exception as exc:  # noqa: BLE001 - any failure means storage is not answering
                ok, error = False, " ".join(str(exc).split())[:200]
            finally:
                self.probe_since = None
            if ok:
                self.failing_since, self.error = None, ""
            else:
                self.failing_since = self.failing_since or started
                self.error = f"{self.root}: {error}"
            self._stop.wait(max(0.0, self.every_s - (time.monotonic() - started)))
