"""MulT-style encoder for audio/vision feature sequences.

Conv1d projection to the model width, then a stack of pre-LayerNorm Transformer layers with sinusoidal positions
(Tsai et al. 2019, MulT; MIB and DIB reuse it with 3 layers and 5 heads). Attention runs through
`scaled_dot_product_attention` with a key-padding mask, so padded frames are never attended to. A row whose mask is
all zero (a missing modality) attends freely to its zero padding and is zeroed by the pooling that follows.

Two readings of MulT's own code are options, for methods that call it that way (HME):
* `static_keys=True`: MulT's encoder called as `enc(x, x, x)` takes keys and values from the embedded input at every
  layer (each layer's first LayerNorm applied to it); only the query stream runs through the layers.
* `positions="nonzero"`: fairseq's sinusoidal positions with padding index 0: step t gets position t + 1 when the
  first channel of its projected features is non-zero, and no position at all otherwise (zero frames stay zero).
With `mask=None` nothing is masked: every step is attended to, padding included.
"""

import math

import torch
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from .attention import attend

POSITION_RULES = ("all", "nonzero")


def sinusoidal_positions(length: int, dim: int, device=None, dtype=None) -> torch.Tensor:
    """[length, dim] fairseq/MulT sinusoidal table (sin half, cos half), computed on the fly (no buffer)."""
    half = dim // 2
    step = math.log(10000.0) / max(half - 1, 1)
    freqs = torch.exp(torch.arange(half, device=device, dtype=torch.float32) * -step)
    angles = torch.arange(length, device=device, dtype=torch.float32)[:, None] * freqs[None, :]
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2:
        table = torch.cat([table, torch.zeros(length, 1, device=device)], dim=1)
    return table.to(dtype or torch.float32)


class FusedInProjection(nn.Linear):
    """MulT's fused query/key/value projection [3d, d] (rows q, k, v). Its own class so a model can give it fairseq's
    Xavier-uniform init: transformers' init walk never reaches modules without parameters of their own, such as
    the layer that holds it."""


class MultLinear(nn.Linear):
    """The attention out-projection and the feed-forward layers of MulT's layer, which MulT starts Xavier-uniform
    with zero bias (its `Linear` helper, fairseq's `reset_parameters`). Its own class so a model that follows MulT's
    init (CyIN) can find them; to every other model it is an `nn.Linear`."""


