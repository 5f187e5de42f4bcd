"""Model cards rendered from results files, and checkpoints pushed to a Hub with their card.

A card's numbers come from a results JSON written by a benchmark or a training run (never typed by hand): the
YAML `model-index` gets the test means, the body gets mean ± std per seed set, the data, the encoder and the seeds.
`push_model` sends a saved checkpoint folder (weights, config, processor, the code it carries) and its card in one
commit, so transformers never writes its generic card in place of ours.
"""

import json
import sys
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

#: Written by `hf-msa train` beside each kept checkpoint: what the run measured, read by `checkpoint_card`.
EVAL_RESULTS_FILE = "eval_results.json"
TEMPLATES = Path(__file__).resolve().parent / "templates"
# The Hub has no task id for text regression; regression checkpoints of the GLUE STS-B kind use text-classification,
# as transformers' AutoModelForSequenceClassification (num_labels=1) does. The task *name* says which it is.
HUB_TASK = "text-classification"
# Files a Trainer checkpoint folder may hold that a published model does not need (training_args.bin is a pickle).
TRAINING_LEFTOVERS = ("training_args.bin", "optimizer.pt", "scheduler.pt", "trainer_state.json", "scaler.pt",
                      "rng_state.pth")

METRIC_TYPES = {"MAE": "mae", "Corr": "pearsonr", "F1_score": "f1", "Accuracy": "accuracy"}


def _metric_type(key: str) -> str:
    if key in METRIC_TYPES:
        return METRIC_TYPES[key]
    return "f1" if "F1" in key else "accuracy"


