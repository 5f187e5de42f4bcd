"""Convert an official MMSLF checkpoint (github.com/LOGO-CUHKSZ/MMSLF, a Teacher or Student `state_dict` saved with
torch.save, or a safetensors file with the same keys) into an `MmslfTeacherForSentimentAnalysis` or
`MmslfStudentForSentimentAnalysis` folder; the role is read off the weights (a teacher has a prompt BERT).

    python -m hf_msa.models.mmslf.convert_mmslf_original_to_hf --checkpoint best_mae_seed_1111.pth \
        --output mmslf-teacher-mosi [--preset mosi] [--text-num-heads 12] [--tokenizer bert-base-uncased]

Every original key is mapped by the rules below and loaded with strict=True. Not carried over, and named in the
report: the BERT poolers (upstream reads only the last hidden state) and, in a student, the prompt parameters its
forward never reads (`to_prompt_k`, `norm_qp`, `pos_embedding_p`, and the MOSEI student's `proj_p0`). MMSLF's own
head counts follow from the weights (upstream fixes the head width at 32); BERT's do not: pass --text-num-heads if
they differ from bert-base's 12.
"""

import re

import torch

from ... import conversion
from ...conversion import bert_config_from_weights, converter_main, count_indices, preset_feature_dims, rename_key, rename_state_dict
from .configuration_mmslf import MmslfStudentConfig, MmslfTeacherConfig
from .modeling_mmslf import MmslfStudentForSentimentAnalysis, MmslfTeacherForSentimentAnalysis

HEAD_DIM = 32  # dim_head, hard-coded in every official Transformer of MMSLF
POOLER = re.compile(r"^bertmodel(_prompt)?\.model\.pooler\.")
STUDENT_UNUSED = re.compile(r"(\.to_prompt_k\.|\.norm_qp\.|\.pos_embedding_p$|^proj_p0\.|^bertmodel\.model\.pooler\.)")

# (pattern, replacement), applied in order to every original key.
KEY_RULES = [
    (r"^bertmodel\.model\.", "mmslf.text_encoder."),
    (r"^bertmodel_prompt\.model\.", "prompt_encoder.text_encoder."),
    (r"^proj_l0\.", "mmslf.text_projection."),
    (r"^proj_a0\.", "mmslf.audio_projection."),
    (r"^proj_v0\.", "mmslf.vision_projection."),
    (r"^proj_p0\.", "prompt_encoder.projection."),
    (r"^proj_p\.", "prompt_encoder.transformer."),
    (r"^l_a_encoder\.", "mmslf.text_audio_encoder."),
    (r"^l_v_encoder\.", "mmslf.text_vision_encoder."),
    (r"^fusion_encoder\.", "mmslf.fusion."),
    (r"^reg\.0\.", "regressor."),
    # the learned tables
    (r"\.pos_embedding_s$", ".source_position_embeddings"),
    (r"\.pos_embedding_t$", ".target_position_embeddings"),
    (r"\.pos_embedding_p$", ".prompt_position_embeddings"),
    (r"\.pos_embedding$", ".position_embeddings"),
    (r"\.extra_token$", ".extra_tokens"),
    # inside every Transformer: layers.N.0 = attention with its norms, layers.N.1 = feed-forward
    (r"\.(?:encoder|CrossTransformerEncoder)\.layers\.", ".layers."),
    (r"\.layers\.(\d+)\.0\.norm_qp\.", r".layers.\1.attention.norm_prompt."),
    (r"\.layers\.(\d+)\.0\.(norm_[qkv])\.", r".layers.\1.attention.\2."),
    (r"\.layers\.(\d+)\.0\.fn\.to_prompt_k\.", r".layers.\1.attention.prompt_k_proj."),
    (r"\.layers\.(\d+)\.0\.fn\.to_([qkv])\.", r".layers.\1.attention.\2_proj."),
    (r"\.layers\.(\d+)\.0\.fn\.to_out\.0\.", r".layers.\1.attention.out_proj."),
    (r"\.layers\.(\d+)\.1\.norm\.", r".layers.\1.feed_forward.norm."),
    (r"\.layers\.(\d+)\.1\.fn\.net\.0\.", r".layers.\1.feed_forward.fc1."),
    (r"\.layers\.(\d+)\.1\.fn\.net\.3\.", r".layers.\1.feed_forward.fc2."),
]


