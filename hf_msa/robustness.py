"""One robustness harness for every hf_msa model: random missing (LNLN's protocol), dataset-level modality missing
(GCNet / IMDer / HME's mask: whole modalities per sample at a missing rate), whole-modality removal (the fixed-missing
conditions) and Gaussian noise, applied to the encoded inputs of a split (never inside a model), each setting seeded.

    report = run_robustness({"dib": (model, processor)}, dataset["test"], family="mosi", output_dir="runs/rob")

writes `robustness.json` (every metric per protocol setting and seed, means over seeds, the overall average over
missing rates that LNLN's tables report) and `robustness_<metric>.png` (each headline metric against the missing rate,
one line per model). The whole split is encoded once, padded to the model's max lengths, and corrupted as one array,
as LNLN does, so every model sees the same corrupted inputs for a seed.
"""

import inspect
import itertools
import json
import math
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .data.collator import MSADataCollator
from .data.corruption import (
    MODALITIES,
    apply_presence,
    gaussian_noise,
    instance_missing_presence,
    modality_missing_presence,
    random_missing,
    remove_modalities,
)
from .metrics import msa_metrics

HEADLINE = {"mosi": ["Non0_acc_2", "Non0_F1_score", "Mult_acc_7", "MAE"],
            "sims": ["Mult_acc_2", "F1_score", "Mult_acc_5", "MAE"],
            "classification": ["Accuracy", "F1_score"]}
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "audio_features", "audio_attention_mask",
                "vision_features", "vision_attention_mask")
# Passed only to a model whose forward takes them (and only when present: `domain_ids` comes from the domain
# generalisation protocol). The prompt is context written offline from the clean clip, so no protocol corrupts it:
# the harness measures what losing a modality costs a model that still has its prompt.
OPTIONAL_INPUTS = ("modality_mask", "prompt_input_ids", "prompt_attention_mask", "domain_ids")


AVERAGING = ("mask_seeds", "model_seeds")


@dataclass
class RobustnessSettings:
    """What to run. Random missing and noise are averaged either over corruption (mask) seeds of one model
    (`averaging="mask_seeds"`, the `seeds` below), or, as LNLN's paper does, over several models trained with
    different seeds (1111-1113) at one fixed mask seed (`averaging="model_seeds"`, `mask_seed` 1111): pass the
    models of a group as a list. Modality removal and the clean score are averaged over the group's models."""

    missing_rates: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(10))
    # dataset-level modality missing (HME's protocol; at 0.7 every sample keeps exactly one modality, a realised 2/3)
    modality_missing_rates: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(8))
    # instance-level missing probability (CyIN's protocol: a sample loses one incomplete pattern with probability MP)
    instance_missing_probabilities: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
    seeds: tuple[int, ...] = (1111, 1112, 1113)  # mask seeds, with averaging="mask_seeds"
    averaging: str = "mask_seeds"
    mask_seed: int = 1111  # the one mask seed, with averaging="model_seeds"
    snr_db: tuple[float, ...] = (20.0, 10.0, 5.0, 0.0)
    modality_removal: bool = True
    batch_size: int = 64
    # How the evaluated checkpoints were selected; "test@0.5" marks LNLN's paper protocol (selection on the test
    # split at missing rate 0.5), which the report then flags as optimistic.
    selection: str = "validation"
    extra: dict = field(default_factory=dict)


