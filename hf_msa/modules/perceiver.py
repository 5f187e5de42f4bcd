"""Perceiver-style blocks (Jaegle et al. 2021, in lucidrains' `perceiver-pytorch` form that HME builds on).

`LatentTransformer`: a few learned latents cross-attend to a context, then attend to themselves, `depth` times; the
latents' mean, layer-normalised, summarises the context. `CrossAttentionStack`: the same without latents or
self-attention: given query tokens cross-attend to a context `depth` times (HME's hyper-modality generators).
Every sub-layer is pre-LayerNorm and residual; the context gets its own LayerNorm in each cross-attention; the
feed-forward is GEGLU (value half, exact-GELU gate half). Attention runs through `attention.attend`.
"""

import torch
from torch import nn

from .attention import attend


class PerceiverAttention(nn.Module):
    """x += out(Attn(q(LN(x)), kv(LN_ctx(context)))); self-attention (`context_dim=None`) reads LN(x) as context."""

    def __init__(self, dim: int, context_dim: int | None, heads: int, head_dim: int, dropout: float = 0.0):
        super().__init__()
        inner = heads * head_dim
        self.heads, self.head_dim, self.dropout = heads, head_dim, dropout
        self.attn_implementation = "sdpa"  # set by the model from config._attn_implementation
        self.norm = nn.LayerNorm(dim)
        self.norm_context = nn.LayerNorm(context_dim) if context_dim is not None else None
        self.q_proj = nn.Linear(dim, inner, bias=False)
        self.kv_proj = nn.Linear(context_dim or dim, 2 * inner, bias=False)  # keys first, then values
        self.out_proj = nn.Linear(inner, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        normed = self.norm(x)
        context = normed if self.norm_context is None else self.norm_context(context)
        split = lambda t: t.view(t.shape[0], t.shape[1], self.heads, self.head_dim).transpose(1, 2)  # noqa: E731
        keys, values = self.kv_proj(context).chunk(2, dim=-1)
        attended = attend(split(self.q_proj(normed)), split(keys), split(values), None,
                          self.dropout if self.training else 0.0, self.attn_implementation)
        return x + self.out_proj(attended.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1))


class GegluFeedForward(nn.Module):
    """x += fc2(value * GELU(gate)), [value, gate] = fc1(LN(x)) (Shazeer 2020)."""

    def __init__(self, dim: int, mult: int = 4, dropout: float = 0.0):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 2 * mult * dim)
        self.fc2 = nn.Linear(mult * dim, dim)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.fc1(self.norm(x)).chunk(2, dim=-1)
        return x + nn.functional.dropout(self.fc2(value * nn.functional.gelu(gate)), self.dropout, self.training)


class LatentBlock(nn.Module):
    def __init__(self, dim: int, context_dim: int, heads: int, head_dim: int, self_attention: bool):
        super().__init__()
        self.cross_attention = PerceiverAttention(dim, context_dim, heads, head_dim)
        self.cross_feed_forward = GegluFeedForward(dim)
        self.self_attention = PerceiverAttention(dim, None, heads, head_dim) if self_attention else None
        self.self_feed_forward = GegluFeedForward(dim) if self_attention else None

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = self.cross_feed_forward(self.cross_attention(x, context))
        if self.self_attention is not None:
            x = self.self_feed_forward(self.self_attention(x))
        return x


class CrossAttentionStack(nn.Module):
    """[B, Nq, d] queries x [B, Nc, d_ctx] context -> [B, d]: `depth` cross-attention + GEGLU blocks, then the mean
    over the query tokens, layer-normalised."""

    def __init__(self, dim: int, depth: int, heads: int, head_dim: int, context_dim: int | None = None,
                 self_attention: bool = False):
        super().__init__()
        self.layers = nn.ModuleList(LatentBlock(dim, context_dim or dim, heads, head_dim, self_attention)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, queries: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            queries = layer(queries, context)
        return self.norm(queries.mean(dim=1))


class LatentTransformer(CrossAttentionStack):
    """[B, N, d_ctx] context -> [B, d]: `num_latents` learned latents [n, d] (the queries), each block cross-attention
    + GEGLU then self-attention + GEGLU; a [B, d] context is read as one token."""

    def __init__(self, num_latents: int, dim: int, depth: int, heads: int, head_dim: int,
                 context_dim: int | None = None):
        super().__init__(dim, depth, heads, head_dim, context_dim, self_attention=True)
        self.latents = nn.Parameter(torch.randn(num_latents, dim))

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        context = context.unsqueeze(1) if context.dim() == 2 else context
        return super().forward(self.latents.expand(context.shape[0], -1, -1), context)


__all__ = ["CrossAttentionStack", "GegluFeedForward", "LatentBlock", "LatentTransformer", "PerceiverAttention"]
