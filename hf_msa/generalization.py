"""Cross-dataset domain generalisation for every registered model (`hf-msa generalize`): train on some datasets,
select on their validation splits only, test on a dataset never seen.

* Splits: leave one dataset out (every other dataset is a source) and, optionally, every single-source pair.
* Labels: each dataset keeps its own scale (MOSI family [-3, 3], SIMS family [-1, 1]). A run trains on the scale of
  its sources' family (the MOSI family when any source is in it); source labels from another family are mapped
  linearly into it (x 3 or / 3), and the predictions on the target are mapped back to the target's scale before the
  target's own metric family scores them. The mapping is written into the report.
* Features: datasets with different audio / vision dimensions are zero-padded to the largest (a fixed linear
  embedding of each into one space; the model's first projection then learns from the padded frames; MIDG's
  per-domain adapters see which domain a clip came from). Stated in the report.
* Text: one text encoder for every dataset; a run mixing languages (SIMS is Chinese) with an English-only encoder is
  flagged in the report, not refused.
* Selection: `train_and_evaluate` on the sources' train + validation splits with no test split: the target's labels
  are read only by the final scoring, after the checkpoint is chosen.
"""

import json
import platform
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from datasets import Array2D, DatasetDict, Features, Value, concatenate_datasets

FAMILY_RANGES = {"mosi": (-3.0, 3.0), "sims": (-1.0, 1.0)}
KEPT_COLUMNS = ("id", "text", "label", "audio", "vision")
TIMING_KEYS = ("runtime", "samples_per_second", "steps_per_second", "epoch")


def dataset_family(name: str) -> str:
    """The metric family (and label scale) of a dataset name: SIMS-family for names with "sims", else MOSI's."""
    return "sims" if "sims" in name.lower() else "mosi"


def map_labels(values, source_family: str, target_family: str) -> np.ndarray:
    """Scores from one family's scale to another's, linearly (both are symmetric around 0): [-3, 3] <-> [-1, 1]."""
    for family in (source_family, target_family):
        if family not in FAMILY_RANGES:
            raise ValueError(f"label family must be one of {sorted(FAMILY_RANGES)}, got {family!r}")
    scale = FAMILY_RANGES[target_family][1] / FAMILY_RANGES[source_family][1]
    return np.asarray(values, dtype=np.float64) * scale


@dataclass(frozen=True)
class DomainSplit:
    sources: tuple[str, ...]
    target: str

    @property
    def name(self) -> str:
        return f"{'+'.join(self.sources)}->{self.target}"


def plan_splits(names: list[str], pairs: bool = False) -> list[DomainSplit]:
    """Leave one dataset out for each dataset (needs >= 2), plus every (single source, target) pair if asked."""
    names = list(names)
    if len(names) < 2:
        raise ValueError(f"domain generalisation needs at least two datasets, got {names}")
    splits = [DomainSplit(tuple(n for n in names if n != target), target) for target in names]
    if pairs and len(names) > 2:
        splits += [DomainSplit((source,), target) for target in names for source in names if source != target]
    return splits


def feature_dims(datasets: dict[str, DatasetDict]) -> dict[str, int]:
    """The largest audio / vision frame size over the datasets (0 where no dataset has the modality)."""
    dims = {"audio": 0, "vision": 0}
    for data in datasets.values():
        split = next(iter(data.values()))
        for modality in dims:
            if modality in split.column_names and len(split):
                frames = np.asarray(split[0][modality])
                dims[modality] = max(dims[modality], frames.shape[-1] if frames.ndim == 2 else 0)
    return dims


def prepare(split, dims: dict[str, int], domain_id: int, label_scale: float):
    """One split with the kept columns, frames zero-padded to `dims`, labels scaled, and its `domain_id`."""
    columns = [c for c in KEPT_COLUMNS if c in split.column_names]
    split = split.select_columns(columns).with_format(None)

    def convert(row):
        out = {"label": float(row["label"]) * label_scale, "domain_id": domain_id}
        for modality, dim in dims.items():
            if modality in row and dim:
                frames = np.asarray(row[modality], dtype=np.float32)
                out[modality] = np.pad(frames, ((0, 0), (0, dim - frames.shape[1])))
        return out

    features = {"id": Value("string"), "text": Value("string"), "label": Value("float32"),
                "domain_id": Value("int64")}
    for modality, dim in dims.items():
        if modality in columns and dim:
            features[modality] = Array2D(shape=(None, dim), dtype="float32")
    split = split.cast_column("id", Value("string")) if "id" in columns else split
    return split.map(convert, features=Features({k: v for k, v in features.items() if k in columns + ["domain_id"]}))


