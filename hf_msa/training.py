"""Helpers around the stock `transformers.Trainer`: a separate text-encoder learning rate, loss-term logging,
early stopping on a chosen validation metric, and several seeds summarised as mean ± std (MMSA reports 5 seeds).

Nothing here replaces the Trainer: the model's `forward` holds the whole objective, these helpers only build the
optimizer, the arguments and the callbacks a faithful MSA run needs.
"""

import dataclasses
import difflib
import functools
import json
import math
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments

from .data.collator import training_collator
from .data.frame_views import frame_views
from .metrics import GREATER_IS_BETTER, make_compute_metrics

LR_SCHEDULES = ("linear", "constant", "warmup_cosine")
SCHEDULE_UNITS = ("step", "epoch")


def build_optimizer(model: torch.nn.Module, learning_rate: float, text_learning_rate: float | None = None,
                    weight_decay: float = 0.0, decay_all_parameters: bool = False) -> torch.optim.AdamW:
    """AdamW with the text encoder in its own parameter group (MIB/DIB: BERT 1e-5, the rest 2e-5).

    No weight decay on biases and LayerNorm weights, as in Trainer's own grouping, unless `decay_all_parameters`
    (LNLN's official `AdamW(model.parameters(), weight_decay=1e-4)` decays every parameter).
    """
    text_params = set()
    if hasattr(model, "get_text_encoder"):
        text_params = {id(p) for p in model.get_text_encoder().parameters()}
    groups: dict[tuple[bool, bool], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        decays = decay_all_parameters or (param.ndim > 1 and "norm" not in name.lower())
        groups.setdefault((id(param) in text_params, decays), []).append(param)
    param_groups = []
    for (is_text, decays), params in groups.items():
        lr = text_learning_rate if (is_text and text_learning_rate is not None) else learning_rate
        param_groups.append({"params": params, "lr": lr, "weight_decay": weight_decay if decays else 0.0})
    return torch.optim.AdamW(param_groups, lr=learning_rate, foreach=True)


class LossTermsCallback(TrainerCallback):
    """Add the running mean of every named loss term (`loss_terms` in the model output) to the training logs.

    The model accumulates its terms while training (`MSAPreTrainedModel.record_loss_terms`); at each training log
    this callback writes their means as `loss_<name>` into the logs and into `state.log_history`.
    """

    def on_log(self, args, state, control, logs=None, model=None, **kwargs):
        if logs is None or "loss" not in logs or model is None or not hasattr(model, "pop_loss_term_means"):
            return
        terms = {f"loss_{name}": round(value, 6) for name, value in model.pop_loss_term_means().items()}
        logs.update(terms)
        if state.log_history and state.log_history[-1].get("loss") == logs.get("loss"):
            state.log_history[-1].update(terms)


def paper_source_metric(metric: str) -> str:
    """The checkpoint LNLN's paper reads `metric` from: F1 from its Acc-2 checkpoint, Corr from the MAE checkpoint
    (core/utils.get_best_results keeps F1 with Acc-2; robust_evaluation.py prints Corr from the best-MAE model)."""
    if metric == "Corr":
        return "MAE"
    if metric == "F1_score":
        return "Mult_acc_2"
    if metric.endswith("_F1_score"):
        return metric.replace("_F1_score", "_acc_2")
    return metric


class PaperSelectionCallback(TrainerCallback):
    """LNLN's paper protocol, behind an explicit flag: after every epoch, score the model on the TEST split corrupted
    at a fixed missing rate (0.5, mask seed 1111, the whole split at once as the reference does) and keep, per
    selecting metric, the checkpoint of the best epoch in `<output_dir>/paper_selection/best_<metric>`. F1 is not
    selected on its own: it is read from its Acc-2 checkpoint, and Corr from the MAE checkpoint, as the reference
    reports them (`paper_metrics` in `paper_selection.json`).

    Selecting on the test split makes the reported numbers optimistic; `paper_selection.json` says so, and the
    robustness harness flags such checkpoints when given `selection="test@0.5"`. The default selection stays on the
    validation split.
    """

    WARNING = "selected on the TEST split at missing rate {rate} (LNLN paper protocol): test numbers are optimistic"

    def __init__(self, processor, test_dataset, family: str, output_dir: str, rate: float = 0.5, seed: int = 1111):
        from .data.corruption import random_missing
        from .robustness import encode_split

        self.processor = processor
        arrays, self.labels = encode_split(processor, test_dataset)
        self.arrays = random_missing(arrays, rate, seed, processor.tokenizer.unk_token_id)
        self.family, self.rate, self.seed = family, rate, seed
        self.folder = Path(output_dir) / "paper_selection"
        self.best: dict[str, dict] = {}

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        from .metrics import msa_metrics
        from .robustness import predict_arrays

        was_training = model.training
        metrics = msa_metrics(predict_arrays(model, self.arrays), self.labels, self.family)
        model.train(was_training)
        for key, value in metrics.items():
            if paper_source_metric(key) != key:
                continue  # reported from another metric's checkpoint
            better = GREATER_IS_BETTER.get(key, True)
            current = self.best.get(key)
            if math.isfinite(value) and (current is None or (value > current["value"] if better else value < current["value"])):
                self.best[key] = {"value": value, "epoch": state.epoch, "metrics": metrics}
                model.save_pretrained(self.folder / f"best_{key}")
                self.processor.save_pretrained(self.folder / f"best_{key}")
        self.folder.mkdir(parents=True, exist_ok=True)
        paper = {key: {"value": self.best[paper_source_metric(key)]["metrics"][key],
                       "checkpoint": f"best_{paper_source_metric(key)}"}
                 for key in metrics if paper_source_metric(key) in self.best}
        (self.folder / "paper_selection.json").write_text(json.dumps(
            {"warning": self.WARNING.format(rate=self.rate), "selection": f"test@{self.rate}",
             "mask_seed": self.seed, "best": self.best, "paper_metrics": paper}, indent=2))


class CorruptedEvaluationCallback(TrainerCallback):
    """The evaluation LNLN's paper reports during training: after every epoch, score the validation and test splits
    with every modality corrupted at one missing rate (0.5, mask seed 1111, the whole split at once, as the
    reference's `missing_rate_eval_test`), and log them as `corrupted<rate>_<split>_<metric>` in the log history.
    Selection is untouched (the Trainer still picks by the clean validation metric unless told otherwise)."""

    def __init__(self, processor, splits: dict, family: str, rate: float = 0.5, seed: int = 1111):
        from .data.corruption import random_missing
        from .robustness import encode_split

        self.family, self.rate = family, rate
        self.splits = {}
        for name, dataset in splits.items():
            arrays, labels = encode_split(processor, dataset)
            self.splits[name] = (random_missing(arrays, rate, seed, processor.tokenizer.unk_token_id), labels)

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        from .metrics import msa_metrics
        from .robustness import predict_arrays

        was_training = model.training
        logs = {"epoch": state.epoch, "step": state.global_step}
        for name, (arrays, labels) in self.splits.items():
            metrics = msa_metrics(predict_arrays(model, arrays), labels, self.family)
            logs.update({f"corrupted{self.rate:g}_{name}_{key}": value for key, value in metrics.items()})
        model.train(was_training)
        state.log_history.append(logs)


class ClipGradValueCallback(TrainerCallback):
    """Clip every gradient element to [-value, value] before each optimizer step, as
    `torch.nn.utils.clip_grad_value_` in a hand-written loop (HME's official `train_epoch`: 0.8). The Trainer only
    clips by norm (`max_grad_norm`); it runs that first, so a recipe that clips by value sets `max_grad_norm=0`.
    Gradients are clipped as the optimizer will see them (fp32 or bf16; no loss scaler runs on CPU or in bf16)."""

    def __init__(self, value: float):
        if not value > 0:
            raise ValueError(f"clip_grad_value must be > 0, got {value}")
        self.value = value

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        torch.nn.utils.clip_grad_value_([p for p in model.parameters() if p.grad is not None], self.value)


@dataclass
class TrainSettings:
    """What one training run needs besides the model and the data; defaults suit the embedded demo data."""

    output_dir: str = "runs/dib"
    num_train_epochs: float = 10
    per_device_train_batch_size: int = 32
    per_device_eval_batch_size: int = 64
    learning_rate: float = 1e-3
    text_learning_rate: float | None = 5e-5
    weight_decay: float = 0.0
    # Gradient clipping: by global norm (the Trainer's `max_grad_norm`, 0 = off) and/or by value (every element to
    # [-v, v] before each optimizer step, `ClipGradValueCallback`; HME's official recipe: 0.8 and no norm clipping).
    max_grad_norm: float = 1.0
    clip_grad_value: float | None = None
    gradient_accumulation_steps: int = 1
    metric_for_best_model: str = "MAE"
    early_stopping_patience: int | None = 8
    logging_steps: int = 10
    seed: int = 1111
    metric_family: str | None = None  # None: the model config's `metric_family` (set it for non-hf_msa models)
    # Training-time corruption of the training split (evaluation stays clean): None = the model's own protocol
    # (`training_corruption`, LNLN: random missing), True / False force it on / off.
    random_missing_training: bool | None = None
    # Weight decay on biases and norms too (LNLN's official AdamW decays every parameter).
    decay_all_parameters: bool = False
    # "linear": the Trainer's linear decay (warm-up over `warmup_fraction`); "constant": no schedule (MIB's Adam);
    # "warmup_cosine": linear warm-up from 0 over `warmup_fraction` of training, then cosine to 0 (LNLN's
    # GradualWarmup -> CosineAnnealingLR), changing once per epoch (`schedule_unit="epoch"`, as the official code
    # steps it) or after every optimizer step ("step").
    lr_schedule: str = "linear"
    warmup_fraction: float = 0.0
    schedule_unit: str = "step"
    # Also score validation and test corrupted at this missing rate after every epoch (LNLN reports r = 0.5).
    corrupted_evaluation_rate: float | None = None
    # "paper_selection": also run PaperSelectionCallback on the test split (flagged; see its docstring)
    extra_callbacks: tuple[str, ...] = ()
    # Which named recipe these settings come from ("default", or a model's "official"); recorded in reports.
    recipe: str = "default"
    disable_tqdm: bool = False
    # Passed to TrainingArguments as named there (also reachable through `extra_args`):
    report_to: str | list[str] = "none"
    save_total_limit: int | None = 1
    bf16: bool = False
    gradient_checkpointing: bool = False
    # Passed to `Trainer.train`: True = the last checkpoint in `output_dir`, or a checkpoint folder.
    resume_from_checkpoint: str | bool | None = None
    # Any other TrainingArguments field (e.g. {"fp16": True, "dataloader_num_workers": 2}); it wins over the values
    # set here, except the few the MSA wiring needs (remove_unused_columns, label_names), which are refused.
    extra_args: dict = field(default_factory=dict)

    def __post_init__(self):
        """Refuse what would fail later, after a model was built: a schedule or extra argument nobody knows."""
        if self.lr_schedule not in LR_SCHEDULES or self.schedule_unit not in SCHEDULE_UNITS:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES} and schedule_unit one of {SCHEDULE_UNITS}, "
                             f"got {self.lr_schedule!r} / {self.schedule_unit!r}")
        if self.clip_grad_value is not None and not self.clip_grad_value > 0:
            raise ValueError(f"clip_grad_value must be > 0 (or None for no value clipping), got {self.clip_grad_value}")
        if not self.max_grad_norm >= 0:
            raise ValueError(f"max_grad_norm must be >= 0 (0 = no norm clipping), got {self.max_grad_norm}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        check_extra_args(self.extra_args)


def recipe_settings(model_class, recipe: str = "official", **overrides) -> TrainSettings:
    """TrainSettings for a model's named recipe (`model_class.training_recipes[recipe]`), with `overrides` on top."""
    recipes = getattr(model_class, "training_recipes", {})
    if recipe == "default":
        return TrainSettings(**overrides)
    if recipe not in recipes:
        raise ValueError(f"{getattr(model_class, '__name__', model_class)} has no recipe {recipe!r}; "
                         f"known: {['default', *recipes]}")
    return TrainSettings(**{**recipes[recipe], "recipe": recipe, **overrides})


def schedule_factor(step: int, steps_per_epoch: int, total_epochs: float, warmup_fraction: float,
                    unit: str = "epoch") -> float:
    """Multiplier of the base learning rate at optimizer step `step` for the "warmup_cosine" schedule.

    With unit "epoch" (LNLN: GradualWarmupScheduler(multiplier=1, total_epoch=0.1 E) then CosineAnnealingLR(T_max=0.9 E),
    stepped after each epoch): epoch e = step // steps_per_epoch trains at e / W for e < W, then at
    (1 + cos(pi (e - W) / (E - W))) / 2, W = warmup_fraction * E; so the first epoch trains at 0. Unit "step" is the
    same curve over optimizer steps (W and E counted in steps).
    """
    if unit == "epoch":
        position, total = step // max(steps_per_epoch, 1), total_epochs
    else:
        position, total = step, total_epochs * steps_per_epoch
    warmup = warmup_fraction * total
    if position < warmup:
        return position / warmup
    if total <= warmup:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * min(position - warmup, total - warmup) / (total - warmup)))


