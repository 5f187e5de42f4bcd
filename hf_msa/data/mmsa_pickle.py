"""MMSA feature pickles (`aligned_50.pkl`, `unaligned_50.pkl`, `unaligned_39.pkl`) read safely, row by row.

Layout (reference/methods_lnln_mmslf_dash_mmsa.md §1.1): {"train" | "valid" | "test": {key: array [N, ...]}} with
`id` ("video$_$clip"), `raw_text`, `text` (BERT features), `text_bert` [N, 3, L] (ids, mask, segments, stored as
float), `audio` [N, La, Da], `vision` [N, Lv, Dv], `audio_lengths` / `vision_lengths` (unaligned files only; valid
frames come first), `regression_labels` (+ `_T` / `_A` / `_V` for SIMS), `annotations`.

A pickle runs code when it is loaded, so `SafeUnpickler` admits only NumPy arrays and plain Python containers and
names whatever else a file asks for. Non-finite feature values (MMSA zeroes -inf audio; MOSEI float64 -> float32
overflows) are replaced by 0 and counted, never silently.
"""

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SPLIT_KEYS = {"train": "train", "valid": "validation", "validation": "validation", "dev": "validation",
              "test": "test"}
_ALLOWED = {
    ("builtins", name) for name in ("dict", "list", "tuple", "set", "frozenset", "str", "bytes", "bytearray", "int",
                                    "float", "complex", "bool", "slice")
} | {
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # how protocol-2 pickles carry array bytes
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


class UnsafePickleError(ValueError):
    """A pickle asked for something other than NumPy arrays and plain containers."""


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that admits only NumPy arrays / scalars / dtypes and plain Python containers."""

    def __init__(self, file, source: str):
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"{self.source}: refused to load {module}.{name}. The MMSA reader admits only NumPy arrays and plain "
            "Python containers (dict, list, tuple, str, numbers), because unpickling other objects runs their code"
        )


@dataclass
class MMSASplit:
    """One split of an MMSA pickle: its arrays (all of length `size`) and what sanitising changed."""

    name: str
    arrays: dict[str, np.ndarray]
    size: int
    non_finite: dict[str, int] = field(default_factory=dict)

    @property
    def aligned(self) -> bool:
        return "audio_lengths" not in self.arrays


def read_mmsa_pickle(path: str | Path) -> dict[str, MMSASplit]:
    """Load an MMSA pickle with `SafeUnpickler`, check that every array of a split has the same length."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MMSA pickle not found: {path}")
    with path.open("rb") as handle:
        try:
            content = SafeUnpickler(handle, str(path)).load()
        except UnsafePickleError:
            raise
        except Exception as error:  # truncated or not a pickle at all
            raise ValueError(f"{path}: not a readable pickle ({type(error).__name__}: {error})") from error
    if not isinstance(content, dict):
        raise ValueError(f"{path}: expected a dict of splits, got {type(content).__name__}")
    splits = {}
    for key, arrays in content.items():
        if key == "config":
            continue  # MMSA-FET writes its extraction settings here
        if key not in SPLIT_KEYS:
            raise ValueError(f"{path}: unknown split {key!r}; expected {sorted(SPLIT_KEYS)}")
        if not isinstance(arrays, dict):
            raise ValueError(f"{path}: split {key!r} must be a dict of arrays, got {type(arrays).__name__}")
        for required in ("id", "audio", "vision", "regression_labels"):
            if required not in arrays:
                raise ValueError(f"{path}: split {key!r} has no {required!r} array (keys: {sorted(arrays)})")
        arrays = {name: np.asarray(value) for name, value in arrays.items()}
        size = len(arrays["id"])
        for name, value in arrays.items():
            if value.ndim == 0 or len(value) != size:
                raise ValueError(
                    f"{path}: split {key!r}: {name!r} has {len(value) if value.ndim else 0} rows but 'id' has {size}"
                )
        non_finite = {}
        for name in ("audio", "vision", "text"):
            if name in arrays and np.issubdtype(arrays[name].dtype, np.floating):
                bad = ~np.isfinite(arrays[name])
                if bad.any():
                    non_finite[name] = int(bad.sum())
                    arrays[name] = np.where(bad, 0.0, arrays[name]).astype(np.float32)
        splits[SPLIT_KEYS[key]] = MMSASplit(SPLIT_KEYS[key], arrays, size, non_finite)
    if not splits:
        raise ValueError(f"{path}: no train/valid/test split found")
    return splits


def _lengths(split: MMSASplit, modality: str, path) -> np.ndarray:
    frames = split.arrays[modality].shape[1]
    key = f"{modality}_lengths"
    if key not in split.arrays:  # aligned files: every step is a (word-averaged) frame
        return np.full(split.size, frames, dtype=np.int64)
    lengths = split.arrays[key].astype(np.int64)
    if (lengths < 0).any() or (lengths > frames).any():
        raise ValueError(f"{path}: split {split.name!r}: {key} must lie in [0, {frames}], got "
                         f"[{lengths.min()}, {lengths.max()}]")
    return lengths


def mmsa_rows(split: MMSASplit, path="<pickle>", include_text_features: bool = False):
    """Yield one dict per clip: ids, transcript, labels, padding-stripped audio/vision frames and their lengths."""
    arrays = split.arrays
    audio_lengths, vision_lengths = _lengths(split, "audio", path), _lengths(split, "vision", path)
    text_bert = arrays.get("text_bert")
    if text_bert is not None and (text_bert.ndim != 3 or text_bert.shape[1] != 3):
        raise ValueError(f"{path}: split {split.name!r}: text_bert must be [N, 3, L], got {text_bert.shape}")
    for i in range(split.size):
        raw_id = str(arrays["id"][i])
        video_id, _, clip_id = raw_id.partition("$_$")
        row = {
            "id": f"{video_id}_{clip_id}" if clip_id else raw_id,
            "video_id": video_id,
            "clip_id": clip_id,
            "text": str(arrays["raw_text"][i]) if "raw_text" in arrays else "",
            "label": float(arrays["regression_labels"][i]),
            "audio": arrays["audio"][i, : audio_lengths[i]].astype(np.float32),
            "vision": arrays["vision"][i, : vision_lengths[i]].astype(np.float32),
            "audio_length": int(audio_lengths[i]),
            "vision_length": int(vision_lengths[i]),
        }
        for suffix in ("T", "A", "V"):
            if f"regression_labels_{suffix}" in arrays:
                row[f"label_{suffix}"] = float(arrays[f"regression_labels_{suffix}"][i])
        if "annotations" in arrays:
            row["annotation"] = str(arrays["annotations"][i])
        if text_bert is not None:  # rows mean ids / mask / segments only by position: name them
            row["input_ids"] = np.rint(text_bert[i, 0]).astype(np.int32)
            row["attention_mask"] = np.rint(text_bert[i, 1]).astype(np.int8)
            row["token_type_ids"] = np.rint(text_bert[i, 2]).astype(np.int8)
        if include_text_features and "text" in arrays:
            row["text_features"] = arrays["text"][i].astype(np.float32)
        yield row


__all__ = ["MMSASplit", "SafeUnpickler", "UnsafePickleError", "mmsa_rows", "read_mmsa_pickle"]
