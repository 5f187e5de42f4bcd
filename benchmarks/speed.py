"""Speed and memory of every registered model against its own text encoder, measured in the same process.

For each model at a MOSI-like shape (batch 32: text 50 tokens, audio 375x5, vision 500x20) and at batch 1:
training step (forward + backward + optimizer step), inference (forward, no grad) and peak extra memory, each as a
ratio to the same text encoder alone doing the same thing. Median and interquartile spread over repeats. A model whose
training draws contrastive partners (DashFusion: 6 per anchor) also gets its training step with them.
Each figure also gets its FLOP floor: the FLOPs torch's FlopCounterMode counts for that call (forward + backward for
training, forward for inference; optimiser arithmetic is not counted), divided by this machine's fp32 matmul rate
measured in the same run, and `time_over_floor` = measured / floor.
Peak memory: resident-set high-water mark (VmHWM, reset through /proc/self/clear_refs) above the resident set
before the timed repeats (after returning freed heap memory to the OS with malloc_trim), on CPU: the transient
memory of a step (activations, gradients), the parameters and optimizer state excluded.

    .venv/bin/python -m benchmarks speed [--encoder minilm|tiny] [--repeats 10]
"""

import argparse
import ctypes
import gc
import statistics
import time
from pathlib import Path

import torch

from hf_msa import MODEL_REGISTRY
from hf_msa.text_encoders import TINY_BERT, minilm_path

TARGET_OVERHEAD = 1.15  # fusion overhead allowed for every non-LLM method
SHAPES = {"batch32": dict(batch=32, text=50, audio=375, vision=500), "batch1": dict(batch=1, text=50, audio=375, vision=500)}


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _release_free_memory() -> None:
    """Return freed heap memory to the OS, so the resident set before a measurement is live memory only."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc
        pass


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def inputs_for(config, shape: dict, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    batch, vocab = shape["batch"], config.text_config.vocab_size
    inputs = {"input_ids": torch.randint(1000, min(vocab, 20000), (batch, shape["text"]), generator=generator),
              "attention_mask": torch.ones(batch, shape["text"], dtype=torch.long)}
    for modality in ("audio", "vision"):
        if modality in config.modalities:
            dim = getattr(config, f"{modality}_dim")
            inputs[f"{modality}_features"] = torch.randn(batch, shape[modality], dim, generator=generator)
            inputs[f"{modality}_attention_mask"] = torch.ones(batch, shape[modality], dtype=torch.long)
    low, high = config.label_range
    inputs["labels"] = torch.rand(batch, generator=generator) * (high - low) + low
    return inputs


def measure(step, repeats: int, warmup: int = 2) -> dict:
    for _ in range(warmup):
        step()
    _release_free_memory()
    before = _rss_mb("VmRSS")
    _reset_peak()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    quartiles = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {"median_s": statistics.median(times), "q1_s": quartiles[0], "q3_s": quartiles[2],
            "peak_extra_mb": max(_rss_mb("VmHWM") - before, 0.0)}


def train_step(model, inputs, loss_of):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, foreach=True)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss_of(model, inputs).backward()
        optimizer.step()
    return step


def infer_step(model, inputs):
    def step():
        with torch.no_grad():
            model(**inputs)
    return step


def matmul_rate(size: int = 1024, repeats: int = 10) -> float:
    """This machine's fp32 matmul rate now (FLOP/s, median of `repeats`): the speed a FLOP floor assumes."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - started)
    return 2 * size ** 3 / statistics.median(times[1:])