def encode_split(processor, dataset, text_input: str = "raw",
                 prompt_max_length: int | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The whole split as padded numpy arrays (max lengths of the processor) and its labels; `text_input` as the
    model's config says (`"text_bert"`: an MMSA pickle's own token ids); with `prompt_max_length`, the `prompt`
    column too (MMSLF's teacher)."""
    rows = [dataset[i] for i in range(len(dataset))]
    batch = MSADataCollator(processor, padding="max_length", text_input=text_input,
                            prompt_max_length=prompt_max_length)(rows)
    labels = batch.pop("labels").numpy()
    return {key: value.numpy() for key, value in batch.items()}, labels


@torch.no_grad()
def predict_arrays(model, arrays: dict[str, np.ndarray], batch_size: int = 64) -> np.ndarray:
    """Predictions for the arrays in batches; `modality_mask` (written by modality removal) goes to the models whose
    forward takes it (HME), the others read removal from the zeroed inputs; prompts go to a model that reads them."""
    model.eval()
    outputs = []
    size = len(arrays["input_ids"])
    keys = MODEL_INPUTS + tuple(k for k in OPTIONAL_INPUTS if k in inspect.signature(model.forward).parameters)
    for start in range(0, size, batch_size):
        batch = {k: torch.as_tensor(arrays[k][start : start + batch_size]) for k in keys if k in arrays}
        outputs.append(model(**batch).logits.float().cpu().numpy())
    return np.concatenate(outputs)


def _mean(results: list[dict]) -> dict:
    keys = results[0].keys()
    return {k: float(np.nanmean([r[k] for r in results])) if not all(math.isnan(r[k]) for r in results) else math.nan
            for k in keys}


def _runs(model, settings: RobustnessSettings) -> list[tuple[str, object, int]]:
    """(label, model, mask seed) for every run that one setting is averaged over."""
    if settings.averaging not in AVERAGING:
        raise ValueError(f"averaging must be one of {AVERAGING}, got {settings.averaging!r}")
    group = list(model) if isinstance(model, (list, tuple)) else [model]
    if settings.averaging == "mask_seeds":
        if len(group) != 1:
            raise ValueError(f"averaging='mask_seeds' evaluates one model over mask seeds, got a group of {len(group)}; "
                             "use averaging='model_seeds' for models trained with different seeds")
        return [(str(seed), group[0], seed) for seed in settings.seeds]
    paths = [Path(str(getattr(m, "name_or_path", "") or f"model{i + 1}")) for i, m in enumerate(group)]
    labels = [path.name for path in paths]
    if len(set(labels)) != len(labels):  # e.g. seed-1111/best, seed-1112/best
        labels = [f"{path.parent.name}/{path.name}" for path in paths]
    if len(set(labels)) != len(labels) or not all(labels):
        labels = [f"model{i + 1}" for i in range(len(group))]
    return [(label, m, settings.mask_seed) for label, m in zip(labels, group)]


def evaluate_model(model, processor, dataset, family: str, settings: RobustnessSettings, name: str = "model") -> dict:
    """Every protocol setting for one model, or one group of models trained with different seeds (a list, with
    `settings.averaging="model_seeds"`): {protocol: {setting: {"per_seed": {run: metrics}, "mean": {...}}}}."""
    runs = _runs(model, settings)
    first = runs[0][1]
    reads_prompts = "prompt_input_ids" in inspect.signature(first.forward).parameters
    arrays, labels = encode_split(processor, dataset, getattr(first.config, "text_input", "raw"),
                                  first.config.prompt_max_length if reads_prompts else None)
    unk = processor.tokenizer.unk_token_id
    score = lambda m, batch: msa_metrics(predict_arrays(m, batch, settings.batch_size), labels, family)  # noqa: E731
    by_models = settings.averaging == "model_seeds"
    group = [m for _, m, _ in runs] if by_models else [runs[0][1]]
    averaged_over = (f"{len(runs)} models ({', '.join(label for label, _, _ in runs)}) at mask seed {settings.mask_seed}"
                     if by_models else f"mask seeds {', '.join(str(seed) for _, _, seed in runs)} (one model)")
    report = {"averaged_over": averaged_over, "clean": _mean([score(m, arrays) for m in group]),
              "random_missing": {}, "modality_missing": {}, "instance_missing": {}, "modality_removal": {}, "noise": {}}
    present = [m for m in MODALITIES if m == "text" or f"{m}_features" in arrays]
    removals = [r for k in range(1, len(present)) for r in itertools.combinations(present, k)]
    steps = (len(settings.missing_rates) + len(settings.modality_missing_rates)
             + len(settings.instance_missing_probabilities) + len(settings.snr_db)) * len(runs)
    progress = tqdm(total=steps + (len(removals) * len(group) if settings.modality_removal else 0),
                    desc=f"robustness [{name}]")
    for rate in settings.missing_rates:
        per_seed = {}
        corrupted = {seed: random_missing(arrays, rate, seed, unk) for seed in {seed for _, _, seed in runs}}
        for label, member, seed in runs:
            per_seed[label] = score(member, corrupted[seed])
            progress.update()
        report["random_missing"][f"{rate:.1f}"] = {"per_seed": per_seed, "mean": _mean(list(per_seed.values()))}
    # LNLN's "overall robustness": the per-rate means averaged over the rates
    if report["random_missing"]:
        report["random_missing_overall"] = _mean([v["mean"] for v in report["random_missing"].values()])
    presence_protocols = (("modality_missing", settings.modality_missing_rates, modality_missing_presence),
                          ("instance_missing", settings.instance_missing_probabilities, instance_missing_presence))
    for protocol, rates, draw in presence_protocols:
        for rate in rates:
            per_seed = {}
            corrupted = {seed: apply_presence(arrays, draw(arrays, rate, np.random.RandomState(seed)), unk)
                         for seed in {seed for _, _, seed in runs}}
            for label, member, seed in runs:
                per_seed[label] = score(member, corrupted[seed])
                progress.update()
            report[protocol][f"{rate:.1f}"] = {"per_seed": per_seed, "mean": _mean(list(per_seed.values()))}
        if report[protocol]:
            report[f"{protocol}_overall"] = _mean([v["mean"] for v in report[protocol].values()])
    for snr in settings.snr_db:
        per_seed = {}
        for label, member, seed in runs:
            per_seed[label] = score(member, gaussian_noise(arrays, snr, seed))
            progress.update()
        report["noise"][f"{snr:g}dB"] = {"per_seed": per_seed, "mean": _mean(list(per_seed.values()))}
    if settings.modality_removal:
        for removed in removals:
            kept = "+".join(m for m in present if m not in removed)
            removed_arrays, scores = remove_modalities(arrays, removed, unk), []
            for member in group:
                scores.append(score(member, removed_arrays))
                progress.update()
            report["modality_removal"][kept] = _mean(scores)
        if report["modality_removal"]:  # the paper's "fixed missing": the mean over the incomplete subsets
            report["modality_removal_average"] = _mean(list(report["modality_removal"].values()))
    progress.close()
    return report


def run_robustness(models: dict, dataset, family: str, settings: RobustnessSettings | None = None,
                   output_dir: str | Path | None = None, split: str = "test") -> dict:
    """`models`: {name: (model, processor)}, or {name: ([model, ...], processor)} for a group trained with different
    seeds (with `settings.averaging="model_seeds"`). Returns the report; with `output_dir`, also writes JSON and PNGs."""
    settings = settings or RobustnessSettings()
    report = {
        "protocol": {
            "random_missing": "LNLN generate_m: per-sample rate r; valid positions kept when u > r; [CLS]/[SEP] kept; "
                              "text -> [UNK], frames -> 0; one seed per setting, reseeded per modality",
            "modality_missing": "GCNet/IMDer generate_missing_matrix: whole modalities removed per sample, missing-cell "
                                "rate MR over the split, at least one modality kept (MR 0.7: exactly one); removal "
                                "as below, plus modality_mask for models that take it",
            "modality_removal": "every subset of modalities that leaves at least one; text keeps only [CLS]/[SEP]",
            "instance_missing": "CyIN MissingProtocol: with probability MP a sample loses one of the incomplete "
                                "modality patterns, uniformly, else stays complete; removal as below",
            "noise": "additive Gaussian noise on valid audio/vision frames at the given SNR (dB), per sample",
            "prompts": "a model that reads a context prompt (MMSLF's teacher) gets the dataset's `prompt` column, "
                       "uncorrupted, in every setting",
        },
        "settings": asdict(settings),
        "split": split,
        "family": family,
        "selection": settings.selection,
        "selection_warning": None if settings.selection == "validation" else
        "checkpoints were NOT selected on the validation split: numbers are optimistic (paper protocol)",
        "machine": {"platform": platform.platform()},
        "models": {name: evaluate_model(model, processor, dataset, family, settings, name)
                   for name, (model, processor) in models.items()},
    }
    if output_dir is not None:
        output = Path(output_dir)
        output.mkdir(parents=True, exist_ok=True)
        (output / "robustness.json").write_text(json.dumps(report, indent=2))
        plot_missing_curves(report, output)
    return report


def plot_missing_curves(report: dict, output_dir: str | Path) -> list[Path]:
    """One PNG per headline metric: the metric (mean over seeds) against the missing rate, a line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    curves = []
    if any(result.get("random_missing") for result in report["models"].values()):
        curves.append(("random_missing", "missing rate (LNLN protocol)", "random missing", ""))
    if any(result.get("modality_missing") for result in report["models"].values()):
        curves.append(("modality_missing", "modality missing rate (GCNet/IMDer mask)", "modality missing",
                       "_modality_missing"))
    if any(result.get("instance_missing") for result in report["models"].values()):
        curves.append(("instance_missing", "missing probability per sample (CyIN protocol)", "instance missing",
                       "_instance_missing"))
    for (protocol, xlabel, what, suffix), metric in itertools.product(curves, HEADLINE[report["family"]]):
        figure, axis = plt.subplots(figsize=(5, 3.5))
        for name, result in report["models"].items():
            rates = sorted(result.get(protocol, {}), key=float)
            axis.plot([float(r) for r in rates], [result[protocol][r]["mean"][metric] for r in rates],
                      marker="o", label=name)
        axis.set_xlabel(xlabel)
        axis.set_ylabel(metric)
        title = f"{metric} under {what} ({report['split']} split)"
        if report.get("selection_warning"):
            title += "\n[selection: " + report["selection"] + "]"
        axis.set_title(title, fontsize=9)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        figure.tight_layout()
        path = Path(output_dir) / f"robustness{suffix}_{metric}.png"
        figure.savefig(path, dpi=120)
        plt.close(figure)
        paths.append(path)
    return paths


def _rate_table(per_rate: dict, overall: dict, metrics: list[str], title: str, column: str) -> list[str]:
    """A markdown table of one protocol's mean scores by rate, closed by the average over the rates."""
    lines = [title, "", f"| {column} | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for rate, values in sorted(per_rate.items(), key=lambda kv: float(kv[0])):
        lines.append(f"| {rate} | " + " | ".join(f"{values['mean'][m]:.4f}" for m in metrics) + " |")
    return lines + ["| **average** | " + " | ".join(f"**{overall[m]:.4f}**" for m in metrics) + " |", ""]


def robustness_card_section(report: dict, model: str) -> str:
    """A model-card section (markdown) rendered from a robustness report."""
    result, metrics = report["models"][model], HEADLINE[report["family"]]
    lines = [f"## Robustness ({report['split']} split, selection: {report['selection']})", ""]
    if report.get("selection_warning"):
        lines += [f"**{report['selection_warning']}**", ""]
    averaged = result.get("averaged_over") or f"seeds {', '.join(map(str, report['settings']['seeds']))}"
    lines += [f"Scores are the mean over {averaged}.", ""]
    for protocol, title, column in (("random_missing", "Random missing", "missing rate"),
                                    ("modality_missing", "Modality missing", "modality missing rate"),
                                    ("instance_missing", "Instance missing", "missing probability")):
        if result.get(protocol):
            lines += _rate_table(result[protocol], result[f"{protocol}_overall"], metrics,
                                 f"{title} ({report['protocol'][protocol]}):", column)
    if result["modality_removal"]:
        lines += ["Whole-modality removal, the fixed-missing conditions (modalities kept):", "", "| kept | " + " | ".join(metrics) + " |",
                  "|---" * (len(metrics) + 1) + "|"]
        for kept, values in result["modality_removal"].items():
            lines.append(f"| {kept} | " + " | ".join(f"{values[m]:.4f}" for m in metrics) + " |")
        average = result["modality_removal_average"]
        lines += ["| **average (fixed missing)** | " + " | ".join(f"**{average[m]:.4f}**" for m in metrics) + " |", ""]
    if result["noise"]:
        lines += ["Gaussian noise on audio and vision:", "", "| SNR | " + " | ".join(metrics) + " |",
                  "|---" * (len(metrics) + 1) + "|"]
        for snr, values in result["noise"].items():
            lines.append(f"| {snr} | " + " | ".join(f"{values['mean'][m]:.4f}" for m in metrics) + " |")
        lines.append("")
    return "\n".join(lines)


__all__ = ["AVERAGING", "HEADLINE", "RobustnessSettings", "encode_split", "evaluate_model", "plot_missing_curves",
           "predict_arrays", "robustness_card_section", "run_robustness"]
