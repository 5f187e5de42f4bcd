"""HME under missing modalities: trained with the paper's dataset-level missing (MR 0.2) or on complete data, then
evaluated over MR 0.0-0.7 (GCNet/IMDer mask) and with every fixed subset of modalities.

The real MOSI files here have transcripts only, so this runs on the embedded synthetic MOSI-schema data (800 / 200 /
200 clips), where text, audio and vision each carry part of the label: removing a modality costs what it carried.
Both regimes train HME (MOSI preset, all-MiniLM-L6-v2) with the same budget and seeds, select by validation MAE, and
are scored on the test split by the one robustness harness (`hf_msa.robustness`, averaged over the seeds' models at
mask seed 1111, as LNLN's tables average).

    .venv/bin/python -m benchmarks hme_missing [--epochs 6] [--seeds 1111 1112 1113]

Writes benchmarks/results/hme_missing.json and hme_missing_<metric>.png (the curves over MR).
"""

import argparse
import shutil
import time
from pathlib import Path

from transformers import AutoTokenizer

from hf_msa import HmeConfig, HmeForSentimentAnalysis, MSAFeatureExtractor, MSAProcessor
from hf_msa.data import load_synthetic_mosi
from hf_msa.robustness import RobustnessSettings, evaluate_model, plot_missing_curves
from hf_msa.text_encoders import minilm_path
from hf_msa.training import TrainSettings, train_and_evaluate

RESULTS = Path(__file__).resolve().parent / "results"
# None: the model's own training corruption (HME: modality missing at config.missing_rate); False: none
REGIMES = {"HME, trained at MR 0.2": dict(random_missing_training=None),
           "HME, trained on complete data": dict(random_missing_training=False)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=float, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1111, 1112, 1113])
    parser.add_argument("--work-dir", default="runs/bench_hme_missing")


def run(epochs: float = 6, seeds=(1111, 1112, 1113), work_dir: str = "runs/bench_hme_missing",
        plots_dir: Path = RESULTS) -> dict:
    dataset = load_synthetic_mosi().with_format("numpy")
    config = HmeConfig.from_preset("mosi", audio_max_length=64, vision_max_length=64)
    processor = MSAProcessor(MSAFeatureExtractor.from_model_config(config), AutoTokenizer.from_pretrained(minilm_path()),
                             max_text_length=config.text_max_length)
    settings = RobustnessSettings(missing_rates=(), snr_db=(), averaging="model_seeds",
                                  instance_missing_probabilities=())
    report = {"data": "embedded synthetic MOSI-schema clips (hf_msa.data.load_synthetic_mosi, 800/200/200)",
              "encoder": "all-MiniLM-L6-v2", "epochs": epochs, "seeds": list(seeds), "family": "mosi",
              "split": "test", "selection": "validation", "training_missing_rate": config.missing_rate,
              "settings": {"modality_missing_rates": list(settings.modality_missing_rates), "averaged_over_models": True},
              "models": {}, "training": {}}
    for name, regime in REGIMES.items():
        models, started = [], time.time()
        for seed in seeds:
            folder = Path(work_dir) / name.split(",")[1].strip().replace(" ", "_") / f"seed-{seed}"
            model = HmeForSentimentAnalysis.from_text_pretrained(minilm_path(), config=config)
            train = TrainSettings(output_dir=str(folder), num_train_epochs=epochs, seed=seed, disable_tqdm=True,
                                  early_stopping_patience=None, logging_steps=50, **regime)
            trainer, result = train_and_evaluate(model, processor, dataset, train)
            model = trainer.model.eval()
            model.name_or_path = f"seed-{seed}"
            models.append(model)
        report["training"][name] = {"regime": regime, "wall_seconds": round(time.time() - started, 1)}
        report["models"][name] = evaluate_model(models, processor, dataset["test"], "mosi", settings, name)
    shutil.rmtree(work_dir, ignore_errors=True)
    report["plots"] = [str(p.relative_to(plots_dir.parent.parent)) for p in
                       _plots(report, plots_dir)]
    return report


def _plots(report: dict, folder: Path) -> list[Path]:
    """The harness's curves, renamed hme_missing_<metric>.png (the harness names them for a checkpoint folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for path in plot_missing_curves(report, folder):
        target = folder / path.name.replace("robustness_modality_missing", "hme_missing")
        path.replace(target)
        paths.append(target)
    return paths


def main(args) -> dict:
    return run(args.epochs, tuple(args.seeds), args.work_dir)
