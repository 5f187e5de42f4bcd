"""The commands behind `hf-msa` (usage: `hf-msa --help`, or `hf_msa_cli.USAGE`).

The parser lives in the light `hf_msa_cli` launcher so that help and argument errors need no torch import; each
`cmd_<name>(args)` here runs one command. A mistake in what the user asked for raises `CommandError`: the launcher
prints it on one line and exits with code 2.
"""

import inspect
import json
import sys
from pathlib import Path

import numpy as np
import torch

from hf_msa_cli import CommandError
from hf_msa_cli import main as launch


def _load_data(spec: str, max_samples: int | None = None, data_dir: str | None = None,
               data_config: str | None = None):
    """'synthetic', a label.csv path, or a dataset name (cmu_mosi, ...) read from `data_dir`."""
    from .data import load_msa_dataset, load_synthetic_mosi, read_label_csv

    if spec == "synthetic":
        dataset = load_synthetic_mosi()
    elif Path(spec).is_file():
        dataset = read_label_csv(spec)
    elif data_dir is not None:
        dataset = load_msa_dataset(spec, data_dir, data_config)
    else:
        raise CommandError(f"--data {spec!r} is neither 'synthetic', a label.csv file, nor a dataset name with --data-dir")
    if max_samples:
        dataset = dataset.__class__({k: v.select(range(min(max_samples, len(v)))) for k, v in dataset.items()})
    return dataset.with_format("numpy")


def _split(dataset, name: str):
    if name not in dataset:
        raise CommandError(f"--split {name!r}: the data has splits {sorted(dataset)}")
    if len(dataset[name]) == 0:
        raise CommandError(f"--split {name!r} has no rows")
    return dataset[name]


def _registered(model_type: str):
    """(config, bare model, sentiment model) of a model type `hf-msa train` can build."""
    from . import AUTO_ONLY_MODELS, MODEL_REGISTRY

    known = {**MODEL_REGISTRY, **AUTO_ONLY_MODELS}
    if model_type not in known:
        raise CommandError(f"unknown model {model_type!r}; choose one of {sorted(known)}")
    return known[model_type]


def _with_prompts_and_targets(args, dataset):
    """--prompts adds the `prompt` column; --teacher stores a teacher's targets into the training split."""
    if args.prompts:
        from .prompts import attach_prompts

        try:
            dataset = attach_prompts(dataset, args.prompts).with_format("numpy")
        except (FileNotFoundError, ValueError) as error:
            raise CommandError(f"--prompts: {error}") from None
    if args.teacher:
        import hf_msa  # noqa: F401  (registers the Auto classes)
        from transformers import AutoModel, AutoProcessor

        from .distillation import add_teacher_targets

        teacher = AutoModel.from_pretrained(args.teacher).eval()
        if "prompt_input_ids" in inspect.signature(teacher.forward).parameters and not args.prompts:
            raise CommandError(f"--teacher {args.teacher} reads a prompt per clip: give --prompts DIR too")
        train = add_teacher_targets(teacher, AutoProcessor.from_pretrained(args.teacher), dataset["train"])
        dataset = dataset.__class__(dict(dataset, train=train))
        print(f"teacher targets of {args.teacher} (eval mode) stored into the {len(train)} training rows")
    return dataset


def _build(model_type: str, preset: str, text_encoder: str, overrides: dict):
    """A fresh model (pretrained text encoder when there is one) and a matching processor."""
    from transformers import AutoTokenizer

    from . import MSAFeatureExtractor, MSAProcessor
    from .text_encoders import TINY_BERT, resolve_text_encoder

    config_class, _, model_class = _registered(model_type)
    weights, tokenizer_name = resolve_text_encoder(text_encoder)
    config = config_class.from_preset(preset, **overrides)
    if weights is None:
        config = config_class.from_preset(preset, text_config=TINY_BERT, **overrides)
        build = lambda: model_class(config)  # noqa: E731
    else:
        build = lambda: model_class.from_text_pretrained(weights, config=config)  # noqa: E731
    processor = MSAProcessor(MSAFeatureExtractor.from_model_config(config), AutoTokenizer.from_pretrained(tokenizer_name),
                             max_text_length=config.text_max_length)
    return build, processor


