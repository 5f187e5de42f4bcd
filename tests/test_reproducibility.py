"""What already held when hardening started, kept held: conversions lose no rows, a seed gives the same checkpoint
byte for byte, and a run killed with SIGKILL resumes from its last checkpoint to the same final weights."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset

from hf_msa.data import export_dataset, load_msa_dataset

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name, folder, config", [("cmu_mosi", "mosi", "transcripts"),
                                                  ("ch_sims", "ch-sims-v2", "v2_labels")])
def test_real_files_survive_export_and_load_dataset_with_every_row(name, folder, config, shared_data, tmp_path):
    original = load_msa_dataset(name, shared_data / folder, config, cache_dir=tmp_path / "cache")
    output = export_dataset(original, name, config, tmp_path / "export")
    back = load_dataset(str(output), config)
    assert {split: len(rows) for split, rows in back.items()} == {split: len(rows) for split, rows in original.items()}
    for split in original:
        assert back[split]["id"] == original[split]["id"]
        np.testing.assert_allclose(np.asarray(back[split]["label"]), np.asarray(original[split]["label"]), atol=1e-6)


def train_command(output_dir: Path, epochs: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hf_msa_cli", "train", "--data", "synthetic", "--text-encoder", "tiny",
            "--max-samples", "64", "--batch-size", "8", "--epochs", str(epochs), "--patience", "0",
            "--output-dir", str(output_dir), "--save-total-limit", "10",
            "--config-overrides", '{"hidden_size": 20, "num_attention_heads": 2, "num_encoder_layers": 1, '
                                  '"vib_hidden_size": 32}', *extra]


ENV = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")


def run(command):
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=ENV, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]


def test_same_seed_gives_a_byte_identical_best_checkpoint(tmp_path):
    for name in ("a", "b"):
        run(train_command(tmp_path / name, 2))
    first, second = ((tmp_path / name / "seed-1111" / "best" / "model.safetensors").read_bytes() for name in "ab")
    assert first == second  # two runs on this machine: the same arithmetic in the same order


def test_a_run_killed_mid_training_resumes_to_the_same_weights(tmp_path):
    run(train_command(tmp_path / "whole", 4))
    killed = tmp_path / "killed"
    process = subprocess.Popen(train_command(killed, 4), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=ENV, cwd=ROOT)
    state = killed / "seed-1111" / "checkpoint-8" / "trainer_state.json"  # 8 steps per epoch: epoch 1 saved
    deadline = time.time() + 600
    while not state.is_file() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # trainer_state.json is written last; let the file close
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed mid-training"
    assert not (killed / "seed-1111" / "checkpoint-32").exists()
    run(train_command(killed, 4, "--resume-from-checkpoint", "last"))
    for checkpoint in ("checkpoint-32", "best"):
        whole = (tmp_path / "whole" / "seed-1111" / checkpoint / "model.safetensors").read_bytes()
        resumed = (killed / "seed-1111" / checkpoint / "model.safetensors").read_bytes()
        assert whole == resumed, checkpoint  # bit-identical on the machine that ran both
    history = json.loads((killed / "seed-1111" / "checkpoint-32" / "trainer_state.json").read_text())["log_history"]
    expected = json.loads((tmp_path / "whole" / "seed-1111" / "checkpoint-32" / "trainer_state.json").read_text())
    evaluated = lambda log: [(e["epoch"], e["eval_MAE"]) for e in log if "eval_MAE" in e]  # noqa: E731
    assert evaluated(history) == evaluated(expected["log_history"])
