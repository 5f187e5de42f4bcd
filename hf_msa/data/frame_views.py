"""Rows of an Arrow-backed dataset with their frame columns as zero-copy numpy views of the memory map.

`datasets` formats a row's `Array2D` column (audio or vision frames) by converting Arrow lists to numpy in Python,
row by row: at MOSEI shapes that made the stock Trainer's per-item loading 20x slower than gathering the same batch
from arrays in memory. The frames of each Arrow chunk are one contiguous float buffer; `FrameViewDataset` reads it
once as a numpy view [frames, D] (no copy: the dataset stays memory-mapped) and hands each row a slice of it, so a
batch costs what the collator's padding costs. The other columns (text, labels, ids) are small and read into memory
once.

Rows are the rows `dataset.with_format("numpy")` gives, key for key and value for value (the tests compare them).
A dataset whose frame columns cannot be viewed this way (nulls, frames of uneven width) is returned unwrapped by
`frame_views`, and the reason is logged.
"""

import numpy as np
import pyarrow as pa
import torch
from datasets import Array2D
from transformers.utils import logging

logger = logging.get_logger(__name__)


class FrameColumnView:
    """One Array2D column: per Arrow chunk, the frames as a numpy view [frames, D] and each row's frame offsets."""

    def __init__(self, chunked: pa.ChunkedArray, width: int, name: str):
        self.name, self.width = name, width
        self.frames, self.offsets, starts = [], [], [0]
        for chunk in chunked.chunks:
            storage = chunk.storage if isinstance(chunk, pa.ExtensionArray) else chunk
            if storage.null_count:
                raise ValueError(f"column {name!r} has null rows")
            row_offsets = storage.offsets.to_numpy()
            inner = storage.flatten()  # one list per frame
            frame_offsets = inner.offsets.to_numpy()
            if len(frame_offsets) > 1 and not (np.diff(frame_offsets) == width).all():
                raise ValueError(f"column {name!r} has frames whose width is not {width}")
            values = inner.flatten().to_numpy(zero_copy_only=True)
            self.frames.append(values.reshape(-1, width))
            self.offsets.append(row_offsets - row_offsets[0])
            starts.append(starts[-1] + len(storage))
        self.starts = np.asarray(starts)

    def bounds(self, rows: np.ndarray) -> list[tuple[np.ndarray, int, int]]:
        """(frames of the chunk, start, end) of each physical row in `rows`: looked up once, sliced per item."""
        chunks = np.searchsorted(self.starts, rows, side="right") - 1
        out = []
        for row, chunk in zip(rows.tolist(), chunks.tolist()):
            local = row - int(self.starts[chunk])
            offsets = self.offsets[chunk]
            out.append((self.frames[chunk], int(offsets[local]), int(offsets[local + 1])))
        return out


class FrameViewDataset(torch.utils.data.Dataset):
    """A `datasets.Dataset` as a torch Dataset whose Array2D columns come from zero-copy views (see the module)."""

    def __init__(self, dataset):
        table = dataset.data.table
        frame_names = [name for name, feature in dataset.features.items() if isinstance(feature, Array2D)]
        self.views = {name: FrameColumnView(table.column(name), dataset.features[name].shape[1], name)
                      for name in frame_names}
        indices = dataset._indices
        self.rows = (np.arange(len(dataset)) if indices is None
                     else indices.column(0).to_numpy().astype(np.int64))
        light = [name for name in dataset.column_names if name not in self.views]
        # formatted row by row once, so every value has the type and dtype a numpy-formatted row gives; the frame
        # columns hold their place in each row (None until an item is read) so the keys keep the dataset's order
        formatted = dataset.with_format("numpy", columns=light)
        self.light = [{name: None for name in dataset.column_names} for _ in range(len(dataset))]
        if light:
            for row, values in zip(self.light, (formatted[i] for i in range(len(dataset)))):
                row.update(values)
        self.bounds = {name: view.bounds(self.rows) for name, view in self.views.items()}
        self.column_names = list(dataset.column_names)
        self.features = dataset.features

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        index = int(index)
        row = self.light[index].copy()
        for name, bounds in self.bounds.items():
            frames, start, end = bounds[index]
            row[name] = frames[start:end]
        return row

    def __getitems__(self, indices) -> list[dict]:
        return [self[i] for i in indices]


def frame_views(dataset):
    """`FrameViewDataset(dataset)` when `dataset` is a `datasets.Dataset` with Array2D columns it can view, else
    `dataset` itself (the reason logged at info level)."""
    from datasets import Dataset

    if not isinstance(dataset, Dataset) or not any(isinstance(f, Array2D) for f in dataset.features.values()):
        return dataset
    try:
        return FrameViewDataset(dataset)
    except (ValueError, pa.ArrowInvalid) as error:
        logger.info(f"frame columns read through datasets' own formatting ({error})")
        return dataset


__all__ = ["FrameColumnView", "FrameViewDataset", "frame_views"]
