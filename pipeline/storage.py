"""Writing results through fsspec without ever leaving a half-written file.

Local paths: write to a temporary sibling, fsync, then rename (atomic on POSIX).
Object stores (S3): a single PUT is atomic by the store's semantics, so write directly.
Errors are re-raised as StorageError naming the URI and the operation.
"""
from __future__ import annotations

import os
import tempfile

import fsspec
from fsspec.core import url_to_fs


S3_DEFAULTS = {
    # Without these an S3 endpoint that stalls stalls the job: bounded waits, then retries.
    "config_kwargs": {"connect_timeout": 10, "read_timeout": 120,
                      "retries": {"max_attempts": 8, "mode": "adaptive"}},
}


def with_defaults(uris: list[str], options: dict) -> dict:
    """Storage options with seig's S3 defaults added when any URI is on S3 (config wins)."""
    if not any(u.startswith(("s3://", "s3a://")) for u in uris if u):
        return options
    merged = dict(options)
    for key, value in S3_DEFAULTS.items():
        if isinstance(value, dict):
            merged[key] = {**value, **merged.get(key, {})}
        else:
            merged.setdefault(key, value)
    return merged


class StorageError(OSError):
    """A read or write through fsspec failed; the message names the URI."""


def is_local(uri: str) -> bool:
    fs, _ = url_to_fs(uri)
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def write_bytes(uri: str, data: bytes, **storage_options) -> None:
    """Write `data` to `uri` atomically (readers see the old file or the whole new one)."""
    try:
        fs, path = url_to_fs(uri, **storage_options)
        if is_local(uri):
            directory = os.path.dirname(os.path.abspath(path)) or "."
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        else:
            fs.pipe_file(path, data)
    except StorageError:
        raise
    except Exception as exc:  # noqa: BLE001 - every backend has its own error types
        raise StorageError(f"cannot write {uri}: {type(exc).__name__}: {exc}") from exc


def write_text(uri: str, text: str, **storage_options) -> None:
    write_bytes(uri, text.encode("utf-8"), **storage_options)


def read_bytes(uri: str, **storage_options) -> bytes:
    try:
        with fsspec.open(uri, "rb", **storage_options) as fh:
            return fh.read()
    except Exception as exc:  # noqa: BLE001
        raise StorageError(f"cannot read {uri}: {type(exc).__name__}: {exc}") from exc
