"""Depth: KITTI-style 16-bit PNG, float32 .npy, and a preview for people.

Cycles' depth pass is the z-depth (distance along the camera's optical axis, not the
length of the ray), measured at the pixel centre from the first sample (no blending at
edges); where a ray meets no surface Cycles writes 1e10. Here:
- `depth.npy`: float32 metres, 0 = no surface.
- `depth.png`: uint16, value / 256 = metres (KITTI), 0 = no surface; depths at or beyond
  256 m do not fit and are stored as 0 (no measurement), as KITTI does with no return.
- `depth_preview.png`: inverse depth through a fixed colour map (near bright, far dark,
  no surface black), fixed range 1-200 m so previews compare across samples.
"""
from __future__ import annotations

import numpy as np

from simdata.images import colormap, npy, png

NO_SURFACE = 1e9  # Cycles writes 1e10 where nothing was hit
KITTI_SCALE = 256.0
KITTI_MAX = 65535 / KITTI_SCALE
PREVIEW_NEAR, PREVIEW_FAR = 1.0, 200.0
MAGMA = [(0.0, (0, 0, 4)), (0.25, (81, 18, 124)), (0.5, (183, 55, 121)), (0.75, (252, 137, 97)),
         (1.0, (252, 253, 191))]


def metres(raw: np.ndarray) -> np.ndarray:
    """Cycles' depth pass -> float32 metres with 0 where there is no surface."""
    depth = np.asarray(raw, dtype=np.float32).copy()
    depth[(depth >= NO_SURFACE) | (depth <= 0)] = 0.0
    return depth


def kitti_png(depth: np.ndarray) -> bytes:
    scaled = np.round(depth.astype(np.float64) * KITTI_SCALE)
    scaled[(depth <= 0) | (scaled > 65535)] = 0
    return png(scaled.astype(np.uint16))


def preview_png(depth: np.ndarray) -> bytes:
    inv = np.zeros_like(depth, dtype=np.float64)
    hit = depth > 0
    inv[hit] = (1.0 / np.clip(depth[hit], PREVIEW_NEAR, PREVIEW_FAR) - 1.0 / PREVIEW_FAR) / (
        1.0 / PREVIEW_NEAR - 1.0 / PREVIEW_FAR)
    rgb = colormap(np.sqrt(inv), MAGMA)
    rgb[~hit] = 0
    return png(rgb)


def write(depth: np.ndarray) -> dict[str, bytes]:
    return {"depth.npy": npy(depth.astype(np.float32)), "depth.png": kitti_png(depth),
            "depth_preview.png": preview_png(depth)}