@dataclass
class RunResult:
    seed: int
    validation: dict
    test: dict
    best_checkpoint: str | None
    log_history: list


# TrainingArguments the MSA wiring cannot work without: the collator reads raw columns and the models take `labels`.
FIXED_TRAINING_ARGS = {"remove_unused_columns": False, "label_names": ["labels"]}


def check_extra_args(extra_args: dict) -> None:
    """Every key a TrainingArguments field, and none of the fixed ones changed; else a ValueError naming the key."""
    known = {f.name for f in dataclasses.fields(TrainingArguments)}
    unknown = sorted(set(extra_args) - known)
    if unknown:
        hints = {k: difflib.get_close_matches(k, sorted(known), n=1) for k in unknown}
        raise ValueError(f"extra_args: {unknown} are not TrainingArguments fields"
                         + "".join(f"; {k!r} -> {m[0]!r}?" for k, m in hints.items() if m))
    for key, needed in FIXED_TRAINING_ARGS.items():
        if key in extra_args and extra_args[key] != needed:
            raise ValueError(f"extra_args: {key}={extra_args[key]!r} would break the MSA collator / labels; "
                             f"hf_msa needs {key}={needed!r}")


def greater_is_better(metric: str) -> bool:
    if metric in GREATER_IS_BETTER:
        return GREATER_IS_BETTER[metric]
    if metric.lower() in ("loss", "mae"):
        return False
    raise ValueError(f"metric_for_best_model={metric!r} is not a known MSA metric; known: {sorted(GREATER_IS_BETTER)}")


