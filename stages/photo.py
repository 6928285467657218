"""Load a photo from any fsspec URI into a clean RGB image, or fail with a clear reason.

Handles what real image folders contain: EXIF rotation, grayscale, CMYK, palettes,
alpha (composited on white), 16-bit; rejects what cannot be trusted: missing files,
non-images, truncated files, decompression bombs, images too small to reconstruct.

Keeps the camera facts a single view cannot recover, when they are stated: its focal length
(EXIF FocalLengthIn35mmFilm, which phones and most cameras write, or the caller's) and its
height above the ground (only the caller's: a fleet knows its rig). The depth of every
ground point scales with both, and vanishing points and the things of known size in a
street read them no better than a prior (README, "Street reconstruction"), so stated ones
are taken over both.
"""
from __future__ import annotations

import io
import math
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from stages.scoring import compare_size, to_array

MAX_PIXELS = 64_000_000  # a 30000x30000 bomb is 900 MP: refused before decoding
MIN_SIDE = 16
EXIF_IFD, EXIF_FOCAL_35MM = 0x8769, 0xA405  # the Exif sub-IFD; FocalLengthIn35mmFilm (0: unknown)
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)  # the 35 mm equivalent matches angles of view across the diagonal
SENSOR_MM = 36.0  # seig's scene cameras: focal lengths are for a 36 mm sensor across the long side
STATED_FOCAL_MM = (8.0, 300.0)  # a 35 mm-equivalent focal length outside this is a wrong tag, not a lens
STATED_HEIGHT_M = (0.3, 50.0)  # a camera height outside this is a wrong value, not a rig (a robot's knee to a mast)
WORK_SIZE = 1024  # long side kept for analysis; scores use stages.scoring's grid


class PhotoError(ValueError):
    """The photo cannot be used; `kind` is a short machine-readable reason.

    Kinds: the photo itself is bad (missing, empty, not_an_image, corrupt, too_large,
    too_small: final for that image), or its source failed (unreachable, denied,
    unreadable: not the photo's fault, worth another attempt). `error_kind` is the
    name the results and the runbook use (pipeline.kinds).
    """

    SOURCE_KINDS = ("unreachable", "denied")

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)

    @property
    def error_kind(self) -> str:
        return f"source_{self.kind}" if self.kind in self.SOURCE_KINDS else f"photo_{self.kind}"

    @property
    def transient(self) -> bool:
        return self.kind in (*self.SOURCE_KINDS, "unreadable")

    def __reduce__(self):  # keeps its kind when pickled (Ray)
        return (PhotoError, (self.kind, str(self)))


class Photo:
    """An RGB photo ready for reconstruction: the image, its comparison array, and what is
    stated about its camera: the focal length (36 mm across its long side, as seig's cameras
    are) and the height above the ground in metres (each None when nothing states it)."""

    def __init__(self, image: Image.Image, name: str = "photo", focal_mm: float | None = None,
                 height_m: float | None = None):
        self.name = name
        self.image = image
        self.compare = to_array(image, compare_size(*image.size))
        self.focal_mm = focal_mm
        self.height_m = height_m

    def state_35mm(self, f35: float) -> None:
        """Take the focal length a caller knows (35 mm-equivalent: a manifest column, a CLI
        flag) over whatever the EXIF said; ValueError when it is none (checked_35mm)."""
        self.focal_mm = focal_from_35mm(f35, self.size)

    def state_height(self, metres: float) -> None:
        """Take the camera height a caller knows (a manifest column, a CLI flag); ValueError
        when it is none (checked_height_m)."""
        self.height_m = checked_height_m(metres)

    def state_camera(self, focal_35mm: float | None = None, height_m: float | None = None) -> None:
        """What a caller states about the camera (None: nothing), as the manifest's row and
        `seig reconstruct`'s flags give it."""
        if focal_35mm is not None:
            self.state_35mm(focal_35mm)
        if height_m is not None:
            self.state_height(height_m)

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
    focal_mm = stated_focal_mm(probe)
    image = ImageOps.exif_transpose(probe)
    if min(image.size) < MIN_SIDE:
        raise PhotoError("too_small", f"{name}: {image.width}x{image.height} is smaller than {MIN_SIDE} px per side")
    image = _to_rgb(image)
    if max(image.size) > WORK_SIZE:
        s = WORK_SIZE / max(image.size)
        image = image.resize((max(1, round(image.width * s)), max(1, round(image.height * s))), Image.LANCZOS)
    return Photo(image, name, focal_mm)


