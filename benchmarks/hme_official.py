"""HME: the hf_msa port against the official implementation, same weights, same inputs, one process, interleaved.

The official code and its harness live in ../shared/official/hme (MIT, unedited; never copied here). This benchmark
builds the official model as that harness does (the README's MOSI arguments run through the official argparse block,
MiniLM as the text encoder, the transformers-5 shims, the 4.30 AdamW), converts its weights into
`HmeForSentimentAnalysis` with our converter, and times on 2 threads, alternating official and port call by call:

* the training step as the official `train_epoch`: forward + L1 task + 0.8 x unimodal L1 + 0.01 x KL, zero_grad,
  backward, `clip_grad_value_(0.8)`, AdamW (official parameter groups, lr 2e-5, wd 1e-4 except bias/LayerNorm).
  The official side keeps its AdamW (a Python loop over 1,100 tensors); the port uses torch's fused AdamW, the
  stock Trainer's default (`optim="adamw_torch_fused"`), with the same groups and values. Clipping is
  `clip_grad_value_(0.8)` on both, as the official calls it. Each step's phases are timed too;
* inference as the official `test_epoch`: eval mode, no_grad, the VIBs still sampling (both sides).

Both get the official aligned-MOSI inputs (length 50, `ps` from the official `generate_missing_matrix` at MR 0.2).
Before timing, both are run once in eval mode from the same seed: the VIB noise is the only randomness left, and the
two draw it from the global generator in the same order, so the same weights must give the same outputs.

    pip install einops scikit-learn        # the official code imports them
    .venv/bin/python -m benchmarks hme_official [--batch 32] [--repeats 5] [--official ../shared/official/hme]
"""

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

from .side_by_side import time_side_by_side

DEFAULT_OFFICIAL = Path(__file__).resolve().parents[2] / "shared" / "official" / "hme"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--official", default=str(DEFAULT_OFFICIAL), help="folder of run_official.py")


def _official(folder: Path):
    if not (folder / "run_official.py").is_file():
        raise SystemExit(f"{folder}: no run_official.py (the official HME harness); pass --official DIR")
    sys.path.insert(0, str(folder))
    import run_official  # noqa: E402  (puts the official code on sys.path, imports it unmodified)

    return run_official


def _build_official(harness, bert_dir: str, seed: int):
    """The official HME as run_official.main builds it: README MOSI arguments, TEXT_DIM = the encoder's width."""
    from transformers import BertConfig

    harness.apply_transformers5_shims()
    adamw, adamw_source = harness.official_adamw()
    args, _ = harness.official_args(harness.readme_mosi_argv())
    bert_config = BertConfig.from_pretrained(bert_dir, num_labels=1, attn_implementation="sdpa")
    overrides = {}
    if args.TEXT_DIM != bert_config.hidden_size:
        overrides["TEXT_DIM"] = {"official": args.TEXT_DIM, "used": bert_config.hidden_size}
        args.TEXT_DIM = bert_config.hidden_size
    torch.manual_seed(seed)
    model = harness.HME(bert_config, args)
    harness.load_bert_weights(model.bert, bert_dir)
    return model, args, bert_config, adamw, adamw_source, overrides