def combine_sources(datasets: dict[str, DatasetDict], sources: tuple[str, ...], training_family: str,
                    dims: dict[str, int]) -> DatasetDict:
    """train / validation of the sources concatenated, each row tagged with its source's index as `domain_id`
    and its label mapped into `training_family`."""
    parts = {"train": [], "validation": []}
    for index, name in enumerate(sources):
        scale = float(map_labels(1.0, dataset_family(name), training_family))
        for split in parts:
            if split not in datasets[name]:
                raise ValueError(f"source {name!r} has no {split!r} split (splits: {sorted(datasets[name])})")
            parts[split].append(prepare(datasets[name][split], dims, index, scale))
    layouts = {name: sorted(part.column_names) for name, part in zip(sources, parts["train"])}
    if len({tuple(columns) for columns in layouts.values()}) > 1:
        raise ValueError(f"the sources carry different columns {layouts}: give every source the same modalities "
                         "(or none but text)")
    return DatasetDict({split: concatenate_datasets(rows) for split, rows in parts.items()})


@dataclass
class GeneralizationSettings:
    pairs: bool = False  # also every single-source pair (with three or more datasets)
    targets: tuple[str, ...] | None = None  # only the splits whose unseen target is one of these (None: all)
    english_only_text: bool = True  # the text encoder reads English only: runs touching SIMS are flagged


def _score(model, processor, split, family: str, training_family: str, domain_id: int, dims) -> dict:
    from .metrics import msa_metrics
    from .robustness import encode_split, predict_arrays

    prepared = prepare(split, dims, domain_id, 1.0).with_format("numpy")
    arrays, labels = encode_split(processor, prepared, getattr(model.config, "text_input", "raw"))
    arrays["domain_ids"] = np.full(len(labels), domain_id, dtype=np.int64)
    predictions = map_labels(predict_arrays(model, arrays), training_family, family)
    return msa_metrics(predictions, labels, family)


def run_generalization(build, datasets: dict[str, DatasetDict], train_settings,
                       settings: GeneralizationSettings | None = None, output_dir: str | Path | None = None,
                       model_name: str = "model") -> dict:
    """Every split of `plan_splits(datasets)`: `build(training_family, dims, num_domains)` gives a fresh (model,
    processor); the model is trained on the sources (`hf_msa.training.train_and_evaluate`, no test split:
    selection on the sources' validation only), then
    scored on the target's test split (domain id -1, unseen) in the target's family, and on each source's test
    split in-domain for reference. Returns the report; with `output_dir`, also writes generalization.json and a
    plot."""
    from .training import train_and_evaluate

    settings = settings or GeneralizationSettings()
    dims = feature_dims(datasets)
    report = {"model": model_name, "datasets": {n: {"family": dataset_family(n), "sizes": {k: len(v) for k, v in
                                                                                           d.items()}}
                                                for n, d in datasets.items()},
              "label_mapping": "each run trains on its sources' family scale (MOSI family [-3, 3] if any source is "
                               "in it, else SIMS [-1, 1]); other-family source labels and target predictions are "
                               "mapped linearly (x3 or /3); the target is scored in its own family",
              "features": f"audio / vision zero-padded to {dims} (largest over the datasets)",
              "selection": "best validation MAE on the sources' validation splits; the target's labels are read "
                           "only after selection",
              "settings": asdict(settings), "machine": {"platform": platform.platform()}, "splits": {}}
    splits = plan_splits(list(datasets), settings.pairs)
    if settings.targets is not None:
        unknown = sorted(set(settings.targets) - set(datasets))
        if unknown:
            raise ValueError(f"targets {unknown} are not among the datasets {sorted(datasets)}")
        splits = [split for split in splits if split.target in settings.targets]
    for split in splits:
        families = {dataset_family(n) for n in split.sources}
        training_family = "mosi" if "mosi" in families else "sims"
        combined = combine_sources(datasets, split.sources, training_family, dims).with_format("numpy")
        model, processor = build(training_family, dims, len(split.sources))
        run_dir = Path(train_settings.output_dir) / split.name.replace("->", "_to_").replace("+", "_")
        trainer, result = train_and_evaluate(model, processor, combined,
                                             replace(train_settings, output_dir=str(run_dir)), test_split=None)
        model = trainer.model
        target_family = dataset_family(split.target)
        touched = [split.target, *split.sources]
        entry = {"sources": list(split.sources), "target": split.target, "training_family": training_family,
                 "target_family": target_family,
                 "validation": {k: v for k, v in result.validation.items() if k not in TIMING_KEYS},
                 "target_test": _score(model, processor, datasets[split.target]["test"], target_family,
                                       training_family, -1, dims),
                 "source_test": {name: _score(model, processor, datasets[name]["test"], dataset_family(name),
                                              training_family, index, dims)
                                 for index, name in enumerate(split.sources) if "test" in datasets[name]},
                 "language_warning": ("an English-only text encoder read Chinese (SIMS) transcripts"
                                      if settings.english_only_text and any("sims" in n for n in touched) else None)}
        report["splits"][split.name] = entry
    if output_dir is not None:
        output = Path(output_dir)
        output.mkdir(parents=True, exist_ok=True)
        (output / "generalization.json").write_text(json.dumps(report, indent=2))
        plot_generalization(report, output)
    return report


