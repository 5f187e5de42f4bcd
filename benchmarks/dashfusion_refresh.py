"""DashFusion's partner refresh at MOSEI's training size: time and peak memory of rebuilding the partner lists
(`hf_msa.data.partners.PartnerIndex.update`: cosine ranking of every training row in row chunks, then the ss / sd /
dd lists) from N = 16,326 rows of pooled views (3 x 128 = 384 wide, as the model gives them), with MOSEI-like labels.
The other half of a refresh, embedding the split, is N / 32 inference calls of the model at batch 32
(`python -m benchmarks speed` gives one).

    .venv/bin/python -m benchmarks dashfusion_refresh [--rows 16326] [--chunk-rows 1024]
"""

import argparse
import ctypes
import gc
import time
from pathlib import Path

import numpy as np
import torch

from hf_msa.data.partners import PartnerIndex

MOSEI_TRAIN_ROWS = 16326


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=MOSEI_TRAIN_ROWS)
    parser.add_argument("--chunk-rows", type=int, default=1024)
    parser.add_argument("--width", type=int, default=384, help="concatenated pooled views (3 x hidden_size)")
    parser.add_argument("--compat-retrieval-bug", action="store_true")


def run(rows: int = MOSEI_TRAIN_ROWS, chunk_rows: int = 1024, width: int = 384, compat: bool = False) -> dict:
    rng = np.random.default_rng(0)
    labels = np.clip(rng.normal(0.6, 1.3, rows), -3, 3).round(4)  # MOSEI-like: skewed positive, [-3, 3]
    views = torch.from_numpy(rng.standard_normal((rows, width)).astype(np.float32))
    index = PartnerIndex(labels, compat_retrieval_bug=compat, chunk_rows=chunk_rows)
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    before = _rss_mb("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak resident set
    except OSError:
        pass
    started = time.perf_counter()
    index.update(views)
    seconds = time.perf_counter() - started
    peak = _rss_mb("VmHWM") - before
    full_matrix_mb = rows * rows * 4 / 2 ** 20
    print(f"{rows} rows: {seconds:.1f} s, peak +{peak:.0f} MB (a full float32 similarity matrix: {full_matrix_mb:.0f} MB)")
    return {"rows": rows, "width": width, "chunk_rows": chunk_rows, "compat_retrieval_bug": compat,
            "threads": torch.get_num_threads(), "update_seconds": round(seconds, 2),
            "peak_extra_mb": round(peak, 1), "full_similarity_matrix_mb": round(full_matrix_mb, 1),
            "list_lengths_min": {k: min(len(v) for v in lists) for k, lists in index.lists.items()}}


def main(args) -> dict:
    return run(args.rows, args.chunk_rows, args.width, args.compat_retrieval_bug)