def run(batch: int = 32, repeats: int = 5, warmup: int = 2, official_dir: str = str(DEFAULT_OFFICIAL)) -> dict:
    from hf_msa.models.hme.convert_hme_original_to_hf import config_from_original, convert
    from hf_msa.text_encoders import minilm_path

    if batch < 2:
        raise SystemExit("batch must be >= 2: the official forward crashes at batch 1")
    harness = _official(Path(official_dir))
    warnings.filterwarnings("ignore", message="enable_nested_tensor is True")
    official, args, bert_config, official_adamw, adamw_source, overrides = _build_official(harness, str(minilm_path()),
                                                                                           seed=0)
    state = {k: v.detach().clone() for k, v in official.state_dict().items()}
    port, dropped = convert(state, config_from_original(state, "mosi", num_heads=args.num_heads,
                                                        text_num_heads=bert_config.num_attention_heads))
    x = harness.make_inputs(batch, bert_config.vocab_size, args, seed=0)
    official_call = (x["input_ids"], x["visual"], x["acoustic"], x["ps"])
    official_kwargs = dict(token_type_ids=x["token_type_ids"], attention_mask=x["attention_mask"])
    port_inputs = dict(input_ids=x["input_ids"], attention_mask=x["attention_mask"],
                       token_type_ids=x["token_type_ids"], audio_features=x["acoustic"],
                       vision_features=x["visual"], modality_mask=x["ps"])
    labels = x["label_ids"]
    l1 = torch.nn.L1Loss()

    def official_objective(outputs):
        unimodal = sum(l1(outputs[f"logits_{m}_p"].view(-1), labels) for m in "lav") / 3.0
        return l1(outputs["predictions"].view(-1), labels) + 0.8 * unimodal + 0.01 * outputs["info_losses"]

    # the same weights on the same inputs and the same VIB noise give the same outputs
    official.eval(), port.eval()
    with torch.no_grad():
        torch.manual_seed(1)
        official_out = official(*official_call, **official_kwargs, labels=None)
        torch.manual_seed(1)
        port_out = port(**port_inputs, labels=labels)
    agreement = {"objective_official": float(official_objective(official_out)), "objective_port": float(port_out.loss),
                 "max_abs_prediction_difference":
                     float((official_out["predictions"].view(-1) - port_out.logits).abs().max())}
    print(f"same weights, same inputs: {agreement}")

    no_decay = ("bias", "LayerNorm.weight")  # the official rule on names (BERT's keep theirs after conversion)
    official_optimizer = official_adamw(harness.official_param_groups(official.named_parameters(), args.weight_decay),
                                        lr=args.learning_rate, eps=args.adam_epsilon)
    port_groups = [
        {"params": [p for n, p in port.named_parameters() if not any(k in n for k in no_decay)],
         "weight_decay": args.weight_decay},
        {"params": [p for n, p in port.named_parameters() if any(k in n for k in no_decay)], "weight_decay": 0.0}]
    port_optimizer = torch.optim.AdamW(port_groups, lr=args.learning_rate, eps=args.adam_epsilon, fused=True)
    port_parameters = [p for p in port.parameters() if p.requires_grad]
    official_parameters = [p for p in official.parameters() if p.requires_grad]

    phases = {who: {name: [] for name in ("forward_and_loss", "zero_grad_and_backward", "clip_grad_value",
                                          "optimizer_step")} for who in ("official", "port")}

    def timed_step(who, objective, optimizer, parameters):
        marks = [time.perf_counter()]
        loss = objective()
        marks.append(time.perf_counter())
        optimizer.zero_grad()
        loss.backward()
        marks.append(time.perf_counter())
        torch.nn.utils.clip_grad_value_(parameters, args.clip)
        marks.append(time.perf_counter())
        optimizer.step()
        value = loss.item()
        marks.append(time.perf_counter())
        for name, start, end in zip(phases[who], marks, marks[1:]):
            phases[who][name].append(end - start)
        return value

    def official_step():
        return timed_step("official", lambda: official_objective(official(*official_call, **official_kwargs,
                                                                           labels=None)),
                          official_optimizer, official_parameters)

    def port_step():
        return timed_step("port", lambda: port(**port_inputs, labels=labels).loss, port_optimizer, port_parameters)

    def official_infer():
        with torch.no_grad():
            return official.test(*official_call, **official_kwargs)

    def port_infer():
        with torch.no_grad():
            return port(**port_inputs).logits

    timing = time_side_by_side((official, port), (official_step, port_step), (official_infer, port_infer),
                               warmup, repeats)
    return {
        "batch": batch, "repeats": repeats, "warmup": warmup, "official_dir": official_dir,
        "official_commit": harness.OFFICIAL_COMMIT, "config_overrides": overrides, "official_optimizer": adamw_source,
        "converted_tensors_dropped": dropped, "same_weights_eval_mode": agreement,
        "parameters": {"official": sum(p.numel() for p in official.parameters()),
                       "port": sum(p.numel() for p in port.parameters())},
        "train_phases_median_s": {who: {name: statistics.median(values[warmup:]) for name, values in named.items()}
                                  for who, named in phases.items()},
        **timing,
    }


def main(args) -> dict:
    torch.set_num_threads(args.threads)
    return {"threads": args.threads, **run(args.batch, args.repeats, args.warmup, args.official)}
