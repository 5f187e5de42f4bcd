"""What every official-checkpoint converter (`hf_msa/models/<method>/convert_<method>_original_to_hf.py`) shares:
reading the original state dict, renaming its keys by ordered regex rules, telling the dataset from the feature
widths, the command line, and writing the converted folder. The rules, the config read off the weights and the
model class stay in each method's converter.
"""

import argparse
import re
from pathlib import Path
from typing import Callable

import torch

from .configuration_utils import DATASET_PRESETS


def load_original(path: str | Path) -> dict[str, torch.Tensor]:
    """An official state dict from a torch.save file (a bare state dict or {"state_dict": ...}) or a safetensors
    file with the same keys."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


def rename_key(key: str, rules, dropped: re.Pattern) -> str | None:
    """`key` after every (pattern, replacement) rule in order, or None when `dropped` finds it (not carried over)."""
    if dropped.search(key):
        return None
    for pattern, replacement in rules:
        key = re.sub(pattern, replacement, key)
    return key


def rename_state_dict(original: dict[str, torch.Tensor], convert_key: Callable[[str], str | None]
                      ) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The original tensors under our names (floating point as float32), and the sorted keys not carried over."""
    converted, dropped = {}, []
    for key, value in original.items():
        new = convert_key(key)
        if new is None:
            dropped.append(key)
        else:
            converted[new] = value.float() if value.is_floating_point() else value
    return converted, sorted(dropped)


def count_indices(original: dict[str, torch.Tensor], pattern: str) -> int:
    """How many distinct values the first group of `pattern` takes over the keys (layers in a stack)."""
    return len({m[1] for key in original if (m := re.match(pattern, key))})


def bert_config_from_weights(original: dict[str, torch.Tensor], prefix: str, num_heads: int) -> dict:
    """The BERT config whose shapes match the weights under `prefix` (e.g. "bertmodel.model."); the head count is
    not recoverable from weights, so it is given."""
    pattern = "^" + re.escape(prefix) + r"encoder\.layer\.(\d+)\."
    return dict(
        model_type="bert",
        vocab_size=original[prefix + "embeddings.word_embeddings.weight"].shape[0],
        hidden_size=original[prefix + "embeddings.word_embeddings.weight"].shape[1],
        num_hidden_layers=count_indices(original, pattern),
        num_attention_heads=num_heads,
        intermediate_size=original[prefix + "encoder.layer.0.intermediate.dense.weight"].shape[0],
        max_position_embeddings=original[prefix + "embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=original[prefix + "embeddings.token_type_embeddings.weight"].shape[0],
    )


def preset_feature_dims(presets=("mosi", "mosei", "sims")) -> dict[str, tuple[int, int]]:
    """(audio_dim, vision_dim) of the feature files each official config trains on: the presets' own widths."""
    return {name: (DATASET_PRESETS[name]["audio_dim"], DATASET_PRESETS[name]["vision_dim"]) for name in presets}


def resolve_preset(dims: tuple[int, int], preset: str | None, feature_dims: dict[str, tuple[int, int]]) -> str:
    """`preset` checked against a checkpoint's (audio, vision) input widths, or inferred from them; a ValueError when
    neither settles it.

    The preset carries the label range and metric family (MOSI/MOSEI [-3, 3], SIMS [-1, 1]): a wrong one silently
    rejects or misreads every label, so it is never assumed.
    """
    matches = [name for name, expected in feature_dims.items() if expected == tuple(dims)]
    if preset is None:
        if len(matches) != 1:
            raise ValueError(f"cannot tell the dataset from the checkpoint (audio dim {dims[0]}, vision dim {dims[1]} "
                             f"match none of {feature_dims}): pass --preset {'|'.join(feature_dims)}")
        return matches[0]
    if matches and preset not in matches:
        raise ValueError(f"--preset {preset} disagrees with the checkpoint: audio dim {dims[0]}, vision dim {dims[1]} "
                         f"are {matches[0]}'s features; drop --preset or pass --preset {matches[0]}")
    return preset


def save_converted(model, output: str | Path, tokenizer: str | None = None) -> None:
    """Save a converted model to `output` (weights, config, code bundle), with a processor for its config beside it
    when a tokenizer folder or id is given."""
    model.save_pretrained(output)
    if tokenizer:
        from transformers import AutoTokenizer

        from .processing import MSAFeatureExtractor, MSAProcessor

        config = model.config
        processor = MSAProcessor(MSAFeatureExtractor.from_model_config(config), AutoTokenizer.from_pretrained(tokenizer),
                                 max_text_length=config.text_max_length)
        processor.save_pretrained(output)


def converter_main(description: str, feature_dims: dict[str, tuple[int, int]],
                   read_dims: Callable[[dict], tuple[int, int]], config_from_original: Callable, convert: Callable,
                   head_counts: dict[str, tuple[int, str]], argv=None) -> None:
    """The command line every converter offers: --checkpoint, --preset (checked or inferred), one flag per head count
    (`head_counts`: keyword of `config_from_original` -> (default, help); heads are not recoverable from weights),
    --tokenizer and --output; prints the preset, what was not carried over and where the folder went."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="official state dict (.pth) or .safetensors")
    parser.add_argument("--preset", default=None, choices=sorted(feature_dims),
                        help="the dataset the checkpoint was trained on (default: inferred from its feature widths; "
                             "required when they match no standard feature file)")
    for name, (default, help_text) in head_counts.items():
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=default, help=help_text)
    parser.add_argument("--tokenizer", default=None, help="tokenizer folder or id to save beside the model")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    original = load_original(args.checkpoint)
    try:
        preset = resolve_preset(read_dims(original), args.preset, feature_dims)
    except ValueError as error:
        raise SystemExit(str(error))
    print(f"dataset preset: {preset}" + ("" if args.preset else " (inferred from the audio / vision feature widths)"))
    config = config_from_original(original, preset, **{name: getattr(args, name) for name in head_counts})
    model, dropped = convert(original, config)
    save_converted(model, args.output, args.tokenizer)
    print(f"converted {len(original) - len(dropped)} tensors (strict load); not carried over: {dropped}")
    print(f"saved to {args.output}")


__all__ = ["bert_config_from_weights", "converter_main", "count_indices", "load_original", "preset_feature_dims", "rename_key",
           "rename_state_dict", "resolve_preset", "save_converted"]