class SequenceEncoderLayer(GradientCheckpointingLayer):
    def __init__(self, hidden_size: int, num_heads: int, attn_dropout: float, relu_dropout: float,
                 res_dropout: float):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.attn_implementation = "sdpa"  # set by the model from config._attn_implementation
        self.attn_norm = nn.LayerNorm(hidden_size)
        self.qkv = FusedInProjection(hidden_size, 3 * hidden_size)
        self.out = MultLinear(hidden_size, hidden_size)
        self.ffn_norm = nn.LayerNorm(hidden_size)
        self.fc1 = MultLinear(hidden_size, 4 * hidden_size)
        self.fc2 = MultLinear(4 * hidden_size, hidden_size)
        self.attn_dropout, self.relu_dropout, self.res_dropout = attn_dropout, relu_dropout, res_dropout

    def forward(self, hidden: torch.Tensor, key_mask: torch.Tensor | None, keys: torch.Tensor | None = None,
                values: torch.Tensor | None = None, step_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Self-attention over `hidden`, or, given `keys` and `values` [B, T, d], attention from `hidden` to them.
        `step_mask` [Tq, Tk] (bool, True = may attend) restricts which steps each step sees (MulT's future mask)."""
        batch, length, width = hidden.shape
        heads = lambda x: x.view(batch, -1, self.num_heads, width // self.num_heads).transpose(1, 2)  # noqa: E731
        if keys is None:
            qkv = self.qkv(self.attn_norm(hidden))
            # [B, T, 3d] -> 3 x [B, h, T, d/h]
            q, k, v = qkv.view(batch, length, 3, self.num_heads, width // self.num_heads).permute(2, 0, 3, 1, 4)
        else:
            weights, biases = self.qkv.weight.chunk(3), self.qkv.bias.chunk(3)
            q, k, v = (heads(nn.functional.linear(self.attn_norm(x), w, b))
                       for x, w, b in zip((hidden, keys, values), weights, biases))
        mask = None if key_mask is None else key_mask[:, None, None, :]
        if step_mask is not None:
            mask = step_mask if mask is None else mask & step_mask
        attn = attend(q, k, v, mask, self.attn_dropout if self.training else 0.0, self.attn_implementation)
        attn = attn.transpose(1, 2).reshape(batch, length, width)
        hidden = hidden + nn.functional.dropout(self.out(attn), self.res_dropout, self.training)
        ffn = nn.functional.dropout(torch.relu(self.fc1(self.ffn_norm(hidden))), self.relu_dropout, self.training)
        return hidden + nn.functional.dropout(self.fc2(ffn), self.res_dropout, self.training)


class SequenceEncoder(nn.Module):
    """[B, T, input_size] features + [B, T] mask -> [B, T, hidden_size] contextual states."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 3, num_heads: int = 5,
                 attn_dropout: float = 0.5, relu_dropout: float = 0.3, res_dropout: float = 0.3,
                 embed_dropout: float = 0.2, projection_kernel: int = 3, static_keys: bool = False,
                 positions: str = "all"):
        super().__init__()
        if positions not in POSITION_RULES:
            raise ValueError(f"positions must be one of {POSITION_RULES}, got {positions!r}")
        if projection_kernel < 1 or projection_kernel % 2 == 0:
            raise ValueError(f"projection_kernel must be an odd size >= 1 (the sequence keeps its length), "
                             f"got {projection_kernel}")
        self.projection = nn.Conv1d(input_size, hidden_size, kernel_size=projection_kernel,
                                    padding=projection_kernel // 2, bias=False)
        self.static_keys, self.positions = static_keys, positions
        self.layers = nn.ModuleList(
            SequenceEncoderLayer(hidden_size, num_heads, attn_dropout, relu_dropout, res_dropout)
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(hidden_size)
        self.embed_scale = math.sqrt(hidden_size)
        self.embed_dropout = embed_dropout

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        key_mask = None
        if mask is not None:
            valid = mask.bool()
            # missing rows (no valid step) attend to everything so softmax stays finite; pooling zeroes them later
            key_mask = valid | ~valid.any(dim=1, keepdim=True)
            features = features * valid.unsqueeze(-1).to(features.dtype)  # padding must not leak through the conv
        projected = self.projection(features.transpose(1, 2)).transpose(1, 2)  # [B, T, d]
        length, width = projected.shape[1:]
        if self.positions == "all":
            positions = sinusoidal_positions(length, width, projected.device, projected.dtype)
        else:  # fairseq: step t -> position t + 1 (row 0 of the table is the padding index), zero frames none
            table = sinusoidal_positions(length + 1, width, projected.device, projected.dtype)[1:]
            positions = table * (projected[..., :1] != 0).to(projected.dtype)
        embedded = self.embed_scale * projected + positions
        hidden = nn.functional.dropout(embedded, self.embed_dropout, self.training)
        keys = values = None
        if self.static_keys:  # MulT's enc(x, x, x): keys and values get their own embedding dropout, as there
            keys = nn.functional.dropout(embedded, self.embed_dropout, self.training)
            values = nn.functional.dropout(embedded, self.embed_dropout, self.training)
        for layer in self.layers:
            hidden = layer(hidden, key_mask, keys, values)
        return self.norm(hidden)


__all__ = ["FusedInProjection", "MultLinear", "POSITION_RULES", "SequenceEncoder", "SequenceEncoderLayer",
           "sinusoidal_positions"]