def plot_generalization(report: dict, output_dir: str | Path) -> Path:
    """MAE on each unseen target next to the same model's in-domain MAE on its sources (mean over sources)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["splits"])
    unseen = [report["splits"][n]["target_test"]["MAE"] for n in names]
    seen = [float(np.mean([m["MAE"] for m in report["splits"][n]["source_test"].values()]))
            if report["splits"][n]["source_test"] else np.nan for n in names]
    figure, axis = plt.subplots(figsize=(max(4, 1.4 * len(names)), 3.5))
    positions = np.arange(len(names))
    axis.bar(positions - 0.2, seen, width=0.4, label="in-domain (sources' test)")
    axis.bar(positions + 0.2, unseen, width=0.4, label="unseen target (test)")
    axis.set_xticks(positions, names, rotation=20, fontsize=8)
    axis.set_ylabel("MAE (each dataset's own scale)")
    axis.set_title(f"{report['model']}: domain generalisation", fontsize=9)
    axis.legend(fontsize=8)
    figure.tight_layout()
    path = Path(output_dir) / "generalization_MAE.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def generalization_card_section(report: dict) -> str:
    """A model-card section (markdown) from a generalisation report."""
    lines = ["## Domain generalisation (trained on the sources, selected on their validation splits, tested on an "
             "unseen dataset)", "", report["label_mapping"] + ".", "",
             "| sources -> target | target MAE | target Corr | target Acc-2 | in-domain MAE (sources) |",
             "|---|---|---|---|---|"]
    for name, entry in report["splits"].items():
        target = entry["target_test"]
        accuracy = target.get("Non0_acc_2", target.get("Mult_acc_2", float("nan")))
        seen = [m["MAE"] for m in entry["source_test"].values()]
        lines.append(f"| {name} | {target['MAE']:.4f} | {target['Corr']:.4f} | {accuracy:.4f} | "
                     f"{np.mean(seen):.4f} |" if seen else f"| {name} | {target['MAE']:.4f} | {target['Corr']:.4f} | "
                     f"{accuracy:.4f} | |")
    warnings = sorted({e["language_warning"] for e in report["splits"].values() if e["language_warning"]})
    return "\n".join(lines + ([""] + [f"**{w}.**" for w in warnings] if warnings else []) + [""])


__all__ = ["DomainSplit", "FAMILY_RANGES", "GeneralizationSettings", "combine_sources", "dataset_family",
           "feature_dims", "generalization_card_section", "map_labels", "plan_splits", "plot_generalization",
           "prepare", "run_generalization"]
