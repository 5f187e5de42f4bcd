"""Model cards rendered from results files, with huggingface_hub's card classes.

A card's numbers come from a results JSON written by a benchmark or a training run (never typed by hand): the
YAML `model-index` gets the test means, the body gets mean ± std per seed set, the data, the encoder and the seeds.
"""

import json
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

METRIC_TYPES = {"MAE": "mae", "Corr": "pearsonr", "F1_score": "f1", "Accuracy": "accuracy"}


def _metric_type(key: str) -> str:
    if key in METRIC_TYPES:
        return METRIC_TYPES[key]
    return "f1" if "F1" in key else "accuracy"


def eval_results(test_summary: dict, dataset_type: str, dataset_name: str,
                 dataset_config: str | None = None) -> list[EvalResult]:
    """`model-index` entries (test-split means) from a `summarize_runs` dict {metric: {mean, std, n}}."""
    return [
        EvalResult(task_type="text-classification", task_name="Multimodal Sentiment Analysis",
                   dataset_type=dataset_type, dataset_name=dataset_name, dataset_config=dataset_config,
                   dataset_split="test", metric_type=_metric_type(key), metric_name=key,
                   metric_value=round(stats["mean"], 4))
        for key, stats in test_summary.items()
        if stats.get("n") and not key.startswith(("loss", "runtime", "samples", "steps", "epoch"))
    ]


def _lookup(results: dict, key: str):
    """`key` names an entry of the results file; dots walk into nested entries ("datasets.mosi.models.dib")."""
    node = results
    for depth, part in enumerate(key.split(".")):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(key.split(".")[:depth]) or "the top level"
            choices = sorted(node) if isinstance(node, dict) else []
            raise KeyError(f"result key {key!r}: no {part!r} under {where} (there: {choices})")
        node = node[part]
    if not isinstance(node, dict) or "test" not in node:
        raise KeyError(f"result key {key!r} names no entry with test metrics")
    return node


def render_model_card(template_path: str | Path, results_path: str | Path, *, model_name: str, method: str,
                      dataset_type: str, dataset_name: str, dataset_config: str | None = None,
                      base_model: str | None = None, license: str = "apache-2.0", language: str = "en",
                      result_key: str = "dib", robustness_model: str | None = None,
                      extra_results: dict[str, str | Path] | None = None, **template_kwargs) -> ModelCard:
    """Fill a Jinja card template with a results JSON; the template sees `results` (the whole file) too, and each
    file of `extra_results` ({name: path}) as `extra[name]` (e.g. a training-recipe comparison beside the main run).

    With `robustness_model`, the file is a robustness report (hf_msa.robustness): the `model-index` gets that model's
    clean test metrics and the template gets `robustness_section`, rendered from the report.
    """
    results = json.loads(Path(results_path).read_text())
    template_kwargs["extra"] = {name: dict(json.loads(Path(path).read_text()), file=str(path))
                                for name, path in (extra_results or {}).items()}
    if robustness_model is not None:
        from .robustness import robustness_card_section

        clean = results["models"][robustness_model]["clean"]
        entry = {"test": {k: {"mean": v, "n": 1} for k, v in clean.items()}}
        template_kwargs["robustness_section"] = robustness_card_section(results, robustness_model)
    else:
        entry = _lookup(results, result_key)
    data = ModelCardData(
        model_name=model_name, library_name="transformers", license=license, language=language,
        tags=["multimodal-sentiment-analysis", "hf_msa", method.lower()], datasets=[dataset_type],
        metrics=["mae", "pearsonr", "accuracy", "f1"], base_model=base_model,
        eval_results=eval_results(entry["test"], dataset_type, dataset_name, dataset_config),
    )
    return ModelCard.from_template(data, template_path=str(template_path), model_name=model_name, method=method,
                                   results=results, results_file=str(results_path), **template_kwargs)


__all__ = ["eval_results", "render_model_card"]
