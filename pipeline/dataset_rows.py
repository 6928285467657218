"""The driver's side of the dataset index (simdata.index): sample rows in, parts out.

Every results row of a finished image carries its dataset rows (`simdata.index.ROW_KEY`).
The driver moves them into a `DatasetIndexWriter` and flushes that writer *before* every
results flush, so a row in the run's results always has its samples in the index. The
converse can fail: a driver killed after an index flush but before the results flush
leaves samples of images without rows. A rerun recovers those images from their
record.json (the row says `_recovered`); their samples are dropped here when the index
already has them, so the index keeps exactly one set of samples per image.
"""
from __future__ import annotations

import logging

from pipeline.config import SeigConfig
from pipeline.storage import write_bytes
from simdata.index import ROW_KEY, DatasetIndexWriter, indexed_ids

log = logging.getLogger("seig")


class DatasetRows:
    """None of this runs when `dataset.enabled` is off: every method is then a no-op."""

    def __init__(self, cfg: SeigConfig, run_root: str, rerun: bool):
        self.cfg = cfg
        self.writer: DatasetIndexWriter | None = None
        self.indexed: set[str] = set()
        if not cfg.dataset.enabled:
            return
        opts = cfg.run.storage_options
        self.writer = DatasetIndexWriter(run_root, cfg.run.run_id or "",
                                         lambda uri, data: write_bytes(uri, data, **opts), storage_options=opts)
        if rerun:  # only the ids of this run's index: bounded by one run, read once
            self.indexed = indexed_ids(self.writer.dir, opts)

    def take(self, row: dict, recovered: bool) -> None:
        """Move a results row's samples into the index (and off the row)."""
        samples = row.pop(ROW_KEY, None) or []
        if self.writer is None or not samples:
            return
        if recovered and row.get("image_id") in self.indexed:
            return  # flushed by the attempt that died
        self.writer.add_from_row({ROW_KEY: samples})

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        """The last part and the dataset card (README.md) of the run so far."""
        if self.writer is not None:
            d = self.cfg.dataset
            self.writer.close({"variants": d.variants, "long_side": d.long_side, "samples": d.samples,
                               "seed": d.seed, "outputs": "+".join(d.outputs)})
