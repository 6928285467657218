"""normal.png: world-space surface normals as 8-bit RGB.

Cycles' normal pass is in world space (+Z up) and averaged over a pixel's samples; here
each normal is renormalised and stored as (n + 1) / 2 * 255 per channel, (0, 0, 0) where
there is no surface (a unit normal never encodes to black). Camera-space normals are
`R @ n` with R the rotation of camera.json's `world_to_camera_opencv`.
"""
from __future__ import annotations

import numpy as np

from simdata.images import png


def encode(normal: np.ndarray, depth: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(normal, axis=-1, keepdims=True)
    hit = (depth > 0) & (norm[..., 0] > 1e-6)
    unit = np.where(hit[..., None], normal / np.maximum(norm, 1e-6), 0.0)
    rgb = np.round((unit + 1.0) * 0.5 * 255.0).astype(np.uint8)
    rgb[~hit] = 0
    return rgb


def write(normal: np.ndarray, depth: np.ndarray) -> dict[str, bytes]:
    return {"normal.png": png(encode(normal, depth))}
