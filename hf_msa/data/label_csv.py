"""MMSA-style `label.csv` files (labels + split, and transcripts when the file has them), with no features.

Accepts the layouts in circulation: MMSA's `video_id, clip_id, text, label, label_T, label_A, label_V, annotation,
mode`, the `id, text, label, mode` variant (CMU-MOSI's label.csv in ../shared/data) and label-only files without
`text` (CH-SIMS v2 here). Ids are read as strings: clip ids like `0001` must not become numbers. Unimodal SIMS labels
and annotations are kept when present; empty unimodal cells (MOSI/MOSEI) drop the column, as MMSA does.
"""

import csv
import math
from pathlib import Path

from datasets import Dataset, DatasetDict, Features, Value

SPLIT_NAMES = {"train": "train", "valid": "validation", "validation": "validation", "dev": "validation",
               "test": "test"}
UNIMODAL = ("label_T", "label_A", "label_V")


def _number(path, line, column, text) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{path}:{line}: {column} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{path}:{line}: {column} is not finite ({text!r})")
    return value


def label_csv_rows(path: str | Path, require_text: bool = True) -> tuple[dict[str, list[dict]], Features]:
    """Rows of `path` grouped by `mode` into train / validation / test (every row kept) and their Features."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label.csv not found: {path}")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        has_id = "id" in columns or {"video_id", "clip_id"} <= columns
        required = ["label", "mode"] + (["text"] if require_text else [])
        missing = [c for c in required if c not in columns] + ([] if has_id else ["id or video_id+clip_id"])
        if missing:
            raise ValueError(f"{path}: missing required column(s) {missing}; found {sorted(columns)}")
        rows = list(reader)
    unimodal = [c for c in UNIMODAL if c in columns and any((row[c] or "").strip() for row in rows)]
    splits: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    for line, row in enumerate(rows, start=2):
        mode = (row["mode"] or "").strip().lower()
        if mode not in SPLIT_NAMES:
            raise ValueError(f"{path}:{line}: mode must be one of {sorted(SPLIT_NAMES)}, got {row['mode']!r}")
        if "video_id" in columns and "clip_id" in columns:
            video_id, clip_id = row["video_id"], row["clip_id"]
            clip = row["id"] if "id" in columns else f"{video_id}_{clip_id}"
        else:
            clip = row["id"]
            video_id, _, clip_id = clip.rpartition("_")
        out = {"id": str(clip), "video_id": str(video_id), "clip_id": str(clip_id),
               "label": _number(path, line, "label", row["label"])}
        if "text" in columns:
            out["text"] = row["text"] or ""
        for column in unimodal:
            out[column] = _number(path, line, column, row[column])
        if "annotation" in columns:
            out["annotation"] = row["annotation"] or ""
        splits[SPLIT_NAMES[mode]].append(out)
    schema = {"id": Value("string"), "video_id": Value("string"), "clip_id": Value("string")}
    if "text" in columns:
        schema["text"] = Value("string")
    schema["label"] = Value("float32")
    schema.update({column: Value("float32") for column in unimodal})
    if "annotation" in columns:
        schema["annotation"] = Value("string")
    return splits, Features(schema)


def read_label_csv(path: str | Path, require_text: bool = True) -> DatasetDict:
    """`label_csv_rows` as an in-memory DatasetDict (train / validation / test; an empty split stays, empty)."""
    splits, features = label_csv_rows(path, require_text)
    return DatasetDict({
        name: Dataset.from_dict({column: [row[column] for row in rows] for column in features}, features=features)
        for name, rows in splits.items()
    })


__all__ = ["label_csv_rows", "read_label_csv"]