def stated_focal_mm(image: Image.Image) -> float | None:
    """The focal length the image's EXIF states (FocalLengthIn35mmFilm), in seig's convention;
    None when the tag is absent, zero (the standard's "unknown") or outside STATED_FOCAL_MM."""
    try:
        return focal_from_35mm(float(image.getexif().get_ifd(EXIF_IFD).get(EXIF_FOCAL_35MM)), image.size)
    except (TypeError, ValueError, OSError, SyntaxError, KeyError, AttributeError):
        return None  # no EXIF, a tag that is not a number, or none of a lens: the photo states nothing


def checked_35mm(value: object) -> float:
    """`value` as a 35 mm-equivalent focal length; ValueError naming it when it is none
    (not a number, or outside STATED_FOCAL_MM). Every source of one (EXIF, the manifest's
    column, `seig reconstruct --focal-35mm`) goes through here."""
    return _in_range(value, STATED_FOCAL_MM, "a 35 mm-equivalent focal length", "mm")


def checked_height_m(value: object) -> float:
    """`value` as a camera height above the ground in metres; ValueError naming it when it is
    none (not a number, or outside STATED_HEIGHT_M). Every source of one (the manifest's
    column, `seig reconstruct --camera-height`) goes through here."""
    return _in_range(value, STATED_HEIGHT_M, "a camera height", "m")


def _in_range(value: object, bounds: tuple[float, float], what: str, unit: str) -> float:
    lo, hi = bounds
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and lo <= value <= hi):
        shown = f"{value:g}" if number else repr(value)
        raise ValueError(f"{shown} is not {what} ({lo:g}-{hi:g} {unit})")
    return float(value)


def _per_35mm(size: tuple[int, int]) -> float:
    """seig's focal length per millimetre of 35 mm-equivalent one, for an image of `size`."""
    w, h = size
    return math.hypot(w, h) / max(w, h) * SENSOR_MM / FULL_FRAME_DIAGONAL_MM


def focal_from_35mm(f35: float, size: tuple[int, int]) -> float:
    """A 35 mm-equivalent focal length (matched across the diagonal, as EXIF's is) in seig's
    convention: 36 mm across the image's long side (checked first: checked_35mm)."""
    return checked_35mm(f35) * _per_35mm(size)


def focal_to_35mm(focal_mm: float, size: tuple[int, int]) -> float:
    """The inverse of focal_from_35mm: what a camera writes as FocalLengthIn35mmFilm."""
    return focal_mm / _per_35mm(size)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.clip(arr / max(arr.max(), 1) * 255, 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


_UNREACHABLE = ("ClientConnectorError", "ClientConnectionError", "ServerDisconnectedError", "ServerTimeoutError",
                "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "FSTimeoutError", "gaierror")


def _source_failure(exc: BaseException) -> str | None:
    """'unreachable' or 'denied' when the cause chain says the source failed, not the file."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        status = getattr(exc, "status", None)
        if isinstance(exc, PermissionError) or status in (401, 403):
            return "denied"
        if isinstance(status, int) and (status >= 500 or status == 429):
            return "unreachable"
        code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code") \
            if isinstance(getattr(exc, "response", None), dict) else None
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"):
            return "denied"
        if isinstance(exc, (ConnectionError, TimeoutError)) or type(exc).__name__ in _UNREACHABLE:
            return "unreachable"
        exc = exc.__cause__ or exc.__context__
    return None


def load(uri: str, timeout_s: float | None = None, **storage_options) -> Photo:
    """Read and decode the photo at an fsspec URI (within `timeout_s` on async filesystems)."""
    from fsspec.asyn import AsyncFileSystem
    from fsspec.core import url_to_fs

    try:
        fs, path = url_to_fs(uri, **storage_options)
        if isinstance(fs, AsyncFileSystem) and timeout_s:
            data = fs.cat_file(path, end=MAX_PIXELS * 4 + 1, timeout=timeout_s)
        else:
            with fs.open(path, "rb") as fh:
                data = fh.read(MAX_PIXELS * 4 + 1)
    except IsADirectoryError as exc:
        raise PhotoError("not_an_image", f"{uri}: is a directory") from exc
    except Exception as exc:  # noqa: BLE001 - every filesystem has its own errors; the chain says which
        source = _source_failure(exc)
        if source == "denied":
            raise PhotoError("denied", f"{uri}: access denied ({_short(exc)})") from exc
        if source == "unreachable" or type(exc).__name__ == "FSTimeoutError":
            raise PhotoError("unreachable", f"{uri}: the source did not answer ({_short(exc)})") from exc
        if isinstance(exc, FileNotFoundError):
            raise PhotoError("missing", f"{uri}: no such file") from exc
        if isinstance(exc, OSError):
            raise PhotoError("unreadable", f"{uri}: cannot read ({_short(exc)})") from exc
        raise
    return decode(data, uri)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:300]
    if type(exc).__name__ == "FSTimeoutError":
        return "timed out"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
