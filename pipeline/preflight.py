"""Checks before Ray starts, each failing in seconds with one line that names the field.

Why before Ray: a missing bucket used to cost a Ray start, actor starts and six task
retries before the job failed with a message about a lost worker. Here:
- `run.manifest`: readable Parquet with the required columns (its bucket exists);
- `run.output`: writable: a probe object is written and deleted (its bucket exists,
  the credentials may write);
- `reconstruct.openai` (backend openai): the endpoint answers `GET /models` and serves
  the configured model, with the configured key.
Every storage call here has a short deadline (PREFLIGHT_DEADLINE_S), so a stalled
endpoint fails the check instead of hanging it.
"""
from __future__ import annotations

import os
import posixpath
import uuid

from pipeline.config import SeigConfig
from pipeline.manifest import Manifest, ManifestError, open_manifest
from pipeline.storage import StorageError, deadline, delete, failure_kind, set_deadline, write_bytes

PREFLIGHT_DEADLINE_S = 15.0
VLM_TIMEOUT_S = 10.0


class PreflightError(RuntimeError):
    """A check before the job failed; the message is one line naming the field."""


def preflight(cfg: SeigConfig) -> Manifest:
    """Run every check; returns the opened manifest."""
    before = deadline()
    set_deadline(min(cfg.run.storage_deadline_s, PREFLIGHT_DEADLINE_S))
    try:
        manifest = check_manifest(cfg)
        check_output(cfg)
    finally:
        set_deadline(before)
    if cfg.reconstruct.backend == "openai":
        check_vlm(cfg.reconstruct.openai)
    return manifest


def _why(exc: BaseException) -> str:
    kind = exc.kind if isinstance(exc, StorageError) else failure_kind(exc)
    return {"bucket_missing": "the bucket does not exist", "storage_denied": "access denied",
            "storage_unreachable": "the storage endpoint did not answer", "storage_full": "the storage is full",
            }.get(kind or "", "")


def check_manifest(cfg: SeigConfig) -> Manifest:
    if not cfg.run.manifest:
        raise PreflightError("run.manifest: not set (give --manifest URI or set it in the config)")
    try:
        manifest = open_manifest(cfg.run.manifest, cfg.run.storage_options)
        manifest.count_rows()  # reads every file's footer: unreadable files fail here, not mid-run
    except ManifestError as exc:
        why = _why(exc.__cause__) if exc.__cause__ is not None else ""
        raise PreflightError(f"run.manifest: {' '.join(str(exc).split())}" + (f" ({why})" if why else "")) from exc
    except Exception as exc:  # noqa: BLE001 - any filesystem's error, named
        why = _why(exc) or f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        raise PreflightError(f"run.manifest: {cfg.run.manifest}: cannot read ({why})") from exc
    return manifest


def check_output(cfg: SeigConfig) -> None:
    probe = posixpath.join(cfg.run.output.rstrip("/"), "_seig", f"probe-{uuid.uuid4().hex[:12]}")
    try:
        write_bytes(probe, b"seig preflight probe", **cfg.run.storage_options)
        delete(probe, **cfg.run.storage_options)
    except StorageError as exc:
        raise PreflightError(f"run.output: {cfg.run.output} is not writable: {_why(exc) or exc.kind} "
                             f"({' '.join(str(exc).split())[:300]})") from exc


def check_vlm(options: dict) -> None:
    """The endpoint answers and serves the model (GET /models with the configured key)."""
    import openai

    base_url = options.get("base_url", "https://api.openai.com/v1")
    model = options.get("model")
    if not model:
        raise PreflightError("reconstruct.openai.model: not set")
    key_env = options.get("api_key_env", "OPENAI_API_KEY")
    key = os.environ.get(key_env) if key_env else None
    if key_env and not key:
        raise PreflightError(f"reconstruct.openai.api_key_env: the variable {key_env} is not set in the "
                             "driver's environment")
    client = openai.OpenAI(base_url=base_url, api_key=key or "none", timeout=VLM_TIMEOUT_S, max_retries=0)
    try:
        served = [m.id for m in client.models.list()]
    except openai.AuthenticationError as exc:
        raise PreflightError(f"reconstruct.openai.api_key_env: {base_url} refused the key in {key_env} "
                             f"({exc.status_code})") from exc
    except openai.PermissionDeniedError as exc:
        raise PreflightError(f"reconstruct.openai.api_key_env: the key in {key_env} may not list models at "
                             f"{base_url} ({exc.status_code})") from exc
    except openai.NotFoundError as exc:
        raise PreflightError(f"reconstruct.openai.base_url: {base_url} has no OpenAI-compatible API "
                             "(GET /models answered 404; the URL usually ends in /v1)") from exc
    except openai.APITimeoutError as exc:
        raise PreflightError(f"reconstruct.openai.base_url: {base_url} did not answer within "
                             f"{VLM_TIMEOUT_S:g} s") from exc
    except openai.APIConnectionError as exc:
        cause = exc.__cause__ or exc
        raise PreflightError(f"reconstruct.openai.base_url: cannot connect to {base_url} "
                             f"({type(cause).__name__}: {' '.join(str(cause).split())[:200]})") from exc
    except openai.APIStatusError as exc:
        raise PreflightError(f"reconstruct.openai.base_url: {base_url} answered GET /models with "
                             f"{exc.status_code}") from exc
    if model not in served:
        listed = ", ".join(served[:8]) + (" ..." if len(served) > 8 else "") if served else "none"
        raise PreflightError(f"reconstruct.openai.model: {model!r} is not served by {base_url} (it serves: {listed})")
