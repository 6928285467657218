"""The parent trusts nothing a job child wrote: format, size and count are checked before
anything reaches storage. No Blender here: the files are made to be wrong on purpose."""
from __future__ import annotations

import io
import json
import os
import struct

import numpy as np
import pytest

from blender_actors import outputs
from blender_actors.child_outputs import WRITERS
from blender_actors.outputs import OutputError
from blender_actors.protocol import RenderRequest, RenderResult
from simdata.facts import SceneFacts
from simdata.sample import SampleError, build
from simdata.usd_labels import UsdLabelError, label_files

REQ = {"width": 8, "height": 8}
DATASET_NAMES = {n for w in ("passes", "glb", "usd") for n in WRITERS[w].names}


def read_outputs(folder: str, names: list, request: dict) -> dict[str, bytes]:
    """What the worker does with a job dir: the files the dataset writers may write, checked."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return outputs.read_outputs(fd, names, request, DATASET_NAMES)
    finally:
        os.close(fd)


def _npy(array) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=True)
    return out.getvalue()


def _glb(doc: dict, bin_chunk: bytes = b"") -> bytes:
    body = json.dumps(doc).encode()
    body += b" " * (-len(body) % 4)
    chunks = struct.pack("<I4s", len(body), b"JSON") + body
    if bin_chunk:
        chunks += struct.pack("<I4s", len(bin_chunk), b"BIN\x00") + bin_chunk
    return b"glTF" + struct.pack("<II", 2, 12 + len(chunks)) + chunks


@pytest.fixture
def out_dir(tmp_path):
    return tmp_path


def _write(folder, name: str, data: bytes) -> None:
    (folder / name).write_bytes(data)


GOOD_PASSES = np.zeros((8, 8, 5), dtype="<f4")


def test_good_files_pass(out_dir):
    _write(out_dir, "passes.npy", _npy(GOOD_PASSES))
    _write(out_dir, "scene.json", b'{"a": 1}')
    _write(out_dir, "scene.glb", _glb({"asset": {"version": "2.0"}, "nodes": []}, b"\0" * 8))
    _write(out_dir, "scene.usdc", b"PXR-USDC" + b"\0" * 100)
    got = read_outputs(str(out_dir), ["passes.npy", "scene.json", "scene.glb", "scene.usdc"], REQ)
    assert set(got) == {"passes.npy", "scene.json", "scene.glb", "scene.usdc"}


@pytest.mark.parametrize("name,data,why", [
    ("passes.npy", _npy(np.zeros((8, 8, 5), dtype="<f8")), "float32"),
    ("passes.npy", _npy(np.zeros((7, 8, 5), dtype="<f4")), "shape"),
    ("passes.npy", _npy(np.asfortranarray(np.zeros((8, 8, 5), dtype="<f4"))), "C order"),
    ("passes.npy", _npy(np.array([{"x": 1}], dtype=object)), "float32"),  # a pickle never gets loaded
    ("passes.npy", _npy(np.full((8, 8, 5), np.nan, dtype="<f4")), "NaN"),
    ("passes.npy", _npy(GOOD_PASSES)[:-4], "data bytes"),
    ("passes.npy", b"\x93NUMPY\x01\x00\xff\xff" + b"{" * 10, "out of bounds"),
    ("passes.npy", b"not numpy", "not a NumPy"),
    ("passes.npy", _npy(GOOD_PASSES) + bytes(5000), "cap"),  # capped by the request's size before it is read
    ("scene.json", b'{"a": NaN}', "strict JSON"),
    ("scene.json", b'{"a": 1, "a": 2}', "strict JSON"),
    ("scene.json", b"\xff\xfe", "strict JSON"),
    ("scene.glb", b"glTF" + struct.pack("<II", 1, 24) + bytes(12), "version"),
    ("scene.glb", _glb({"asset": {"version": "2.0"}})[:-4], "declared length"),
    ("scene.glb", _glb({"asset": {"version": "1.0"}}), "glTF 2.0"),
    ("scene.glb", _glb({"asset": {"version": "2.0"}, "nodes": [{}] * 10_001}), "nodes"),
    ("scene.glb", b"glTF" + struct.pack("<II", 2, 28) + struct.pack("<I4s", 999, b"JSON") + b"{}  " * 2, "fit"),
    ("scene.usdc", b"#usda 1.0\n" + b" " * 100, "crate"),
])
def test_bad_files_are_refused(out_dir, name, data, why):
    _write(out_dir, name, data)
    with pytest.raises(OutputError, match=why):
        read_outputs(str(out_dir), [name], REQ)


def test_names_links_fifos_and_counts_are_refused(out_dir, tmp_path_factory):
    secret = tmp_path_factory.mktemp("elsewhere") / "secret"
    secret.write_bytes(_npy(GOOD_PASSES))
    os.symlink(secret, out_dir / "passes.npy")
    with pytest.raises(OutputError, match="cannot open"):
        read_outputs(str(out_dir), ["passes.npy"], REQ)
    os.unlink(out_dir / "passes.npy")
    os.link(secret, out_dir / "passes.npy")  # a hard link to a file outside the folder
    with pytest.raises(OutputError, match="plain regular file"):
        read_outputs(str(out_dir), ["passes.npy"], REQ)
    os.mkfifo(out_dir / "scene.json")  # would block a reader that waits for data
    with pytest.raises(OutputError, match="plain regular file"):
        read_outputs(str(out_dir), ["scene.json"], REQ)
    for names, why in ((["../secret"], "not allowed"), (["render.png"], "not asked for"), ([7], "not allowed"),
                       (["scene.glb"] * 2, "no repeats"), (["scene.glb"] * 17, "at most")):
        with pytest.raises(OutputError, match=why):
            read_outputs(str(out_dir), names, REQ)


def test_outputs_of_a_request_are_known_names():
    assert RenderRequest(program="x", outputs=["passes", "usd"]).outputs == ["passes", "usd"]
    for bad in (["passes", "passes"], ["exr"]):
        with pytest.raises(ValueError):
            RenderRequest(program="x", outputs=bad)


def _facts(**change) -> dict:
    m = [1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0]
    facts = {
        "camera": {"name": "camera", "type": "PERSP", "matrix_world": m, "lens_mm": 24.0, "sensor_width_mm": 36.0,
                   "sensor_height_mm": 24.0, "sensor_fit": "AUTO", "shift_x": 0.0, "shift_y": 0.0, "clip_start": 0.1,
                   "clip_end": 1000.0},
        "render": {"width": 8, "height": 8, "pixel_aspect_x": 1.0, "pixel_aspect_y": 1.0},
        "objects": [{"name": "road", "semantic": "road", "instance_id": 1, "matrix_world": m,
                     "bbox_min": [0, 0, 0], "bbox_max": [1, 1, 1]}],
        "suns": [],
    }
    for path, value in change.items():
        node = facts
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        node[keys[-1]] = value
    return facts


def _result(facts: dict, passes: np.ndarray | None = None) -> RenderResult:
    p = GOOD_PASSES.copy() if passes is None else passes
    return RenderResult(png=b"png", files={"passes.npy": _npy(p), "scene.json": json.dumps(facts).encode()})


def test_scene_facts_are_checked_for_meaning():
    build(_result(_facts()), 8, 8, ["rgb", "depth", "semantic", "instance", "camera", "objects"])
    bad = [
        (_facts(objects__0__instance_id=2), "instance ids"),
        (_facts(render__width=16), "asked 8x8"),
        (_facts(camera__type="ORTHO"), "perspective"),
        (_facts(objects__0__matrix_world=[1e30] * 16), "finite"),
        (_facts(objects__0__name="x" * 500), "128"),
        (_facts(objects__0__extra=1), "Extra inputs"),
    ]
    for facts, why in bad:
        with pytest.raises(SampleError, match=why):
            build(_result(facts), 8, 8, ["camera"])
    passes = GOOD_PASSES.copy()
    passes[0, 0, 4] = 5.0  # an object index with no object behind it
    with pytest.raises(SampleError, match="outside"):
        build(_result(_facts(), passes), 8, 8, ["camera"])
    passes[0, 0, 4] = 0.5  # ids never blend
    with pytest.raises(SampleError, match="outside"):
        build(_result(_facts(), passes), 8, 8, ["camera"])
    assert SceneFacts.model_validate(_facts()).objects[0].name == "road"


def test_usd_labeller_refuses_garbage_without_crashing_the_caller():
    out = label_files([(b"PXR-USDC" + os.urandom(4000), {"road": "road"}, None), (b"PXR-USDC", {}, None)])
    assert all(isinstance(o, UsdLabelError) for o in out)
