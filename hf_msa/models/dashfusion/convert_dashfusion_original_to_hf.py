"""Convert an official DashFusion checkpoint (github.com/ultramarineX/DashFusion, a `state_dict` saved with
torch.save, or a safetensors file with the same keys) into a `DashFusionForSentimentAnalysis` folder.

    python -m hf_msa.models.dashfusion.convert_dashfusion_original_to_hf --checkpoint dashfusion_mosi.pth \
        --output dashfusion-mosi [--preset mosi] [--text-num-heads 12] [--tokenizer bert-base-uncased]

Every original key is mapped by the rules below and loaded with strict=True. Not carried over, and named in the
report: parameters the official forward never reads (the BERT pooler, the audio / vision encoders' `fc`, `dense` and
empty `cls_embedding`, the temporal alignment's `ffn`, `norm1` and `norm2`), the projector's second registration of
its two Linears (`projector.MLP.*`, the same tensors as `projector.proj.*`) and `embeddings.position_ids` (a buffer
transformers 4.30 saved). The fusion's "a" stream is vision and its "v" stream audio (the official call order); the
port names them by what they carry.
"""

import re

import torch

from ... import conversion
from ...conversion import bert_config_from_weights, converter_main, count_indices, preset_feature_dims, rename_key, rename_state_dict
from .configuration_dashfusion import DashFusionConfig
from .modeling_dashfusion import DashFusionForSentimentAnalysis

DROPPED = re.compile(r"(^text_encoder\.extractor\.pooler\.|^text_encoder\.extractor\.embeddings\.position_ids$"
                     r"|^text_encoder\.projector\.MLP\.|^(audio|vision)_encoder\.(fc|dense)\.|_encoder\.cls_embedding$"
                     r"|^temporal_alignment\.(ffn|norm1|norm2)\.)")
FUSION_STREAM = {"t": "text", "a": "vision", "v": "audio"}  # HBF(x_m, x_t, x_a=vision, x_v=audio) upstream

# (pattern, replacement), applied in order to every original key.
KEY_RULES = [
    (r"^text_encoder\.extractor\.", "dashfusion.text_encoder."),
    (r"^text_encoder\.projector\.proj\.0\.", "dashfusion.text_projector.fc1."),
    (r"^text_encoder\.projector\.proj\.2\.", "dashfusion.text_projector.fc2."),
    (r"^text_encoder\.projector\.layernorm\.", "dashfusion.text_projector.norm."),
    (r"^(audio|vision)_encoder\.encoder\.pos_encoder\.", r"dashfusion.\1_encoder."),
    (r"^(audio|vision)_encoder\.encoder\.transformer_encoder\.layers\.(\d+)\.self_attn\.in_proj_(weight|bias)$",
     r"dashfusion.\1_encoder.encoder.layers.\2.qkv.\3"),
    (r"^(audio|vision)_encoder\.encoder\.transformer_encoder\.layers\.(\d+)\.self_attn\.out_proj\.",
     r"dashfusion.\1_encoder.encoder.layers.\2.out."),
    (r"^(audio|vision)_encoder\.encoder\.transformer_encoder\.layers\.(\d+)\.linear([12])\.",
     r"dashfusion.\1_encoder.encoder.layers.\2.fc\3."),
    (r"^(audio|vision)_encoder\.encoder\.transformer_encoder\.layers\.(\d+)\.(norm[12])\.",
     r"dashfusion.\1_encoder.encoder.layers.\2.\3."),
    (r"^(audio|vision)_encoder\.layernorm\.", r"dashfusion.\1_encoder.norm."),
    (r"^temporal_alignment\.to_q\.", "dashfusion.alignment.to_q."),
    (r"^temporal_alignment\.to_([kv])_ta\.", r"dashfusion.alignment.to_\1_audio."),
    (r"^temporal_alignment\.to_([kv])_tv\.", r"dashfusion.alignment.to_\1_vision."),
    (r"^temporal_alignment\.to_out\.0\.", "dashfusion.alignment.to_out."),
    (r"^HBF\.encoder_q\.(\d+)\.layers\.0\.", r"dashfusion.fusion.levels.\1.query_encoder.@"),
    (r"^HBF\.encoder_([tav])\.(\d+)\.layers\.0\.",
     lambda m: f"dashfusion.fusion.levels.{m[2]}.stream_encoders.{FUSION_STREAM[m[1]]}.@"),
    (r"^HBF\.encoder_q2tav\.(\d+)\.to_q\.", r"dashfusion.fusion.levels.\1.gather.to_q."),
    (r"^HBF\.encoder_q2tav\.(\d+)\.to_([kv])_([tav])\.",
     lambda m: f"dashfusion.fusion.levels.{m[1]}.gather.to_{m[2]}.{FUSION_STREAM[m[3]]}."),
    (r"^HBF\.encoder_q2tav\.(\d+)\.(norm[12])\.", r"dashfusion.fusion.levels.\1.gather.\2."),
    (r"^HBF\.encoder_q2tav\.(\d+)\.ffn\.net\.0\.", r"dashfusion.fusion.levels.\1.gather.ffn.fc1."),
    (r"^HBF\.encoder_q2tav\.(\d+)\.ffn\.net\.3\.", r"dashfusion.fusion.levels.\1.gather.ffn.fc2."),
    # inside a fusion block (`@` marks its start): [PostNormAttention, PostNormForward]
    (r"@0\.norm\.", "attn_norm."),
    (r"@0\.fn\.(to_query|to_key|to_value)\.", r"attn.\1."),
    (r"@1\.norm\.", "ffn_norm."),
    (r"@1\.fn\.net\.0\.", "ffn.fc1."),
    (r"@1\.fn\.net\.3\.", "ffn.fc2."),
    (r"^classifier\.MLP\.(\d+)\.", lambda m: f"head.{int(m[1]) // 2}."),
]


