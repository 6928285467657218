"""Length-prefixed messages over a pipe: a JSON header plus an optional binary payload.

Stdlib only (shared by the parent and the Blender child). A dedicated pipe, not
stdout, so that whatever a program or Blender prints can never corrupt the protocol.
"""
from __future__ import annotations

import json
import os
import struct

_HEAD = struct.Struct(">IQ")
MAX_HEADER = 64 * 1024 * 1024


class ChannelClosed(EOFError):
    """The other end closed the pipe (it exited or crashed)."""


def _read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise ChannelClosed("pipe closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def send(fd: int, header: dict, payload: bytes = b"") -> None:
    body = json.dumps(header).encode()
    _write_all(fd, _HEAD.pack(len(body), len(payload)) + body + payload)


def recv(fd: int) -> tuple[dict, bytes]:
    head_len, payload_len = _HEAD.unpack(_read_exact(fd, _HEAD.size))
    if head_len > MAX_HEADER:
        raise ChannelClosed(f"corrupt frame (header of {head_len} bytes)")
    header = json.loads(_read_exact(fd, head_len))
    return header, _read_exact(fd, payload_len) if payload_len else b""