def is_teacher(original: dict[str, torch.Tensor]) -> bool:
    return any(key.startswith("bertmodel_prompt.") for key in original)


def convert_key(key: str, teacher: bool = True) -> str | None:
    """Our name for an original key of a teacher (or, `teacher=False`, a student), or None for a key deliberately
    not carried over."""
    return rename_key(key, KEY_RULES, POOLER if teacher else STUDENT_UNUSED)


def convert_state_dict(original: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    teacher = is_teacher(original)
    return rename_state_dict(original, lambda key: convert_key(key, teacher))


PRESET_FEATURE_DIMS = preset_feature_dims(("mosi", "mosei", "sims"))


def feature_dims(original: dict[str, torch.Tensor]) -> tuple[int, int]:
    return original["proj_a0.weight"].shape[1], original["proj_v0.weight"].shape[1]


def resolve_preset(original: dict[str, torch.Tensor], preset: str | None) -> str:
    """`preset` checked against the checkpoint's feature widths, or inferred from them (`hf_msa.conversion`)."""
    return conversion.resolve_preset(feature_dims(original), preset, PRESET_FEATURE_DIMS)


def config_from_original(original: dict[str, torch.Tensor], preset: str | None = None, text_num_heads: int = 12,
                         **overrides) -> MmslfTeacherConfig | MmslfStudentConfig:
    """A teacher or student config whose shapes match the checkpoint."""
    preset = resolve_preset(original, preset)
    teacher = is_teacher(original)
    cross = "l_a_encoder.CrossTransformerEncoder.layers.0."
    fusion = "fusion_encoder.encoder.layers.0."
    values = dict(
        text_config=bert_config_from_weights(original, "bertmodel.model.", text_num_heads),
        hidden_size=original["proj_l0.weight"].shape[0],
        encoder_depth=count_indices(original, r"^l_a_encoder\.CrossTransformerEncoder\.layers\.(\d+)\."),
        cross_heads=original[cross + "0.fn.to_q.weight"].shape[0] // HEAD_DIM, cross_head_dim=HEAD_DIM,
        cross_mlp_dim=original[cross + "1.fn.net.0.weight"].shape[0],
        fusion_depth=count_indices(original, r"^fusion_encoder\.encoder\.layers\.(\d+)\."),
        fusion_tokens=original["fusion_encoder.extra_token"].shape[1],
        fusion_heads=original[fusion + "0.fn.to_q.weight"].shape[0] // HEAD_DIM, fusion_head_dim=HEAD_DIM,
        fusion_mlp_dim=original[fusion + "1.fn.net.0.weight"].shape[0],
        text_max_length=original["l_a_encoder.pos_embedding_t"].shape[1] - 1,
        audio_max_length=original["l_a_encoder.pos_embedding_s"].shape[1] - 1,
        vision_max_length=original["l_v_encoder.pos_embedding_s"].shape[1] - 1,
    )
    if teacher:
        prompt = "proj_p.encoder.layers.0."
        values.update(
            prompt_text_config=bert_config_from_weights(original, "bertmodel_prompt.model.", text_num_heads),
            prompt_max_length=original["proj_p.pos_embedding"].shape[1] - original["proj_p.extra_token"].shape[1],
            prompt_depth=count_indices(original, r"^proj_p\.encoder\.layers\.(\d+)\."),
            prompt_heads=original[prompt + "0.fn.to_q.weight"].shape[0] // HEAD_DIM, prompt_head_dim=HEAD_DIM,
            prompt_mlp_dim=original[prompt + "1.fn.net.0.weight"].shape[0],
        )
    values.update(overrides)
    return (MmslfTeacherConfig if teacher else MmslfStudentConfig).from_preset(preset, **values)


def convert(original: dict[str, torch.Tensor], config) -> tuple[torch.nn.Module, list[str]]:
    converted, dropped = convert_state_dict(original)
    model_class = MmslfTeacherForSentimentAnalysis if config.role == "teacher" else MmslfStudentForSentimentAnalysis
    model = model_class(config)
    model.load_state_dict(converted, strict=True)
    return model.eval(), dropped


def main(argv=None):
    converter_main(__doc__, PRESET_FEATURE_DIMS, feature_dims, config_from_original, convert,
                   {"text_num_heads": (12, "BERT heads (not recoverable from weights)")}, argv)


if __name__ == "__main__":
    main()
