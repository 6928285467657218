"""Backend names -> constructors. A new backend: one module, one line here."""
from __future__ import annotations

from typing import Any, Callable


def _offline(options: dict[str, Any]):
    from stages.backends.offline import OfflineBackend, OfflineConfig

    return OfflineBackend(OfflineConfig(**options))


def _openai(options: dict[str, Any]):
    from stages.backends.openai_backend import OpenAIBackend, OpenAIConfig

    return OpenAIBackend(OpenAIConfig(**options))


BACKENDS: dict[str, Callable[[dict[str, Any]], Any]] = {"offline": _offline, "openai": _openai}


def make_backend(name: str, options: dict[str, Any] | None = None):
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r} (known: {', '.join(sorted(BACKENDS))})")
    return BACKENDS[name](options or {})
