"""CMU-MultimodalSDK computational sequences (`.csd`, HDF5) read with h5py, without the SDK.

A `.csd` file holds one root group (e.g. `Opinion Segment Labels`) with `data/<video_id>/{features,intervals}` and
`metadata`. Row k-1 of a video's arrays is its k-th segment, which MMSA names `<video_id>_<k>` (k from 1); that is
the id used here, so the rows join with MMSA's label.csv and feature pickles. The SDK carries no split.
"""

import json
import math
from pathlib import Path

import h5py
import numpy as np

from .checks import in_range, range_text


def _open(path: str | Path) -> tuple[Path, h5py.File]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f".csd file not found: {path}")
    if not h5py.is_hdf5(path):
        raise ValueError(f"{path}: not an HDF5 file, so not a CMU-MultimodalSDK computational sequence (.csd)")
    return path, h5py.File(path, "r")


def _root(path: Path, handle: h5py.File) -> h5py.Group:
    """The single root group; the SDK writes exactly one, and guessing among several would mix sequences."""
    names = list(handle.keys())
    if len(names) != 1:
        raise ValueError(f"{path}: expected exactly one root group, found {len(names)}: {names}")
    root = handle[names[0]]
    if not isinstance(root, h5py.Group):
        raise ValueError(f"{path}: root entry {names[0]!r} is a dataset, expected a group with data/ and metadata/")
    return root


def _decode(value) -> str:
    """One metadata value as text.

    The SDK stores each entry as a 1-element object array of bytes holding JSON text (`"CMU-MOSI"` with its quotes,
    `1.0`, `true`, `["sentiment score"]`). JSON string literals are unquoted; anything else keeps its raw text, so a
    version `1.0` stays `"1.0"` rather than becoming a float.
    """
    if isinstance(value, np.ndarray):
        items = [_decode(item) for item in value.reshape(-1)]
        return items[0] if len(items) == 1 else json.dumps(items)
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value)
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        try:
            decoded = json.loads(text)
        except json.JSONDecodeError:
            return text
        if isinstance(decoded, str):
            return decoded
    return text


def read_csd_metadata(path: str | Path) -> dict[str, str]:
    """The root group's `metadata` entries (e.g. "dataset name" -> "CMU-MOSI"), decoded to plain strings."""
    path, handle = _open(path)
    with handle:
        root = _root(path, handle)
        if "metadata" not in root:
            raise ValueError(f"{path}: group {root.name!r} has no 'metadata'")
        metadata = root["metadata"]
        if isinstance(metadata, h5py.Dataset):
            raise ValueError(f"{path}: {metadata.name!r} is a dataset, expected a group of entries")
        out = {key: _decode(metadata[key][()]) for key in metadata if isinstance(metadata[key], h5py.Dataset)}
        out.update({key: _decode(value) for key, value in metadata.attrs.items() if key not in out})
        return out


def read_csd(path: str | Path, label_range: tuple[float, float] | None = None) -> list[dict]:
    """One row per segment, ordered by video id then segment: id, video_id, clip_id, label, start, end.

    `label` is `features[k-1, 0]` (label files have exactly one feature dimension; others are refused) and
    `start`/`end` are the segment's interval in seconds. Refused, naming the video, segment and id: a label that is
    not a number, not finite or outside `label_range`, and an interval that is not finite or ends before it starts
    (a zero-length one is kept: the real MOSI file has one).
    """
    path, handle = _open(path)
    with handle:
        root = _root(path, handle)
        if "data" not in root or not isinstance(root["data"], h5py.Group):
            raise ValueError(f"{path}: group {root.name!r} has no 'data' group")
        data = root["data"]
        rows: list[dict] = []
        for video_id in sorted(data.keys()):
            video = data[video_id]
            missing = [name for name in ("features", "intervals") if name not in video]
            if missing:
                raise ValueError(f"{path}: video {video_id!r} lacks {missing}")
            features = np.asarray(video["features"][()])
            intervals = np.asarray(video["intervals"][()])
            for name, values in (("features", features), ("intervals", intervals)):
                if values.dtype == bool or not (np.issubdtype(values.dtype, np.integer)
                                                or np.issubdtype(values.dtype, np.floating)):
                    raise ValueError(f"{path}: video {video_id!r}: {name} must hold numbers, got dtype {values.dtype}")
            if features.ndim != 2 or features.shape[1] != 1:
                raise ValueError(f"{path}: video {video_id!r}: a label sequence has features of shape (segments, 1), "
                                 f"got {features.shape}; this reader reads label .csd files, not feature ones")
            if intervals.ndim != 2 or intervals.shape[1] != 2:
                raise ValueError(f"{path}: video {video_id!r}: intervals must have shape (segments, 2), "
                                 f"got {intervals.shape}")
            if len(features) != len(intervals):
                raise ValueError(f"{path}: video {video_id!r}: features has {len(features)} segments but "
                                 f"intervals has {len(intervals)}")
            for k in range(1, len(features) + 1):
                where = f"{path}: video {video_id!r} segment {k} (id '{video_id}_{k}')"
                label = float(features[k - 1, 0])
                if not math.isfinite(label):
                    raise ValueError(f"{where}: label is not finite ({label})")
                if not in_range(label, label_range):
                    raise ValueError(f"{where}: label {label:g} is outside the dataset's label range "
                                     f"{range_text(label_range)}")
                start, end = float(intervals[k - 1, 0]), float(intervals[k - 1, 1])
                if not (math.isfinite(start) and math.isfinite(end)) or end < start:
                    raise ValueError(f"{where}: intervals must be finite with start <= end, got [{start}, {end}]")
                rows.append({"id": f"{video_id}_{k}", "video_id": video_id, "clip_id": str(k), "label": label,
                             "start": start, "end": end})
        return rows


__all__ = ["read_csd", "read_csd_metadata"]
