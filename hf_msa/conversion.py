"""What every official-checkpoint converter (`hf_msa/models/<method>/convert_<method>_original_to_hf.py`) shares:
reading the original state dict and writing the converted folder. The key mapping stays in each method's converter.
"""

from pathlib import Path

import torch


def load_original(path: str | Path) -> dict[str, torch.Tensor]:
    """An official state dict from a torch.save file (a bare state dict or {"state_dict": ...}) or a safetensors
    file with the same keys."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


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


__all__ = ["load_original", "save_converted"]
