"""The dataset card: `<run>/dataset/README.md`, written from the index at the end of a run.

What a user needs before loading a byte: what is in it (counts, sizes, classes seen),
where each file is, and the conventions (units, axes, depth, ids, camera, labels).
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from simdata.index import URI_COLUMNS, fraction_column
from scene_program.classes import CLASSES

CONVENTIONS = """\
## Conventions

- Units: metres, degrees; world axes: +Z up, the street along +Y, +X to the right.
- `rgb.png`: 8-bit sRGB (Blender's Standard view transform).
- `depth.png`: uint16, metres = value / 256 (KITTI); 0 = no surface or 256 m and beyond.
  `depth.npy`: float32 metres, 0 = no surface. Depth is **z-depth** (distance along the
  camera's optical axis), not ray length: ray length = z-depth x |K^-1 (u, v, 1)|.
  `depth_preview.png`: inverse depth in a colour map (1-200 m), for people.
- `semantic.png`: uint8 Cityscapes label ids (table below); no surface = sky (23).
  `semantic_preview.png`: the same in Cityscapes' palette.
- `instance.png`: uint16 instance ids, 0 = no object; ids match `objects.json`, the
  `instance_id` in `scene.glb` node extras and `userProperties:instance_id` in `scene.usdc`.
- `normal.png`: world-space unit normals as (n + 1) / 2 x 255 per channel, black = no surface.
- `camera.json`: `K` (fx, fy, cx, cy; OpenCV pixel convention: integer coordinates at pixel
  centres), resolution, `world_to_camera_opencv` (x right, y down, z forward) and
  `camera_to_world_blender` (Blender's camera: x right, y up, looking down -z), 4x4 row-major.
- `objects.json`: per object name, class, label id, instance id, `box3d` (world centre,
  size, yaw about +Z), `visible_pixels`, `box2d` (visible, inclusive pixel bounds),
  `box2d_amodal` (projected 3D box, clipped), `truncated`.
- `scene.glb`: glTF 2.0 (+Y up, as glTF requires; metres): named nodes, materials, camera,
  sun; each node's `extras` hold `semantic` (its class) and `instance_id`.
- `scene.usdc`: USD, metersPerUnit 1, upAxis Z, default prim `/World`, one Xform prim per
  object, the sky as a uniform dome light `/World/env_light` (its mean colour); class labels as `UsdSemantics.LabelsAPI` (`semantics:labels:class`, Isaac Sim 5)
  and the older Isaac Sim `SemanticsAPI:Semantics` (`semantic:Semantics:params:semanticType`
  = "class", `semanticData` = the class).
- Sample `00` is the reconstruction itself; `01..N` are variants, each with its own program
  `variants/NN.py` (run it: `python NN.py -- --render out.png`). `variant_json` in the index
  says what changed (time of day, sun, haze, materials, camera move).
"""

READER = """\
## Reading it

```python
from simdata.reader import open_dataset

ds = open_dataset("{uri}")          # any fsspec URI: a local folder, s3://bucket/run/dataset
print(len(ds), ds.columns[:8])
for sample in ds:                   # or ds[i]
    rgb, depth = sample.rgb, sample.depth        # (H, W, 3) uint8, (H, W) float32 metres
    sem, inst = sample.semantic, sample.instance # (H, W) uint8 label ids, (H, W) uint16 ids
    K, w2c = sample.K, sample.world_to_camera    # (3, 3), (4, 4) OpenCV
    boxes = sample.objects                       # list of dicts (objects.json)
```
"""


def card(index: pa.Table, run_id: str, config: dict | None = None) -> str:
    n = index.num_rows
    images = len(set(index.column("image_id").to_pylist())) if n else 0
    variants = pc.max(index.column("variant")).as_py() if n else 0
    total = pc.sum(index.column("bytes")).as_py() if n else 0
    sizes = sorted({(w, h) for w, h in zip(index.column("width").to_pylist(), index.column("height").to_pylist())})
    lines = [
        f"# seig simulation dataset: run {run_id}", "",
        "Ground truth, simulator scenes and variants rendered from the scene programs seig wrote for",
        "each photo. One row per sample in `part-*.parquet` (this folder).", "",
        "## Counts", "",
        f"- samples: {n}; images: {images}; variants per image: up to {variants} (besides the reconstruction)",
        f"- bytes: {total:,} ({total / max(n, 1) / 1e6:.2f} MB per sample)",
        f"- resolutions: {', '.join(f'{w}x{h}' for w, h in sizes) or '-'}",
    ]
    if config:
        lines.append(f"- settings: {', '.join(f'{k}={v}' for k, v in sorted(config.items()))}")
    lines += ["", "## Layout", "",
              "Per sample, under `scenes/<image_id>/samples/NN/` of the run (URIs in the index columns):", ""]
    lines += [f"- `{name}` (`{col}`)" for name, col in URI_COLUMNS.items()]
    lines += ["", "## Classes", "",
              "| class | label id (semantic.png) | trainId | colour | share of pixels |", "| --- | --- | --- | --- | --- |"]
    for c in CLASSES:
        share = pc.mean(index.column(fraction_column(c.name))).as_py() if n else 0.0
        lines.append(f"| {c.name} | {c.label_id} | {c.train_id} | {', '.join(map(str, c.color))} | {share or 0:.4f} |")
    lines += ["", "Unlabeled (no class) is 0; pixels showing no surface are sky (23).", "", CONVENTIONS,
              READER.format(uri="<run>/dataset")]
    return "\n".join(lines)
