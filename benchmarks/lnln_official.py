"""LNLN: the hf_msa port against the official implementation, same weights, same inputs, one process, interleaved.

The official code and its harness live in ../shared/official/lnln (MIT, unedited; never copied here). This
benchmark builds the official model with the harness (`run_official.load_args`, `build_model`, `make_inputs`: MOSI
shapes, the official random-missing corruption), converts its weights into `LnlnForSentimentAnalysis` with our
converter, and times, alternating official and port call by call on 2 threads: the training step (forward with the
complete and corrupted inputs + the whole objective + backward + AdamW step + zero_grad, as the official train.py)
and inference (no_grad forward on the corrupted inputs, as the official evaluate()). Both objectives are computed
once first in eval mode (the text encoder's dropout off) and reported side by side: the same weights on the same
inputs must give the same value.

    pip install einops                    # the official code imports it
    .venv/bin/python -m benchmarks lnln_official [--batch 16] [--repeats 5] [--official ../shared/official/lnln]
"""

import argparse
import random
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from .side_by_side import time_side_by_side

DEFAULT_OFFICIAL = Path(__file__).resolve().parents[2] / "shared" / "official" / "lnln"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--official", default=str(DEFAULT_OFFICIAL), help="folder of run_official.py")


def _official(folder: Path):
    if not (folder / "run_official.py").is_file():
        raise SystemExit(f"{folder}: no run_official.py (the official LNLN harness); pass --official DIR")
    sys.path.insert(0, str(folder))
    import run_official  # noqa: E402  (puts the official code on sys.path, imports it unmodified)

    return run_official


def run(batch: int = 16, repeats: int = 5, warmup: int = 1, official_dir: str = str(DEFAULT_OFFICIAL)) -> dict:
    from hf_msa.models.lnln.convert_lnln_original_to_hf import config_from_original, convert
    from hf_msa.text_encoders import minilm_path

    harness = _official(Path(official_dir))
    warnings.filterwarnings("ignore", message="Using a target size .* that is different to the input size")
    args, overrides = harness.load_args(minilm_path())
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    official = harness.build_model(args)
    loss_fn = harness.MultimodalLoss(args)
    lr, decay = args["base"]["lr"], args["base"]["weight_decay"]
    state = {k: v.detach().clone() for k, v in official.state_dict().items()}
    port, dropped = convert(state, config_from_original(state))
    x, label = harness.make_inputs(batch, official.bertmodel.model.config.vocab_size, seed=0,
                                   missing_seed=args["base"]["seed"])
    complete = (x["vision"], x["audio"], x["language"])
    incomplete = (x["vision_m"], x["audio_m"], x["language_m"])
    corrupted = dict(input_ids=x["language_m"][:, 0].long(), attention_mask=x["language_m"][:, 1].long(),
                     token_type_ids=x["language_m"][:, 2].long(), audio_features=x["audio_m"],
                     vision_features=x["vision_m"])
    training = dict(corrupted, labels=label["sentiment_labels"][:, 0],
                    text_missing_rate=1 - label["completeness_labels"].reshape(-1),
                    complete_input_ids=x["language"][:, 0].long(), complete_audio_features=x["audio"],
                    complete_vision_features=x["vision"])
    official_optimizer = torch.optim.AdamW(official.parameters(), lr=lr, weight_decay=decay)
    port_optimizer = torch.optim.AdamW(port.parameters(), lr=lr, weight_decay=decay)

    def official_step():
        loss = loss_fn(official(complete, incomplete), label)["loss"]
        loss.backward()
        official_optimizer.step()
        official_optimizer.zero_grad()
        return loss.detach()

    def port_step():
        loss = port(**training).loss
        loss.backward()
        port_optimizer.step()
        port_optimizer.zero_grad()
        return loss.detach()

    def official_infer():
        with torch.no_grad():
            return official((None, None, None), incomplete)

    def port_infer():
        with torch.no_grad():
            return port(**corrupted).logits

    # the same weights on the same inputs give the same objective (eval mode: the text encoder's dropout is off)
    official.eval(), port.eval()
    with torch.no_grad():
        same_objective = {"official": float(loss_fn(official(complete, incomplete), label)["loss"]),
                          "port": float(port(**training).loss)}
    official.train(), port.train()
    timing = time_side_by_side((official, port), (official_step, port_step), (official_infer, port_infer),
                               warmup, repeats)
    return {
        "batch": batch, "repeats": repeats, "warmup": warmup, "official_dir": official_dir,
        "official_commit": harness.OFFICIAL_COMMIT, "config_overrides": overrides,
        "converted_tensors_dropped": dropped, "objective_before_training_eval_mode": same_objective,
        **timing,
    }


def main(args) -> dict:
    torch.set_num_threads(args.threads)
    return {"threads": args.threads, **run(args.batch, args.repeats, args.warmup, args.official)}
