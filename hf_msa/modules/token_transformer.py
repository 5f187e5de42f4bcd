"""ALMT-style pre-LayerNorm Transformers over a few summary tokens (used by LNLN; ALMT-derived methods reuse them).

Each attention normalises query, key and value with three separate LayerNorms (even for self-attention), projects
them without bias to `heads * head_dim` (8 x 64 = 512 by default, then back to the model width), and adds the result
to the residual; the feed-forward is LayerNorm -> Linear -> GELU -> Linear, also residual. A `TokenTransformer` can
prepend learned "extra" tokens and adds learned positional embeddings; its first tokens summarise a sequence.
Attention runs through `attention.attend` (SDPA or the explicit formula); an optional key mask keeps padding out (the LNLN reference
attends to padding, so its default passes none).
"""

import torch
from torch import nn
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer

from .attention import attend


class PreNormAttention(nn.Module):
    def __init__(self, dim: int, heads: int = 8, head_dim: int = 64, dropout: float = 0.0):
        super().__init__()
        inner = heads * head_dim
        self.heads, self.head_dim, self.dropout = heads, head_dim, dropout
        self.attn_implementation = "sdpa"  # set by the model from config._attn_implementation
        self.norm_q, self.norm_k, self.norm_v = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q_proj = nn.Linear(dim, inner, bias=False)
        self.k_proj = nn.Linear(dim, inner, bias=False)
        self.v_proj = nn.Linear(dim, inner, bias=False)
        self.out_proj = nn.Linear(inner, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # [B, N, h*d] -> [B, h, N, d]
        return x.view(x.shape[0], x.shape[1], self.heads, self.head_dim).transpose(1, 2)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_mask: torch.Tensor | None = None) -> torch.Tensor:
        q = self._split(self.q_proj(self.norm_q(query)))
        k = self._split(self.k_proj(self.norm_k(key)))
        v = self._split(self.v_proj(self.norm_v(value)))
        mask = None if key_mask is None else key_mask[:, None, None, :].bool()
        attended = attend(q, k, v, mask, self.dropout if self.training else 0.0, self.attn_implementation)
        attended = attended.transpose(1, 2).reshape(query.shape[0], query.shape[1], -1)
        return self.out_proj(attended)


class PreNormFeedForward(nn.Module):
    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = nn.functional.dropout(nn.functional.gelu(self.fc1(self.norm(x))), self.dropout, self.training)
        return nn.functional.dropout(self.fc2(hidden), self.dropout, self.training)


class TokenTransformerLayer(GradientCheckpointingLayer):
    """target += Attn(LN(target), LN(source), LN(source)); target += FFN(LN(target)). Self-attention: source = target."""

    def __init__(self, dim: int, heads: int, head_dim: int, mlp_dim: int, dropout: float = 0.0):
        super().__init__()
        self.attention = PreNormAttention(dim, heads, head_dim, dropout)
        self.feed_forward = PreNormFeedForward(dim, mlp_dim, dropout)

    def forward(self, target: torch.Tensor, source: torch.Tensor | None = None,
                key_mask: torch.Tensor | None = None) -> torch.Tensor:
        source = target if source is None else source
        target = target + self.attention(target, source, source, key_mask)
        return target + self.feed_forward(target)


class TokenTransformer(nn.Module):
    """[B, N, d] -> [B, extra + N, d]: prepend `num_extra_tokens` learned tokens, add positions, run the layers.

    `max_length` is the longest input it takes (the positional table has `max_length + num_extra_tokens` rows);
    `return_hidden_states` also returns [input + positions, after layer 1, ...].
    """

    def __init__(self, max_length: int, dim: int, depth: int, heads: int = 8, head_dim: int = 64,
                 mlp_dim: int | None = None, num_extra_tokens: int = 0, dropout: float = 0.0):
        super().__init__()
        self.num_extra_tokens = num_extra_tokens
        self.extra_tokens = nn.Parameter(torch.zeros(1, num_extra_tokens, dim)) if num_extra_tokens else None
        self.position_embeddings = nn.Parameter(torch.zeros(1, max_length + num_extra_tokens, dim))
        self.layers = nn.ModuleList(
            TokenTransformerLayer(dim, heads, head_dim, mlp_dim or dim, dropout) for _ in range(depth))

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None, return_hidden_states: bool = False,
                keep_first: int | None = None):
        """`keep_first=n`: only the first n output positions are wanted (e.g. LNLN keeps its n learned tokens), so
        the last layer computes only those rows: their queries attend to every position as before, and no other
        row's result is used, so the output is the same as the full output's first n rows."""
        if keep_first is not None and return_hidden_states:
            raise ValueError("keep_first drops rows of the last layer; it cannot return every hidden state")
        if self.extra_tokens is not None:
            x = torch.cat([self.extra_tokens.expand(x.shape[0], -1, -1), x], dim=1)
            if key_mask is not None:
                key_mask = torch.cat([key_mask.new_ones(x.shape[0], self.num_extra_tokens), key_mask], dim=1)
        if x.shape[1] > self.position_embeddings.shape[1]:
            raise ValueError(f"sequence of {x.shape[1] - self.num_extra_tokens} steps is longer than this encoder's "
                             f"max_length {self.position_embeddings.shape[1] - self.num_extra_tokens}")
        x = x + self.position_embeddings[:, : x.shape[1]]
        hidden_states = [x]
        for index, layer in enumerate(self.layers):
            if keep_first is not None and index == len(self.layers) - 1:
                return layer(x[:, :keep_first], x, key_mask)
            x = layer(x, None, key_mask)
            hidden_states.append(x)
        if keep_first is not None:  # no layers
            return x[:, :keep_first]
        return (x, hidden_states) if return_hidden_states else x


class CrossTokenTransformer(nn.Module):
    """Target tokens attend to source tokens; one shared learned token is prepended to both (ALMT's fusion)."""

    def __init__(self, source_length: int, target_length: int, dim: int, depth: int, heads: int = 8,
                 head_dim: int = 64, mlp_dim: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.shared_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.source_position_embeddings = nn.Parameter(torch.zeros(1, source_length + 1, dim))
        self.target_position_embeddings = nn.Parameter(torch.zeros(1, target_length + 1, dim))
        self.layers = nn.ModuleList(
            TokenTransformerLayer(dim, heads, head_dim, mlp_dim or dim, dropout) for _ in range(depth))

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        token = self.shared_token.expand(source.shape[0], -1, -1)
        source = torch.cat([token, source], dim=1)
        target = torch.cat([token, target], dim=1)
        source = source + self.source_position_embeddings[:, : source.shape[1]]
        target = target + self.target_position_embeddings[:, : target.shape[1]]
        for layer in self.layers:
            target = layer(target, source)
        return target


def init_reference_tables(module: nn.Module) -> None:
    """The ALMT-family reference init (vit.py, shared by LNLN and MMSLF) of a module's own learned tables:
    positional tables (`*position_embeddings`) ~ N(0, 1), prepended tokens (`extra_tokens`, `shared_token`) 0.
    For a model's `_init_weights`; absent (None) tables are skipped."""
    for name, parameter in module.named_parameters(recurse=False):
        if name.endswith("position_embeddings"):
            init.normal_(parameter, mean=0.0, std=1.0)
        elif name in ("extra_tokens", "shared_token"):
            init.zeros_(parameter)


__all__ = ["CrossTokenTransformer", "PreNormAttention", "PreNormFeedForward", "TokenTransformer",
           "TokenTransformerLayer", "init_reference_tables"]
