"""PNG encoding shared by the writers: deterministic bytes (same array, same file)."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image


def png(array: np.ndarray) -> bytes:
    """uint8 (H, W) or (H, W, 3), or uint16 (H, W) as a 16-bit greyscale PNG."""
    if array.dtype == np.uint16 and array.ndim == 2:
        image = Image.fromarray(array, mode=None)
    elif array.dtype == np.uint8 and array.ndim in (2, 3):
        image = Image.fromarray(array)
    else:
        raise ValueError(f"cannot write {array.dtype} {array.shape} as PNG")
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, np.ascontiguousarray(array), allow_pickle=False)
    return out.getvalue()


def colormap(values: np.ndarray, anchors: list[tuple[float, tuple[int, int, int]]]) -> np.ndarray:
    """Map values in [0, 1] to RGB by linear interpolation between (position, colour) anchors."""
    pos = [a[0] for a in anchors]
    rgb = np.stack([np.interp(values, pos, [a[1][c] for a in anchors]) for c in range(3)], axis=-1)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)