def eval_results(test_summary: dict, dataset_type: str, dataset_name: str,
                 dataset_config: str | None = None, task_name: str = "Multimodal Sentiment Analysis") -> list[EvalResult]:
    """`model-index` entries (test-split means) from a `summarize_runs` dict {metric: {mean, std, n}}."""
    return [
        EvalResult(task_type=HUB_TASK, task_name=task_name,
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


def base_model_of(text_encoder: str | None) -> str | None:
    """The Hub id of the pretrained text encoder a run started from (None for a random one or a local folder)."""
    if text_encoder in (None, "tiny"):
        return None
    if text_encoder == "minilm":
        return "sentence-transformers/all-MiniLM-L6-v2"
    return None if Path(text_encoder).exists() or text_encoder.count("/") != 1 else text_encoder


def method_title(model_class) -> str:
    """The first line of the method's modeling module docstring (e.g. "DIB: Robust Multimodal Sentiment ...")."""
    doc = sys.modules[model_class.__module__].__doc__ or model_class.__name__
    return doc.strip().splitlines()[0].rstrip(".")


def checkpoint_card(folder: str | Path, repo_id: str) -> ModelCard:
    """The card of a saved checkpoint: its `README.md` when it has one (e.g. from `hf-msa card`), else rendered from
    the `eval_results.json` the training run wrote beside the weights (model-index = that checkpoint's test metrics),
    else a card that says no evaluation was recorded."""
    from transformers import AutoConfig

    from . import MODEL_REGISTRY  # importing hf_msa registers the configs AutoConfig reads

    folder = Path(folder)
    if (folder / "README.md").is_file():
        return ModelCard.load(folder / "README.md")
    config = AutoConfig.from_pretrained(folder)
    model_class = MODEL_REGISTRY[config.model_type][2]
    name = repo_id.split("/")[-1]
    results_file = folder / EVAL_RESULTS_FILE
    run = json.loads(results_file.read_text()) if results_file.is_file() else None
    regression = config.problem_type == "regression"
    task_name = ("Multimodal Sentiment Regression" if regression else "Multimodal Sentiment Classification")
    data = (run or {}).get("data", {})
    modalities = data.get("modalities", [])
    text_only = bool(run) and modalities == ["text"]
    if text_only:
        task_name += " (transcripts only)"
    evals = None
    if run:
        test = {key: {"mean": value, "n": 1} for key, value in run["test"].items() if isinstance(value, (int, float))}
        evals = eval_results(test, data.get("hub_id") or data.get("name", "unknown"), data.get("pretty_name", "unknown"),
                             data.get("config"), task_name=task_name)
    tags = ["multimodal-sentiment-analysis", "hf_msa", config.model_type, "custom_code"]
    card_data = ModelCardData(
        model_name=name, library_name="transformers", pipeline_tag=HUB_TASK, license="apache-2.0",
        tags=tags, datasets=[data["hub_id"]] if data.get("hub_id") else None,
        metrics=["mae", "pearsonr", "accuracy", "f1"] if run else None,
        base_model=(run or {}).get("base_model"), eval_results=evals,
    )
    results = None
    if run:
        sizes = data.get("sizes") or {}
        results = dict(run, summary=run.get("summary") or {}, seeds=run.get("seeds") or [run.get("seed")],
                       sizes_text=" / ".join(f"{sizes[k]} {k}" for k in ("train", "validation", "test") if k in sizes)
                       or "split sizes not recorded")
    return ModelCard.from_template(
        card_data, template_path=str(TEMPLATES / "checkpoint_card.md"), model_name=name, repo_id=repo_id,
        method_title=method_title(model_class), model_class=model_class.__name__, model_type=config.model_type,
        problem_type=config.problem_type, label_range=getattr(config, "label_range", None) or (-3, 3),
        num_labels=config.num_labels, labels=[config.id2label[i] for i in sorted(config.id2label)],
        audio_dim=config.audio_dim, vision_dim=config.vision_dim, extraction=_extraction_settings_of(folder),
        results=results, data_pretty=data.get("pretty_name"), data_config=data.get("config"),
        modalities=modalities, text_only=text_only,
    )


def _extraction_settings_of(folder: Path):
    processor_file = folder / "processor_config.json"
    if not processor_file.is_file():
        return None
    return json.loads(processor_file.read_text()).get("extraction_settings")


def check_checkpoint_folder(folder: str | Path) -> list[Path]:
    """The files of a checkpoint folder to publish; refuses a folder that could not be loaded from the Hub."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder {str(folder)!r} does not exist")
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{folder}: no config.json: not a saved model (save_pretrained writes one)")
    if not any(folder.glob("*.safetensors")):
        raise FileNotFoundError(f"{folder}: no *.safetensors weights beside config.json")
    if "auto_map" not in json.loads(config_file.read_text()):
        raise ValueError(f"{folder}: config.json has no auto_map: the checkpoint was saved before checkpoints carried "
                         "their code. Load it and save it again with this hf_msa (AutoModel.from_pretrained(folder)"
                         ".save_pretrained(folder)) so it loads where hf_msa is not installed")
    if not (folder / "processor_config.json").is_file():
        raise FileNotFoundError(f"{folder}: no processor_config.json: save the model's MSAProcessor beside it "
                                "(processor.save_pretrained(folder)) so users can prepare inputs")
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and p.name not in TRAINING_LEFTOVERS and not p.name.startswith("rng_state"))


def push_model(model_dir: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None,
               token: str | None = None, commit_message: str | None = None):
    """Push a saved checkpoint folder and its card to `repo_id` (created if needed) in one commit; returns the
    `CommitInfo`. `revision` names a branch (created from main if it does not exist)."""
    from huggingface_hub import CommitOperationAdd, HfApi

    check_repo_id(repo_id)
    files = check_checkpoint_folder(model_dir)
    card = checkpoint_card(model_dir, repo_id)
    api = HfApi(token=token)
    with hub_errors(repo_id, revision):
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if revision is not None:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        operations = [CommitOperationAdd(path_in_repo=p.name, path_or_fileobj=str(p)) for p in files
                      if p.name != "README.md"]
        operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=str(card).encode()))
        return api.create_commit(repo_id, operations=operations, revision=revision,
                                 commit_message=commit_message or f"Upload {Path(model_dir).name} with hf_msa")


def check_repo_id(repo_id: str) -> None:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ValueError(f"repo id {repo_id!r} is not a Hub repo id (namespace/name, letters, digits, '-', '_', '.'): "
                         f"{error}") from None
    if "/" not in repo_id:
        raise ValueError(f"repo id {repo_id!r}: give namespace/name (a user or organisation, then the repo name)")


class hub_errors:
    """Turns the Hub client's errors into one clear `HubError` naming the repo (and what to do)."""

    def __init__(self, repo_id: str, revision: str | None = None):
        self.repo_id, self.revision = repo_id, revision

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        from huggingface_hub.errors import (HfHubHTTPError, LocalTokenNotFoundError, RepositoryNotFoundError,
                                            RevisionNotFoundError)

        if error is None:
            return False
        where = f"{self.repo_id}" + (f" at revision {self.revision!r}" if self.revision else "")
        if isinstance(error, LocalTokenNotFoundError):
            raise HubError(f"{where}: no Hub token: log in (`hf auth login`) or set HF_TOKEN") from None
        if isinstance(error, RevisionNotFoundError):
            raise HubError(f"{where}: no such revision on the Hub") from None
        if isinstance(error, RepositoryNotFoundError):
            raise HubError(f"{where}: no such repo, or it is private and no valid token was given "
                           "(`hf auth login` or HF_TOKEN)") from None
        if isinstance(error, HfHubHTTPError):
            status = getattr(error.response, "status_code", None)
            if status in (401, 403):
                raise HubError(f"{where}: the Hub refused the request ({status}): no valid token with write access "
                               "(`hf auth login` or HF_TOKEN)") from None
            raise HubError(f"{where}: {error}") from None
        return False


class HubError(OSError):
    """A Hub request that failed for a reason the user can fix (missing repo or revision, token)."""


__all__ = ["EVAL_RESULTS_FILE", "HubError", "check_checkpoint_folder", "checkpoint_card", "eval_results",
           "push_model", "render_model_card"]
