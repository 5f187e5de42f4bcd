"""`load_msa_dataset`: any file the field distributes -> a DatasetDict the processors and the Trainer consume.

Splits are train / validation / test (the CMU-SDK label file, which has no split, gives one split "all" unless a
label.csv beside it says which video belongs where). Feature sequences are `Array2D(shape=(None, D))` with padding
stripped and their lengths kept; the result is written once to an Arrow cache keyed by the source file's path, size
and modification time and, for files below `HASH_LIMIT` (64 MiB: every label file, JSON split and small pickle), a
hash of its bytes, so a rewrite that keeps size and mtime is noticed too; bigger files (feature pickles of hundreds
of MiB, read in full on every load otherwise) stay keyed on size and mtime. The readers check every row when the
cache is built (labels in the dataset's range, unique ids, transcripts, lengths), so a bad file fails here.
"""

import hashlib
import shutil
from pathlib import Path

from datasets import config as datasets_config
from datasets import Array2D, ClassLabel, Dataset, DatasetDict, Features, List, Value
from transformers.utils import logging

from .catalog import MVSA_LABELS, ConfigSpec, dataset_spec
from .csd import read_csd
from .label_csv import label_csv_rows
from .mmsa_pickle import mmsa_rows, read_mmsa_pickle
from .mvsa import read_mvsa_clmlf, read_mvsa_original

logger = logging.get_logger(__name__)
READER_VERSION = "2"  # bump when a reader's output changes, so caches are rebuilt
HASH_LIMIT = 64 * 2**20  # bytes; smaller source files are keyed on their content as well as size and mtime


def _locate(data_dir: Path, config: ConfigSpec, dataset: str) -> Path:
    if not data_dir.exists():
        raise FileNotFoundError(f"data_dir not found: {data_dir}")
    if data_dir.is_file() and config.reader != "mvsa_clmlf":
        return data_dir
    for candidate in config.candidates:
        path = data_dir / candidate
        if path.exists():
            return path
    raise FileNotFoundError(
        f"{dataset}/{config.name}: none of {list(config.candidates)} found under {data_dir}"
    )


def _fingerprint(path: Path, *parts) -> str:
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    digest = hashlib.sha256(READER_VERSION.encode())
    for file in files:
        if file.is_file():
            stat = file.stat()
            digest.update(f"{file}:{stat.st_size}:{stat.st_mtime_ns}".encode())
            if stat.st_size < HASH_LIMIT:
                with file.open("rb") as handle:  # (hashlib.file_digest needs Python 3.11)
                    for chunk in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(chunk)
    digest.update(repr(parts).encode())
    return digest.hexdigest()[:32]


def _feature_of(name: str, value):
    if name in ("audio", "vision", "text_features"):
        return Array2D(shape=(None, value.shape[1]), dtype="float32")
    if name in ("audio_length", "vision_length"):
        return Value("int32")
    if name == "input_ids":
        return List(Value("int32"))
    if name in ("attention_mask", "token_type_ids"):
        return List(Value("int8"))
    if name.startswith("label"):
        return Value("float32")
    return Value("string")


def _features_from_row(row: dict) -> Features:
    return Features({name: _feature_of(name, value) for name, value in row.items()})


def _build(rows_by_split: dict, features: Features, path: Path, fingerprint: str, cache_dir,
           keep_in_memory) -> DatasetDict:
    """One Arrow dataset per split; `fingerprint` (of the source and the config) names them instead of a hash of the
    generator."""
    out = {}
    for split, rows in rows_by_split.items():
        if isinstance(rows, list) and not rows:  # Arrow cannot store or reload a split with no rows
            logger.warning(f"{path}: no rows for split {split!r}; the DatasetDict has no {split!r} split")
            continue

        def generate(rows=rows):
            yield from (rows() if callable(rows) else rows)

        out[split] = Dataset.from_generator(
            generate, features=features, cache_dir=cache_dir, keep_in_memory=keep_in_memory, split=split,
            fingerprint=f"{fingerprint}-{split}",
        )
    return DatasetDict(out)


def _pickle_source(path, spec, config, include_text_features):
    splits = read_mmsa_pickle(path, spec.label_range, for_training=True)
    for split in splits.values():
        for modality, count in split.non_finite.items():
            logger.warning(f"{path}: split {split.name}: {count} non-finite {modality} values replaced by 0")
        for modality in ("audio", "vision"):
            expected, found = getattr(config, f"{modality}_dim"), split.arrays[modality].shape[-1]
            if expected and expected != found:
                logger.warning(f"{path}: {modality} frames have {found} dims where the MMSA {spec.pretty_name} "
                               f"release has {expected}; keeping the file's {found}")
    for name in [name for name, split in splits.items() if split.size == 0]:
        logger.warning(f"{path}: no rows for split {name!r}; the DatasetDict has no {name!r} split")
        del splits[name]
    if not splits:
        raise ValueError(f"{path}: every split is empty")
    first = next(iter(splits.values()))
    features = _features_from_row(next(mmsa_rows(first, path, include_text_features)))
    rows = {name: (lambda s=s: mmsa_rows(s, path, include_text_features)) for name, s in splits.items()}
    return rows, features


