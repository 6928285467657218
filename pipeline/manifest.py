"""Read a Parquet manifest from any fsspec URI as a stream of row batches.

The driver never holds the whole manifest: `iter_rows` yields one batch at a time
(`manifest_batch_rows`). The schema is checked before any work starts: `image_id` and
`uri` must exist and be strings; other columns pass through to the results.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.dataset as pads
from fsspec.core import url_to_fs

REQUIRED = ("image_id", "uri")
# optional: the photo's 35 mm-equivalent focal length, for photos whose EXIF was stripped
# (street-view exports usually are) or is wrong; it overrides the EXIF tag (pipeline.tasks)
FOCAL_COLUMN = "focal_length_35mm"
# optional: the camera's height above the ground in metres (a fleet knows its rig's)
HEIGHT_COLUMN = "camera_height_m"
CAMERA_COLUMNS = {FOCAL_COLUMN: "millimetres", HEIGHT_COLUMN: "metres"}  # numeric, null where not stated


class ManifestError(ValueError):
    """The manifest cannot be used at all (missing, unreadable, wrong schema)."""


@dataclass
class Manifest:
    uri: str
    dataset: pads.Dataset

    @property
    def passthrough(self) -> list[str]:
        return [n for n in self.dataset.schema.names if n not in REQUIRED]

    def count_rows(self) -> int:
        return self.dataset.count_rows()  # Parquet footers only: no data read

    def iter_batches(self, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """File by file, row group by row group, in the dataset's schema. (The dataset
        scanner reads ahead: 600-800 MB resident for a 10M-row manifest; this, ~170 MB.)"""
        import pyarrow.parquet as pq

        schema = self.dataset.schema
        fs = self.dataset.filesystem
        try:
            for path in self.dataset.files:
                with fs.open_input_file(path) as fh:
                    for batch in pq.ParquetFile(fh).iter_batches(batch_size=batch_rows):
                        yield _conform(batch, schema)
        except (OSError, pa.ArrowException) as exc:
            raise ManifestError(f"{self.uri}: reading failed: {exc}") from exc


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A batch of one file in the schema of the whole manifest (missing columns null)."""
    if batch.schema.equals(schema):
        return batch
    cols = [batch.column(f.name).cast(f.type) if f.name in batch.schema.names else pa.nulls(batch.num_rows, f.type)
            for f in schema]
    return pa.RecordBatch.from_arrays(cols, schema=schema)


def open_manifest(uri: str, storage_options: dict | None = None) -> Manifest:
    from pipeline.storage import StorageError, call, failure_kind

    try:
        fs, path = url_to_fs(uri, **(storage_options or {}))
        fs.invalidate_cache()  # a cached listing of an earlier look would hide new files
        if any(ch in path for ch in "*?["):
            paths = sorted(call(fs, "glob", path))
            if not paths:
                raise ManifestError(f"{uri}: no files match")
            dataset = pads.dataset(paths, format="parquet", filesystem=fs)
        else:
            try:
                call(fs, "info", path)
            except FileNotFoundError as exc:
                if failure_kind(exc) == "bucket_missing":
                    raise ManifestError(f"{uri}: its bucket does not exist") from exc
                raise ManifestError(f"{uri}: no such file or folder") from exc
            dataset = pads.dataset(path, format="parquet", filesystem=fs)
    except ManifestError:
        raise
    except (pa.ArrowException, ValueError) as exc:
        raise ManifestError(f"{uri}: not a readable Parquet manifest ({type(exc).__name__}: {exc})") from exc
    except (StorageError, OSError) as exc:
        kind = failure_kind(exc)
        why = {"storage_denied": "access denied", "storage_unreachable": "the storage did not answer",
               "bucket_missing": "its bucket does not exist"}.get(kind or "", type(exc).__name__)
        raise ManifestError(f"{uri}: cannot read ({why}: {' '.join(str(exc).split())[:200]})") from exc
    schema = dataset.schema
    missing = [c for c in REQUIRED if c not in schema.names]
    if missing:
        raise ManifestError(f"{uri}: missing required column(s) {', '.join(missing)} "
                            f"(has: {', '.join(schema.names) or 'none'})")
    for col in REQUIRED:
        kind = schema.field(col).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise ManifestError(f"{uri}: column {col!r} must be string, is {kind}")
    for col, unit in CAMERA_COLUMNS.items():
        kind = schema.field(col).type if col in schema.names else pa.null()
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind)):
            raise ManifestError(f"{uri}: column {col!r} must be a number ({unit}), is {kind}")
    return Manifest(uri, dataset)


def build_manifest(pattern: str, out: str, storage_options: dict | None = None) -> int:
    """`seig manifest`: a manifest of every image file matching a path, folder or glob."""
    import pyarrow.parquet as pq

    from pipeline.storage import StorageError, failure_kind

    fs, path = url_to_fs(pattern, **(storage_options or {}))
    try:
        if fs.isdir(path):
            files = [p for p in fs.find(path) if p.lower().rsplit(".", 1)[-1] in IMAGE_EXTENSIONS]
        elif any(ch in path for ch in "*?["):
            files = sorted(fs.glob(path))
        else:
            fs.info(path)  # a single file must exist
            files = [path]
    except FileNotFoundError as exc:
        if failure_kind(exc) == "bucket_missing":
            raise StorageError("bucket_missing", f"{pattern}: its bucket does not exist") from exc
        raise
    except OSError as exc:
        kind = failure_kind(exc) or "storage_unreachable"
        raise StorageError(kind, f"{pattern}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from exc
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    uris = [f if protocol in ("file", "local") else f"{protocol}://{f}" for f in sorted(files)]
    ids, seen = [], {}
    for u in uris:
        stem = u.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
        seen[stem] = seen.get(stem, 0) + 1
        ids.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    table = pa.table({"image_id": pa.array(ids, pa.string()), "uri": pa.array(uris, pa.string())})
    from pipeline.storage import write_bytes

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    write_bytes(out, sink.getvalue().to_pybytes(), **(storage_options or {}))
    return len(ids)


IMAGE_EXTENSIONS = {"jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp"}
