"""MMSA-style `label.csv` transcripts (text + label + split) as a DatasetDict, with no features.

Accepts the two layouts in circulation: MMSA's `video_id, clip_id, text, label, ..., mode` and the
`id, text, label, mode` variant (CMU-MOSI's label.csv in ../shared/data). Ids are read as strings (clip ids like
`0001` or `12` must not become numbers).
"""

import csv
import math
from pathlib import Path

from datasets import Dataset, DatasetDict, Features, Value

SPLIT_NAMES = {"train": "train", "valid": "validation", "validation": "validation", "dev": "validation",
               "test": "test"}


def read_label_csv(path: str | Path) -> DatasetDict:
    """Rows of `path` grouped by their `mode` column into train / validation / test; every row is kept."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label.csv not found: {path}")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        has_id = "id" in columns or {"video_id", "clip_id"} <= columns
        missing = [c for c in ("text", "label", "mode") if c not in columns] + ([] if has_id else ["id or video_id+clip_id"])
        if missing:
            raise ValueError(f"{path}: missing required column(s) {missing}; found {sorted(columns)}")
        splits: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
        for line, row in enumerate(reader, start=2):
            mode = (row["mode"] or "").strip().lower()
            if mode not in SPLIT_NAMES:
                raise ValueError(f"{path}:{line}: mode must be one of {sorted(SPLIT_NAMES)}, got {row['mode']!r}")
            try:
                label = float(row["label"])
            except ValueError:
                raise ValueError(f"{path}:{line}: label must be a number, got {row['label']!r}") from None
            if not math.isfinite(label):
                raise ValueError(f"{path}:{line}: label is not finite ({row['label']!r})")
            clip = row["id"] if "id" in columns else f"{row['video_id']}_{row['clip_id']}"
            splits[SPLIT_NAMES[mode]].append({"id": str(clip), "text": row["text"] or "", "label": label})
    features = Features({"id": Value("string"), "text": Value("string"), "label": Value("float32")})
    return DatasetDict({
        name: Dataset.from_dict({column: [row[column] for row in rows] for column in features}, features=features)
        for name, rows in splits.items()
    })


__all__ = ["read_label_csv"]
