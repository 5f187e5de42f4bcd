"""Convert an official HME checkpoint (github.com/YetZzzzzz/HME, a `state_dict` saved with torch.save, or a
safetensors file with the same keys) into an `HmeForSentimentAnalysis` folder.

    python -m hf_msa.models.hme.convert_hme_original_to_hf --checkpoint hme_mosi.pth --output hme-mosi \
        [--preset mosi] [--num-heads 16] [--text-num-heads 12] [--tokenizer bert-base-uncased]

Every original key is mapped by the rules below and loaded with strict=True. Not carried over, and named in the
report: the MulT encoders' `version` and `embed_positions._float_tensor` buffers (no values the model reads) and
`bert.embeddings.position_ids` (a buffer transformers 4.30 saved). The VIB's fused output layer (`encode.4`, 2K rows)
is split into our `mean` (rows :K) and `scale` (rows K:) layers. Head counts are not recoverable from the weights:
pass them if they differ from the official 16 (HME) and 12 (bert-base).
"""

import re

import torch

from ... import conversion
from ...conversion import bert_config_from_weights, converter_main, count_indices, preset_feature_dims, rename_key, rename_state_dict
from .configuration_hme import HmeConfig
from .modeling_hme import HmeForSentimentAnalysis

LETTER = {"l": "text", "a": "audio", "v": "vision"}
LATENT = {"text": "text", "audio": "audio", "video": "vision"}
DROPPED = re.compile(r"(\.version$|\.embed_positions\._float_tensor$|^bert\.embeddings\.position_ids$)")

# (pattern, replacement), applied in order to every original key.
KEY_RULES = [
    (r"^bert\.", "hme.text_encoder."),
    (r"^proj_([lav])_1\.", lambda m: f"hme.encoders.{LETTER[m[1]]}.projection."),
    (r"^([lav])2\1\.", lambda m: f"hme.encoders.{LETTER[m[1]]}."),
    (r"^latent_sample\.", "hme.sample_enhancer."),
    (r"^latent_(text|audio|video)\.", lambda m: f"hme.enhancers.{LATENT[m[1]]}."),
    (r"^([lav])2([lav])\.", lambda m: f"hme.cross_modal.{LETTER[m[1]]}_to_{LETTER[m[2]]}."),
    (r"^hyper_([lav])\.", lambda m: f"hme.hyper.{LETTER[m[1]]}."),
    (r"^VIB_estimate_([lav])_p\.encode\.0\.", lambda m: f"hme.bottlenecks.{LETTER[m[1]]}.hidden."),
    (r"^VIB_estimate_([lav])_p\.encode\.2\.", lambda m: f"hme.bottlenecks.{LETTER[m[1]]}.extra_hidden.0."),
    (r"^VIB_estimate_([lav])_p\.encode\.4\.", lambda m: f"hme.bottlenecks.{LETTER[m[1]]}.statistics."),
    (r"^VIB_estimate_([lav])_p\.decode\.0\.", lambda m: f"unimodal_heads.{LETTER[m[1]]}."),
    (r"^ATTN_([TAV])\.", lambda m: f"hme.modality_gates.{ {'T': 'text', 'A': 'audio', 'V': 'vision'}[m[1]] }."),
    (r"^ATTN_hyper\.", "hme.hyper_gate."),
    (r"\.attention_mlp\.attention_mlp\.", ".score_hidden."),
    (r"\.fc_att\.", ".score_out."),
    (r"^transformer_encoder_all\.", "hme.head."),
    (r"^fusion_all\.fusion_layer_all\.", "regressor_hidden."),
    (r"^fusion_all\.fusion_layer_all_all\.", "regressor."),
    # inside the MulT encoders
    (r"(hme\.encoders\.\w+\.layers\.\d+)\.self_attn\.in_proj_(weight|bias)$", r"\1.qkv.\2"),
    (r"(hme\.encoders\.\w+\.layers\.\d+)\.self_attn\.out_proj\.", r"\1.out."),
    (r"(hme\.encoders\.\w+\.layers\.\d+)\.layer_norms\.0\.", r"\1.attn_norm."),
    (r"(hme\.encoders\.\w+\.layers\.\d+)\.layer_norms\.1\.", r"\1.ffn_norm."),
    (r"(hme\.encoders\.\w+)\.layer_norm\.", r"\1.norm."),
    # inside the Perceiver blocks (latent transformers and cross-attention stacks)
    (r"\.layers\.(\d+)\.2\.0\.0\.", r".layers.\1.self_attention."),
    (r"\.layers\.(\d+)\.2\.0\.1\.", r".layers.\1.self_feed_forward."),
    (r"\.layers\.(\d+)\.0\.", r".layers.\1.cross_attention."),
    (r"\.layers\.(\d+)\.1\.", r".layers.\1.cross_feed_forward."),
    (r"(attention)\.fn\.to_q\.", r"\1.q_proj."),
    (r"(attention)\.fn\.to_kv\.", r"\1.kv_proj."),
    (r"(attention)\.fn\.to_out\.", r"\1.out_proj."),
    (r"(feed_forward)\.fn\.net\.0\.", r"\1.fc1."),
    (r"(feed_forward)\.fn\.net\.2\.", r"\1.fc2."),
    (r"\.to_embedds\.1\.", ".norm."),
]


