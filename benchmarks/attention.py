"""The shared attention with dropout on its weights, on the CPU: torch's SDPA (which falls back to its unfused path
when dropout is on), hf_msa's blockwise path (`hf_msa.modules.attention`), and SDPA without dropout (the fused
kernel: the floor a dropout path can approach), forward + backward, interleaved in one process.

    .venv/bin/python -m benchmarks attention [--repeats 10]

Shapes: DIB's self-attention over MOSI vision and audio frames (batch 32, 5 heads of 10, 500 and 375 frames, a
key-padding mask, dropout 0.5 as in DIB's defaults) and LNLN-like attention from tokens to frames (8 heads of 64).
"""

import argparse
import statistics
import time

import torch

from hf_msa.modules.attention import attend

SHAPES = {
    "dib_vision": dict(batch=32, heads=5, queries=500, keys=500, dim=10, dropout=0.5),
    "dib_audio": dict(batch=32, heads=5, queries=375, keys=375, dim=10, dropout=0.5),
    "lnln_tokens_to_vision": dict(batch=64, heads=8, queries=8, keys=500, dim=64, dropout=0.1),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)


def _inputs(shape: dict):
    generator = torch.Generator().manual_seed(0)
    b, h, d = shape["batch"], shape["heads"], shape["dim"]
    query = torch.randn(b, h, shape["queries"], d, generator=generator).requires_grad_()
    key, value = (torch.randn(b, h, shape["keys"], d, generator=generator).requires_grad_() for _ in range(2))
    mask = torch.rand(b, 1, 1, shape["keys"], generator=generator) > 0.1
    return query, key, value, mask


def run(repeats: int = 10) -> dict:
    paths = {
        "sdpa_with_dropout": lambda q, k, v, m, p: torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=m, dropout_p=p),
        "hf_msa_blockwise_with_dropout": lambda q, k, v, m, p: attend(q, k, v, m, p),
        "sdpa_without_dropout_floor": lambda q, k, v, m, p: torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=m),
    }
    results = {}
    for name, shape in SHAPES.items():
        tensors = _inputs(shape)
        times = {path: [] for path in paths}
        for repeat in range(repeats + 1):  # the first round warms up and is dropped
            for path, function in paths.items():
                started = time.perf_counter()
                function(*tensors, shape["dropout"]).sum().backward()
                if repeat:
                    times[path].append(time.perf_counter() - started)
        medians = {path: statistics.median(values) for path, values in times.items()}
        results[name] = {
            "shape": shape,
            "forward_backward_median_s": medians,
            "spread_s": {path: [min(values), max(values)] for path, values in times.items()},
            "speedup_vs_sdpa_with_dropout": medians["sdpa_with_dropout"] / medians["hf_msa_blockwise_with_dropout"],
            "blockwise_over_floor": medians["hf_msa_blockwise_with_dropout"] / medians["sdpa_without_dropout_floor"],
        }
        print(f"{name}: " + ", ".join(f"{p} {m:.4f} s" for p, m in medians.items())
              + f"; speed-up {results[name]['speedup_vs_sdpa_with_dropout']:.2f}x, "
              f"{results[name]['blockwise_over_floor']:.2f}x the no-dropout floor")
    return results


def main(args) -> dict:
    torch.set_num_threads(args.threads)
    return {"threads": args.threads, "repeats": args.repeats, "shapes": run(args.repeats)}
