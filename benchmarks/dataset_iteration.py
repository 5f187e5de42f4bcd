"""How fast a MOSEI-shaped dataset iterates in shuffled batches of 32: Arrow (load_msa_dataset) vs the MMSA pickle
held in memory, and the peak memory of each. Synthetic values, real MOSEI dims (audio 500x74, vision 500x35).

    .venv/bin/python benchmarks/dataset_iteration.py [--clips 3000] [--epochs 3]

Each method runs in its own subprocess so its peak RSS is its own. Results: benchmarks/results/dataset_iteration.json.
Run on an idle machine: a background job makes the timings 5-10x worse.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BATCH = 32
METHODS = {
    "pickle_in_memory": "MMSA's way: the whole pickle in memory, each batch gathered item by item from the padded arrays",
    "arrow_batch_numpy": "load_msa_dataset, numpy format, one ds[indices] call per batch, padded with numpy",
    "arrow_items_collator": "load_msa_dataset, numpy format, item by item + MSAFeatureExtractor padding (the stock "
                            "Trainer path before frame views)",
    "arrow_frame_views_gather": "load_msa_dataset read through hf_msa.data.frame_views (zero-copy views of the "
                                "memory-mapped frames), each batch copied from its rows into one zero-padded array: "
                                "the floor's work, memory-mapped",
    "arrow_frame_views_collator": "frame_views rows item by item + MSAFeatureExtractor padding (the Trainer path now: "
                                  "build_trainer wraps its datasets)",
}


def run_method(method: str, workdir: Path, epochs: int) -> dict:
    from hf_msa.data import load_msa_dataset, read_mmsa_pickle

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    times, batch = [], None
    if method == "pickle_in_memory":
        split = read_mmsa_pickle(workdir / "unaligned_50.pkl")["train"]
        audio, vision, labels = split.arrays["audio"], split.arrays["vision"], split.arrays["regression_labels"]
        setup = time.perf_counter() - started
        for _ in range(epochs):
            order, t = rng.permutation(len(labels)), time.perf_counter()
            for start in range(0, len(order), BATCH):
                idx = order[start : start + BATCH]
                batch = (np.stack([audio[i] for i in idx]), np.stack([vision[i] for i in idx]), labels[idx])
            times.append(time.perf_counter() - t)
    else:
        from hf_msa import MSAFeatureExtractor

        data = load_msa_dataset("mosei", workdir, "unaligned", cache_dir=str(workdir / "cache"))["train"]
        if method.startswith("arrow_frame_views"):
            from hf_msa.data import frame_views

            data = frame_views(data.select_columns(["audio", "vision", "label"]))
        else:
            data = data.with_format("numpy", columns=["audio", "vision", "label"])
        extractor = MSAFeatureExtractor(audio_dim=74, vision_dim=35, max_audio_length=500, max_vision_length=500)
        setup = time.perf_counter() - started
        for _ in range(epochs):
            order, t = rng.permutation(len(data)), time.perf_counter()
            for start in range(0, len(order), BATCH):
                idx = order[start : start + BATCH]
                if method == "arrow_batch_numpy":
                    rows = data[idx]
                    batch = extractor(audio=list(rows["audio"]), vision=list(rows["vision"]))
                elif method == "arrow_frame_views_gather":
                    rows = data.__getitems__(idx)
                    batch = (pad([r["audio"] for r in rows]), pad([r["vision"] for r in rows]),
                             np.asarray([r["label"] for r in rows]))
                else:
                    rows = [data[int(i)] for i in idx]
                    batch = extractor(audio=[r["audio"] for r in rows], vision=[r["vision"] for r in rows])
            times.append(time.perf_counter() - t)
    del batch
    return {"method": method, "setup_seconds": round(setup, 3), "epoch_seconds": [round(t, 3) for t in times],
            "epoch_seconds_median": round(float(np.median(times)), 3),
            "peak_rss_mb": peak_rss_mb()}


def pad(arrays: list) -> np.ndarray:
    """Rows of uneven length into one zero-padded [rows, longest, D] batch (the Arrow rows are stored unpadded)."""
    out = np.zeros((len(arrays), max(len(a) for a in arrays), arrays[0].shape[1]), dtype=arrays[0].dtype)
    for i, array in enumerate(arrays):
        out[i, : len(array)] = array
    return out


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would carry the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "dataset_iteration.json"))
    parser.add_argument("--method", default=None, help=argparse.SUPPRESS)  # internal: one method per subprocess
    parser.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.method:
        print(json.dumps(run_method(args.method, Path(args.workdir), args.epochs)))
        return

    from hf_msa.data import synthetic_mmsa_pickle, write_mmsa_pickle

    with tempfile.TemporaryDirectory() as workdir:
        started = time.perf_counter()
        content = synthetic_mmsa_pickle("mosei", sizes={"train": args.clips, "valid": 1, "test": 1})
        write_mmsa_pickle(Path(workdir) / "unaligned_50.pkl", content)
        size_mb = (Path(workdir) / "unaligned_50.pkl").stat().st_size / 2**20
        del content
        build = time.perf_counter() - started
        # the Arrow cache is built once (what a user pays on first load), then every method is measured warm
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--method", "arrow_batch_numpy", "--workdir", workdir,
                        "--epochs", "0"], check=True, capture_output=True)
        arrow_build = time.perf_counter() - started
        results = []
        for method in METHODS:
            done = subprocess.run([sys.executable, __file__, "--method", method, "--workdir", workdir,
                                   "--epochs", str(args.epochs)], check=True, capture_output=True, text=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(results[-1])
    baseline = next(r for r in results if r["method"] == "pickle_in_memory")["epoch_seconds_median"]
    for r in results:
        r["description"] = METHODS[r["method"]]
        r["epoch_time_ratio_to_pickle"] = round(r["epoch_seconds_median"] / baseline, 2)
    report = {
        "benchmark": "dataset_iteration",
        "command": " ".join([sys.executable] + sys.argv),
        "data": {"clips": args.clips, "audio": [500, 74], "vision": [500, 35], "pickle_mb": round(size_mb, 1),
                 "batch_size": BATCH, "epochs": args.epochs, "values": "synthetic (hf_msa.data.synthetic_mmsa_pickle)"},
        "one_time_seconds": {"write_pickle": round(build, 1), "first_load_to_arrow": round(arrow_build, 1)},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "results": results,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2))
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
