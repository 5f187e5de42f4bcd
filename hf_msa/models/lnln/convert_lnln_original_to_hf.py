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

import argparse
import re

import torch

from ...configuration_utils import DATASET_PRESETS
from ...conversion import load_original, save_converted
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
    if DROPPED.match(key):
        return None
    for pattern, replacement in KEY_RULES:
        key = re.sub(pattern, replacement, key)
    return key


def convert_state_dict(original: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    converted, dropped = {}, []
    for key, value in original.items():
        new = convert_key(key)
        if new is None:
            dropped.append(key)
        else:
            converted[new] = value.float() if value.is_floating_point() else value
    return converted, dropped


# (audio_dim, vision_dim) of the feature files each official config trains on: the dataset presets' own widths
PRESET_FEATURE_DIMS = {name: (DATASET_PRESETS[name]["audio_dim"], DATASET_PRESETS[name]["vision_dim"])
                       for name in ("mosi", "mosei", "sims")}


def infer_preset(original: dict[str, torch.Tensor]) -> str | None:
    """The dataset an official checkpoint was trained on, read off its audio / vision input widths (None: unknown)."""
    dims = (original["proj_a.0.weight"].shape[1], original["proj_v.0.weight"].shape[1])
    matches = [name for name, expected in PRESET_FEATURE_DIMS.items() if expected == dims]
    return matches[0] if len(matches) == 1 else None


def resolve_preset(original: dict[str, torch.Tensor], preset: str | None) -> str:
    """`preset` checked against the checkpoint, or inferred from it; a ValueError when neither settles it.

    The preset carries the label range and metric family (MOSI/MOSEI [-3, 3], SIMS [-1, 1]): a wrong one silently
    rejects or misreads every label, so it is never assumed.
    """
    inferred = infer_preset(original)
    dims = (original["proj_a.0.weight"].shape[1], original["proj_v.0.weight"].shape[1])
    if preset is None:
        if inferred is None:
            raise ValueError(f"cannot tell the dataset from the checkpoint (audio dim {dims[0]}, vision dim {dims[1]} "
                             f"match none of {PRESET_FEATURE_DIMS}): pass --preset mosi|mosei|sims")
        return inferred
    if inferred is not None and inferred != preset:
        raise ValueError(f"--preset {preset} disagrees with the checkpoint: audio dim {dims[0]}, vision dim {dims[1]} "
                         f"are {inferred}'s features; drop --preset or pass --preset {inferred}")
    return preset


def config_from_original(original: dict[str, torch.Tensor], preset: str | None = None, text_num_heads: int = 12,
                         **overrides) -> LnlnConfig:
    """An LnlnConfig whose shapes match the checkpoint: BERT sizes and sequence lengths are read off the weights,
    the dataset preset is inferred from the feature widths unless given (see `resolve_preset`)."""
    preset = resolve_preset(original, preset)
    prefix = "bertmodel.model."
    layers = {int(k[len(prefix):].split(".")[2]) for k in original if k.startswith(prefix + "encoder.layer.")}
    text_config = dict(
        model_type="bert",
        vocab_size=original[prefix + "embeddings.word_embeddings.weight"].shape[0],
        hidden_size=original[prefix + "embeddings.word_embeddings.weight"].shape[1],
        num_hidden_layers=len(layers),
        num_attention_heads=text_num_heads,
        intermediate_size=original[prefix + "encoder.layer.0.intermediate.dense.weight"].shape[0],
        max_position_embeddings=original[prefix + "embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=original[prefix + "embeddings.token_type_embeddings.weight"].shape[0],
    )
    tokens = original["h_p"].shape[1]
    fusion_layers = {int(k.split(".")[4]) for k in original if k.startswith("dmml.2.CrossTransformerEncoder.layers.")}
    values = dict(
        text_config=text_config,
        hidden_size=original["h_p"].shape[2],
        num_tokens=tokens,
        audio_dim=original["proj_a.0.weight"].shape[1],
        vision_dim=original["proj_v.0.weight"].shape[1],
        text_max_length=original["proj_l.1.pos_embedding"].shape[1] - tokens,
        audio_max_length=original["proj_a.1.pos_embedding"].shape[1] - tokens,
        vision_max_length=original["proj_v.1.pos_embedding"].shape[1] - tokens,
        fusion_depth=len(fusion_layers),
    )
    values.update(overrides)
    return LnlnConfig.from_preset(preset, **values)


def convert(original: dict[str, torch.Tensor], config: LnlnConfig) -> tuple[LnlnForSentimentAnalysis, list[str]]:
    converted, dropped = convert_state_dict(original)
    model = LnlnForSentimentAnalysis(config)
    model.load_state_dict(converted, strict=True)
    return model.eval(), dropped


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="official state dict (.pth) or .safetensors")
    parser.add_argument("--preset", default=None, choices=["mosi", "mosei", "sims"],
                        help="the dataset the checkpoint was trained on (default: inferred from its feature widths; "
                             "required when they match no standard feature file)")
    parser.add_argument("--text-num-heads", type=int, default=12, help="BERT heads (not recoverable from weights)")
    parser.add_argument("--tokenizer", default=None, help="tokenizer folder or id to save beside the model")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    original = load_original(args.checkpoint)
    try:
        preset = resolve_preset(original, args.preset)
    except ValueError as error:
        raise SystemExit(str(error))
    print(f"dataset preset: {preset}" + ("" if args.preset else " (inferred from the audio / vision feature widths)"))
    config = config_from_original(original, preset, args.text_num_heads)
    model, dropped = convert(original, config)
    save_converted(model, args.output, args.tokenizer)
    print(f"converted {len(original) - len(dropped)} tensors (strict load); not carried over: {dropped}")
    print(f"saved to {args.output}")


if __name__ == "__main__":
    main()
