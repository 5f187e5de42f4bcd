"""MMSLF's prompt-modulated cross-modal Transformer (text queries over audio or vision frames).

Pre-LayerNorm like `token_transformer` (separate norms for query, key and value), plus an optional prompt stream:
with a prompt `p`, the attention logits of text over the source are multiplied element-wise by the logits of the
prompt over the source's VALUE projection,

    S = (W_q t)(W_k s)^T / sqrt(d_h),  P = (W_pk p)(W_v s)^T / sqrt(d_h),  A = softmax(S * P)  (with a prompt)

and A mixes the values (`A = softmax(S)` without one). The product of two logit maps (not an additive bias) is the
method; so is keying the prompt on the values. Both maps are returned: the unmodulated softmax(S) is what MMSLF's
student distils, the modulated one what actually mixed the values. The maps are needed as tensors, so this attention
is written out (no fused kernel could return them).
"""

import torch
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from .token_transformer import PreNormFeedForward


class ModulatedCrossAttention(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int, dropout: float = 0.0, modulated: bool = True):
        super().__init__()
        inner = heads * head_dim
        self.heads, self.head_dim, self.dropout = heads, head_dim, dropout
        self.norm_q, self.norm_k, self.norm_v = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q_proj = nn.Linear(dim, inner, bias=False)
        self.k_proj = nn.Linear(dim, inner, bias=False)
        self.v_proj = nn.Linear(dim, inner, bias=False)
        self.out_proj = nn.Linear(inner, dim)
        # the prompt's own norm and key projection; a layer built without them (MMSLF's student) takes no prompt
        self.norm_prompt = nn.LayerNorm(dim) if modulated else None
        self.prompt_k_proj = nn.Linear(dim, inner, bias=False) if modulated else None

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # [B, N, h*d] -> [B, h, N, d]
        return x.view(x.shape[0], x.shape[1], self.heads, self.head_dim).transpose(1, 2)

    def forward(self, target: torch.Tensor, source: torch.Tensor, prompt: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """-> (attention output [B, T, d] before the residual, softmax(S) [B, h, T, S], softmax(S * P) or None)."""
        scale = self.head_dim ** -0.5
        q = self._split(self.q_proj(self.norm_q(target)))
        k = self._split(self.k_proj(self.norm_k(source)))
        v = self._split(self.v_proj(self.norm_v(source)))
        logits = (q @ k.transpose(-1, -2)) * scale
        attention = logits.softmax(dim=-1)
        modulated = None
        if prompt is not None:
            if self.prompt_k_proj is None:
                raise ValueError("this cross-modal attention was built without a prompt path (modulated=False)")
            if prompt.shape[1] != target.shape[1]:
                raise ValueError(f"the prompt stream has {prompt.shape[1]} tokens but the text has {target.shape[1]}: "
                                 "the modulation multiplies their logit maps element-wise, so the lengths must match")
            prompt_k = self._split(self.prompt_k_proj(self.norm_prompt(prompt)))
            modulated = (logits * ((prompt_k @ v.transpose(-1, -2)) * scale)).softmax(dim=-1)
        mixed = (attention if modulated is None else modulated) @ v
        mixed = mixed.transpose(1, 2).reshape(target.shape[0], target.shape[1], -1)
        return nn.functional.dropout(self.out_proj(mixed), self.dropout, self.training), attention, modulated


class ModulatedCrossLayer(GradientCheckpointingLayer):
    """target += ModulatedAttn(LN(target), LN(source), LN(prompt)); target += FFN(LN(target))."""

    def __init__(self, dim: int, heads: int, head_dim: int, mlp_dim: int, dropout: float = 0.0,
                 modulated: bool = True):
        super().__init__()
        self.attention = ModulatedCrossAttention(dim, heads, head_dim, dropout, modulated)
        self.feed_forward = PreNormFeedForward(dim, mlp_dim, dropout)

    def forward(self, target: torch.Tensor, source: torch.Tensor, prompt: torch.Tensor | None = None):
        attended, attention, modulated = self.attention(target, source, prompt)
        target = target + attended
        return target + self.feed_forward(target), attention, modulated


class ModulatedCrossTransformer(nn.Module):
    """Text [B, T, d] attends to a source [B, S, d], optionally modulated by a prompt stream [B, T, d].

    `modulated=False` builds it without the prompt path (no prompt norm, key projection or positions).
    Learned positions are added to each stream (sliced to its length; the prompt's table is sliced with the TEXT
    length, as upstream), no extra token is prepended, and nothing is masked: padded text positions and zero frames
    take part in every attention. Returns the text after the last layer and the last layer's two maps.
    """

    def __init__(self, source_length: int, target_length: int, dim: int, depth: int, heads: int, head_dim: int,
                 mlp_dim: int, dropout: float = 0.0, modulated: bool = True):
        super().__init__()
        # one spare row per table, as upstream allocates them (never read)
        self.source_position_embeddings = nn.Parameter(torch.zeros(1, source_length + 1, dim))
        self.target_position_embeddings = nn.Parameter(torch.zeros(1, target_length + 1, dim))
        self.prompt_position_embeddings = nn.Parameter(torch.zeros(1, source_length + 1, dim)) if modulated else None
        self.layers = nn.ModuleList(ModulatedCrossLayer(dim, heads, head_dim, mlp_dim, dropout, modulated)
                                    for _ in range(depth))

    def forward(self, source: torch.Tensor, target: torch.Tensor, prompt: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        for name, x, table in (("source", source, self.source_position_embeddings),
                               ("text", target, self.target_position_embeddings)):
            if x.shape[1] > table.shape[1] - 1:
                raise ValueError(f"the {name} stream has {x.shape[1]} steps, more than this encoder's "
                                 f"{table.shape[1] - 1} learned positions")
        source = source + self.source_position_embeddings[:, : source.shape[1]]
        target = target + self.target_position_embeddings[:, : target.shape[1]]
        if prompt is not None:
            prompt = prompt + self.prompt_position_embeddings[:, : target.shape[1]]
        attention = modulated = None
        for layer in self.layers:
            target, attention, modulated = layer(target, source, prompt)
        return target, attention, modulated


__all__ = ["ModulatedCrossAttention", "ModulatedCrossLayer", "ModulatedCrossTransformer"]
