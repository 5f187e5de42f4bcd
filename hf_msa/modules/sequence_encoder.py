"""MulT-style encoder for audio/vision feature sequences.

Conv1d projection to the model width, then a stack of pre-LayerNorm Transformer layers with sinusoidal positions
(Tsai et al. 2019, MulT; MIB and DIB reuse it with 3 layers and 5 heads). Attention runs through
`scaled_dot_product_attention` with a key-padding mask, so padded frames are never attended to. A row whose mask is
all zero (a missing modality) attends freely to its zero padding and is zeroed by the pooling that follows.
"""

import math

import torch
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from .attention import attend


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


class SequenceEncoderLayer(GradientCheckpointingLayer):
    def __init__(self, hidden_size: int, num_heads: int, attn_dropout: float, relu_dropout: float,
                 res_dropout: float):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.attn_implementation = "sdpa"  # set by the model from config._attn_implementation
        self.attn_norm = nn.LayerNorm(hidden_size)
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.out = nn.Linear(hidden_size, hidden_size)
        self.ffn_norm = nn.LayerNorm(hidden_size)
        self.fc1 = nn.Linear(hidden_size, 4 * hidden_size)
        self.fc2 = nn.Linear(4 * hidden_size, hidden_size)
        self.attn_dropout, self.relu_dropout, self.res_dropout = attn_dropout, relu_dropout, res_dropout

    def forward(self, hidden: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        batch, length, width = hidden.shape
        qkv = self.qkv(self.attn_norm(hidden))
        # [B, T, 3d] -> 3 x [B, h, T, d/h]
        q, k, v = qkv.view(batch, length, 3, self.num_heads, width // self.num_heads).permute(2, 0, 3, 1, 4)
        attn = attend(q, k, v, key_mask[:, None, None, :], self.attn_dropout if self.training else 0.0,
                      self.attn_implementation)
        attn = attn.transpose(1, 2).reshape(batch, length, width)
        hidden = hidden + nn.functional.dropout(self.out(attn), self.res_dropout, self.training)
        ffn = nn.functional.dropout(torch.relu(self.fc1(self.ffn_norm(hidden))), self.relu_dropout, self.training)
        return hidden + nn.functional.dropout(self.fc2(ffn), self.res_dropout, self.training)


class SequenceEncoder(nn.Module):
    """[B, T, input_size] features + [B, T] mask -> [B, T, hidden_size] contextual states."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 3, num_heads: int = 5,
                 attn_dropout: float = 0.5, relu_dropout: float = 0.3, res_dropout: float = 0.3,
                 embed_dropout: float = 0.2):
        super().__init__()
        self.projection = nn.Conv1d(input_size, hidden_size, kernel_size=3, padding=1, bias=False)
        self.layers = nn.ModuleList(
            SequenceEncoderLayer(hidden_size, num_heads, attn_dropout, relu_dropout, res_dropout)
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(hidden_size)
        self.embed_scale = math.sqrt(hidden_size)
        self.embed_dropout = embed_dropout

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        valid = mask.bool()
        # missing rows (no valid step) attend to everything so softmax stays finite; pooling zeroes them later
        key_mask = valid | ~valid.any(dim=1, keepdim=True)
        features = features * valid.unsqueeze(-1).to(features.dtype)  # padding must not leak through the conv
        hidden = self.projection(features.transpose(1, 2)).transpose(1, 2)  # [B, T, d]
        hidden = self.embed_scale * hidden + sinusoidal_positions(hidden.shape[1], hidden.shape[2],
                                                                  hidden.device, hidden.dtype)
        hidden = nn.functional.dropout(hidden, self.embed_dropout, self.training)
        for layer in self.layers:
            hidden = layer(hidden, key_mask)
        return self.norm(hidden)


__all__ = ["SequenceEncoder", "SequenceEncoderLayer", "sinusoidal_positions"]
