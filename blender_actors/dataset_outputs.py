"""Parent-side checks of the dataset files a job child wrote (format, size, count).

The child ran untrusted code, so every file it names is untrusted: a name must be one of
the few this module knows; the file is opened relative to the output folder with
O_NOFOLLOW and O_NONBLOCK (a planted symlink or FIFO is refused, not followed or waited
on), must be a regular file with one link, at most its type's cap, and must pass its
type's validator before a byte of it is accepted. Deeper, meaning-level checks (ids,
classes, camera, labels) are done where the data is used (`simdata/`).

Validators by suffix, each `(name, data, request) -> bytes`:
- `.npy`: a version 1/2 NumPy header (parsed as a literal, never unpickled), dtype
  little-endian float32, C order, shape (height, width, 5) of the request, exact length,
  every value finite.
- `.json`: UTF-8 JSON with no NaN/Infinity, no duplicate keys.
- `.glb`: glTF 2.0 binary container: magic, version 2, declared length equal to the file,
  a JSON chunk first (strict JSON, `asset.version` "2.0", capped node count), at most
  one BIN chunk, chunk lengths inside the file.
- `.usdc`: the USD crate magic (`PXR-USDC`) and a bounded size; the structure is checked
  by opening it with usd-core in a confined subprocess (`simdata.usd_labels`).
"""
from __future__ import annotations

import ast
import json
import os
import stat
import struct
from dataclasses import dataclass
from typing import Callable

from blender_actors.dataset_writers import FACTS_FILE, GLB_FILE, PASSES_FILE, USD_FILE

MAX_FILES = 8
KNOWN_NAMES = frozenset({PASSES_FILE, FACTS_FILE, GLB_FILE, USD_FILE})
MAX_GLB_NODES = 10_000
PASS_CHANNELS = 5


class OutputError(ValueError):
    """A named output is missing, of the wrong kind, too large or invalid."""


@dataclass(frozen=True)
class Validator:
    max_bytes: int
    check: Callable[[str, bytes, dict], bytes]


def _strict_json(name: str, data: bytes) -> object:
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate keys")
        return dict(pairs)

    def no_constants(value):
        raise ValueError(f"{value} is not allowed")

    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise OutputError(f"{name} is not strict JSON: {str(exc)[:200]}") from exc


def _json(name: str, data: bytes, request: dict) -> bytes:
    _strict_json(name, data)
    return data


def _npy(name: str, data: bytes, request: dict) -> bytes:
    """A float32 (H, W, 5) array exactly as the request's size; the header is a literal."""
    import numpy as np

    if not data.startswith(b"\x93NUMPY") or len(data) < 10:
        raise OutputError(f"{name} is not a NumPy .npy file")
    major = data[6]
    if major == 1:
        (hlen,), start = struct.unpack("<H", data[8:10]), 10
    elif major in (2, 3):
        (hlen,), start = struct.unpack("<I", data[8:12]), 12
    else:
        raise OutputError(f"{name}: unknown .npy version {major}")
    if hlen > 4096 or start + hlen > len(data):
        raise OutputError(f"{name}: header of {hlen} bytes is out of bounds")
    try:
        header = ast.literal_eval(data[start:start + hlen].decode("latin1"))
    except (ValueError, SyntaxError) as exc:
        raise OutputError(f"{name}: header is not a literal") from exc
    shape = (request["height"], request["width"], PASS_CHANNELS)
    if not isinstance(header, dict) or header.get("descr") != "<f4" or header.get("fortran_order") is not False \
            or tuple(header.get("shape", ())) != shape:
        raise OutputError(f"{name}: expected little-endian float32 of shape {shape} in C order, got {str(header)[:200]}")
    body = data[start + hlen:]
    if len(body) != 4 * shape[0] * shape[1] * shape[2]:
        raise OutputError(f"{name}: {len(body)} data bytes for shape {shape}")
    if not np.isfinite(np.frombuffer(body, dtype="<f4")).all():
        raise OutputError(f"{name} holds NaN or infinite values")
    return data


def _glb(name: str, data: bytes, request: dict) -> bytes:
    if len(data) < 20 or data[:4] != b"glTF":
        raise OutputError(f"{name} is not a binary glTF file")
    version, length = struct.unpack("<II", data[4:12])
    if version != 2 or length != len(data):
        raise OutputError(f"{name}: glTF version {version}, declared length {length} of a {len(data)}-byte file")
    pos, chunks = 12, []
    while pos < length:
        if pos + 8 > length:
            raise OutputError(f"{name}: truncated chunk header at byte {pos}")
        size, kind = struct.unpack("<I4s", data[pos:pos + 8])
        if pos + 8 + size > length or size % 4:
            raise OutputError(f"{name}: chunk of {size} bytes at byte {pos} does not fit or is not aligned")
        chunks.append((kind, data[pos + 8:pos + 8 + size]))
        pos += 8 + size
    kinds = [k for k, _ in chunks]
    if not chunks or kinds[0] != b"JSON" or kinds[1:] not in ([], [b"BIN\x00"]):
        raise OutputError(f"{name}: chunks {kinds} (expected JSON, then at most one BIN)")
    doc = _strict_json(name, chunks[0][1].rstrip(b" "))
    if not isinstance(doc, dict) or not isinstance(doc.get("asset"), dict) or doc["asset"].get("version") != "2.0":
        raise OutputError(f"{name}: the JSON chunk is not a glTF 2.0 document")
    if len(doc.get("nodes", [])) > MAX_GLB_NODES:
        raise OutputError(f"{name}: more than {MAX_GLB_NODES} nodes")
    return data


def _usdc(name: str, data: bytes, request: dict) -> bytes:
    if not data.startswith(b"PXR-USDC") or len(data) < 88:
        raise OutputError(f"{name} is not a USD crate file")
    return data


VALIDATORS: dict[str, Validator] = {
    ".npy": Validator(512 * 1024 * 1024, _npy),
    ".json": Validator(16 * 1024 * 1024, _json),
    ".glb": Validator(256 * 1024 * 1024, _glb),
    ".usdc": Validator(256 * 1024 * 1024, _usdc),
}


def read_outputs(directory: str, names: list, request: dict) -> dict[str, bytes]:
    """Read and check every named file of `directory`; OutputError on the first bad one."""
    if not isinstance(names, list) or len(names) > MAX_FILES or len(set(map(str, names))) != len(names):
        raise OutputError(f"{len(names) if isinstance(names, list) else '?'} output names (at most {MAX_FILES}, "
                          "no repeats)")
    out: dict[str, bytes] = {}
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for name in names:
            if not isinstance(name, str) or name not in KNOWN_NAMES:
                raise OutputError(f"output name {str(name)[:80]!r} is not allowed")
            validator = VALIDATORS[os.path.splitext(name)[1]]
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
            except OSError as exc:
                raise OutputError(f"{name}: cannot open: {exc.strerror}") from exc
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                    raise OutputError(f"{name} is not a plain regular file")
                if st.st_size > validator.max_bytes:
                    raise OutputError(f"{name} is {st.st_size} bytes (cap {validator.max_bytes})")
                with os.fdopen(os.dup(fd), "rb") as fh:
                    data = fh.read(validator.max_bytes + 1)
                if len(data) > validator.max_bytes:
                    raise OutputError(f"{name} grew past its cap of {validator.max_bytes} bytes")
            finally:
                os.close(fd)
            out[name] = validator.check(name, data, request)
    finally:
        os.close(dir_fd)
    return out
