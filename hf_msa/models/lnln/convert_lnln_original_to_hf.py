"""Convert an official LNLN checkpoint (github.com/Haoyu-ha/LNLN, `best_<metric>_<seed>.pth` state dicts or a
safetensors file with the same keys) into an `LnlnForSentimentAnalysis` folder.

    python -m hf_msa.models.lnln.convert_lnln_original_to_hf --checkpoint best_MAE_1111.pth \
        --output lnln-mosi [--preset mosi] [--tokenizer bert-base-uncased] [--text-num-heads 12]

The dataset preset (label range, metric family) is inferred from the checkpoint's audio / vision feature widths
(MOSI 5/20, MOSEI 74/35, SIMS 33/709); a checkpoint on other features needs --preset, and a --preset that
contradicts the widths is refused.

Every original key is mapped by the rules below and loaded with strict=True; the only keys not carried over are the
BERT pooler's (the reference never uses it) and they are named in the report.
"""

import re

import torch

from ... import conversion
from ...conversion import bert_config_from_weights, converter_main, count_indices, preset_feature_dims, rename_key, rename_state_dict
from .configuration_lnln import LnlnConfig
from .modeling_lnln import LnlnForSentimentAnalysis

DROPPED = re.compile(r"^bertmodel\.model\.pooler\.")

# (pattern, replacement), applied in order to every original key.
KEY_RULES = [
    (r"^bertmodel\.model\.", "lnln.text_encoder."),
    (r"^proj_([lav])\.0\.", lambda m: f"lnln.{ {'l': 'text', 'a': 'audio', 'v': 'vision'}[m[1]] }_projection."),
    (r"^proj_([lav])\.1\.", lambda m: f"lnln.{ {'l': 'text', 'a': 'audio', 'v': 'vision'}[m[1]] }_embedding."),
    (r"^completeness_check\.0\.", "lnln.completeness_encoder."),
    (r"^completeness_check\.1\.0\.", "lnln.completeness_head.fc1."),
    (r"^completeness_check\.1\.2\.", "lnln.completeness_head.fc2."),
    (r"^h_p$", "lnln.proxy_tokens"),
    (r"^h_hyper$", "lnln.hyper_tokens"),
    (r"^proxy_dominate_modality_generator\.", "lnln.proxy_generator."),
    (r"^effective_discriminator\.0\.", "discriminator.fc1."),
    (r"^effective_discriminator\.2\.", "discriminator.fc2."),
    (r"^reconstructor\.0\.", "reconstructors.audio."),
    (r"^reconstructor\.1\.", "reconstructors.vision."),
    (r"^reconstructor\.2\.", "reconstructors.text."),
    (r"^dmml\.0\.", "lnln.language_encoder."),
    (r"^dmml\.1\.layers\.(\d+)\.0\.", r"lnln.hyper_layers.\1."),
    (r"^dmml\.2\.extra_token$", "lnln.fusion.shared_token"),
    (r"^dmml\.2\.pos_embedding_s$", "lnln.fusion.source_position_embeddings"),
    (r"^dmml\.2\.pos_embedding_t$", "lnln.fusion.target_position_embeddings"),
    (r"^dmml\.2\.CrossTransformerEncoder\.", "lnln.fusion."),
    (r"^dmml\.3\.", "regressor."),
    # inside every Transformer
    (r"\.extra_token$", ".extra_tokens"),
    (r"\.pos_embedding$", ".position_embeddings"),
    (r"\.encoder\.layers\.", ".layers."),
    (r"\.layers\.(\d+)\.0\.(norm_[qkv])\.", r".layers.\1.attention.\2."),
    (r"\.layers\.(\d+)\.0\.fn\.to_([qkv])\.", r".layers.\1.attention.\2_proj."),
    (r"\.layers\.(\d+)\.0\.fn\.to_out\.0\.", r".layers.\1.attention.out_proj."),
    (r"\.layers\.(\d+)\.1\.norm\.", r".layers.\1.feed_forward.norm."),
    (r"\.layers\.(\d+)\.1\.fn\.net\.0\.", r".layers.\1.feed_forward.fc1."),
    (r"\.layers\.(\d+)\.1\.fn\.net\.3\.", r".layers.\1.feed_forward.fc2."),
    # inside the hyper-modality layers
    (r"(hyper_layers\.\d+)\.norm1\.", r"\1.norm_language."),
    (r"(hyper_layers\.\d+)\.norm2\.", r"\1.norm_audio."),
    (r"(hyper_layers\.\d+)\.norm3\.", r"\1.norm_vision."),
    (r"(hyper_layers\.\d+)\.norm4\.", r"\1.norm_hyper."),
    (r"(hyper_layers\.\d+)\.fn\.to_q\.", r"\1.q_proj."),
    (r"(hyper_layers\.\d+)\.fn\.to_([kv])_ta\.", r"\1.audio_\2_proj."),
    (r"(hyper_layers\.\d+)\.fn\.to_([kv])_tv\.", r"\1.vision_\2_proj."),
    (r"(hyper_layers\.\d+)\.fn\.to_out\.0\.", r"\1.out_proj."),
]


