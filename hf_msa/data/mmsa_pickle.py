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
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .checks import LABEL_TOLERANCE, DataWarning, is_empty_text, range_text

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


LABEL_KEYS = ("regression_labels", "regression_labels_T", "regression_labels_A", "regression_labels_V")
# Keys that become dataset columns: every split must have the same ones, or rows of one split miss columns.
COLUMN_KEYS = ("raw_text", "annotations", "text_bert", "text", *LABEL_KEYS[1:])
_CHUNK = 256  # clips per step when scanning frames for padding (bounds the temporary [n, frames, dim] mask)


@dataclass
class MMSASplit:
    """One split of an MMSA pickle: its arrays (all of length `size`), valid frames per clip and what reading changed.

    `lengths` holds the valid audio / vision frames of each clip, from `*_lengths` or, where the file has none,
    inferred from the trailing all-zero frames (`inferred_lengths` names those modalities).
    """

    name: str
    arrays: dict[str, np.ndarray]
    size: int
    non_finite: dict[str, int] = field(default_factory=dict)
    lengths: dict[str, np.ndarray] = field(default_factory=dict)
    inferred_lengths: tuple[str, ...] = ()

    @property
    def aligned(self) -> bool:
        return "audio_lengths" not in self.arrays


def _is_numeric(values: np.ndarray) -> bool:
    return values.dtype != bool and (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating))


def _frames_in_use(values: np.ndarray) -> np.ndarray:
    """Per clip, the index after its last frame that is not all zero (0 when every frame is zero)."""
    out = np.zeros(len(values), dtype=np.int64)
    if values.shape[1] == 0:
        return out
    for start in range(0, len(values), _CHUNK):
        nonzero = np.any(values[start : start + _CHUNK] != 0, axis=2)
        last = nonzero.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
        out[start : start + _CHUNK] = np.where(nonzero.any(axis=1), last, 0)
    return out


