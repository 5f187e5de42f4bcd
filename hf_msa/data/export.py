"""Write a loaded dataset as Parquet shards plus a dataset card: the layout of a Hub dataset repo.

`<output>/<config>/<split>-00000-of-00001.parquet` and `<output>/README.md` whose YAML `configs:` points at them, so
`datasets.load_dataset(output, config)` (or the Hub, after `upload_folder`) gives the same rows and features back.
"""

import shutil
from pathlib import Path

from datasets import DatasetDict
from huggingface_hub import DatasetCard, DatasetCardData

from .catalog import dataset_spec


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if rows < limit:
            return name
    return "100K<n<1M"


def _keep_exported_configs(readme: Path, output: Path) -> None:
    """Trim the card's `configs:` to the configs whose folders exist: `datasets` infers the file format from the
    configs it lists, and one without files makes the whole folder unreadable."""
    card = DatasetCard.load(readme)
    configs = [c for c in (card.data.configs or []) if (output / c["config_name"]).is_dir()]
    if configs and not any(c.get("default") for c in configs):
        configs[0]["default"] = True
    card.data.configs = configs
    card.save(readme)


def export_dataset(dataset: DatasetDict, name: str, config_name: str, output: str | Path,
                   card: str | Path | None = None) -> Path:
    """Write every split of `dataset` to Parquet under `output/config_name/` and a card to `output/README.md`.

    `card` is a ready card (e.g. dataset_scripts/<name>/README.md), copied with its `configs:` trimmed to the configs
    exported so far; without one, a card listing this config is rendered. An existing README.md in `output` is kept
    (export several configs into one folder, the card passed on each call).
    """
    spec = dataset_spec(name)
    output = Path(output)
    folder = output / config_name
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in dataset.items():
        rows.to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))
    readme = output / "README.md"
    if card is not None:
        shutil.copyfile(card, readme)
    if readme.exists():
        _keep_exported_configs(readme, output)
    else:
        data = DatasetCardData(
            pretty_name=spec.pretty_name, license="other", task_categories=["text-classification"],
            tags=["multimodal-sentiment-analysis", "hf_msa"],
            size_categories=_size_category(sum(len(rows) for rows in dataset.values())),
            configs=[{"config_name": config_name, "default": True,
                      "data_files": [{"split": s, "path": f"{config_name}/{s}-*.parquet"} for s in dataset]}],
        )
        text = (f"---\n{data.to_yaml()}\n---\n\n# {spec.pretty_name} ({config_name})\n\n"
                f"{spec.configs[config_name].description}. Exported by `hf-msa data export`; "
                f"split sizes: {', '.join(f'{s} {len(r)}' for s, r in dataset.items())}. "
                "The original data belong to their creators and are for research use; see the dataset card in "
                f"hf_msa's dataset_scripts/{spec.name}/ for the citation and terms.\n")
        DatasetCard(text).save(readme)
    return output


__all__ = ["export_dataset"]
