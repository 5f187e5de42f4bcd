"""Scaled dot-product attention with a switch between torch's fused kernel and the explicit formula.

Every attention in `hf_msa/modules` calls `attend`, and carries an `attn_implementation` attribute that the model sets
from `config._attn_implementation` (`from_pretrained(..., attn_implementation="eager")` or
`model.set_attn_implementation(...)`): "sdpa" is `torch.nn.functional.scaled_dot_product_attention`, "eager" the
same function written out (softmax(QK^T / sqrt(d) + mask) V), for debugging, attention inspection or a backend
without SDPA. Both compute the same numbers up to rounding.
"""

import math

import torch
from torch import nn

ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")


def attend(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None = None,
           dropout_p: float = 0.0, implementation: str = "sdpa") -> torch.Tensor:
    """[B, h, Nq, d] x [B, h, Nk, d] -> [B, h, Nq, d]; `mask` (bool, broadcastable to [B, h, Nq, Nk]) True = attend;
    `dropout_p` on the attention weights (pass 0 outside training)."""
    if implementation == "sdpa":
        return nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout_p)
    if implementation != "eager":
        raise ValueError(f"attn_implementation must be one of {ATTENTION_IMPLEMENTATIONS}, got {implementation!r}")
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = nn.functional.dropout(torch.softmax(scores, dim=-1), dropout_p, training=dropout_p > 0)
    return weights @ value


__all__ = ["ATTENTION_IMPLEMENTATIONS", "attend"]
