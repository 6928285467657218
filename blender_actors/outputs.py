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
"""
from __future__ import annotations

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
    strict_json(data)
    return data


VALIDATORS: dict[str, Validator] = {
    ".png": Validator(64 * 1024 * 1024, _png, png_cap),
    ".json": Validator(4 * 1024 * 1024, _json),
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
