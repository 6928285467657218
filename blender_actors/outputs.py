"""The parent side of job outputs: files a job child names in its reply, read and validated
by type before anything of them is accepted. Stdlib + Pillow; never runs in the child.

Trust nothing: a name must be one the request asked for (`render.png` and the names of the
requested writers: a child once named 16 padded PNGs and had them all read into the parent's
memory and handed on), a plain file name with a known suffix; the file is opened
relative to the job directory's fd with O_NOFOLLOW and O_NONBLOCK (a symlink or FIFO the
program planted is refused, not followed or waited on), must be a regular file with one
link (no hard link to a file elsewhere), at most its type's size cap for this request (a
PNG: what its pixels could take at 16 bits per channel, not 64 MiB of private chunks for
32x24 pixels), and must pass its type's validator (a PNG is decoded and its size checked
against the request; JSON is parsed strictly). To add a type: a `Validator` in `VALIDATORS` (see `child_outputs` for
the child side).

The simulation dataset's types (the `passes`, `glb` and `usd` writers) are checked for
format here; their meaning (ids, classes, camera, labels) where they are used (`simdata/`):
- `.npy` (`passes.npy`): a version 1/2/3 NumPy header parsed as a literal (never
  unpickled), little-endian float32, C order, shape (height, width, 5) of the request,
  exact length (its cap is that size plus the header), every value finite;
- `.glb`: the glTF 2.0 binary container: magic, version 2, declared length equal to the
  file, a strict-JSON chunk first (`asset.version` "2.0", capped node count), at most one
  BIN chunk, chunk lengths inside the file;
- `.usdc`: the USD crate magic (`PXR-USDC`); its structure is checked when usd-core opens
  it in a resource-limited subprocess (`simdata.usd_labels`).
"""
from __future__ import annotations

import ast
import io
import json
import os
import re
import stat
import struct
from dataclasses import dataclass
from typing import Callable

from blender_actors import framing

MAX_FILES = 16
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class OutputError(ValueError):
    """A named output is missing, of the wrong kind, too large or invalid."""


@dataclass(frozen=True)
class Validator:
    max_bytes: int
    check: Callable[[str, bytes, dict], bytes]  # (name, data, request) -> bytes to keep
    cap: Callable[[dict], int] | None = None  # a tighter size cap for this request

    def limit(self, request: dict) -> int:
        return min(self.max_bytes, self.cap(request)) if self.cap else self.max_bytes


def png_cap(request: dict) -> int:
    """The most a PNG of the requested size may take: 8 bytes a pixel (RGBA, 16 bits a
    channel) plus a filter byte a row, stored uncompressed, and 64 KiB of metadata."""
    return 8 * request["width"] * request["height"] + request["height"] + 64 * 1024


def strip_png_text(png: bytes) -> bytes:
    """Drop text/time chunks (Cycles writes its render time there): same pixels, same bytes."""
    out, pos = [png[:8]], 8
    while pos + 8 <= len(png):
        (length,) = struct.unpack(">I", png[pos: pos + 4])
        kind = png[pos + 4: pos + 8]
        end = pos + 12 + length
        if kind not in (b"tEXt", b"zTXt", b"iTXt", b"tIME"):
            out.append(png[pos:end])
        pos = end
    return b"".join(out)


def _png(name: str, data: bytes, request: dict) -> bytes:
    """A real PNG of the requested size (checked before decoding), decoded in full."""
    from PIL import Image

    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise OutputError(f"{name} is not a PNG")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format != "PNG" or img.size != (request["width"], request["height"]):
                raise OutputError(f"{name} is {img.format} {img.size[0]}x{img.size[1]}, "
                                  f"expected PNG {request['width']}x{request['height']}")
            img.load()
    except OutputError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds on corrupt data
        raise OutputError(f"{name} does not decode: {type(exc).__name__}") from exc
    return strip_png_text(data)


def strict_json(data: bytes) -> object:
    """UTF-8 JSON without NaN/Infinity, duplicate keys or lone surrogates."""
    try:
        value = framing.strict_json(data)
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # lone surrogates from \ud800 escapes
    except (framing.ProtocolError, UnicodeError) as exc:
        raise OutputError(f"not strict JSON: {str(exc)[:200]}") from exc
    return value


