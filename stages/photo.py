"""Load a photo from any fsspec URI into a clean RGB image, or fail with a clear reason.

Handles what real image folders contain: EXIF rotation, grayscale, CMYK, palettes,
alpha (composited on white), 16-bit; rejects what cannot be trusted: missing files,
non-images, truncated files, decompression bombs, images too small to reconstruct.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from stages.scoring import compare_size, to_array

MAX_PIXELS = 64_000_000  # a 30000x30000 bomb is 900 MP: refused before decoding
MIN_SIDE = 16
WORK_SIZE = 1024  # long side kept for analysis; scores use stages.scoring's grid


class PhotoError(ValueError):
    """The photo cannot be used; `kind` is a short machine-readable reason."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)


class Photo:
    """An RGB photo ready for reconstruction: the image and its comparison array."""

    def __init__(self, image: Image.Image, name: str = "photo"):
        self.name = name
        self.image = image
        self.compare = to_array(image, compare_size(*image.size))

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size

    def render_size(self, long_side: int) -> tuple[int, int]:
        return render_size(self.image.size, long_side)


def render_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """Render width/height with the photo's aspect ratio (even numbers, at least 8)."""
    w, h = size
    s = long_side / max(w, h)
    return max(8, round(w * s / 2) * 2), max(8, round(h * s / 2) * 2)


def decode(data: bytes, name: str = "photo") -> Photo:
    """Decode image bytes into a Photo; raise PhotoError naming what was wrong."""
    if not data:
        raise PhotoError("empty", f"{name}: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            w, h = probe.size
            if w * h > MAX_PIXELS:
                raise PhotoError("too_large", f"{name}: {w}x{h} pixels is over the {MAX_PIXELS:,} pixel limit "
                                 "(possible decompression bomb)")
            probe.load()
    except PhotoError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoError("too_large", f"{name}: refused as a decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise PhotoError("not_an_image", f"{name}: not a recognised image format") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise PhotoError("corrupt", f"{name}: the image is truncated or corrupt ({exc})") from exc
    image = ImageOps.exif_transpose(probe)
    if min(image.size) < MIN_SIDE:
        raise PhotoError("too_small", f"{name}: {image.width}x{image.height} is smaller than {MIN_SIDE} px per side")
    image = _to_rgb(image)
    if max(image.size) > WORK_SIZE:
        s = WORK_SIZE / max(image.size)
        image = image.resize((max(1, round(image.width * s)), max(1, round(image.height * s))), Image.LANCZOS)
    return Photo(image, name)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.clip(arr / max(arr.max(), 1) * 255, 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def load(uri: str, **storage_options) -> Photo:
    """Read and decode the photo at an fsspec URI."""
    import fsspec

    try:
        with fsspec.open(uri, "rb", **storage_options) as fh:
            data = fh.read(MAX_PIXELS * 4 + 1)
    except FileNotFoundError as exc:
        raise PhotoError("missing", f"{uri}: no such file") from exc
    except IsADirectoryError as exc:
        raise PhotoError("not_an_image", f"{uri}: is a directory") from exc
    except OSError as exc:
        raise PhotoError("unreadable", f"{uri}: cannot read ({exc})") from exc
    return decode(data, uri)