def build_trainer(model, processor, train_dataset, eval_dataset, settings: TrainSettings) -> Trainer:
    """A stock Trainer wired for MSA: raw-column collator, per-epoch validation, best-by-metric, loss terms."""
    config = model.config
    metric_family = settings.metric_family or getattr(config, "metric_family", None)
    if metric_family is None:
        raise ValueError(f"{type(config).__name__} has no metric_family: set TrainSettings.metric_family")
    metric = settings.metric_for_best_model
    values = dict(
        output_dir=settings.output_dir,
        num_train_epochs=settings.num_train_epochs,
        per_device_train_batch_size=settings.per_device_train_batch_size,
        per_device_eval_batch_size=settings.per_device_eval_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        max_grad_norm=settings.max_grad_norm,
        learning_rate=settings.learning_rate,
        weight_decay=settings.weight_decay,
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="steps",
        logging_steps=settings.logging_steps,
        load_best_model_at_end=True,
        metric_for_best_model=metric,
        greater_is_better=greater_is_better(metric),
        save_total_limit=settings.save_total_limit,
        remove_unused_columns=False,  # the collator reads raw text/audio/vision columns
        label_names=["labels"],
        seed=settings.seed,
        data_seed=settings.seed,
        disable_tqdm=settings.disable_tqdm,
        report_to=settings.report_to,
        bf16=settings.bf16,
        activation_checkpointing=settings.gradient_checkpointing,  # TrainingArguments.gradient_checkpointing, renamed
        # Under DDP some parameters can get no gradient in a step (LNLN's discriminator and reconstructors without
        # the uncorrupted inputs; a method's branch for a modality absent from the batch). The Trainer turns DDP's unused-
        # parameter search off when gradient checkpointing is on, which then fails; non-reentrant checkpointing
        # (transformers' default) works with the search on, so it stays on.
        ddp_find_unused_parameters=True,
        dataloader_pin_memory=torch.cuda.is_available(),
        warmup_steps=settings.warmup_fraction if settings.lr_schedule == "linear" else 0,
        lr_scheduler_type="constant" if settings.lr_schedule == "constant" else "linear",
    )
    values.update(settings.extra_args)
    args = TrainingArguments(**values)
    callbacks = [LossTermsCallback()]
    if settings.clip_grad_value is not None:
        callbacks.append(ClipGradValueCallback(settings.clip_grad_value))
    if settings.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=settings.early_stopping_patience))
    optimizer = build_optimizer(model, settings.learning_rate, settings.text_learning_rate, settings.weight_decay,
                                settings.decay_all_parameters)
    scheduler = None
    if settings.lr_schedule == "warmup_cosine":
        steps_per_epoch = math.ceil(math.ceil(len(train_dataset) / settings.per_device_train_batch_size)
                                    / settings.gradient_accumulation_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, functools.partial(
            schedule_factor, steps_per_epoch=steps_per_epoch, total_epochs=settings.num_train_epochs,
            warmup_fraction=settings.warmup_fraction, unit=settings.schedule_unit))
    collator, train_dataset = training_collator(model, processor, train_dataset, seed=settings.seed,
                                                random_missing=settings.random_missing_training)
    if hasattr(model, "training_callbacks"):  # a method's own schedule (CyIN's stage switch)
        callbacks.extend(model.training_callbacks())
    if getattr(model, "training_partners", False):
        from .data.partners import PartnerRefreshCallback

        callbacks.append(PartnerRefreshCallback(collator, every=model.config.similarity_refresh_every))
    views = _views_for(args)
    return Trainer(
        model=model,
        args=args,
        # frame columns as zero-copy views of the Arrow memory map: the same rows, without per-row conversion
        train_dataset=views(train_dataset),
        eval_dataset=views(eval_dataset),
        data_collator=collator,
        processing_class=processor,
        compute_metrics=make_compute_metrics(metric_family),
        callbacks=callbacks,
        optimizers=(optimizer, scheduler),
    )


