"""`torch.nn.TransformerEncoder` of post-norm layers, rewritten around `attend` so dropout on the attention weights
runs the fast blockwise path on CPU (`modules/attention.py`) instead of torch's unfused one.

Same parameters and function as `nn.TransformerEncoderLayer(d, heads, ff, dropout, activation, norm_first=False,
batch_first=True)`: fused q/k/v projection (`in_proj_weight` -> `qkv`), `out_proj` -> `out`, `linear1`/`linear2` ->
`fc1`/`fc2`, `norm1`/`norm2`; one dropout probability for the attention weights, the attention output, the
feed-forward activation and its output, as torch applies it. A converter maps torch's keys one to one.
"""

import torch
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from .attention import attend
from .sequence_encoder import FusedInProjection

ACTIVATIONS = {"gelu": nn.functional.gelu, "relu": torch.relu}


class AttentionOutProjection(nn.Linear):
    """The output projection of `nn.MultiheadAttention`: PyTorch's Linear init for the weight, a zero bias. Its own
    class so a model's `_init_weights` can zero the bias, as torch's `_reset_parameters` does."""


class PostNormEncoderLayer(GradientCheckpointingLayer):
    def __init__(self, hidden_size: int, num_heads: int, intermediate_size: int, dropout: float,
                 activation: str = "gelu", layer_norm_eps: float = 1e-5):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads})")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.num_heads, self.dropout, self.activation = num_heads, dropout, activation
        self.attn_implementation = "sdpa"  # set by the model from config._attn_implementation
        self.qkv = FusedInProjection(hidden_size, 3 * hidden_size)
        self.out = AttentionOutProjection(hidden_size, hidden_size)
        self.fc1 = nn.Linear(hidden_size, intermediate_size)
        self.fc2 = nn.Linear(intermediate_size, hidden_size)
        self.norm1 = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.norm2 = nn.LayerNorm(hidden_size, eps=layer_norm_eps)

    def forward(self, hidden: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """`hidden` [B, T, d]; `padding_mask` [B, T] bool, True = padding (torch's `src_key_padding_mask`)."""
        batch, length, width = hidden.shape
        p = self.dropout if self.training else 0.0
        q, k, v = self.qkv(hidden).view(batch, length, 3, self.num_heads, width // self.num_heads).permute(2, 0, 3, 1, 4)
        mask = None if padding_mask is None else ~padding_mask[:, None, None, :]
        attn = attend(q, k, v, mask, p, self.attn_implementation).transpose(1, 2).reshape(batch, length, width)
        hidden = self.norm1(hidden + nn.functional.dropout(self.out(attn), p, self.training))
        ffn = nn.functional.dropout(ACTIVATIONS[self.activation](self.fc1(hidden)), p, self.training)
        return self.norm2(hidden + nn.functional.dropout(self.fc2(ffn), p, self.training))


class PostNormEncoder(nn.Module):
    """A stack of `PostNormEncoderLayer` without a final norm (`nn.TransformerEncoder(layer, n)`, `norm=None`)."""

    def __init__(self, num_layers: int, hidden_size: int, num_heads: int, intermediate_size: int, dropout: float,
                 activation: str = "gelu", layer_norm_eps: float = 1e-5):
        super().__init__()
        self.layers = nn.ModuleList(PostNormEncoderLayer(hidden_size, num_heads, intermediate_size, dropout,
                                                         activation, layer_norm_eps) for _ in range(num_layers))

    def forward(self, hidden: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.layers:
            hidden = layer(hidden, padding_mask)
        return hidden


__all__ = ["AttentionOutProjection", "PostNormEncoder", "PostNormEncoderLayer"]
