"""A card's pictures and links: small thumbnails made once, links that survive a sync.

Thumbnails live under `<report>/thumbs/` (WebP, long side `THUMB_PX`), named by a hash of
the run and the image id (and the size), and are never made twice: a thumbnail already
there is reused. A report of a few hundred cards stays a few megabytes.

Links to an image's `scene.py` and `record.json` are relative when the report and the
run are on the same storage (the default report folder, `<run>/report/`, locally or on
S3), so the pair survives `aws s3 sync` to a laptop; a report written elsewhere (an S3 run
reported into a local folder) gets copies of the linked files under `<report>/files/`.
"""
from __future__ import annotations

import hashlib
import io
import os
import posixpath
import threading
import warnings
from urllib.parse import quote

import numpy as np
from fsspec.core import url_to_fs
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.report.model import Card, CardRow, Picture
from pipeline.storage import StorageError, read_bytes, write_bytes

# Dataset previews (the reconstruction itself is sample variant 00), relative to an
# image's folder `<run>/scenes/<image_id>/`. One place to change when the layout moves.
PREVIEWS = {
    "depth": "samples/00/depth_preview.png",
    "semantic": "samples/00/semantic_preview.png",
}
THUMB_PX = 256  # the widest a picture shows in a card (two side by side) at 1x
MAX_SOURCE_PIXELS = 64_000_000  # a bigger "photo" is refused, not decoded (decompression bombs)


def image_dir(root: str, image_id: str) -> str:
    return posixpath.join(root, "scenes", image_id)


def _key(root: str, image_id: str) -> str:
    return hashlib.sha1(f"{root}\0{image_id}".encode()).hexdigest()[:20]


def _protocol(uri: str) -> str:
    return uri.split("://", 1)[0] if "://" in uri else "file"


def _bucket(uri: str) -> str:
    return uri.split("://", 1)[1].split("/", 1)[0] if "://" in uri else ""


def _to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB from any mode: 16-bit and float images (a raw depth map) are stretched
    to their own range, alpha is composited on white."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(img, dtype=np.float64)
        finite = a[np.isfinite(a)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        a = np.nan_to_num((a - lo) / max(hi - lo, 1e-12), nan=0.0)
        img = Image.fromarray((np.clip(a, 0, 1) * 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        base = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(base, img)
    return img.convert("RGB")


def make_thumbnail(data: bytes, nearest: bool = False, px: int = THUMB_PX) -> bytes:
    """WebP bytes of a picture fitted into px x px; `nearest` keeps label colours exact
    (a semantic map must not be blurred into colours no class has: nearest-neighbour
    resampling, lossless encoding). Raises ValueError
    with the reason when the bytes are not a usable image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > MAX_SOURCE_PIXELS:
                raise ValueError(f"{img.width}x{img.height} pixels is too large to thumbnail")
            if img.format == "JPEG":
                img.draft("RGB", (px * 2, px * 2))  # decode at reduced scale: a 24 MP photo in ~20 ms
            img.load()
    except ValueError:
        raise
    except UnidentifiedImageError as exc:
        raise ValueError("not a recognised image") from exc
    except (OSError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError(f"truncated or corrupt ({exc})") from exc
    img = _to_rgb(ImageOps.exif_transpose(img))
    img.thumbnail((px, px), Image.NEAREST if nearest else Image.LANCZOS)
    out = io.BytesIO()
    if nearest:  # lossless: a lossy codec's chroma subsampling would blend labels at their edges
        img.save(out, "WEBP", lossless=True)
    else:
        img.save(out, "WEBP", quality=80, method=4)
    return out.getvalue()


class Assets:
    """Makes the pictures and links of cards for one report (`out`) of one run (`root`)."""

    def __init__(self, root: str, out: str, storage_options: dict):
        self.root, self.out, self.opts = root.rstrip("/"), out.rstrip("/"), storage_options
        self.same_storage = _protocol(self.root) == _protocol(self.out) and (
            _protocol(self.root) == "file" or _bucket(self.root) == _bucket(self.out))
        self.existing = self._list(posixpath.join(self.out, "thumbs"))
        self.made = 0
        self._lock = threading.Lock()

    def _list(self, uri: str) -> set[str]:
        """Names already under a folder of the report: one listing, not one request per file."""
        try:
            fs, path = url_to_fs(uri, **self.opts)
            return {posixpath.basename(p) for p in fs.find(path)}
        except (OSError, ValueError):
            return set()

    def card(self, row: CardRow) -> Card:
        if not row.image_id:  # an invalid manifest row: no id to name a thumbnail or a folder by
            return Card(row=row, pictures=[Picture(label="photo", missing="no image id")], links={})
        key = _key(self.root, row.image_id)
        folder = image_dir(self.root, row.image_id)
        pictures = [self._thumb("photo", key, row.uri, False)]
        links: dict[str, str] = {}
        if row.status == "ok":  # a failed image has no final render, dataset outputs or record
            pictures.append(self._thumb("render", key, posixpath.join(folder, "render.png"), False))
            for name, rel in PREVIEWS.items():
                pic = self._thumb(name, key, posixpath.join(folder, rel), nearest=name == "semantic")
                if pic.src:  # absent previews are omitted, not shown as gaps
                    pictures.append(pic)
            links = self._links(key, folder)
        return Card(row=row, pictures=pictures, links=links)

    def _thumb(self, label: str, key: str, src: str | None, nearest: bool) -> Picture:
        name = f"{key}-{label}-{THUMB_PX}.webp"  # a change of size makes new ones
        rel = f"thumbs/{name}"
        if name in self.existing:
            return Picture(label=label, src=rel)
        if not src:
            return Picture(label=label, missing="no URI")
        try:
            data = read_bytes(src, **self.opts)
        except (StorageError, FileNotFoundError) as exc:
            cause = exc.__cause__
            missing = isinstance(exc, FileNotFoundError) or isinstance(cause, FileNotFoundError)
            return Picture(label=label, missing="not found" if missing
                           else f"unreadable ({type(cause).__name__ if cause else 'error'})")
        try:
            thumb = make_thumbnail(data, nearest)
        except ValueError as exc:
            return Picture(label=label, missing=str(exc)[:200])
        write_bytes(posixpath.join(self.out, rel), thumb, **self.opts)
        with self._lock:
            self.existing.add(name)
            self.made += 1
        return Picture(label=label, src=rel)

    def _links(self, key: str, folder: str) -> dict[str, str]:
        links = {}
        for name in ("scene.py", "record.json"):
            target = posixpath.join(folder, name)
            if self.same_storage:
                if _protocol(self.root) == "file":
                    rel = os.path.relpath(target, self.out)
                else:
                    rel = posixpath.relpath(target.split("://", 1)[1], self.out.split("://", 1)[1])
                links[name] = quote(rel.replace(os.sep, "/"))
                continue
            # another storage: copy the file beside the report (small, and only for cards)
            copy = f"files/{key}/{name}"
            try:
                write_bytes(posixpath.join(self.out, copy), read_bytes(target, **self.opts), **self.opts)
                links[name] = copy
            except (StorageError, FileNotFoundError):
                pass
        return links
