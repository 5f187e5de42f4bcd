"""MVSA-Single (tweets with an image, 3 classes) from CLMLF's pre-split JSON or from the original release.

Label ids follow `MVSA_LABELS`: 0 positive, 1 neutral, 2 negative (CLMLF's ids, inferred from its class counts).
The original release labels text and image separately; `clean_pair` turns the pair into one label by the rule of
Xu & Mao (2017) that every MVSA paper applies, which turns 4,869 pairs into the 4,511 of the usual benchmark.
Both readers refuse, naming the file, the row and the id: a label file that is not UTF-8, an id given twice (CLMLF:
in any of the three files), and an empty tweet (MSAProcessor refuses an empty text).
"""

import json
import math
import random
import warnings
from pathlib import Path

from .catalog import MVSA_LABELS
from .checks import DataWarning, is_empty_text, read_utf8

CLMLF_FILES = {"train": "train.json", "validation": "dev.json", "test": "test.json"}
LABEL_FILE = "labelResultAll.txt"


def read_mvsa_clmlf(folder: str | Path) -> dict[str, list[dict]]:
    """CLMLF's `train/dev/test.json` as splits train / validation / test of rows {id, text, label}.

    Ids are strings or whole numbers (kept as text); an id in two places (one file or two) is refused, since a tweet
    in two splits would leak between training and test.
    """
    folder = Path(folder)
    splits: dict[str, list[dict]] = {}
    seen: dict[str, tuple[str, int]] = {}
    for split, name in CLMLF_FILES.items():
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"MVSA-Single (CLMLF) split file {name} not found in {folder}")
        try:
            items = json.loads(read_utf8(path))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(items, list):
            raise ValueError(f"{path}: expected a JSON list of rows, got {type(items).__name__}")
        rows = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise ValueError(f"{path}: row {index} is {type(item).__name__}, expected an object")
            for key in ("id", "text", "emotion_label"):
                if key not in item:
                    raise ValueError(f"{path}: row {index} has no {key!r} key")
            item_id = item["id"]
            if isinstance(item_id, bool) or not isinstance(item_id, (str, int)) or not str(item_id).strip():
                raise ValueError(f"{path}: row {index}: id must be a non-empty string or a whole number, "
                                 f"got {item_id!r}")
            item_id = str(item_id)
            if item_id in seen:
                raise ValueError(f"{path}: row {index}: id {item_id!r} is a duplicate: already row {seen[item_id][1]} "
                                 f"of {seen[item_id][0]}")
            seen[item_id] = (name, index)
            label = item["emotion_label"]
            # bool is an int subclass; true/false is never a class id.
            if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(MVSA_LABELS):
                raise ValueError(f"{path}: row {index} (id {item['id']!r}): emotion_label must be an int in "
                                 f"0..{len(MVSA_LABELS) - 1} {MVSA_LABELS}, got {label!r}")
            if not isinstance(item["text"], str):
                raise ValueError(f"{path}: row {index} (id {item['id']!r}): text must be a string, "
                                 f"got {type(item['text']).__name__}")
            if is_empty_text(item["text"]):
                raise ValueError(f"{path}: row {index} (id {item['id']!r}): text is empty; every tweet needs its text "
                                 "(MSAProcessor refuses an empty one)")
            rows.append({"id": item_id, "text": item["text"], "label": label})
        splits[split] = rows
    return splits


def clean_pair(text_label: str, image_label: str) -> str | None:
    """Xu & Mao (2017): equal labels stay; neutral + polar gives the polar one; positive vs negative gives None."""
    if text_label == image_label:
        return text_label
    if text_label == "neutral":
        return image_label
    if image_label == "neutral":
        return text_label
    return None


class MVSASplits(dict):
    """`{"train": rows, "validation": rows, "test": rows}` plus what the cleaning removed.

    A dict subclass so callers that only want the splits use it as a plain dict (`.splits` gives a plain copy);
    `dropped` is the number of positive/negative conflicts removed and `dropped_ids` their ids, in file order.
    """

    def __init__(self, splits: dict[str, list[dict]], dropped_ids: list[str]):
        super().__init__(splits)
        self.dropped_ids = tuple(dropped_ids)

    @property
    def dropped(self) -> int:
        return len(self.dropped_ids)

    @property
    def splits(self) -> dict[str, list[dict]]:
        return dict(self)


def _id_key(item_id: str):
    # Numeric ids sort as numbers (2 < 10); the original release's ids are all numeric.
    return (0, int(item_id), "") if item_id.isdigit() else (1, 0, item_id)


