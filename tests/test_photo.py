"""Bad photos: converted and used, or refused with a reason that names the problem."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from stages.photo import PhotoError, decode, load


def _encode(image: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def _gradient(w=64, h=48) -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.uint8)[None, :, None].repeat(h, 0).repeat(3, 2)
    return Image.fromarray(x, "RGB")


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "P", "LA", "I;16", "1"])
def test_odd_modes_become_rgb(mode):
    src = _gradient()
    wide = (np.asarray(src.convert("L"), dtype=np.uint16) * 257).astype("<u2")
    image = src.convert(mode) if mode != "I;16" else Image.frombytes("I;16", src.size, wide.tobytes())
    fmt = "JPEG" if mode == "CMYK" else "TIFF" if mode == "I;16" else "PNG"
    photo = decode(_encode(image, fmt), f"x.{mode}")
    assert photo.image.mode == "RGB" and photo.image.size == (64, 48)
    assert photo.compare.shape[2] == 3 and 0 <= photo.compare.min() and photo.compare.max() <= 1


def test_alpha_is_composited_on_white():
    rgba = Image.new("RGBA", (32, 32), (255, 0, 0, 0))
    photo = decode(_encode(rgba))
    assert photo.image.getpixel((5, 5)) == (255, 255, 255)


def test_exif_rotation_is_applied():
    image = _gradient(64, 32)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    photo = decode(_encode(image, "JPEG", exif=exif.tobytes()))
    assert photo.image.size == (32, 64)


@pytest.mark.parametrize("data,kind", [
    (b"", "empty"),
    (b"this is not an image at all", "not_an_image"),
])
def test_garbage_is_refused(data, kind):
    with pytest.raises(PhotoError) as err:
        decode(data, "bad.jpg")
    assert err.value.kind == kind and "bad.jpg" in str(err.value)


def test_truncated_jpeg_is_refused():
    data = _encode(_gradient(256, 256), "JPEG")
    with pytest.raises(PhotoError) as err:
        decode(data[: len(data) // 2], "cut.jpg")
    assert err.value.kind == "corrupt" and "truncated" in str(err.value)


def test_one_pixel_is_refused():
    with pytest.raises(PhotoError) as err:
        decode(_encode(Image.new("RGB", (1, 1))), "dot.png")
    assert err.value.kind == "too_small" and "1x1" in str(err.value)


def test_decompression_bomb_is_refused_before_decoding():
    # A 30000x30000 PNG of one colour compresses to a few hundred KB; never decode it.
    import struct
    import zlib

    w = h = 30000
    raw = zlib.compress(b"".join(b"\x00" + b"\x00" * w for _ in range(64)))  # only the header matters
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    with pytest.raises(PhotoError) as err:
        decode(png, "bomb.png")
    assert err.value.kind == "too_large" and "decompression bomb" in str(err.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(PhotoError) as err:
        load(str(tmp_path / "nope.jpg"))
    assert err.value.kind == "missing"
    with pytest.raises(PhotoError) as err:
        load(str(tmp_path))
    assert err.value.kind in ("not_an_image", "unreadable")


def test_large_photo_is_bounded(tmp_path):
    path = tmp_path / "big.jpg"
    _gradient(3000, 2000).save(path)
    photo = load(str(path))
    assert max(photo.image.size) == 1024 and photo.compare.shape[:2] == (171, 256)


def _with_focal(image: Image.Image, f35, fmt: str = "JPEG") -> bytes:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = f35  # FocalLengthIn35mmFilm
    return _encode(image, fmt, exif=exif.tobytes())


@pytest.mark.parametrize("size, f35, expected", [
    ((96, 64), 28, 28.0),  # 3:2 is the full frame's own shape: no conversion
    ((64, 48), 28, 28 / 43.2666 * 1.25 * 36.0),  # 4:3: the equivalent is matched across the diagonal
    ((48, 64), 50, 50 / 43.2666 * 1.25 * 36.0),  # portrait: the long side is the height
])
def test_a_stated_focal_length_is_read_from_exif(size, f35, expected):
    for fmt in ("JPEG", "PNG"):
        photo = decode(_with_focal(_gradient(*size), f35, fmt))
        assert photo.focal_mm == pytest.approx(expected, rel=1e-3), fmt


@pytest.mark.parametrize("f35", [0, 2, 5000])
def test_an_unknown_or_impossible_focal_length_states_nothing(f35):
    assert decode(_with_focal(_gradient(), f35)).focal_mm is None  # 0 is the standard's "unknown"


def test_a_photo_without_exif_states_no_focal_length():
    assert decode(_encode(_gradient(), "JPEG")).focal_mm is None


@pytest.mark.parametrize("size", [(96, 64), (64, 48), (48, 64)])
def test_what_a_camera_writes_reads_back_as_the_same_focal_length(size):
    # focal_to_35mm (what bench/street.py --exif-focal writes) inverts the decoder's conversion
    from stages.photo import focal_from_35mm, focal_to_35mm

    assert focal_to_35mm(focal_from_35mm(35.0, size), size) == pytest.approx(35.0)
    photo = decode(_with_focal(_gradient(*size), round(focal_to_35mm(30.0, size))))
    assert photo.focal_mm == pytest.approx(30.0, rel=0.03)  # whole millimetres in the tag
    photo.state_35mm(50.0)  # a manifest column or --focal-35mm overrides the tag
    assert photo.focal_mm == pytest.approx(focal_from_35mm(50.0, size))
    with pytest.raises(ValueError, match="not a 35 mm-equivalent focal length"):
        photo.state_35mm(3.0)


@pytest.mark.parametrize("value", [0.0, 0.29, 51, float("nan"), float("inf"), "2", True, None])
def test_a_stated_camera_height_is_checked(value):
    from stages.photo import checked_height_m

    photo = decode(_encode(_gradient(), "PNG"))
    assert photo.height_m is None  # a photo states no height of its own
    with pytest.raises(ValueError, match=r"is not a camera height \(0\.3-50 m\)"):
        photo.state_height(value)
    assert photo.height_m is None and checked_height_m(2) == 2.0
