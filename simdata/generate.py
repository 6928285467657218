"""One image's dataset: the reconstruction (sample 00) and its variants (01..N).

Per sample one Blender job (render, passes, GLB, USD from the same scene), the checks,
the writers, then the files to storage under the image's prefix:
`samples/NN/<file>` and, for a variant, its program `variants/NN.py`. All of it is
written before the caller writes the image's record.json (the done marker), and every
file is listed there. A sample that fails (its program fails, its files are refused) is
reported, never fatal: the image's reconstruction stands, the other samples are kept.
"""
from __future__ import annotations

import hashlib
import json
import posixpath
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from blender_actors.protocol import RenderRequest, RenderResult
from simdata.config import DatasetConfig
from simdata.index import URI_COLUMNS, fraction_column
from simdata.sample import Sample, SampleError, blender_outputs, build
from simdata.usd_labels import UsdLabelError, label_files
from simdata.variants import Variant, make_variant, variant_seed

Put = Callable[[str, bytes], None]


class Renderer(Protocol):
    def render(self, request: RenderRequest) -> RenderResult: ...


@dataclass
class DatasetResult:
    written: dict[str, dict] = field(default_factory=dict)  # artifact name -> {uri, bytes, sha256}
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per sample (simdata.index.SCHEMA)
    failed: list[dict[str, Any]] = field(default_factory=list)  # {variant, kind, message}
    seconds: dict[str, list[float]] = field(default_factory=dict)  # output -> seconds per sample
    bytes: dict[str, int] = field(default_factory=dict)  # output file -> bytes over the samples

    def record(self) -> dict:
        """What record.json keeps: rows (to rebuild the index on recovery) and failures."""
        return {"samples": self.rows, "failed": self.failed}


def sample_name(variant: int) -> str:
    return f"{variant:02d}"


def programs(program: str, image_id: str, cfg: DatasetConfig) -> list[Variant]:
    """Sample 00 (the program itself) and the variants, each with its seed."""
    out = [Variant(index=0, seed=cfg.seed, program=program, params={"variant": 0, "seed": cfg.seed})]
    for n in range(1, cfg.variants + 1):
        out.append(make_variant(program, n, variant_seed(cfg.seed, image_id, n), cfg.jitter, image_id))
    return out


def generate(program: str, image_id: str, run_id: str, prefix: str, size: tuple[int, int], cfg: DatasetConfig,
             renderer: Renderer, put: Put) -> DatasetResult:
    """Render, check and store every sample of one image; see the module docstring."""
    width, height = size
    result = DatasetResult()
    built: list[tuple[Variant, Sample, RenderResult]] = []
    for variant in programs(program, image_id, cfg):
        request = RenderRequest(program=variant.program, width=width, height=height, samples=cfg.samples,
                                seed=variant.seed % (2**31), timeout_s=cfg.timeout_s,
                                outputs=blender_outputs(cfg.outputs))
        rendered = renderer.render(request)
        if not rendered.ok:
            error = rendered.error
            result.failed.append({"variant": variant.index, "kind": error.kind if error else "render",
                                  "message": (error.message if error else "no image came back")[:1000]})
            continue
        try:
            built.append((variant, build(rendered, width, height, cfg.outputs), rendered))
        except SampleError as exc:
            result.failed.append({"variant": variant.index, "kind": "dataset", "message": str(exc)[:1000]})
    _label_usd(built, result)
    for variant, sample, rendered in built:
        result.rows.append(_store(variant, sample, rendered, image_id, run_id, prefix, put, result))
    return result


def _label_usd(built: list, result: DatasetResult) -> None:
    """Isaac Sim labels on every sample's USD, in one labeller process; a refused file
    drops its sample (its other files are not written)."""
    todo = [(i, s) for i, (_, s, _) in enumerate(built) if s.usd is not None]
    if not todo:
        return
    t0 = time.perf_counter()
    try:
        labelled = label_files([(s.usd, s.usd_labels, s.usd_dome) for _, s in todo])
    except UsdLabelError as exc:
        labelled = [exc] * len(todo)
    share = (time.perf_counter() - t0) / len(todo)
    dropped = set()
    for (i, sample), data in zip(todo, labelled):
        if isinstance(data, UsdLabelError):
            result.failed.append({"variant": built[i][0].index, "kind": "dataset", "message": str(data)[:1000]})
            dropped.add(i)
        else:
            sample.files["scene.usdc"] = data
            sample.timings["usd_labels"] = share
    built[:] = [b for i, b in enumerate(built) if i not in dropped]


def _store(variant: Variant, sample: Sample, rendered: RenderResult, image_id: str, run_id: str, prefix: str,
           put: Put, result: DatasetResult) -> dict[str, Any]:
    name = sample_name(variant.index)
    files = dict(sample.files)
    program_uri = None
    t0 = time.perf_counter()
    if variant.index > 0:
        key = f"variants/{name}.py"
        program_uri = _put(prefix, key, variant.program.encode(), put, result)
    uris = {}
    for file_name, data in files.items():
        uris[file_name] = _put(prefix, f"samples/{name}/{file_name}", data, put, result)
        result.bytes[file_name] = result.bytes.get(file_name, 0) + len(data)
    timings = rendered.record.timings
    seconds = {"render": timings.get("render_s", 0.0), "passes": timings.get("passes_s", 0.0),
               "glb": timings.get("glb_s", 0.0),
               "usd": timings.get("usd_s", 0.0) + sample.timings.get("usd_labels", 0.0),
               "depth": sample.timings.get("depth", 0.0), "normal": sample.timings.get("normal", 0.0),
               "encode": sample.timings.get("encode", 0.0), "store": time.perf_counter() - t0}
    for key, value in seconds.items():
        result.seconds.setdefault(key, []).append(value)
    cam = sample.camera
    row: dict[str, Any] = {
        "image_id": image_id, "run_id": run_id, "variant": variant.index, "sample": name, "seed": variant.seed,
        "prefix": posixpath.join(prefix, "samples", name), "program_uri": program_uri,
        "width": cam.width, "height": cam.height, "fx": cam.fx, "fy": cam.fy, "cx": cam.cx, "cy": cam.cy,
        "cam_x": cam.position[0], "cam_y": cam.position[1], "cam_z": cam.position[2],
        "world_to_camera": [v for r in cam.world_to_camera_opencv for v in r],
        "objects": sample.objects, "bytes": sum(len(d) for d in files.values()),
        "render_s": timings.get("render_s"), "variant_json": json.dumps(variant.params, sort_keys=True),
    }
    row.update({URI_COLUMNS[f]: uri for f, uri in uris.items()})
    row.update({fraction_column(c): v for c, v in sample.class_fractions.items()})
    return row


def _put(prefix: str, key: str, data: bytes, put: Put, result: DatasetResult) -> str:
    uri = posixpath.join(prefix.rstrip("/"), key)
    put(uri, data)
    result.written[key] = {"uri": uri, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return uri