def convert_key(key: str) -> str | None:
    """Our name for an original key, or None for a key deliberately not carried over."""
    return rename_key(key, KEY_RULES, DROPPED)


def convert_state_dict(original: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    return rename_state_dict(original, convert_key)


PRESET_FEATURE_DIMS = preset_feature_dims(("mosi", "mosei", "sims"))


def feature_dims(original: dict[str, torch.Tensor]) -> tuple[int, int]:
    return original["proj_a.0.weight"].shape[1], original["proj_v.0.weight"].shape[1]


def resolve_preset(original: dict[str, torch.Tensor], preset: str | None) -> str:
    """`preset` checked against the checkpoint's feature widths, or inferred from them (`hf_msa.conversion`)."""
    return conversion.resolve_preset(feature_dims(original), preset, PRESET_FEATURE_DIMS)


def config_from_original(original: dict[str, torch.Tensor], preset: str | None = None, text_num_heads: int = 12,
                         **overrides) -> LnlnConfig:
    """An LnlnConfig whose shapes match the checkpoint: BERT sizes and sequence lengths are read off the weights,
    the dataset preset is inferred from the feature widths unless given (see `resolve_preset`)."""
    preset = resolve_preset(original, preset)
    text_config = bert_config_from_weights(original, 'bertmodel.model.', text_num_heads)
    tokens = original["h_p"].shape[1]
    values = dict(
        text_config=text_config,
        hidden_size=original["h_p"].shape[2],
        num_tokens=tokens,
        audio_dim=original["proj_a.0.weight"].shape[1],
        vision_dim=original["proj_v.0.weight"].shape[1],
        text_max_length=original["proj_l.1.pos_embedding"].shape[1] - tokens,
        audio_max_length=original["proj_a.1.pos_embedding"].shape[1] - tokens,
        vision_max_length=original["proj_v.1.pos_embedding"].shape[1] - tokens,
        fusion_depth=count_indices(original, r"^dmml\.2\.CrossTransformerEncoder\.layers\.(\d+)\."),
    )
    values.update(overrides)
    return LnlnConfig.from_preset(preset, **values)


def convert(original: dict[str, torch.Tensor], config: LnlnConfig) -> tuple[LnlnForSentimentAnalysis, list[str]]:
    converted, dropped = convert_state_dict(original)
    model = LnlnForSentimentAnalysis(config)
    model.load_state_dict(converted, strict=True)
    return model.eval(), dropped


def main(argv=None):
    converter_main(__doc__, PRESET_FEATURE_DIMS, feature_dims, config_from_original, convert,
                   {"text_num_heads": (12, "BERT heads (not recoverable from weights)")}, argv)


if __name__ == "__main__":
    main()
