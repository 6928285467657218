"""Read a seig dataset back as numpy arrays, from any fsspec URI.

    from simdata.reader import open_dataset
    ds = open_dataset("output/<run>/dataset")      # or s3://bucket/<run>/dataset
    sample = ds[0]; sample.rgb, sample.depth, sample.semantic, sample.K, sample.objects

Needs only numpy, Pillow, pyarrow and fsspec. Files are fetched lazily, when an
attribute is first read; the index row (`sample.row`) holds URIs, camera and class
shares without fetching anything.
"""
from __future__ import annotations

import io
import json
from functools import cached_property
from typing import Any, Iterator

import fsspec
import numpy as np
from PIL import Image

from simdata.index import read_index


class DatasetSample:
    """One sample: lazy arrays and parsed JSON, from the URIs of its index row."""

    def __init__(self, row: dict[str, Any], storage_options: dict | None = None):
        self.row = row
        self.storage_options = storage_options or {}

    def __repr__(self) -> str:
        return f"DatasetSample(image_id={self.row['image_id']!r}, variant={self.row['variant']})"

    def _bytes(self, column: str) -> bytes:
        uri = self.row.get(column)
        if not uri:
            raise KeyError(f"this dataset has no {column[:-4]} output (column {column} is empty)")
        with fsspec.open(uri, "rb", **self.storage_options) as fh:
            return fh.read()

    def _png(self, column: str) -> np.ndarray:
        with Image.open(io.BytesIO(self._bytes(column))) as img:
            return np.asarray(img)

    @cached_property
    def rgb(self) -> np.ndarray:
        return self._png("rgb_uri")

    @cached_property
    def depth(self) -> np.ndarray:
        """float32 metres, 0 = no surface (from depth.npy; exact)."""
        return np.load(io.BytesIO(self._bytes("depth_npy_uri")), allow_pickle=False)

    @cached_property
    def depth_png(self) -> np.ndarray:
        """The KITTI PNG decoded to metres (value / 256): 1/256 m steps, 0 = none."""
        return self._png("depth_uri").astype(np.float32) / 256.0

    @cached_property
    def semantic(self) -> np.ndarray:
        return self._png("semantic_uri")

    @cached_property
    def instance(self) -> np.ndarray:
        return self._png("instance_uri").astype(np.uint16)

    @cached_property
    def normal(self) -> np.ndarray:
        """World-space normals (H, W, 3) in [-1, 1]; 0 where there is no surface."""
        rgb = self._png("normal_uri").astype(np.float32)
        out = rgb / 255.0 * 2.0 - 1.0
        out[(rgb == 0).all(axis=-1)] = 0.0
        return out

    @cached_property
    def camera(self) -> dict:
        return json.loads(self._bytes("camera_uri"))

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - the usual name
        return np.array([[self.row["fx"], 0.0, self.row["cx"]], [0.0, self.row["fy"], self.row["cy"]], [0.0, 0.0, 1.0]])

    @property
    def world_to_camera(self) -> np.ndarray:
        return np.asarray(self.row["world_to_camera"], dtype=np.float64).reshape(4, 4)

    @cached_property
    def objects(self) -> list[dict]:
        return json.loads(self._bytes("objects_uri"))["objects"]

    @property
    def glb(self) -> bytes:
        return self._bytes("glb_uri")

    @property
    def usd(self) -> bytes:
        return self._bytes("usd_uri")

    @property
    def variant_params(self) -> dict:
        return json.loads(self.row.get("variant_json") or "{}")


class Dataset:
    """The samples of one dataset folder (its Parquet index), in index order."""

    def __init__(self, uri: str, storage_options: dict | None = None):
        self.uri = uri
        self.storage_options = storage_options or {}
        table = read_index(uri, self.storage_options)
        self.columns = table.column_names
        self.rows = sorted(table.to_pylist(), key=lambda r: (r["image_id"], r["variant"]))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> DatasetSample:
        return DatasetSample(self.rows[i], self.storage_options)

    def __iter__(self) -> Iterator[DatasetSample]:
        return (DatasetSample(r, self.storage_options) for r in self.rows)


def open_dataset(uri: str, **storage_options) -> Dataset:
    """A dataset folder (`<run>/dataset`) or one of its Parquet parts, local or remote."""
    return Dataset(uri, storage_options)
