"""MulT's `TransformerEncoder` (Tsai et al. 2019), for methods that fuse with MulT's cross-modal Transformers (CyIN).

The input is already projected to the model width. It is scaled by sqrt(d), given fairseq's sinusoidal positions
(padding index 0: a step whose first channel is exactly zero gets none) and embedding dropout; the keys and values
of a cross-modal call are embedded the same way, each with its own dropout draw. The layers are MulT's pre-LayerNorm
layers (`SequenceEncoderLayer`: one LayerNorm normalises queries, keys and values), a final LayerNorm closes. With
`causal=True` (MulT's `attn_mask=True`) step i of the queries sees key steps j <= i + |Tk - Tq|, fairseq's
`buffered_future_mask`.
"""

import math

import torch
from torch import nn

from .sequence_encoder import SequenceEncoderLayer, sinusoidal_positions


def future_mask(query_length: int, key_length: int, device=None) -> torch.Tensor:
    """[Tq, Tk] bool, True where query step i may attend to key step j: j <= i + |Tk - Tq| (MulT)."""
    offset = abs(key_length - query_length)
    rows = torch.arange(query_length, device=device)[:, None]
    cols = torch.arange(key_length, device=device)[None, :]
    return cols <= rows + offset


class CrossmodalTransformer(nn.Module):
    """[B, Tq, d] queries (and [B, Tk, d] keys = values for a cross-modal call) -> [B, Tq, d]."""

    def __init__(self, hidden_size: int, num_layers: int, num_heads: int, attn_dropout: float = 0.0,
                 relu_dropout: float = 0.0, res_dropout: float = 0.0, embed_dropout: float = 0.0,
                 causal: bool = False):
        super().__init__()
        self.layers = nn.ModuleList(
            SequenceEncoderLayer(hidden_size, num_heads, attn_dropout, relu_dropout, res_dropout)
            for _ in range(num_layers))
        self.norm = nn.LayerNorm(hidden_size)
        self.embed_scale = math.sqrt(hidden_size)
        self.embed_dropout, self.causal = embed_dropout, causal

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        table = sinusoidal_positions(x.shape[1] + 1, x.shape[2], x.device, x.dtype)[1:]
        positions = table * (x[..., :1] != 0).to(x.dtype)  # fairseq: step t -> position t + 1, zero steps none
        return nn.functional.dropout(self.embed_scale * x + positions, self.embed_dropout, self.training)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self._embed(queries)
        key_states = value_states = None
        if keys is not None:  # MulT embeds x_k and x_v separately (same input, two dropout draws)
            key_states, value_states = self._embed(keys), self._embed(keys)
        key_length = queries.shape[1] if keys is None else keys.shape[1]
        step_mask = future_mask(queries.shape[1], key_length, queries.device) if self.causal else None
        for layer in self.layers:
            hidden = layer(hidden, None, key_states, value_states, step_mask=step_mask)
        return self.norm(hidden)


__all__ = ["CrossmodalTransformer", "future_mask"]