def _read_label_file(path: Path) -> list[tuple[str, str, str]]:
    """(id, text_label, image_label) per line; the header `ID<TAB>text,image` and blank lines are skipped."""
    pairs, seen = [], {}
    text = read_utf8(path)
    for line_number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        fields = line.split("\t")
        if line_number == 1 and fields[0].strip().lower() == "id":
            continue
        expected = f"expected '<id>\\t<text_label>,<image_label>' with labels in {MVSA_LABELS}"
        if len(fields) != 2:
            raise ValueError(f"{path}:{line_number}: {expected}, got {line!r}")
        item_id, labels = fields[0].strip(), [label.strip().lower() for label in fields[1].split(",")]
        if not item_id or len(labels) != 2 or any(label not in MVSA_LABELS for label in labels):
            raise ValueError(f"{path}:{line_number}: {expected}, got {line!r}")
        if item_id in seen:
            raise ValueError(f"{path}:{line_number}: id {item_id!r} already given on line {seen[item_id]}")
        seen[item_id] = line_number
        pairs.append((item_id, labels[0], labels[1]))
    return pairs


def _split_sizes(total: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Validation and test sizes are `fraction * total` rounded half up; train takes the rest."""
    validation = math.floor(fractions[1] * total + 0.5)
    test = math.floor(fractions[2] * total + 0.5)
    return total - validation - test, validation, test


def read_mvsa_original(folder: str | Path, require_images: bool, split_seed: int = 42,
                       split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> MVSASplits:
    """The original release (`labelResultAll.txt` + `data/<id>.txt|.jpg`), cleaned and split at random.

    Rows: id, text, label (int), text_label, image_label, image (absolute path, or None when images are not
    required and `<id>.jpg` is absent). Pairs with a positive/negative conflict are dropped (see `MVSASplits`);
    only kept pairs need their files. The raw tweets are not all valid UTF-8, so they are decoded with
    errors="replace" (a `DataWarning` counts them) and stripped of surrounding whitespace; a tweet left empty is
    refused. The label file must be UTF-8.

    The release has no split, so the kept ids are sorted, shuffled with `random.Random(split_seed)` and cut in
    train / validation / test order (sizes: validation and test rounded half up, train the rest; 4,511 ids give
    3,609 / 451 / 451). The same seed and files always give the same split. Rows inside a split are in id order.
    """
    folder = Path(folder)
    if len(split_fractions) != 3 or any(f < 0 for f in split_fractions) or not math.isclose(sum(split_fractions), 1.0):
        raise ValueError(f"split_fractions must be three non-negative numbers summing to 1, got {split_fractions}")
    label_path, data = folder / LABEL_FILE, folder / "data"
    if not label_path.is_file():
        raise FileNotFoundError(f"MVSA-Single {LABEL_FILE} not found in {folder}")
    if not data.is_dir():
        raise FileNotFoundError(f"MVSA-Single data/ folder (with <id>.txt and <id>.jpg) not found in {folder}")
    rows, dropped, replaced = [], [], []
    for item_id, text_label, image_label in _read_label_file(label_path):
        label = clean_pair(text_label, image_label)
        if label is None:
            dropped.append(item_id)
            continue
        text_path, image_path = data / f"{item_id}.txt", data / f"{item_id}.jpg"
        if not text_path.is_file():
            raise FileNotFoundError(f"MVSA-Single tweet {item_id}.txt (id {item_id!r}) not found in {data}")
        image = str(image_path.resolve()) if image_path.is_file() else None
        if image is None and require_images:
            raise FileNotFoundError(f"MVSA-Single image {item_id}.jpg (id {item_id!r}) not found in {data}")
        raw = text_path.read_bytes()
        text = raw.decode("utf-8", errors="replace").strip()
        if "\ufffd" in text and "\ufffd".encode() not in raw:  # a replacement the decoder made, not one in the file
            replaced.append(item_id)
        if not text:
            raise ValueError(f"{text_path}: tweet of id {item_id!r} is empty; every tweet needs its text "
                             "(MSAProcessor refuses an empty one)")
        rows.append({"id": item_id, "text": text, "label": MVSA_LABELS.index(label), "text_label": text_label,
                     "image_label": image_label, "image": image})
    if replaced:
        warnings.warn(f"{data}: {len(replaced)} tweets are not valid UTF-8 (first: {replaced[0]}.txt); their "
                      "undecodable bytes became U+FFFD", DataWarning, stacklevel=2)
    rows.sort(key=lambda row: _id_key(row["id"]))
    order = list(range(len(rows)))
    random.Random(split_seed).shuffle(order)
    n_train, n_validation, _ = _split_sizes(len(rows), tuple(split_fractions))
    parts = {"train": order[:n_train], "validation": order[n_train:n_train + n_validation],
             "test": order[n_train + n_validation:]}
    return MVSASplits({name: [rows[i] for i in sorted(indices)] for name, indices in parts.items()}, dropped)


__all__ = ["CLMLF_FILES", "LABEL_FILE", "MVSASplits", "clean_pair", "read_mvsa_clmlf", "read_mvsa_original"]
