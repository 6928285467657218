"""The reply pipe from a job child, read by a parent that trusts nothing. Stdlib only.

A frame is a 4-byte big-endian length and that many bytes of JSON; no binary payloads
(outputs are files in the job dir, see `outputs`). The parent reads the pipe until EOF
under one deadline that covers every byte, never more than `MAX_REPLY` bytes in all,
and then splits it into frames of at most `MAX_FRAME` bytes. A stalled, oversized or
malformed reply is the child's fault and ends the job; the parent never blocks on it. A
frame header that promises more than `MAX_FRAME`, or a frame past `MAX_FRAMES`, ends the
job as soon as it arrives: no honest child sends one, so the worker's slot is not held
for the rest of the deadline.
"""
from __future__ import annotations

import json
import os
import selectors
import struct
import time

_LEN = struct.Struct(">I")
MAX_FRAME = 256 * 1024
MAX_FRAMES = 2  # "confined" (before the program) and "result"
MAX_REPLY = MAX_FRAMES * (MAX_FRAME + _LEN.size)


class ReplyTimeout(TimeoutError):
    """The deadline passed before the child closed its end."""


class ProtocolError(ValueError):
    """The child sent something no honest child sends."""


def read_until_eof(fd: int, deadline: float, limit: int = MAX_REPLY) -> bytes:
    """Everything the child writes, until it closes the pipe; `deadline` is time.monotonic()."""
    os.set_blocking(fd, False)
    data = bytearray()
    next_header, frames = 0, 0  # where the next frame's length starts; frames announced so far
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise ReplyTimeout(bytes(data))
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                return bytes(data)
            if len(data) + len(chunk) > limit:
                raise ProtocolError(f"reply longer than {limit} bytes")
            data += chunk
            while next_header + _LEN.size <= len(data):
                (n,) = _LEN.unpack_from(data, next_header)
                if n > MAX_FRAME:
                    raise ProtocolError(f"frame of {n} bytes (cap {MAX_FRAME})")
                frames += 1
                if frames > MAX_FRAMES:
                    raise ProtocolError(f"more than {MAX_FRAMES} frames")
                next_header += _LEN.size + n


def split_frames(data: bytes) -> list[bytes]:
    """Frames in order; a trailing partial frame is a protocol error."""
    frames, pos = [], 0
    while pos < len(data):
        if pos + _LEN.size > len(data):
            raise ProtocolError("truncated frame header")
        (n,) = _LEN.unpack_from(data, pos)
        if n > MAX_FRAME:
            raise ProtocolError(f"frame of {n} bytes (cap {MAX_FRAME})")
        pos += _LEN.size
        if pos + n > len(data):
            raise ProtocolError(f"truncated frame ({len(data) - pos} of {n} bytes)")
        frames.append(data[pos:pos + n])
        pos += n
        if len(frames) > MAX_FRAMES:
            raise ProtocolError(f"more than {MAX_FRAMES} frames")
    return frames


def _reject_constant(value: str) -> None:
    raise ValueError(f"{value} is not JSON")


def _no_duplicates(pairs: list) -> dict:
    if len({k for k, _ in pairs}) != len(pairs):
        raise ValueError("duplicate key")
    return dict(pairs)


def strict_json(data: bytes) -> object:
    """UTF-8 JSON without NaN/Infinity or duplicate keys (lone surrogates are left to the
    models, which require strings that encode as UTF-8)."""
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError, UnicodeError) as exc:
        raise ProtocolError(f"frame is not strict JSON: {type(exc).__name__}: {str(exc)[:200]}") from exc
