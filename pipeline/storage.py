"""Reads and writes through fsspec: never half-written, always bounded in time, and every
failure named by its cause.

- Atomic: local paths are written to a temporary sibling, fsynced and renamed (atomic on
  POSIX); on an object store (S3) a single PUT is atomic by the store's semantics.
- Bounded: every call on an asynchronous filesystem (s3fs, http) has an overall deadline
  (`run.storage_deadline_s`, set once per process with `set_deadline`), on top of
  botocore's connect/read timeouts and retries. Without it an endpoint that accepts
  connections and never answers held one call for about 16 minutes.
- Named: a failure is a `StorageError` whose `kind` is one of pipeline.kinds'
  storage kinds (unreachable, denied, bucket missing, full), so rows, the summary and
  the alerts say what to fix. A missing object on a read stays a FileNotFoundError.
"""
from __future__ import annotations

import errno
import os
import tempfile
from typing import Any

from fsspec.asyn import AsyncFileSystem
from fsspec.core import url_to_fs

S3_DEFAULTS = {
    # Bounded waits per request, a few retries for 5xx/throttling; the overall deadline
    # (set_deadline) caps the sum.
    "config_kwargs": {"connect_timeout": 10, "read_timeout": 60,
                      "retries": {"max_attempts": 4, "mode": "adaptive"}},
}
DEFAULT_DEADLINE_S = 120.0
_deadline_s: float | None = DEFAULT_DEADLINE_S


def set_deadline(seconds: float | None) -> None:
    """The overall deadline of every storage call in this process (None: none)."""
    global _deadline_s
    _deadline_s = seconds


def deadline() -> float | None:
    return _deadline_s


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
    """A read or write failed; `kind` names the cause (pipeline.kinds), the message the URI."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)

    def __reduce__(self):  # travels through Ray (pickled) with its kind
        return (StorageError, (self.kind, str(self)))


_DENIED_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
                 "AllAccessDisabled", "AccountProblem", "403", "401", "Forbidden"}
_UNREACHABLE_NAMES = {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError",
                      "ClientConnectorError", "ServerDisconnectedError", "ClientConnectionError", "ServerTimeoutError",
                      "FSTimeoutError", "TimeoutError", "ProxyConnectionError", "ClientOSError", "gaierror"}


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error") or {}
        return str(err.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "") or None
    return None


def failure_kind(exc: BaseException) -> str | None:
    """The storage kind of an exception from fsspec/s3fs/botocore/the OS, or None when it
    is a plain missing object (FileNotFoundError without a missing bucket behind it)."""
    for e in _chain(exc):
        code = _code(e)
        if code == "NoSuchBucket" or "specified bucket does not exist" in str(e):
            return "bucket_missing"
        if code in _DENIED_CODES or isinstance(e, PermissionError) or getattr(e, "errno", None) in (
                errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.EEXIST):
            return "storage_denied"  # (locally: a file where a folder must be, a read-only mount)
        if getattr(e, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
            return "storage_full"
        if type(e).__name__ in _UNREACHABLE_NAMES or isinstance(e, (ConnectionError, TimeoutError)):
            return "storage_unreachable"
    if isinstance(exc, FileNotFoundError):
        return None
    return "storage_unreachable" if isinstance(exc, OSError) else None


def _error(op: str, uri: str, exc: BaseException) -> BaseException:
    kind = failure_kind(exc)
    if kind is None and isinstance(exc, FileNotFoundError):
        return FileNotFoundError(f"{uri}: no such file")
    if type(exc).__name__ == "FSTimeoutError" or isinstance(exc, TimeoutError):
        return StorageError("storage_unreachable", f"cannot {op} {uri}: no answer within {_deadline_s:g} s "
                                                   "(run.storage_deadline_s)")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StorageError(kind or "storage_unreachable", f"cannot {op} {uri}: {type(exc).__name__}: {text[:300]}")


def call(fs, method: str, *args, deadline_s: float | None = None, **kwargs) -> Any:
    """fs.<method>(*args) with the overall deadline on asynchronous filesystems."""
    fn = getattr(fs, method)
    limit = deadline_s or _deadline_s
    if isinstance(fs, AsyncFileSystem) and limit:
        return fn(*args, timeout=limit, **kwargs)
    return fn(*args, **kwargs)


def is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith(("file://", "local://"))


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
            call(fs, "pipe_file", path, data)
    except StorageError:
        raise
    except Exception as exc:  # noqa: BLE001 - every backend has its own error types
        err = _error("write", uri, exc)
        if isinstance(err, FileNotFoundError):  # writing never means "missing": the bucket or folder is gone
            err = StorageError("bucket_missing", f"cannot write {uri}: its bucket or folder does not exist")
        raise err from exc


def write_text(uri: str, text: str, **storage_options) -> None:
    write_bytes(uri, text.encode("utf-8"), **storage_options)


def read_bytes(uri: str, **storage_options) -> bytes:
    """The whole object; FileNotFoundError when it does not exist, StorageError otherwise."""
    try:
        fs, path = url_to_fs(uri, **storage_options)
        return call(fs, "cat_file", path)
    except StorageError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _error("read", uri, exc) from exc


def delete(uri: str, **storage_options) -> None:
    """Remove one object; a missing one is fine."""
    try:
        fs, path = url_to_fs(uri, **storage_options)
        call(fs, "rm_file", path)
    except FileNotFoundError:
        return
    except Exception as exc:  # noqa: BLE001
        err = _error("delete", uri, exc)
        if not isinstance(err, FileNotFoundError):
            raise err from exc


def listdir(uri: str, deadline_s: float | None = None, **storage_options) -> list[dict]:
    """Entries (fsspec `detail=True` dicts) directly under a folder; [] when it does not exist."""
    try:
        fs, path = url_to_fs(uri, **storage_options)
        if is_local(uri) and not os.path.isdir(path):
            return []
        fs.invalidate_cache(path)  # s3fs caches listings per instance (and instances per process): never stale
        return call(fs, "ls", path, detail=True, deadline_s=deadline_s)
    except FileNotFoundError as exc:
        if failure_kind(exc) == "bucket_missing":
            raise _error("list", uri, exc) from exc
        return []
    except Exception as exc:  # noqa: BLE001
        err = _error("list", uri, exc)
        if isinstance(err, FileNotFoundError):
            return []
        raise err from exc


def scheme_of(fs) -> str:
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    return "" if protocol in ("file", "local") else f"{protocol}://"
