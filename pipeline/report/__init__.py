"""The run report: a static site (`index.html`, thumbnails, one CSS and one script) that
opens from disk with no server and no network; see `build.write_report`.

Names are imported on first use, so `seig --help` does not pay for matplotlib."""
from __future__ import annotations

from typing import Any

__all__ = ["PREVIEWS", "ReportError", "ReportOptions", "ReportResult", "write_report"]


def __getattr__(name: str) -> Any:
    if name == "PREVIEWS":
        from pipeline.report.assets import PREVIEWS

        return PREVIEWS
    if name in __all__:
        from pipeline.report import build

        return getattr(build, name)
    raise AttributeError(f"module 'pipeline.report' has no attribute {name!r}")