def predict(model, processor, dataset, batch_size: int = 64, drop_modalities: tuple[str, ...] = ()) -> np.ndarray:
    """Model predictions over a dataset split (eval mode, no gradient); `drop_modalities` are fed as missing."""
    from .data import MSADataCollator

    collator = MSADataCollator(processor, problem_type=model.config.problem_type,
                               padding=getattr(model.config, "input_padding", "longest"))
    model.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            rows = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
            batch = collator(rows)
            batch.pop("labels", None)
            for name in drop_modalities:
                batch[f"{name}_attention_mask"] = torch.zeros_like(batch[f"{name}_attention_mask"])
            outputs.append(model(**batch).logits.float().numpy())
    return np.concatenate(outputs)


def _print_metrics(title: str, metrics: dict) -> None:
    print(f"\n{title}")
    for key, value in metrics.items():
        print(f"  {key:<16} {value:.4f}")


# Scores live on a [-3, 3] scale: rounding differences between processes are ~1e-8, a real loss of state
# (an unsaved head or buffer, dropout left on) moves predictions by 1e-2 or more.
RELOAD_TOLERANCE = 1e-5


def cmd_demo(args) -> None:
    from transformers import AutoModel, AutoProcessor, set_seed

    from .metrics import msa_metrics
    from .training import TrainSettings, train_and_evaluate

    set_seed(args.seed)
    print("[1/5] embedded synthetic MOSI-schema data (800 / 200 / 200 clips; sentiment spread over text, audio, vision)")
    dataset = _load_data("synthetic")
    print(f"[2/5] DIB with the {args.text_encoder} text encoder")
    overrides = dict(audio_max_length=60, vision_max_length=60, text_max_length=32)
    build, processor = _build("dib", "mosi", args.text_encoder, overrides)
    model = build()
    settings = TrainSettings(output_dir=str(Path(args.output_dir) / "checkpoints"), num_train_epochs=args.epochs,
                             learning_rate=args.lr, text_learning_rate=args.text_lr, seed=args.seed,
                             early_stopping_patience=None)
    print(f"[3/5] training {args.epochs} epochs with the stock transformers.Trainer (best epoch by validation MAE)")
    trainer, result = train_and_evaluate(model, processor, dataset, settings)
    model = trainer.model
    save_dir = Path(args.output_dir) / "dib-synthetic"
    model.save_pretrained(save_dir)
    processor.save_pretrained(save_dir)
    print(f"[4/5] saved to {save_dir}; reloading with AutoModel.from_pretrained / AutoProcessor.from_pretrained")
    reloaded = AutoModel.from_pretrained(save_dir)
    reloaded_processor = AutoProcessor.from_pretrained(save_dir)
    test = dataset["test"]
    before = predict(model, processor, test)
    after = predict(reloaded, reloaded_processor, test)
    difference = float(np.abs(before - after).max())
    labels = np.asarray(test["label"])
    text_only = predict(reloaded, reloaded_processor, test, drop_modalities=("audio", "vision"))
    same = difference <= RELOAD_TOLERANCE
    print(f"[5/5] reloaded {type(reloaded).__name__}: max |prediction difference| = {difference:.3g} over "
          f"{len(test)} test clips ({'the same' if same else 'NOT the same'} within {RELOAD_TOLERANCE:g}: "
          "floating-point rounding may differ between processes and kernels; a lost weight, buffer or head would not)")
    _print_metrics("Test metrics (MMSA definitions), all modalities:", msa_metrics(after, labels, "mosi"))
    _print_metrics("Same model, audio and vision fed as missing:", msa_metrics(text_only, labels, "mosi"))
    summary = {"test": result.test, "validation": result.validation, "reload_max_abs_difference": difference}
    (Path(args.output_dir) / "demo_metrics.json").write_text(json.dumps(summary, indent=2))
    if not same:
        raise SystemExit(f"reloaded model does not reproduce the saved model's predictions (max difference "
                         f"{difference:.3g} > {RELOAD_TOLERANCE:g})")


