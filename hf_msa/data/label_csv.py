"""MMSA-style `label.csv` files (labels + split, and transcripts when the file has them), with no features.

Accepts the layouts in circulation: MMSA's `video_id, clip_id, text, label, label_T, label_A, label_V, annotation,
mode`, the `id, text, label, mode` variant (CMU-MOSI's label.csv in ../shared/data) and label-only files without
`text` (CH-SIMS v2 here). Ids are read as strings: clip ids like `0001` must not become numbers. Unimodal SIMS labels
and annotations are kept when present; empty unimodal cells (MOSI/MOSEI) drop the column, as MMSA does.

Refused, naming the file, the line and the field (a bad row must fail here, not at the first training batch): a file
that is not UTF-8 (a byte-order mark is accepted), a repeated column name, a line with too few or too many fields, an
empty id, an id given twice (in any split: the file holds all of them), a label that is empty, not a number, not
finite or outside `label_range`, and an empty or whitespace-only transcript (MSAProcessor refuses those).
"""

import csv
import io
from pathlib import Path

from datasets import Dataset, DatasetDict, Features, Value

from .checks import is_empty_text, parse_label, read_utf8

SPLIT_NAMES = {"train": "train", "valid": "validation", "validation": "validation", "dev": "validation",
               "test": "test"}
UNIMODAL = ("label_T", "label_A", "label_V")


def _records(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """Header and (line, row) pairs; short / long rows and csv syntax errors are refused with their line."""
    reader = csv.DictReader(io.StringIO(read_utf8(path), newline=""))
    records = []
    try:
        header = reader.fieldnames or []
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:  # DictReader would keep only the last of them
            raise ValueError(f"{path}:1: column(s) {repeated} appear more than once in the header")
        for row in reader:
            line = reader.line_num
            if None in row:
                raise ValueError(f"{path}:{line}: {len(header) + len(row[None])} fields where the header has "
                                 f"{len(header)} (an unquoted comma in the text?)")
            if any(value is None for value in row.values()):
                count = sum(value is not None for value in row.values())
                raise ValueError(f"{path}:{line}: {count} fields where the header has {len(header)}")
            records.append((line, row))
    except csv.Error as error:
        raise ValueError(f"{path}:{reader.line_num}: not readable as CSV ({error})") from None
    return header, records


def label_csv_rows(path: str | Path, require_text: bool = True,
                   label_range: tuple[float, float] | None = None) -> tuple[dict[str, list[dict]], Features]:
    """Rows of `path` grouped by `mode` into train / validation / test (every row kept) and their Features.

    `label_range` ([-3, 3] for MOSI/MOSEI, [-1, 1] for SIMS; the loader passes the dataset's) bounds `label` and the
    unimodal labels; None checks only that they are finite numbers.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label.csv not found: {path}")
    header, records = _records(path)
    columns = set(header)
    has_id = "id" in columns or {"video_id", "clip_id"} <= columns
    required = ["label", "mode"] + (["text"] if require_text else [])
    missing = [c for c in required if c not in columns] + ([] if has_id else ["id or video_id+clip_id"])
    if missing:
        raise ValueError(f"{path}: missing required column(s) {missing}; found {sorted(columns)}")
    unimodal = [c for c in UNIMODAL if c in columns and any((row[c] or "").strip() for _, row in records)]
    splits: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    seen: dict[str, int] = {}
    for line, row in records:
        where = f"{path}:{line}"
        if "video_id" in columns and "clip_id" in columns:
            video_id, clip_id = row["video_id"], row["clip_id"]
            clip = row["id"] if "id" in columns else f"{video_id}_{clip_id}"
            empty = [c for c in ("id", "video_id", "clip_id") if c in columns and not row[c].strip()]
        else:
            clip = row["id"]
            video_id, _, clip_id = clip.rpartition("_")
            empty = [] if clip.strip() else ["id"]
        if empty:
            raise ValueError(f"{where}: {empty[0]} is empty")
        who = f" (id {clip!r})"
        if clip in seen:
            raise ValueError(f"{where}: id {clip!r} is a duplicate: already given on line {seen[clip]}")
        seen[clip] = line
        mode = (row["mode"] or "").strip().lower()
        if mode not in SPLIT_NAMES:
            raise ValueError(f"{where}: mode must be one of {sorted(SPLIT_NAMES)}, got {row['mode']!r}{who}")
        out = {"id": str(clip), "video_id": str(video_id), "clip_id": str(clip_id),
               "label": parse_label(row["label"], where, "label", label_range, who)}
        if "text" in columns:
            if is_empty_text(row["text"]):
                raise ValueError(f"{where}: text is empty{who}; every clip needs its transcript (MSAProcessor "
                                 "refuses an empty one): fill it in or remove the row")
            out["text"] = row["text"]
        for column in unimodal:
            out[column] = parse_label(row[column], where, column, label_range, who)
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


def read_label_csv(path: str | Path, require_text: bool = True,
                   label_range: tuple[float, float] | None = None) -> DatasetDict:
    """`label_csv_rows` as an in-memory DatasetDict (train / validation / test; an empty split stays, empty)."""
    splits, features = label_csv_rows(path, require_text, label_range)
    return DatasetDict({
        name: Dataset.from_dict({column: [row[column] for row in rows] for column in features}, features=features)
        for name, rows in splits.items()
    })


__all__ = ["label_csv_rows", "read_label_csv"]