def _views_for(args):
    """`frame_views` in a single process. Under DDP (gloo, 2 CPU processes) a worker aborted at exit ("terminate
    called without an active exception") in about 1 run in 3 with frame views and in none of 5 without; until the
    cause is found, multi-process training reads frames through datasets' own formatting."""
    return frame_views if args.world_size == 1 else (lambda dataset: dataset)


def _strip(metrics: dict, prefix: str) -> dict:
    return {k[len(prefix) + 1 :]: v for k, v in metrics.items() if k.startswith(prefix + "_")}


def train_and_evaluate(model, processor, dataset, settings: TrainSettings, validation_split: str = "validation",
                       test_split: str | None = "test") -> tuple[Trainer, RunResult]:
    """Train with early stopping on the validation split, reload the best epoch, evaluate validation and test."""
    trainer = build_trainer(model, processor, dataset["train"], dataset[validation_split], settings)
    family = settings.metric_family or model.config.metric_family
    if "paper_selection" in settings.extra_callbacks:
        trainer.add_callback(PaperSelectionCallback(processor, dataset[test_split], family, settings.output_dir))
    if settings.corrupted_evaluation_rate is not None:
        splits = {"validation": dataset[validation_split]}
        if test_split is not None and test_split in dataset:
            splits["test"] = dataset[test_split]
        trainer.add_callback(CorruptedEvaluationCallback(processor, splits, family, settings.corrupted_evaluation_rate))
    trainer.train(resume_from_checkpoint=settings.resume_from_checkpoint)
    # the trainer's eval_dataset is the validation split, already wrapped by build_trainer
    validation = _strip(trainer.evaluate(metric_key_prefix="validation"), "validation")
    test = {}
    if test_split is not None and test_split in dataset:
        test = _strip(trainer.evaluate(_views_for(trainer.args)(dataset[test_split]), metric_key_prefix="test"),
                      "test")
    result = RunResult(settings.seed, validation, test, trainer.state.best_model_checkpoint,
                       list(trainer.state.log_history))
    return trainer, result