# `hf-msa train` without --recipe: the defaults of the command (a short fine-tuning budget, not a paper's recipe)
CLI_TRAIN_DEFAULTS = dict(num_train_epochs=10, per_device_train_batch_size=32, learning_rate=1e-3,
                          text_learning_rate=5e-5, early_stopping_patience=8)


def cmd_train(args) -> None:
    from .processing.processing_msa import check_extraction_settings
    from .training import format_summary, recipe_settings, run_seeds

    dataset = _with_prompts_and_targets(args, _load_data(args.data, args.max_samples, args.data_dir, args.data_config))
    overrides = args.config_overrides or {}  # a JSON object, checked by the launcher
    build, processor = _build(args.model, args.preset, args.text_encoder, overrides)
    settings_file = Path(args.data_dir, "extraction_settings.json") if args.data_dir else None
    if settings_file is not None and settings_file.is_file():  # features from `hf-msa extract`: clips at
        # prediction time must be featurised the same way, so the processor (and the checkpoint) carries the settings
        processor.extraction_settings = check_extraction_settings(
            json.loads(settings_file.read_text()).get("request"))
        print(f"extraction settings from {settings_file} travel with the checkpoint's processor")
    given = {"num_train_epochs": args.epochs, "per_device_train_batch_size": args.batch_size,
             "learning_rate": args.lr, "text_learning_rate": args.text_lr}
    given = {key: value for key, value in given.items() if value is not None}  # flags given explicitly
    if args.patience is not None:
        given["early_stopping_patience"] = args.patience or None
    if args.random_missing is not None:
        given["random_missing_training"] = args.random_missing
    passed = {"report_to": args.report_to, "save_total_limit": args.save_total_limit,
              "resume_from_checkpoint": True if args.resume_from_checkpoint == "last" else args.resume_from_checkpoint}
    given.update({key: value for key, value in passed.items() if value is not None})
    if args.bf16:
        given["bf16"] = True
    if args.gradient_checkpointing:
        given["gradient_checkpointing"] = True
    values = {**CLI_TRAIN_DEFAULTS, **given} if args.recipe == "default" else given
    try:
        settings = recipe_settings(_registered(args.model)[2], args.recipe, output_dir=args.output_dir,
                                   metric_for_best_model=args.metric, gradient_accumulation_steps=args.grad_accum,
                                   extra_args=args.training_args or {}, **values)  # TrainSettings checks them
    except ValueError as error:
        raise CommandError(str(error)) from None
    print(f"recipe: {settings.recipe} (epochs {settings.num_train_epochs:g}, batch {settings.per_device_train_batch_size}, "
          f"lr {settings.learning_rate:g}, text lr {settings.text_learning_rate or settings.learning_rate:g}, "
          f"schedule {settings.lr_schedule}, training corruption "
          f"{'model default' if settings.random_missing_training is None else settings.random_missing_training})")
    if args.paper_selection:
        print("WARNING: --paper-selection keeps per-metric checkpoints chosen on the TEST split at missing rate 0.5 "
              "(LNLN's paper protocol); numbers from them are optimistic. The default selection stays on validation.")
        settings.extra_callbacks = ("paper_selection",)
    report = run_seeds(build, processor, dataset, settings, args.seeds, keep_checkpoints=True)
    processor.save_pretrained(Path(args.output_dir))
    best = _write_eval_results(args, dataset, report)
    print(f"\n{len(args.seeds)} seed(s); test mean ± std:\n  {format_summary(report['test'])}")
    print(f"report: {Path(args.output_dir) / 'seeds_report.json'}; best model per seed: {args.output_dir}/seed-*/best "
          f"(each with eval_results.json); best seed by validation {args.metric}: {best}")
    if args.push_to_hub:
        from .hub import push_model

        commit = push_model(best, args.push_to_hub, private=args.hub_private, revision=args.hub_revision)
        print(f"pushed {best} to {args.push_to_hub}: {commit.commit_url}")