def _csd_source(path, spec):
    rows = read_csd(path, spec.label_range)
    features = Features({"id": Value("string"), "video_id": Value("string"), "clip_id": Value("string"),
                         "label": Value("float32"), "start": Value("float32"), "end": Value("float32")})
    rows = [{k: row[k] for k in features} for row in rows]
    beside = path.parent / "label.csv"
    if beside.is_file():  # the standard folds, by video, from the label.csv of the same dataset
        folds, _ = label_csv_rows(beside, require_text=False, label_range=spec.label_range)
        video_split, example = {}, {}
        for split, split_rows in folds.items():
            for row in split_rows:
                other = video_split.setdefault(row["video_id"], split)
                if other != split:  # folds are by video: a video in two of them leaves its .csd segments no fold
                    raise ValueError(f"{beside}: video {row['video_id']!r} is in split {other!r} (clip "
                                     f"{example[row['video_id']]!r}) and in split {split!r} (clip {row['id']!r})")
                example.setdefault(row["video_id"], row["id"])
        unknown = sorted({r["video_id"] for r in rows} - set(video_split))
        if unknown:
            raise ValueError(f"{path}: videos {unknown[:5]} have no split in {beside}")
        by_split = {split: [r for r in rows if video_split[r["video_id"]] == split] for split in folds}
    else:
        logger.warning(f"{path}: a .csd carries no split and no label.csv lies beside it: one split 'all'")
        by_split = {"all": rows}
    return by_split, features


def _mvsa_source(path, config):
    label = ClassLabel(names=list(MVSA_LABELS))
    if config.reader == "mvsa_clmlf":
        splits = read_mvsa_clmlf(path)
        features = Features({"id": Value("string"), "text": Value("string"), "label": label})
    else:
        splits = read_mvsa_original(path, require_images=config.needs_images).splits
        features = Features({"id": Value("string"), "text": Value("string"), "label": label,
                             "text_label": Value("string"), "image_label": Value("string")})
        if config.needs_images:
            features["image"] = Value("string")
    splits = {name: [{k: row[k] for k in features} for row in rows] for name, rows in splits.items()}
    return splits, features


def _resolve(name: str, data_dir, config_name: str | None):
    spec = dataset_spec(name)
    config_name = config_name or spec.default_config
    if config_name not in spec.configs:
        raise ValueError(f"{spec.name} has no config {config_name!r}; choose one of {sorted(spec.configs)}")
    config = spec.configs[config_name]
    return spec, config, _locate(Path(data_dir), config, spec.name)


def _read(spec, config, path, include_text_features):
    if config.reader == "mmsa_pickle":
        return _pickle_source(path, spec, config, include_text_features)
    if config.reader == "label_csv":
        return label_csv_rows(path, require_text=config.name.endswith("transcripts"), label_range=spec.label_range)
    if config.reader == "csd":
        return _csd_source(path, spec)
    return _mvsa_source(path, config)


def read_source(name: str, data_dir: str | Path, config_name: str | None = None,
                include_text_features: bool = False):
    """(path, {split: rows or a callable giving them}, Features) of one config: what the loader and the dataset
    builders in dataset_scripts/ both write to Arrow."""
    spec, config, path = _resolve(name, data_dir, config_name)
    rows, features = _read(spec, config, path, include_text_features)
    return path, rows, features


def load_msa_dataset(name: str, data_dir: str | Path, config_name: str | None = None, *,
                     cache_dir: str | None = None, keep_in_memory: bool = False,
                     include_text_features: bool = False) -> DatasetDict:
    """Read one config of a dataset (cmu_mosi, cmu_mosei, ch_sims, mvsa_single) from the raw files in `data_dir`.

    The first call converts the source to Arrow under `cache_dir/hf_msa/<dataset>/<config>/<fingerprint>` (default:
    the datasets cache); later calls memory-map it without opening the source again, until the source file changes.
    `keep_in_memory=True` skips the cache. `include_text_features` also keeps MMSA's pre-extracted BERT features
    ([L, 768] per clip; large). Call `.with_format("numpy")` on the result for fast batches.
    """
    spec, config, path = _resolve(name, data_dir, config_name)
    tag = (spec.name, config.name, include_text_features)
    if config.reader == "csd" and (path.parent / "label.csv").is_file():  # its folds come from there
        tag += (_fingerprint(path.parent / "label.csv"),)
    fingerprint = _fingerprint(path, *tag)
    if keep_in_memory:
        rows, features = _read(spec, config, path, include_text_features)
        return _build(rows, features, path, fingerprint, None, True)
    root = Path(cache_dir or datasets_config.HF_DATASETS_CACHE) / "hf_msa" / spec.name / config.name
    target = root / fingerprint
    if (target / "dataset_dict.json").is_file():
        return DatasetDict.load_from_disk(str(target))
    rows, features = _read(spec, config, path, include_text_features)
    scratch = root / f"{target.name}.building"
    try:
        _build(rows, features, path, fingerprint, str(scratch), False).save_to_disk(str(target))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return DatasetDict.load_from_disk(str(target))


def dataset_sizes(dataset: DatasetDict) -> dict[str, int]:
    return {split: len(rows) for split, rows in dataset.items()}


__all__ = ["dataset_sizes", "load_msa_dataset", "read_source"]