def summarize_runs(results: list[dict]) -> dict[str, dict[str, float]]:
    """{metric: {mean, std, n}} over runs (population std, ddof=0, as MMSA's `np.std`); NaNs are counted apart."""
    keys = sorted({k for r in results for k, v in r.items() if isinstance(v, (int, float))})
    summary = {}
    for key in keys:
        values = np.asarray([r[key] for r in results if key in r], dtype=float)
        finite = values[np.isfinite(values)]
        summary[key] = {
            "mean": float(finite.mean()) if len(finite) else math.nan,
            "std": float(finite.std()) if len(finite) else math.nan,
            "n": int(len(finite)),
            "n_nan": int(len(values) - len(finite)),
        }
    return summary


def format_summary(summary: dict[str, dict[str, float]], keys: list[str] | None = None) -> str:
    keys = keys or [k for k in summary if not k.startswith(("loss", "runtime", "samples", "steps", "epoch"))]
    return "  ".join(f"{k} {summary[k]['mean']:.4f}±{summary[k]['std']:.4f}" for k in keys if k in summary)


def run_seeds(build_model, processor, dataset, settings: TrainSettings, seeds: list[int],
              keep_checkpoints: bool = False) -> dict:
    """Train and evaluate one fresh model per seed (`build_model()` is called after seeding); return all runs and
    the mean ± std of the test (and validation) metrics."""
    from transformers import set_seed

    if isinstance(settings.resume_from_checkpoint, str) and len(seeds) > 1:
        raise ValueError("resume_from_checkpoint names one checkpoint folder but several seeds were asked for: give "
                         "True (each seed resumes from the last checkpoint in its own seed-<n> folder) or one seed")
    runs = []
    base_dir = Path(settings.output_dir)
    for seed in seeds:
        set_seed(seed)
        run_settings = TrainSettings(**{**asdict(settings), "seed": seed, "output_dir": str(base_dir / f"seed-{seed}")})
        trainer, result = train_and_evaluate(build_model(), processor, dataset, run_settings)
        runs.append(result)
        if keep_checkpoints:
            trainer.save_model(str(base_dir / f"seed-{seed}" / "best"))
        else:
            shutil.rmtree(run_settings.output_dir, ignore_errors=True)
    report = {
        "seeds": seeds,
        "runs": [{"seed": r.seed, "validation": r.validation, "test": r.test} for r in runs],
        "test": summarize_runs([r.test for r in runs]),
        "validation": summarize_runs([r.validation for r in runs]),
    }
    base_dir.mkdir(parents=True, exist_ok=True)
    (base_dir / "seeds_report.json").write_text(json.dumps(report, indent=2))
    return report


__all__ = [
    "ClipGradValueCallback",
    "CorruptedEvaluationCallback",
    "LR_SCHEDULES",
    "LossTermsCallback",
    "PaperSelectionCallback",
    "RunResult",
    "TrainSettings",
    "build_optimizer",
    "build_trainer",
    "check_extra_args",
    "format_summary",
    "greater_is_better",
    "paper_source_metric",
    "recipe_settings",
    "schedule_factor",
    "run_seeds",
    "summarize_runs",
    "train_and_evaluate",
]