def _data_description(args, dataset) -> dict:
    """What the run trained and measured on, for eval_results.json and the card: name, config, the modalities the
    rows really carry (a transcripts-only config has no audio or vision), split sizes."""
    from .data.catalog import DATASETS

    if args.data == "synthetic":
        described = dict(name="synthetic", pretty_name="synthetic MOSI-schema data embedded in hf_msa", hub_id=None)
    elif args.data in DATASETS:
        spec = DATASETS[args.data]
        described = dict(name=args.data, pretty_name=spec.pretty_name, config=args.data_config or spec.default_config,
                         hub_id="hf-msa/" + args.data.replace("_", "-"))
    else:
        described = dict(name=Path(args.data).name, pretty_name=f"MMSA label.csv ({Path(args.data).name})", hub_id=None)
    modalities = ["text"]
    for modality in ("audio", "vision"):
        if any(modality in split.column_names and any(len(v) for v in split[modality]) for split in dataset.values()):
            modalities.append(modality)
    return dict(described, modalities=modalities, sizes={name: len(split) for name, split in dataset.items()})


def _write_eval_results(args, dataset, report) -> Path:
    """eval_results.json beside each seed's best checkpoint (the evidence its card is rendered from); returns the
    best seed's checkpoint folder by the validation metric the run selected on."""
    from .hub import EVAL_RESULTS_FILE, base_model_of
    from .training import greater_is_better

    data = _data_description(args, dataset)
    key = args.metric
    runs = report["runs"]
    scored = [r for r in runs if isinstance(r["validation"].get(key), (int, float))]
    if scored:
        chosen = (max if greater_is_better(key) else min)(scored, key=lambda r: r["validation"][key])
    else:
        chosen = runs[0]
    for run in runs:
        folder = Path(args.output_dir) / f"seed-{run['seed']}" / "best"
        results = dict(model_type=args.model, data=data, text_encoder=args.text_encoder,
                       base_model=base_model_of(args.text_encoder), metric=key, seed=run["seed"],
                       seeds=report["seeds"], validation=run["validation"], test=run["test"], summary=report["test"])
        (folder / EVAL_RESULTS_FILE).write_text(json.dumps(results, indent=2))
    return Path(args.output_dir) / f"seed-{chosen['seed']}" / "best"


def cmd_push(args) -> None:
    from .hub import push_model

    commit = push_model(args.model_dir, args.repo_id, private=args.private, revision=args.revision,
                        commit_message=args.commit_message)
    print(f"pushed {args.model_dir} to {args.repo_id}" + (f" (branch {args.revision})" if args.revision else "")
          + f": {commit.commit_url}")


def cmd_evaluate(args) -> None:
    import hf_msa  # noqa: F401  (registers the Auto classes)
    from transformers import AutoModel, AutoProcessor

    from .metrics import msa_metrics

    model = AutoModel.from_pretrained(args.model, revision=args.revision)
    processor = AutoProcessor.from_pretrained(args.model, revision=args.revision)
    split = _split(_load_data(args.data, None, args.data_dir, args.data_config), args.split)
    predictions = predict(model, processor, split)
    metrics = msa_metrics(predictions, np.asarray(split["label"]), model.config.metric_family)
    _print_metrics(f"{args.model} on {args.data} [{args.split}]", metrics)