class _SplitChecker:
    """The checks of one split; every error names the file, the split, the key and (for a row) the clip id."""

    def __init__(self, path: Path, key: str, arrays: dict, label_range, for_training: bool):
        self.path, self.key, self.arrays = path, key, arrays
        self.label_range, self.for_training = label_range, for_training
        self.where = f"{path}: split {key!r}"

    def fail(self, message: str, sep: str = ": "):
        raise ValueError(f"{self.where}{sep}{message}")

    def warn(self, message: str, sep: str = ": "):
        warnings.warn(f"{self.where}{sep}{message}", DataWarning, stacklevel=4)

    def clip(self, row: int) -> str:
        return f"id {self.ids[row]!r} (row {row})"

    def shapes(self) -> int:
        arrays = {}
        for name, value in self.arrays.items():
            try:
                arrays[name] = np.asarray(value)
            except (TypeError, ValueError) as error:  # NumPy refuses ragged nested sequences
                self.fail(f"{name!r} is ragged or not an array ({error})")
        self.arrays = arrays
        if arrays["id"].ndim != 1:
            self.fail(f"'id' must be a 1-D array of ids, got shape {arrays['id'].shape}")
        size = len(arrays["id"])
        for name, value in arrays.items():
            if value.ndim == 0 or len(value) != size:
                self.fail(f"{name!r} has {len(value) if value.ndim else 0} rows but 'id' has {size}")
        for name in ("audio", "vision"):
            value = arrays[name]
            if value.ndim != 3 or not _is_numeric(value):
                self.fail(f"{name!r} must be a number array [N, frames, dim], got shape {value.shape} and dtype "
                          f"{value.dtype}")
        text = arrays.get("text")
        if text is not None and _is_numeric(text) and text.ndim != 3:
            self.fail(f"'text' (BERT features) must be [N, L, 768], got shape {text.shape}")
        return size

    def check_ids(self, seen: dict) -> None:
        self.ids = [str(value) for value in self.arrays["id"]]
        for row, raw in enumerate(self.ids):
            if not raw.strip():
                self.fail(f"'id' of row {row} is empty")
            video_id, _, clip_id = raw.partition("$_$")
            clip = f"{video_id}_{clip_id}" if clip_id else raw
            if clip in seen:  # within the split or across splits: a clip in two places leaks or doubles a label
                other_split, other_row = seen[clip]
                self.fail(f"'id' {raw!r} (row {row}) is a duplicate: clip {clip!r} is already row {other_row} of "
                          f"split {other_split!r}")
            seen[clip] = (self.key, row)

    def labels(self) -> None:
        for name in LABEL_KEYS:
            if name not in self.arrays:
                continue
            original = values = self.arrays[name]
            if values.ndim == 2 and values.shape[1] == 1:
                values = values[:, 0]
            if values.ndim != 1:
                self.fail(f"{name!r} must hold one label per clip, shape (N,), got {values.shape}")
            if not _is_numeric(values):
                for row, value in enumerate(values):
                    try:
                        float(value)
                    except (TypeError, ValueError):
                        self.fail(f"{name} of {self.clip(row)} must be a number, got {value!r}")
            values = values.astype(np.float64)
            if values.ndim != original.ndim or not _is_numeric(original):  # a numeric (N,) column stays as stored
                self.arrays[name] = values
            infinite = np.flatnonzero(np.isinf(values))
            if infinite.size:
                self.fail(f"{name} of {self.clip(infinite[0])} is not finite ({values[infinite[0]].item()})")
            missing = np.flatnonzero(np.isnan(values))
            if missing.size and self.for_training:
                self.fail(f"{name} of {self.clip(missing[0])} is NaN ({missing.size} such clips): load_msa_dataset "
                          "reads labelled data only")
            if missing.size:
                self.warn(f"{missing.size} clips have {name} NaN: kept as unlabelled (save_features writes NaN for a "
                          f"clip without a label), first {self.clip(missing[0])}")
            if self.label_range is not None:
                low, high = self.label_range[0] - LABEL_TOLERANCE, self.label_range[1] + LABEL_TOLERANCE
                outside = np.flatnonzero((values < low) | (values > high))
                if outside.size:
                    self.fail(f"{name} of {self.clip(outside[0])} is {values[outside[0]]:g}, outside the dataset's "
                              f"label range {range_text(self.label_range)} ({outside.size} such clips)")

    def transcripts(self) -> None:
        if "raw_text" not in self.arrays:
            if self.for_training:
                self.fail("has no 'raw_text' (transcripts), which the processor tokenises for every clip", " ")
            self.warn("has no 'raw_text': every transcript is read as empty", " ")
            return
        empty = [row for row, text in enumerate(self.arrays["raw_text"]) if text is None or is_empty_text(str(text))]
        if empty and self.for_training:
            self.fail(f"raw_text of {self.clip(empty[0])} is empty ({len(empty)} such clips); every clip needs its "
                      "transcript (MSAProcessor refuses an empty one)")
        if empty:
            self.warn(f"{len(empty)} clips have an empty raw_text (save_features writes one for a clip it did not "
                      f"transcribe), first {self.clip(empty[0])}; load_msa_dataset refuses them")

    def text_bert(self) -> None:
        text_bert = self.arrays.get("text_bert")
        if text_bert is None:
            return
        if text_bert.ndim != 3 or text_bert.shape[1] != 3 or not _is_numeric(text_bert):
            self.fail(f"text_bert must be a number array [N, 3, L] (ids, mask, segments), got shape "
                      f"{text_bert.shape} and dtype {text_bert.dtype}")
        bad = np.flatnonzero(~np.isfinite(text_bert).all(axis=(1, 2)))
        if bad.size:
            self.fail(f"text_bert of {self.clip(bad[0])} holds a non-finite value")
        mask = text_bert[:, 1]
        bad = np.flatnonzero(~np.isin(mask, (0, 1)).all(axis=1))
        if bad.size:
            self.fail(f"text_bert attention mask (row 1) of {self.clip(bad[0])} holds values other than 0 and 1")
        bad = np.flatnonzero(~(mask == 1).any(axis=1))
        if bad.size:
            self.fail(f"text_bert attention mask of {self.clip(bad[0])} is all zero (not even [CLS] [SEP]); the "
                      "models refuse such a row")

    def lengths(self, modality: str) -> tuple[np.ndarray, bool]:
        """Valid frames of `modality` per clip and whether they were inferred (the file has no `*_lengths`)."""
        values, name = self.arrays[modality], f"{modality}_lengths"
        frames = values.shape[1]
        in_use = _frames_in_use(values)
        if name not in self.arrays:
            padded = np.flatnonzero(in_use < frames)
            if padded.size:
                self.warn(f"has no {name}: each clip's {modality} is taken as its frames up to the last one that is "
                          f"not all zero ({padded.size} of {len(values)} clips end in all-zero padding, "
                          f"{int((frames - in_use).sum())} frames not counted; {int((in_use == 0).sum())} clips have "
                          f"no non-zero frame, so the modality counts as missing for them)", " ")
            return in_use, True
        given = self.arrays[name]
        if given.ndim == 2 and given.shape[1] == 1:
            given = given[:, 0]
        if given.ndim != 1 or not _is_numeric(given):
            self.fail(f"{name} must hold one whole number per clip, got shape {given.shape} and dtype {given.dtype}")
        as_float = given.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(as_float) | (as_float != np.round(as_float)))
        if bad.size:
            self.fail(f"{name} of {self.clip(bad[0])} is {given[bad[0]].item()!r}, not a whole number of frames")
        bad = np.flatnonzero((as_float < 0) | (as_float > frames))
        if bad.size:
            self.fail(f"{name} must lie in [0, {frames}], got {given[bad[0]].item()!r} for {self.clip(bad[0])} "
                      f"(range of the column [{as_float.min():g}, {as_float.max():g}])")
        lengths = as_float.astype(np.int64)
        beyond = np.flatnonzero(in_use > lengths)
        if beyond.size:
            self.warn(f"{beyond.size} clips have non-zero {modality} frames past their {name} (first "
                      f"{self.clip(beyond[0])}: {lengths[beyond[0]]} valid, non-zero up to frame {in_use[beyond[0]]}); "
                      "they are dropped as padding, as MMSA's loaders do")
        return lengths, False