def convert_key(key: str) -> str | None:
    """Our name for an original key, or None for a key deliberately not carried over."""
    return rename_key(key, KEY_RULES, DROPPED)


def convert_state_dict(original: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    return rename_state_dict(original, convert_key)


PRESET_FEATURE_DIMS = preset_feature_dims(("mosi", "mosei", "sims"))


def feature_dims(original: dict[str, torch.Tensor]) -> tuple[int, int]:
    return (original["audio_encoder.encoder.pos_encoder.proj.weight"].shape[1],
            original["vision_encoder.encoder.pos_encoder.proj.weight"].shape[1])


def resolve_preset(original: dict[str, torch.Tensor], preset: str | None) -> str:
    """`preset` checked against the checkpoint's feature widths, or inferred from them (`hf_msa.conversion`)."""
    return conversion.resolve_preset(feature_dims(original), preset, PRESET_FEATURE_DIMS)


def config_from_original(original: dict[str, torch.Tensor], preset: str | None = None, num_heads: int = 8,
                         text_num_heads: int = 12, **overrides) -> DashFusionConfig:
    """A DashFusionConfig whose shapes match the checkpoint (head counts are not recoverable from weights)."""
    preset = resolve_preset(original, preset)
    text_config = bert_config_from_weights(original, 'text_encoder.extractor.', text_num_heads)
    audio_layer = "audio_encoder.encoder.transformer_encoder.layers.0."
    head = sorted(int(m[1]) for key in original if (m := re.match(r"^classifier\.MLP\.(\d+)\.weight$", key)))
    values = dict(
        text_config=text_config,
        hidden_size=original["text_encoder.projector.layernorm.weight"].shape[0],
        num_attention_heads=num_heads,
        num_encoder_layers=count_indices(original, r"^audio_encoder\.encoder\.transformer_encoder\.layers\.(\d+)\."),
        encoder_intermediate_size=original[audio_layer + "linear1.weight"].shape[0],
        alignment_head_dim=original["temporal_alignment.to_q.weight"].shape[0] // num_heads,
        alignment_heads=num_heads,
        fusion_depth=count_indices(original, r"^HBF\.encoder_q\.(\d+)\."),
        fusion_intermediate_size=original["HBF.encoder_q.0.layers.0.1.fn.net.0.weight"].shape[0],
        head_hidden_sizes=[original[f"classifier.MLP.{i}.weight"].shape[0] for i in head[:-1]],
        audio_dim=original["audio_encoder.encoder.pos_encoder.proj.weight"].shape[1],
        vision_dim=original["vision_encoder.encoder.pos_encoder.proj.weight"].shape[1],
        audio_max_length=original["audio_encoder.encoder.pos_encoder.position_embeddings"].shape[1] - 1,
        vision_max_length=original["vision_encoder.encoder.pos_encoder.position_embeddings"].shape[1] - 1,
    )
    values.update(overrides)
    return DashFusionConfig.from_preset(preset, **values)


def convert(original: dict[str, torch.Tensor], config: DashFusionConfig
            ) -> tuple[DashFusionForSentimentAnalysis, list[str]]:
    converted, dropped = convert_state_dict(original)
    model = DashFusionForSentimentAnalysis(config)
    model.load_state_dict(converted, strict=True)
    return model.eval(), dropped


def main(argv=None):
    converter_main(__doc__, PRESET_FEATURE_DIMS, feature_dims, config_from_original, convert,
                   {"num_heads": (8, "DashFusion's heads (not recoverable from weights)"),
                    "text_num_heads": (12, "BERT heads (not recoverable from weights)")}, argv)


if __name__ == "__main__":
    main()