def cmd_data(args) -> None:
    from .data import dataset_card_path, dataset_sizes, dataset_spec, export_dataset, load_msa_dataset, push_dataset
    from .data.publish import hub_token
    from .hub import HubError

    try:
        spec = dataset_spec(args.name)
        if args.action == "push":
            hub_token(args.repo_id, args.token)  # before reading any file
    except (HubError, ValueError) as error:
        raise CommandError(str(error)) from None
    config = args.config or spec.default_config
    dataset = load_msa_dataset(spec.name, args.data_dir, config, cache_dir=args.cache_dir)
    print(f"{spec.pretty_name} [{config}]: {dataset_sizes(dataset)}")
    if not sum(dataset_sizes(dataset).values()):
        raise CommandError(f"{args.data_dir}: {spec.name} [{config}] has no rows; nothing to export")
    print(f"features: {next(iter(dataset.values())).features}")
    if args.action in ("export", "convert"):
        card = args.card or dataset_card_path(spec.name)  # the installed card, not one under the current directory
        output = export_dataset(dataset, spec.name, config, args.output, card=card)
        print(f"Parquet + card written to {output} (card: {card}); publish with `hf-msa data push {spec.name} "
              f"--data-dir {args.data_dir} --config {config} --repo-id ORG/NAME`")
    if args.action == "push":
        try:
            result = push_dataset(dataset, spec.name, config, args.repo_id, private=args.private,
                                  revision=args.revision, token=args.token, max_shard_size=args.max_shard_size)
        except (HubError, ValueError) as error:
            raise CommandError(str(error)) from None
        print(f"pushed {spec.pretty_name} [{config}] to {result.repo_url}"
              + (f" (branch {args.revision})" if args.revision else "") + f": {result.commit_url}")
        print(f"rows on the repo per split: {result.rows}; Parquet shards: {result.shards}")
        print(f'read it back with datasets.load_dataset("{result.repo_id}", "{config}")')
        if not args.private:
            print("note: the dataset card asks that repos built from these files stay private unless the owners "
                  "allow redistribution (--private; an existing repo keeps its visibility)")


def cmd_robustness(args) -> None:
    import hf_msa  # noqa: F401  (registers the Auto classes)
    from transformers import AutoModel, AutoProcessor

    from .robustness import RobustnessSettings, robustness_card_section, run_robustness

    if args.model_group and args.model:
        raise CommandError("--model (averaged over mask seeds) and --model-group (averaged over models at one mask seed) "
                         "average differently: run them separately")
    if not args.model and not args.model_group:
        raise CommandError("give --model DIR (repeatable) or --model-group DIR DIR ...")
    models = {}
    for path in args.model or []:
        models[Path(path).name] = (AutoModel.from_pretrained(path, revision=args.revision),
                                   AutoProcessor.from_pretrained(path, revision=args.revision))
    if args.model_group:
        # LNLN's paper protocol: models trained with seeds 1111-1113, one fixed mask seed, metrics averaged over them
        group = [AutoModel.from_pretrained(path, revision=args.revision) for path in args.model_group]
        models[args.group_name] = (group, AutoProcessor.from_pretrained(args.model_group[0], revision=args.revision))
    first = next(iter(models.values()))[0]
    family = (first[0] if isinstance(first, list) else first).config.metric_family
    split = _split(_load_data(args.data, None, args.data_dir, args.data_config), args.split)
    if args.max_samples:
        split = split.select(range(min(args.max_samples, len(split))))
    if args.prompts:
        from .prompts import attach_prompts

        try:
            split = attach_prompts(split, args.prompts)
        except (FileNotFoundError, ValueError) as error:
            raise CommandError(f"--prompts: {error}") from None
    members = [m for entry, _ in models.values() for m in (entry if isinstance(entry, list) else [entry])]
    if any("prompt_input_ids" in inspect.signature(m.forward).parameters for m in members) \
            and "prompt" not in split.column_names:
        raise CommandError("a model here reads a context prompt per clip (MMSLF's teacher): give --prompts DIR "
                           "(from `hf-msa prompts generate`)")
    settings = RobustnessSettings(missing_rates=tuple(args.rates), modality_missing_rates=tuple(args.modality_rates),
                                  instance_missing_probabilities=tuple(args.instance_rates),
                                  seeds=tuple(args.seeds), snr_db=tuple(args.snr),
                                  selection=args.selection, mask_seed=args.mask_seed,
                                  averaging="model_seeds" if args.model_group else "mask_seeds")
    report = run_robustness(models, split, family, settings, args.output_dir, split=args.split)
    for name in models:
        print(robustness_card_section(report, name))
    print(f"report and plots in {args.output_dir}")


