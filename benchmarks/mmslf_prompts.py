"""MMSLF's context prompts for the real CMU-MOSI transcripts (../shared/data/mosi/label.csv), written by the packaged
SmolLM2-135M-Instruct (`hf-msa prompts generate`): throughput on this machine, the length distribution and examples.

    .venv/bin/python -m benchmarks mmslf_prompts [--limit N] [--batch-size 8] [--max-new-tokens 96]
        [--no-repeat-ngram-size 4] [--repetition-penalty 1.0] [--work-dir runs/mmslf_prompts]

The prompts go to runs/mmslf_prompts/ (resumable: a rerun continues where the last stopped; throughput is measured
over the clips written in this run only; other decoding settings need another --work-dir). Writes
benchmarks/results/mmslf_prompts.json, with how many training prompts repeat their request's label line or label value.
"""

import argparse
import json
import time
from pathlib import Path

from hf_msa.data import read_label_csv
from hf_msa.prompts import PromptSettings, generate_prompts, load_prompt_lm, prompt_lengths, read_prompts

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mosi" / "label.csv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=None, help="at most this many new clips in this run")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--no-repeat-ngram-size", type=int, default=4)
    parser.add_argument("--repetition-penalty", type=float, default=1.0)
    parser.add_argument("--work-dir", default="runs/mmslf_prompts")


def label_echoes(splits: dict, prompts: dict) -> dict:
    """How many training prompts copy the request's label line, or state the label's value ("+2.4")."""
    train = [(str(row["id"]), float(row["label"])) for row in splits.get("train", [])]
    written = [(clip, label) for clip, label in train if clip in prompts]
    return {"training_prompts": len(written),
            "with_label_line": sum("Sentiment label (from" in prompts[clip] for clip, _ in written),
            "with_label_value": sum(f"{label:+.1f}" in prompts[clip] for clip, label in written)}


def run(limit=None, batch_size: int = 8, max_new_tokens: int = 96, no_repeat_ngram_size: int = 4,
        repetition_penalty: float = 1.0, work_dir: str = "runs/mmslf_prompts") -> dict:
    import torch

    if not DATA.is_file():
        raise SystemExit(f"{DATA} not found (../shared/data beside the repository)")
    splits = dict(read_label_csv(DATA))
    started = time.perf_counter()
    model, tokenizer, name = load_prompt_lm("smollm2")
    load_seconds = time.perf_counter() - started
    settings = PromptSettings(max_new_tokens=max_new_tokens, batch_size=batch_size,
                              no_repeat_ngram_size=no_repeat_ngram_size, repetition_penalty=repetition_penalty)
    started = time.perf_counter()
    counts = generate_prompts(splits, model, tokenizer, work_dir, settings, generator_name=name, limit=limit)
    seconds = time.perf_counter() - started
    prompts = read_prompts(work_dir)
    rows = {str(r["id"]): (split, r) for split, data in splits.items() for r in data}
    examples = []
    for wanted in ("train", "train", "test", "test"):
        for clip, (split, row) in rows.items():
            if split == wanted and clip in prompts and clip not in {e["id"] for e in examples}:
                examples.append({"id": clip, "split": split, "label": round(float(row["label"]), 2),
                                 "transcript": row["text"], "prompt": prompts[clip]})
                break
    return {"data": str(DATA), "generator": name, "settings": json.loads(json.dumps(settings.__dict__)),
            "threads": torch.get_num_threads(), "load_seconds": round(load_seconds, 1), **counts,
            "seconds_this_run": round(seconds, 1),
            "clips_per_second": round(counts["written"] / seconds, 3) if counts["written"] else None,
            "lengths_words": prompt_lengths(work_dir), "lengths_tokens_smollm2": prompt_lengths(work_dir, tokenizer),
            "label_echoes": label_echoes(splits, prompts), "examples": examples}


def main(args) -> dict:
    return run(args.limit, args.batch_size, args.max_new_tokens, args.no_repeat_ngram_size, args.repetition_penalty,
               args.work_dir)


__all__ = ["add_arguments", "label_echoes", "main", "run"]