def _json(name: str, data: bytes, request: dict) -> bytes:
    try:
        strict_json(data)
    except OutputError as exc:
        raise OutputError(f"{name}: {exc}") from exc
    return data


PASS_CHANNELS = 5  # depth, normal x y z, instance id (blender_actors.dataset_writers)
NPY_HEADER_MAX = 4096
MAX_GLB_NODES = 10_000


def npy_cap(request: dict) -> int:
    """The passes of the requested size, float32, plus the longest header accepted."""
    return 4 * PASS_CHANNELS * request["width"] * request["height"] + 12 + NPY_HEADER_MAX


def _npy(name: str, data: bytes, request: dict) -> bytes:
    """A float32 (H, W, 5) array exactly as the request's size; the header is a literal."""
    import numpy as np

    if not data.startswith(b"\x93NUMPY") or len(data) < 12:
        raise OutputError(f"{name} is not a NumPy .npy file")
    major = data[6]
    if major == 1:
        (hlen,), start = struct.unpack("<H", data[8:10]), 10
    elif major in (2, 3):
        (hlen,), start = struct.unpack("<I", data[8:12]), 12
    else:
        raise OutputError(f"{name}: unknown .npy version {major}")
    if hlen > NPY_HEADER_MAX or start + hlen > len(data):
        raise OutputError(f"{name}: header of {hlen} bytes is out of bounds")
    try:
        header = ast.literal_eval(data[start:start + hlen].decode("latin1"))
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise OutputError(f"{name}: header is not a literal") from exc
    shape = (request["height"], request["width"], PASS_CHANNELS)
    if not isinstance(header, dict) or header.get("descr") != "<f4" or header.get("fortran_order") is not False \
            or not isinstance(header.get("shape"), tuple) or header["shape"] != shape:
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
    try:
        doc = strict_json(chunks[0][1].rstrip(b" "))
    except OutputError as exc:
        raise OutputError(f"{name}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("asset"), dict) or doc["asset"].get("version") != "2.0":
        raise OutputError(f"{name}: the JSON chunk is not a glTF 2.0 document")
    nodes = doc.get("nodes", [])
    if not isinstance(nodes, list) or len(nodes) > MAX_GLB_NODES:
        raise OutputError(f"{name}: nodes are not a list of at most {MAX_GLB_NODES}")
    return data


def _usdc(name: str, data: bytes, request: dict) -> bytes:
    if not data.startswith(b"PXR-USDC") or len(data) < 88:
        raise OutputError(f"{name} is not a USD crate file")
    return data


VALIDATORS: dict[str, Validator] = {
    ".png": Validator(64 * 1024 * 1024, _png, png_cap),
    ".json": Validator(4 * 1024 * 1024, _json),
    ".npy": Validator(512 * 1024 * 1024, _npy, npy_cap),
    ".glb": Validator(256 * 1024 * 1024, _glb),
    ".usdc": Validator(256 * 1024 * 1024, _usdc),
}


def read_outputs(dir_fd: int, names: list[str], request: dict, expected: set[str]) -> dict[str, bytes]:
    """Read and validate every named file, each one of `expected`; raise OutputError on the
    first bad one."""
    if len(names) > MAX_FILES or len(set(names)) != len(names):
        raise OutputError(f"{len(names)} output names (at most {MAX_FILES}, no repeats)")
    out = {}
    for name in names:
        suffix = os.path.splitext(name)[1].lower() if isinstance(name, str) else ""
        if not isinstance(name, str) or not NAME.match(name) or ".." in name or suffix not in VALIDATORS:
            raise OutputError(f"output name {name!r} is not allowed")
        if name not in expected:
            raise OutputError(f"output {name!r} was not asked for")
        validator = VALIDATORS[suffix]
        cap = validator.limit(request)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError as exc:
            raise OutputError(f"{name}: cannot open: {exc.strerror}") from exc
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                raise OutputError(f"{name} is not a plain regular file")
            if st.st_size > cap:
                raise OutputError(f"{name} is {st.st_size} bytes (cap {cap})")
            with os.fdopen(os.dup(fd), "rb") as fh:
                data = fh.read(cap + 1)
            if len(data) > cap:
                raise OutputError(f"{name} grew past its cap of {cap} bytes")
        finally:
            os.close(fd)
        out[name] = validator.check(name, data, request)
    return out