def _domain_data(spec: str, data_dir: str | None):
    """`synthetic-K`: the K-th style of `load_synthetic_domains` (a fixture); anything else as `--data` reads it."""
    if spec.startswith("synthetic-") and spec.split("-", 1)[1].isdigit():
        from .data import load_synthetic_domains

        k = int(spec.split("-", 1)[1])
        return load_synthetic_domains(k + 1, {"train": 160, "validation": 40, "test": 80})[f"domain{k}"]
    return _load_data(spec, None, data_dir)


def cmd_generalize(args) -> None:
    from .generalization import GeneralizationSettings, generalization_card_section, run_generalization
    from .training import TrainSettings

    datasets = {}
    for item in args.data:
        name, sep, spec = item.partition("=")
        if not sep or not name or not spec:
            raise CommandError(f"--data takes NAME=SPEC (e.g. mosi=path/to/label.csv or mosei=synthetic-1), got "
                               f"{item!r}")
        datasets[name] = _domain_data(spec, args.data_dir)
    if len(datasets) < 2:
        raise CommandError(f"generalize needs at least two --data NAME=SPEC datasets, got {sorted(datasets)}")
    overrides = args.config_overrides or {}
    config_class = _registered(args.model)[0]

    def build(family, dims, num_domains):  # the family's preset, the padded feature dims, one adapter per source
        values = dict(overrides)
        values.update({f"{m}_dim": dim for m, dim in dims.items() if dim})
        if "num_domains" in config_class.field_names():
            values.setdefault("num_domains", num_domains)
        make, processor = _build(args.model, family, args.text_encoder, values)
        return make(), processor

    settings = TrainSettings(output_dir=args.output_dir, num_train_epochs=args.epochs,
                             per_device_train_batch_size=args.batch_size, learning_rate=args.lr,
                             text_learning_rate=args.text_lr, early_stopping_patience=None, disable_tqdm=True,
                             seed=args.seed, logging_steps=20)
    try:
        plan = GeneralizationSettings(pairs=args.pairs, targets=tuple(args.targets) if args.targets else None)
        report = run_generalization(build, datasets, settings, plan, args.output_dir, model_name=args.model)
    except ValueError as error:
        raise CommandError(str(error)) from None
    print(generalization_card_section(report))
    print(f"report and plot in {args.output_dir}")


def cmd_prompts(args) -> None:
    from .prompts import PromptSettings, generate_prompts, load_prompt_lm, prompt_lengths

    if args.action == "stats":
        print(json.dumps(prompt_lengths(args.output), indent=2))
        return
    if args.data is None:
        raise CommandError("prompts generate needs --data (a label.csv, 'synthetic', or a dataset name)")
    dataset = _load_data(args.data, data_dir=args.data_dir, data_config=args.data_config).with_format(None)
    splits = {name: _split(dataset, name) for name in args.splits}
    try:
        settings = PromptSettings(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                                  no_repeat_ngram_size=args.no_repeat_ngram_size,
                                  repetition_penalty=args.repetition_penalty)
    except ValueError as error:
        raise CommandError(str(error)) from None
    model, tokenizer, name = load_prompt_lm(args.lm)
    counts = generate_prompts(splits, model, tokenizer, args.output, settings, generator_name=name, limit=args.limit)
    print(f"{counts['written']} prompts written, {counts['total']} in {args.output}, {counts['remaining']} to go")


