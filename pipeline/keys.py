"""Keys of manifest rows and results rows, and their 128-bit hashes, computed on whole
Arrow arrays (no Python string per row: planning touches 10^7-10^8 ids a night).

A row's key is its image_id when that id is usable, else "/<manifest row number>": an
unusable id (null, empty, with '/') cannot be one image, so each such row is its own
entry, and '/' never starts a usable id, so the two never collide.

The hash: two sums of byte x position-weight (weights from splitmix64, fixed here, so
the same on every machine and numpy version), each finished with murmur3's fmix64.
Strings that differ collide with probability about 2^-126, so the done-index can hold
hashes instead of ids: over 10^9 ids x 10^8 lookups a false "done" is below 10^-19.
The top bits of `h1` pick a key's partition; the partitions of the manifest, of a
run's results and of the done-index line up for the same number of bits.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HASH_VERSION = "wsum128-splitmix-fmix64-v1"
MAX_ID_CHARS = 512
_TABLE = 4096
_M64 = (1 << 64) - 1


def _splitmix(seed: int, n: int) -> np.ndarray:
    x = (np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)) + np.uint64(seed & _M64)
    with np.errstate(over="ignore"):
        z = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return (z ^ (z >> np.uint64(31))) | np.uint64(1)


_W1 = _splitmix(0x5E16_0001, _TABLE)
_W2 = _splitmix(0x5E16_0002, _TABLE)


def _fmix(h: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint64(33))
        h = h * np.uint64(0xFF51AFD7ED558CCD)
        h = h ^ (h >> np.uint64(33))
        h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def hash128(keys: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(h1, h2) as uint64 arrays for a string array without nulls."""
    if isinstance(keys, pa.ChunkedArray):
        parts = [hash128(c) for c in keys.chunks]
        if not parts:
            return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    if keys.null_count:
        raise ValueError("keys must not be null")
    if pa.types.is_large_string(keys.type):
        keys = keys.cast(pa.string())
    n = len(keys)
    if n == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    offsets = np.frombuffer(keys.buffers()[1], np.int32)[keys.offset: keys.offset + n + 1].astype(np.int64)
    data_buf = keys.buffers()[2]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    first, last = offsets[0], offsets[-1]
    b = data[first:last].astype(np.uint64) + np.uint64(1)
    starts = offsets[:-1] - first
    pos = (np.arange(last - first, dtype=np.int64) - np.repeat(starts, lengths)) % _TABLE
    s1 = np.zeros(n, np.uint64)
    s2 = np.zeros(n, np.uint64)
    nonempty = lengths > 0
    if nonempty.any():
        with np.errstate(over="ignore"):
            s1[nonempty] = np.add.reduceat(b * _W1[pos], starts[nonempty])
            s2[nonempty] = np.add.reduceat(b * _W2[pos], starts[nonempty])
    length = lengths.astype(np.uint64)
    with np.errstate(over="ignore"):
        return _fmix(s1 ^ (length * np.uint64(0x9E3779B97F4A7C15))), _fmix(s2 + length)


def partition_of(h1: np.ndarray, bits: int) -> np.ndarray:
    """The partition (0 .. 2^bits - 1) of each key from the top bits of its h1."""
    if bits == 0:
        return np.zeros(len(h1), np.int64)
    return (h1 >> np.uint64(64 - bits)).astype(np.int64)


def usable_ids(ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """True where an image_id can name an image (and its folder)."""
    trimmed = pc.utf8_trim_whitespace(ids)
    bad = pc.or_kleene(pc.is_null(ids), pc.equal(trimmed, ""))
    bad = pc.or_kleene(bad, pc.match_substring(ids, "/"))
    bad = pc.or_kleene(bad, pc.is_in(ids, value_set=pa.array([".", ".."])))
    bad = pc.or_kleene(bad, pc.greater(pc.utf8_length(ids), MAX_ID_CHARS))
    return pc.invert(pc.fill_null(bad, True))


def row_keys(ids: pa.Array | pa.ChunkedArray, rows: pa.Array | pa.ChunkedArray,
             usable: pa.Array | None = None) -> pa.Array:
    """The key of each row: its image_id when usable, else '/<row>'."""
    ok = usable_ids(ids) if usable is None else usable
    if pc.all(ok).as_py() is not False and ids.null_count == 0:
        return ids  # the usual case: every id is usable
    fallback = pc.binary_join_element_wise("/", pc.cast(pc.fill_null(rows, -1), pa.string()), "")
    return pc.if_else(ok, pc.fill_null(ids, ""), fallback)


def problem(image_id, uri) -> str | None:
    """Why a manifest row cannot run (None when it can); one clear clause."""
    if not isinstance(image_id, str) or not image_id.strip():
        return f"image_id is {'empty' if isinstance(image_id, str) else 'null'}"
    if "/" in image_id or image_id in (".", "..") or len(image_id) > MAX_ID_CHARS:
        return (f"image_id {image_id[:80]!r} cannot name a folder (no '/', '.', '..'; at most "
                f"{MAX_ID_CHARS} characters)")
    if not isinstance(uri, str) or not uri.strip():
        return f"uri of {image_id!r} is {'empty' if isinstance(uri, str) else 'null'}"
    return None


def valid_rows(ids: pa.Array | pa.ChunkedArray, uris: pa.Array | pa.ChunkedArray,
               usable: pa.Array | None = None) -> pa.Array:
    """True where the row can run: a usable id and a non-empty uri."""
    uri_ok = pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(uris), ""), False)
    return pc.and_(usable_ids(ids) if usable is None else usable, uri_ok)
