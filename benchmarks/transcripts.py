"""What the training benchmarks on the real MOSI transcripts share: the data file, its loading, their arguments."""

import argparse
from pathlib import Path

from hf_msa.data import read_label_csv

MOSI_LABELS = Path(__file__).resolve().parents[2] / "shared" / "data" / "mosi" / "label.csv"


def load_transcripts(path: Path = MOSI_LABELS, max_samples: int | None = None):
    """The label.csv splits in numpy format, each capped at `max_samples` rows (smoke runs); exits if absent."""
    if not path.is_file():
        raise SystemExit(f"data file not found: {path} (../shared/data beside the repository)")
    dataset = read_label_csv(path)
    if max_samples:
        dataset = dataset.__class__({k: v.select(range(min(max_samples, len(v)))) for k, v in dataset.items()})
    return dataset.with_format("numpy")


def add_run_arguments(parser: argparse.ArgumentParser, epochs: float = 4) -> None:
    parser.add_argument("--epochs", type=float, default=epochs)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1111, 1112, 1113])
    parser.add_argument("--max-samples", type=int, default=None, help="cap each split (smoke runs)")


__all__ = ["MOSI_LABELS", "add_run_arguments", "load_transcripts"]
