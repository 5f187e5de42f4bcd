"""One suite over every registered model (timm's habit): a new method is tested the moment it is registered."""

import pytest
import torch
from transformers import AutoConfig, AutoModel

from hf_msa import MODEL_REGISTRY

from .conftest import TINY_TEXT, random_batch

# The smallest config of each method; a method registered without an entry here fails test_every_model_has_a_tiny_config.
TINY_OVERRIDES = {
    "dib": dict(hidden_size=20, num_attention_heads=2, num_encoder_layers=1, vib_hidden_size=32),
    "lnln": dict(hidden_size=16, num_tokens=4, num_attention_heads=2, attention_head_dim=8, mlp_dim=16,
                 embedding_depth=1, proxy_depth=1, completeness_depth=1, reconstructor_depth=1,
                 language_encoder_depth=1, fusion_depth=1),
    # HME's VIBs sample at test time by default (faithful); the shared suites check deterministic eval, so off here
    # (tests/test_modeling_hme.py covers the default)
    "hme": dict(hidden_size=16, num_attention_heads=2, num_encoder_layers=1, latent_depth=1, hyper_depth=1,
                num_latents=2, head_num_layers=1, head_intermediate_size=32, sample_at_eval=False),
    # DashFusion pads text to the longest of the batch by default (faithful: predictions depend on the batch); the
    # shared suites check batch-independent predictions, so fixed-length text here (test_modeling_dashfusion.py
    # covers the default)
    "dashfusion": dict(text_padding="max_length", hidden_size=16, num_attention_heads=2, num_encoder_layers=1, encoder_intermediate_size=32,
                       alignment_heads=2, alignment_head_dim=8, fusion_depth=2, bottleneck_tokens=4, fusion_heads=2,
                       fusion_intermediate_size=32, head_hidden_sizes=[16, 8]),
    # MMSLF's student is the prompt-free model people serve; its teacher reads prompts (tests/test_modeling_mmslf.py)
    "mmslf_student": dict(hidden_size=16, cross_heads=2, cross_head_dim=8, cross_mlp_dim=32, fusion_heads=2,
                          fusion_head_dim=8, fusion_mlp_dim=16),
    # CyIN samples its latents at test time by default (faithful); off here for the deterministic-eval checks
    # (tests/test_modeling_cyin.py covers the default)
    "cyin": dict(sample_at_eval=False, text_max_length=10, align_length=8, fusion_size=8, bottleneck_hidden_size=8,
                 bottleneck_size=6, translator_sizes=[6, 4], translator_blocks=2, num_layers=1, num_attention_heads=2),
    "midg": dict(hidden_size=16, num_experts=3, expert_hidden_size=16, adapter_size=8, adapter_heads=2),
}
# LNLN is a three-modality regression model: it has no MVSA-Single (text + image, 3 classes) configuration.
PRESETS = {"dib": ["mosi", "mosei", "sims", "mvsa"], "lnln": ["mosi", "mosei", "sims"], "hme": ["mosi", "mosei", "sims"],
           "dashfusion": ["mosi", "mosei", "sims"], "mmslf_student": ["mosi", "mosei", "sims"],
           "cyin": ["mosi", "mosei", "sims"], "midg": ["mosi", "mosei", "sims"]}


def tiny_config(model_type, preset="mosi"):
    config_class = MODEL_REGISTRY[model_type][0]
    extra = dict(vision_dim=12, vision_max_length=1) if preset == "mvsa" else {}
    return config_class.from_preset(preset, text_config=dict(TINY_TEXT), **TINY_OVERRIDES[model_type], **extra)


def test_every_model_has_a_tiny_config():
    assert set(MODEL_REGISTRY) == set(TINY_OVERRIDES) == set(PRESETS)


def test_lnln_refuses_the_mvsa_preset_with_a_clear_error():
    with pytest.raises(ValueError, match="LNLN needs all three modalities"):
        tiny_config("lnln", "mvsa")


@pytest.mark.parametrize("model_type, preset", [(m, p) for m in sorted(PRESETS) for p in PRESETS[m]])
def test_forward_backward_every_preset(model_type, preset):
    torch.manual_seed(0)
    config = tiny_config(model_type, preset)
    model = MODEL_REGISTRY[model_type][2](config)
    batch = random_batch(config, vision_length=1 if preset == "mvsa" else 25)
    out = model(**batch)
    expected = (12,) if config.problem_type == "regression" else (12, config.num_labels)
    assert out.logits.shape == expected and torch.isfinite(out.logits).all()
    assert torch.isfinite(out.loss) and out.loss_terms and all(torch.isfinite(v) for v in out.loss_terms.values())
    out.loss.backward()
    assert sum(p.grad.abs().sum().item() for p in model.parameters() if p.grad is not None) > 0


@pytest.mark.parametrize("model_type", sorted(MODEL_REGISTRY))
def test_save_load_and_auto_classes(model_type, tmp_path):
    torch.manual_seed(0)
    config = tiny_config(model_type)
    model = MODEL_REGISTRY[model_type][2](config).eval()
    batch = random_batch(config, labels=False)
    model.save_pretrained(tmp_path)
    assert type(AutoConfig.from_pretrained(tmp_path)) is MODEL_REGISTRY[model_type][0]
    reloaded = AutoModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert torch.equal(reloaded(**batch).logits, model(**batch).logits)


@pytest.mark.parametrize("model_type", sorted(MODEL_REGISTRY))
def test_missing_audio_and_vision_and_eval_determinism(model_type):
    config = tiny_config(model_type)
    model = MODEL_REGISTRY[model_type][2](config).eval()
    batch = random_batch(config, labels=False)
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, model(**batch).logits)  # no sampling in eval
        text_only = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.isfinite(text_only).all()