def count_flops(step) -> int:
    """FLOPs of one call of `step`, with torch's own per-op formulas (`torch.utils.flop_counter.flop_registry`:
    matmuls, convolutions, attention). FlopCounterMode itself is not used: its per-module tracker fails on
    custom autograd functions in the graph (LNLN's gradient reversal); the counting is the same."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Counter(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            counted = flop_registry.get(func._overloadpacket)
            if counted is not None:
                self.total += counted(*args, **kwargs, out_val=out)
            return out

    with Counter() as counter:
        step()
    return counter.total


def run(encoder: str = "minilm", repeats: int = 10, shapes=("batch32", "batch1"), models=None) -> dict:
    torch.manual_seed(0)
    rate = matmul_rate()
    results = {"target_overhead": TARGET_OVERHEAD, "encoder": encoder, "repeats": repeats,
               "threads": torch.get_num_threads(), "shapes": {k: SHAPES[k] for k in shapes},
               "matmul_gflop_per_s": rate / 1e9, "models": {}}
    for model_type in models or sorted(MODEL_REGISTRY):
        config_class, _, model_class = MODEL_REGISTRY[model_type]
        if encoder == "minilm":
            model = model_class.from_text_pretrained(minilm_path(), config=config_class.from_preset("mosi"))
        else:
            model = model_class(config_class.from_preset("mosi", text_config=dict(TINY_BERT)))
        text_encoder = model.get_text_encoder()
        per_shape = {}
        for shape_name in shapes:
            inputs = inputs_for(model.config, SHAPES[shape_name])
            text_inputs = {k: inputs[k] for k in ("input_ids", "attention_mask")}
            model.train()
            text_encoder.train()
            infer_inputs = {k: v for k, v in inputs.items() if k != "labels"}
            # counted with attention written out: the same matmuls as the function defines them (the blockwise
            # dropout path's backward recomputes QK^T, which a floor should not count)
            model.set_attn_implementation("eager")
            flops = {
                "train_model": count_flops(lambda: model(**inputs).loss.backward()),
                "train_text_encoder": count_flops(lambda: text_encoder(**text_inputs).last_hidden_state.mean().backward()),
            }
            model.zero_grad(set_to_none=True)
            model.eval()
            flops["infer_model"] = count_flops(infer_step(model, infer_inputs))
            flops["infer_text_encoder"] = count_flops(infer_step(text_encoder, text_inputs))
            model.set_attn_implementation("sdpa")  # every timing below runs the default path
            model.train()
            rows = {
                "train_model": measure(train_step(model, inputs, lambda m, x: m(**x).loss), repeats),
                "train_text_encoder": measure(
                    train_step(text_encoder, text_inputs, lambda m, x: m(**x).last_hidden_state.mean()), repeats),
            }
            model.eval()
            rows["infer_model"] = measure(infer_step(model, infer_inputs), repeats)
            rows["infer_text_encoder"] = measure(infer_step(text_encoder, text_inputs), repeats)
            if getattr(model, "training_partners", False):  # DashFusion: 6 partners per anchor through the encoders
                partners = inputs_for(model.config, dict(SHAPES[shape_name], batch=6 * SHAPES[shape_name]["batch"]), 1)
                with_partners = dict(inputs, **{f"partner_{k}": v for k, v in partners.items() if k != "labels"})
                model.train()
                rows["train_model_partners"] = measure(train_step(model, with_partners, lambda m, x: m(**x).loss),
                                                       max(3, repeats // 3))
                rows["train_partners_time_ratio"] = round(
                    rows["train_model_partners"]["median_s"] / rows["train_text_encoder"]["median_s"], 3)
            for key, count in flops.items():  # the floor: the counted FLOPs at this machine's matmul rate
                rows[key].update(gflop=count / 1e9, floor_s=count / rate,
                                 time_over_floor=round(rows[key]["median_s"] / (count / rate), 3))
            for mode in ("train", "infer"):
                rows[f"{mode}_flop_ratio"] = round(flops[f"{mode}_model"] / flops[f"{mode}_text_encoder"], 3)
            for mode in ("train", "infer"):
                ratio = rows[f"{mode}_model"]["median_s"] / rows[f"{mode}_text_encoder"]["median_s"]
                rows[f"{mode}_time_ratio"] = round(ratio, 3)
                rows[f"{mode}_meets_target"] = ratio <= TARGET_OVERHEAD
                encoder_mb = max(rows[f"{mode}_text_encoder"]["peak_extra_mb"], 1e-9)
                rows[f"{mode}_memory_ratio"] = round(rows[f"{mode}_model"]["peak_extra_mb"] / encoder_mb, 3)
            per_shape[shape_name] = rows
        results["models"][model_type] = {
            "parameters": sum(p.numel() for p in model.parameters()),
            "text_encoder_parameters": sum(p.numel() for p in text_encoder.parameters()),
            "shapes": per_shape,
        }
        del model
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--encoder", default="minilm", choices=["minilm", "tiny"])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--shapes", nargs="+", default=["batch32", "batch1"], choices=sorted(SHAPES))
    parser.add_argument("--models", nargs="+", default=None)


def main(args) -> dict:
    return run(args.encoder, args.repeats, tuple(args.shapes), args.models)


__all__ = ["add_arguments", "main", "run"]