def _check_alike(path: Path, splits: dict[str, tuple[str, MMSASplit]]) -> None:
    """Every split must give the same columns with the same feature dims, or rows of one split cannot share a schema."""
    (first_key, first), *others = splits.values()
    for key, split in others:
        for name in COLUMN_KEYS:
            if (name in first.arrays) != (name in split.arrays):
                has, lacks = (key, first_key) if name in split.arrays else (first_key, key)
                raise ValueError(f"{path}: split {has!r} has {name!r} but split {lacks!r} has not; every split must "
                                 "have the same keys")
        for name in ("audio", "vision", "text"):
            if name in first.arrays and first.arrays[name].shape[2:] != split.arrays[name].shape[2:]:
                raise ValueError(f"{path}: split {key!r}: {name!r} frames have shape {split.arrays[name].shape[2:]} "
                                 f"but split {first_key!r} has {first.arrays[name].shape[2:]}")


def read_mmsa_pickle(path: str | Path, label_range: tuple[float, float] | None = None, *,
                     for_training: bool = False) -> dict[str, MMSASplit]:
    """Load an MMSA pickle with `SafeUnpickler` and check it split by split, before any row is produced.

    Refused (ValueError naming the file, the split, the key and the clip id): arrays of one split whose first
    dimensions disagree or that are ragged, audio / vision not [N, frames, dim], a clip id given twice (in one split or
    across splits), a label that is not a number, infinite or outside `label_range`, bad `*_lengths`, a malformed
    `text_bert`, and splits with different keys or feature dims.
    Kept with a `DataWarning`: a file without `*_lengths` (aligned files; an unaligned file that lost them) gets each
    clip's length from its trailing all-zero frames, which are padding and never counted; non-zero frames past a given
    length are dropped as padding. NaN labels and empty `raw_text` (what `save_features` writes for unlabelled or
    untranscribed clips) are kept, unless `for_training` (the loader's setting), which refuses them.
    """
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
    splits, by_key, seen_ids = {}, {}, {}
    for key, arrays in content.items():
        if key == "config":
            continue  # MMSA-FET writes its extraction settings here
        if key not in SPLIT_KEYS:
            raise ValueError(f"{path}: unknown split {key!r}; expected {sorted(SPLIT_KEYS)}")
        if SPLIT_KEYS[key] in splits:
            raise ValueError(f"{path}: splits {by_key[SPLIT_KEYS[key]][0]!r} and {key!r} are both "
                             f"{SPLIT_KEYS[key]!r}")
        if not isinstance(arrays, dict):
            raise ValueError(f"{path}: split {key!r} must be a dict of arrays, got {type(arrays).__name__}")
        for required in ("id", "audio", "vision", "regression_labels"):
            if required not in arrays:
                raise ValueError(f"{path}: split {key!r} has no {required!r} array (keys: {sorted(arrays)})")
        check = _SplitChecker(path, key, dict(arrays), label_range, for_training)
        size = check.shapes()
        check.check_ids(seen_ids)
        check.labels()
        check.transcripts()
        check.text_bert()
        lengths, inferred = {}, []
        for modality in ("audio", "vision"):  # before zeroing non-finite values: a NaN frame is not padding
            lengths[modality], was_inferred = check.lengths(modality)
            if was_inferred:
                inferred.append(modality)
        arrays = check.arrays
        non_finite = {}
        for name in ("audio", "vision", "text"):
            if name in arrays and np.issubdtype(arrays[name].dtype, np.floating):
                bad = ~np.isfinite(arrays[name])
                if bad.any():
                    non_finite[name] = int(bad.sum())
                    arrays[name] = np.where(bad, 0.0, arrays[name]).astype(np.float32)
        split = MMSASplit(SPLIT_KEYS[key], arrays, size, non_finite, lengths, tuple(inferred))
        splits[split.name], by_key[split.name] = split, (key, split)
    if not splits:
        raise ValueError(f"{path}: no train/valid/test split found")
    _check_alike(path, by_key)
    return splits


def _lengths(split: MMSASplit, modality: str, path) -> np.ndarray:
    if modality in split.lengths:
        return split.lengths[modality]
    frames = split.arrays[modality].shape[1]
    key = f"{modality}_lengths"
    if key not in split.arrays:  # a split built by hand: trailing all-zero frames are padding
        return _frames_in_use(split.arrays[modality])
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
            "text": "" if "raw_text" not in arrays or arrays["raw_text"][i] is None else str(arrays["raw_text"][i]),
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