def cmd_bench(args) -> None:
    import subprocess

    root = Path(__file__).resolve().parents[1]
    if not (root / "benchmarks" / "__main__.py").is_file():
        raise SystemExit("the benchmarks live in the hf_msa repository (benchmarks/); run from a checkout of it")
    raise SystemExit(subprocess.run([sys.executable, "-m", "benchmarks", *args.arguments], cwd=root).returncode)


def _name_and_path(item: str) -> tuple[str, str]:
    name, sep, path = item.partition("=")
    if not sep or not name or not Path(path).is_file():
        raise CommandError(f"--extra-results takes NAME=PATH of an existing results file, got {item!r}")
    return name, path


def cmd_card(args) -> None:
    from .hub import render_model_card

    card = render_model_card(
        args.template, args.results, model_name=args.model_name, method=args.method,
        dataset_type=args.dataset_type, dataset_name=args.dataset_name, dataset_config=args.dataset_config,
        base_model=args.base_model, repo_id=args.repo_id, evaluation_note=args.note,
        result_key=args.result_key, robustness_model=args.robustness_model,
        extra_results=dict(_name_and_path(item) for item in args.extra_results or []),
    )
    card.save(args.output)
    print(f"model card written to {args.output}")


def _extraction_settings(args):
    from .features import ExtractionSettings

    return ExtractionSettings(audio=args.audio, audio_model=args.audio_model, audio_feature_set=args.feature_set,
                              audio_frame_rate=args.audio_rate, vision=args.vision, vision_fps=args.vision_fps,
                              refine_landmarks=args.refine_landmarks, head_pose=args.head_pose,
                              transcribe=not args.no_transcribe,
                              asr_model=args.asr_model, asr_language=args.language, missing=args.missing)


def _read_clip_list(args) -> list:
    """Paths from the command line, or rows of a CSV with columns video/audio/text/id (any subset)."""
    import csv

    items = [Path(p) for p in args.inputs]  # paths, never transcripts (the pipeline reads a plain string as text)
    if args.manifest:
        with open(args.manifest, newline="", encoding="utf-8") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                clip = {k: v for k, v in row.items() if k in ("video", "audio", "text", "id") and v}
                if "video" not in clip and "audio" not in clip:
                    raise CommandError(f"{args.manifest}:{number}: a row needs a video or an audio path")
                items.append(clip)
    if not items:
        raise CommandError("give clip paths or --manifest clips.csv")
    return items


def cmd_extract(args) -> None:
    from .features import ClipFeatureExtractor, extract_clips, save_features

    extractor = ClipFeatureExtractor(_extraction_settings(args))
    dataset = extract_clips(_read_clip_list(args), extractor)
    target = save_features(dataset, args.output, extractor.settings, format=args.format, split=args.split)
    print(f"{len(dataset)} clips -> {target} (settings in {Path(args.output) / 'extraction_settings.json'})")
    for row in dataset.select_columns(["id", "modalities"]):
        print(f"  {row['id']}: {row['modalities']}")


def cmd_predict(args) -> None:
    from .features import ClipFeatureExtractor
    from .pipelines import pipeline

    extractor = None if args.use_model_settings else ClipFeatureExtractor(_extraction_settings(args))
    sentiment = pipeline(model=args.model, feature_extractor=extractor, revision=args.revision)
    for item in _read_clip_list(args):
        print(json.dumps(sentiment(item)))


def cmd_convert_whisper(args) -> None:
    from .features.whisper_ct2 import convert_source

    print(f"converted to {convert_source(args.source, args.output)}")


def main(argv: list[str] | None = None) -> None:
    """`hf-msa` (kept here for `python -m hf_msa.cli`; the parser lives in the light `hf_msa_cli` launcher)."""
    launch(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
