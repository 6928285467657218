"""The photo as arrays the other vision modules share: sRGB, linear light, Lab, gradients.

Every module reads the same small analysis image (long side ANALYSIS_SIZE px) so that
their pixel grids agree; the fine texture measures come from a twice larger copy,
because texture is what downsampling removes first. numpy + PIL only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

ANALYSIS_SIZE = 128  # long side of the grid every vision module works on
MIN_SIDE = 8


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] -> linear light (the same formula as builders.srgb_to_linear)."""
    c = np.clip(np.asarray(c, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """Linear light -> sRGB in [0, 1] (clipped): what Blender's Standard view transform shows."""
    c = np.clip(np.asarray(c, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)


def linear_to_lab(lin: np.ndarray) -> np.ndarray:
    """Linear sRGB -> CIE Lab (D65): distances in Lab follow perceived colour differences,
    which is what superpixels and region merging should compare."""
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(np.maximum(xyz, 1e-12)), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def as_rgb(photo: Image.Image) -> Image.Image:
    """Any PIL mode (L, P, CMYK, RGBA, I;16 ...) as RGB; alpha is composited on white."""
    if photo.mode in ("RGBA", "LA", "PA") or (photo.mode == "P" and "transparency" in photo.info):
        rgba = photo.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if photo.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(photo, dtype=np.float64)
        a = a / max(float(a.max()), 1.0) * 255.0
        return Image.fromarray(a.astype(np.uint8), "L").convert("RGB")
    return photo.convert("RGB")


def _resize(photo: Image.Image, long_side: int) -> np.ndarray:
    w, h = photo.size
    s = long_side / max(w, h)
    size = (max(MIN_SIDE, round(w * s)), max(MIN_SIDE, round(h * s)))
    return np.asarray(photo.resize(size, Image.BILINEAR), dtype=np.float64) / 255.0


def box_blur(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window with edge padding, along the first two axes."""
    if r <= 0:
        return x
    for axis in (0, 1):
        pad = [(0, 0)] * x.ndim
        pad[axis] = (r + 1, r)
        c = np.cumsum(np.pad(x, pad, mode="edge"), axis=axis)
        n = x.shape[axis]
        hi = np.take(c, np.arange(2 * r + 1, 2 * r + 1 + n), axis=axis)
        lo = np.take(c, np.arange(0, n), axis=axis)
        x = (hi - lo) / (2 * r + 1)
    return x


def _pool2(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Average a fine map down to `shape` (the analysis grid) by area."""
    img = Image.fromarray(x.astype(np.float32), "F")
    return np.asarray(img.resize((shape[1], shape[0]), Image.BOX), dtype=np.float64)


@dataclass
class PhotoArrays:
    """The analysis image and per-pixel measures every vision module reads."""

    srgb: np.ndarray  # (H, W, 3) in [0, 1]
    linear: np.ndarray  # (H, W, 3) linear light
    lab: np.ndarray  # (H, W, 3)
    texture: np.ndarray  # (H, W) local gradient energy of lightness, from the finer copy
    gxx: np.ndarray  # (H, W) pooled squared horizontal gradient (strong on vertical edges)
    gyy: np.ndarray  # (H, W) pooled squared vertical gradient (strong on horizontal edges)
    fine_lightness: np.ndarray  # (2H, 2W) lightness in [0, 1] of the twice larger copy
    size: tuple[int, int]  # (width, height) of the original photo

    @property
    def shape(self) -> tuple[int, int]:
        return self.srgb.shape[0], self.srgb.shape[1]


def analyse(photo: Image.Image, long_side: int = ANALYSIS_SIZE) -> PhotoArrays:
    """Convert and measure the photo once; every later step reads these arrays."""
    rgb = as_rgb(photo)
    srgb = _resize(rgb, long_side)
    fine = _resize(rgb, 2 * long_side)
    lum = linear_to_lab(srgb_to_linear(fine))[..., 0] / 100.0
    gy, gx = np.gradient(lum)
    shape = srgb.shape[:2]
    linear = srgb_to_linear(srgb)
    return PhotoArrays(
        srgb=srgb, linear=linear, lab=linear_to_lab(linear),
        texture=np.sqrt(_pool2(box_blur(gx**2 + gy**2, 1), shape)),
        gxx=_pool2(box_blur(gx**2, 2), shape), gyy=_pool2(box_blur(gy**2, 2), shape),
        fine_lightness=lum, size=rgb.size,
    )
