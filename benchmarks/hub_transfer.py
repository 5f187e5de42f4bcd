"""Hub transfer: time and bytes of pushing and pulling a MOSI-sized DIB checkpoint (MiniLM text encoder, the model
we publish) through the local Hub test server (tests/hub_server.py on 127.0.0.1, files on this machine's disk).

    .venv/bin/python -m benchmarks hub_transfer [--repeats 3]

What it measures, per repeat, in a fresh process that points huggingface_hub at the server before importing it:
save_pretrained (weights + the code bundle), the first push (`hf_msa.hub.push_model`: repo creation, LFS upload,
commit with our card), a second push of the same folder (the LFS objects are already there), the pull of every file
into an empty cache (`snapshot_download`), and `AutoModel.from_pretrained` from that cache. Loopback HTTP on one
machine: this is the client and serialisation overhead, not a network's bandwidth.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, os, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.hub_server import LocalHub  # stdlib only: started before huggingface_hub is imported

hub = LocalHub().start()
os.environ.update(HF_ENDPOINT=hub.url, HF_TOKEN="hf_benchmark_token", HF_HUB_DISABLE_XET="1",
                  HF_HUB_DISABLE_TELEMETRY="1", HF_HOME=tempfile.mkdtemp(prefix="hf_msa_bench_home_"),
                  HF_HUB_DISABLE_PROGRESS_BARS="1")
import torch
torch.set_num_threads({threads})
from huggingface_hub import snapshot_download
from transformers import AutoModel, AutoTokenizer
from hf_msa import DibConfig, DibForSentimentAnalysis, MSAFeatureExtractor, MSAProcessor
from hf_msa.hub import push_model
from hf_msa.text_encoders import minilm_path

work = Path(tempfile.mkdtemp(prefix="hf_msa_bench_"))
config = DibConfig.from_preset("mosi")
model = DibForSentimentAnalysis.from_text_pretrained(minilm_path(), config=config)
processor = MSAProcessor(MSAFeatureExtractor.from_model_config(model.config), AutoTokenizer.from_pretrained(minilm_path()),
                         max_text_length=model.config.text_max_length)
folder = work / "dib-mosi"
started = time.perf_counter(); model.save_pretrained(folder); processor.save_pretrained(folder)
out = dict(save_s=time.perf_counter() - started)
files = sorted(p for p in folder.iterdir() if p.is_file())
out["files"] = len(files)
out["checkpoint_bytes"] = sum(p.stat().st_size for p in files)
out["weights_bytes"] = sum(p.stat().st_size for p in files if p.suffix == ".safetensors")
out["code_bytes"] = sum(p.stat().st_size for p in files if p.suffix == ".py")
out["parameters"] = sum(p.numel() for p in model.parameters())
requests = len(hub.log)
started = time.perf_counter(); push_model(folder, "bench/dib-mosi")
out["push_first_s"] = time.perf_counter() - started
out["push_first_requests"] = len(hub.log) - requests
requests = len(hub.log)
started = time.perf_counter(); push_model(folder, "bench/dib-mosi")
out["push_again_s"] = time.perf_counter() - started
out["push_again_requests"] = len(hub.log) - requests
cache = work / "cache"
requests = len(hub.log)
started = time.perf_counter(); snapshot = snapshot_download("bench/dib-mosi", cache_dir=cache)
out["pull_s"] = time.perf_counter() - started
out["pull_requests"] = len(hub.log) - requests
out["pulled_bytes"] = sum(p.stat().st_size for p in Path(snapshot).iterdir() if p.is_file())
started = time.perf_counter(); AutoModel.from_pretrained("bench/dib-mosi", cache_dir=cache)
out["load_from_cache_s"] = time.perf_counter() - started
hub.stop()
print("RESULT " + json.dumps(out))
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes, each a full save/push/pull")
    parser.add_argument("--threads", type=int, default=2)


def run_once(threads: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    done = subprocess.run([sys.executable, "-c", WORKER.format(root=str(ROOT), threads=threads)], capture_output=True,
                          text=True, env=env, cwd=tempfile.gettempdir(), timeout=1800)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(f"hub_transfer worker failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main(args) -> dict:
    runs = []
    for repeat in range(args.repeats):
        runs.append(run_once(args.threads))
        print(f"repeat {repeat + 1}/{args.repeats}: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                                                   for k, v in runs[-1].items()))
    timed = [k for k in runs[0] if k.endswith("_s")]
    first = runs[0]
    summary = {k: {"median": statistics.median(r[k] for r in runs), "min": min(r[k] for r in runs),
                   "max": max(r[k] for r in runs)} for k in timed}
    mb = first["checkpoint_bytes"] / 2 ** 20
    summary["push_first_MiB_per_s"] = mb / summary["push_first_s"]["median"]
    summary["pull_MiB_per_s"] = first["pulled_bytes"] / 2 ** 20 / summary["pull_s"]["median"]
    return {"server": "tests/hub_server.py LocalHub on 127.0.0.1 (loopback; files on local disk)",
            "model": "DibForSentimentAnalysis, mosi preset, all-MiniLM-L6-v2 text encoder",
            "sizes": {k: first[k] for k in ("parameters", "files", "checkpoint_bytes", "weights_bytes", "code_bytes",
                                            "pulled_bytes")},
            "requests": {k: first[k] for k in first if k.endswith("_requests")},
            "seconds": summary, "runs": runs}