def convert_key(key: str) -> str | None:
    """Our name for an original key (the VIB's `.statistics.` is split by `convert_state_dict`), or None for a key
    deliberately not carried over."""
    return rename_key(key, KEY_RULES, DROPPED)


def convert_state_dict(original: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    converted, dropped = rename_state_dict(original, convert_key)
    for key in [key for key in converted if ".statistics." in key]:  # [2K, ...]: μ rows then the pre-softplus σ rows
        mean, scale = converted.pop(key).chunk(2, dim=0)
        converted[key.replace(".statistics.", ".mean.")] = mean.clone()
        converted[key.replace(".statistics.", ".scale.")] = scale.clone()
    return converted, dropped


PRESET_FEATURE_DIMS = preset_feature_dims(("mosi", "mosei"))


def feature_dims(original: dict[str, torch.Tensor]) -> tuple[int, int]:
    return original["proj_a_1.weight"].shape[1], original["proj_v_1.weight"].shape[1]


def resolve_preset(original: dict[str, torch.Tensor], preset: str | None) -> str:
    """`preset` checked against the checkpoint's feature widths, or inferred from them (`hf_msa.conversion`)."""
    return conversion.resolve_preset(feature_dims(original), preset, PRESET_FEATURE_DIMS)


def config_from_original(original: dict[str, torch.Tensor], preset: str | None = None, num_heads: int = 16,
                         text_num_heads: int = 12, sequence_length: int = 50, **overrides) -> HmeConfig:
    """An HmeConfig whose shapes match the checkpoint. The official data is word-aligned with every sequence
    `sequence_length` (50) long, the lengths the model is fed by default (it attends to padding)."""
    preset = resolve_preset(original, preset)
    text_config = bert_config_from_weights(original, 'bert.', text_num_heads)
    values = dict(
        text_config=text_config,
        hidden_size=original["proj_l_1.weight"].shape[0],
        num_attention_heads=num_heads,
        num_encoder_layers=count_indices(original, r"^l2l\.layers\.(\d+)\."),
        latent_depth=count_indices(original, r"^latent_text\.layers\.(\d+)\."),
        hyper_depth=count_indices(original, r"^l2a\.layers\.(\d+)\."),
        num_latents=original["latent_text.latents"].shape[0],
        head_num_layers=count_indices(original, r"^transformer_encoder_all\.layers\.(\d+)\."),
        head_intermediate_size=original["transformer_encoder_all.layers.0.linear1.weight"].shape[0],
        projection_kernel=original["proj_a_1.weight"].shape[2],
        audio_dim=original["proj_a_1.weight"].shape[1],
        vision_dim=original["proj_v_1.weight"].shape[1],
        text_max_length=sequence_length, audio_max_length=sequence_length, vision_max_length=sequence_length,
    )
    values.update(overrides)
    return HmeConfig.from_preset(preset, **values)


def convert(original: dict[str, torch.Tensor], config: HmeConfig) -> tuple[HmeForSentimentAnalysis, list[str]]:
    converted, dropped = convert_state_dict(original)
    model = HmeForSentimentAnalysis(config)
    model.load_state_dict(converted, strict=True)
    return model.eval(), dropped


def main(argv=None):
    converter_main(__doc__, PRESET_FEATURE_DIMS, feature_dims, config_from_original, convert,
                   {"num_heads": (16, "HME's heads (not recoverable from weights)"),
                    "text_num_heads": (12, "BERT heads (not recoverable from weights)")}, argv)


if __name__ == "__main__":
    main()
