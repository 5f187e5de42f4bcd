"""Scaled dot-product attention, the one implementation every layer in `hf_msa/modules` calls (`attend`).

Every attention in `hf_msa/modules` carries an `attn_implementation` attribute that the model sets from
`config._attn_implementation` (`from_pretrained(..., attn_implementation="eager")` or
`model.set_attn_implementation(...)`):

- "sdpa" (default): `torch.nn.functional.scaled_dot_product_attention` without dropout, and on GPUs with it (its
  fused kernels support dropout there). With dropout on the CPU, torch falls back to its unfused path: the whole
  [B, h, Nq, Nk] score tensor is materialised several times over and its dropout mask is drawn with `bernoulli_`, so
  attention dropout 0.5 over 500 frames made that path ~6x slower than the fused kernel. There, `attend` runs
  `BlockwiseDropoutAttention` instead: the same function (softmax(QK^T/sqrt(d) + mask), an independent
  Bernoulli(1 - p) keep on every weight, scaled by 1/(1 - p), times V), computed over chunks of batch x heads that
  stay in cache, with the dropout mask drawn from random bytes (`keep_mask`) and regenerated, not stored, for
  backward.
- "eager": the same function written out with `nn.functional.dropout`, for debugging, attention inspection, a backend
  without SDPA, or as the reference the tests compare against.

A query whose keys are all masked attends to nothing and gets zeros, as SDPA gives (the written-out formula would
give NaN).
"""

import math

import torch
from torch import nn

ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")
# Score elements per chunk of the blockwise path (2**21 floats = 8 MiB): small enough for the chunk's scores, weights
# and keep mask to stay in cache across the chunk's operations, large enough that the Python loop costs nothing.
CHUNK_ELEMENTS = 2 ** 21


def attend(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None = None,
           dropout_p: float = 0.0, implementation: str = "sdpa") -> torch.Tensor:
    """[B, h, Nq, d] x [B, h, Nk, d] -> [B, h, Nq, d]; `mask` (bool, broadcastable to [B, h, Nq, Nk]) True = attend;
    `dropout_p` on the attention weights (pass 0 outside training)."""
    if implementation == "sdpa":
        if dropout_p > 0 and query.device.type == "cpu":
            return blockwise_dropout_attention(query, key, value, mask, dropout_p)
        return nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout_p)
    if implementation != "eager":
        raise ValueError(f"attn_implementation must be one of {ATTENTION_IMPLEMENTATIONS}, got {implementation!r}")
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)  # no key to attend to: zeros, as SDPA
    weights = nn.functional.dropout(weights, dropout_p, training=dropout_p > 0)
    return weights @ value


def keep_mask(shape: tuple[int, ...], dropout_p: float, generator: torch.Generator | None = None,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Independent Bernoulli(1 - p) draws as a 0/1 tensor of `dtype` (1 = keep), from random bytes compared with a
    threshold.

    Each element reads 8 random bits when (1 - p) * 2^8 is a whole number (p = 0.5, 0.25, ...), 16 bits when
    (1 - p) * 2^16 is, else 32 bits: the keep probability is then exactly 1 - p, or within 2^-33 of it (finer than a
    float32 uniform draw resolves). The comparison writes the floats directly: a multiply by them is ~15x cheaper on
    the CPU than `masked_fill_` with a bool mask, and the draw ~7x cheaper than `bernoulli_`. Reproducible from the
    generator's seed."""
    count = math.prod(shape)
    for bits, bits_dtype, offset in ((8, torch.uint8, 0), (16, torch.int16, 2 ** 15), (32, torch.int32, 2 ** 31)):
        kept = (1.0 - dropout_p) * 2 ** bits
        if bits == 32 or kept == round(kept):
            break
    words = torch.randint(-2 ** 63, 2 ** 63 - 1, (math.ceil(count * bits / 64),), dtype=torch.int64,
                          generator=generator)
    values = words.view(bits_dtype)[:count].view(shape)
    threshold = min(round(kept), 2 ** bits - 1) - offset
    return torch.lt(values, threshold, out=torch.empty(shape, dtype=dtype))


class BlockwiseDropoutAttention(torch.autograd.Function):
    """softmax(QK^T * scale + bias) with dropout, times V, over chunks of the flattened batch x heads axis.

    Inputs are [BH, Nq, d], [BH, Nk, d], [BH, Nk, d] and an additive bias [BH, 1 or Nq, Nk] (0 or -inf). Forward
    keeps only the output; backward recomputes each chunk's weights and regenerates its keep mask from the same seed,
    in the same chunk order, and applies the softmax-with-dropout gradient:
    dS = W * (M/(1-p) * dO V^T - rowsum(dO * O)).
    """

    @staticmethod
    def forward(ctx, query, key, value, bias, dropout_p: float, seed: int, chunk: int):
        scale, rescale = 1.0 / math.sqrt(query.shape[-1]), 1.0 / (1.0 - dropout_p)
        generator = torch.Generator(device=query.device).manual_seed(seed)
        empty_rows = bool(torch.isinf(bias).all(dim=-1).any())  # queries with no key to attend to
        output = query.new_empty(query.shape[0], query.shape[1], value.shape[-1])
        for start in range(0, query.shape[0], chunk):
            part = slice(start, start + chunk)
            weights = _weights(query[part], key[part], bias[part], scale, empty_rows)
            weights.mul_(keep_mask(weights.shape, dropout_p, generator, weights.dtype))
            torch.bmm(weights, value[part], out=output[part])
        output.mul_(rescale)
        ctx.save_for_backward(query, key, value, bias, output)
        ctx.dropout_p, ctx.seed, ctx.chunk, ctx.empty_rows = dropout_p, seed, chunk, empty_rows
        return output

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output):
        query, key, value, bias, output = ctx.saved_tensors
        scale, rescale = 1.0 / math.sqrt(query.shape[-1]), 1.0 / (1.0 - ctx.dropout_p)
        generator = torch.Generator(device=query.device).manual_seed(ctx.seed)
        grad_query, grad_key, grad_value = torch.empty_like(query), torch.empty_like(key), torch.empty_like(value)
        row_dot = (grad_output * output).sum(-1, keepdim=True)  # rowsum(dO * O) = sum_j W_ij dW_ij
        for start in range(0, query.shape[0], ctx.chunk):
            part = slice(start, start + ctx.chunk)
            weights = _weights(query[part], key[part], bias[part], scale, ctx.empty_rows)
            keep = keep_mask(weights.shape, ctx.dropout_p, generator, weights.dtype)
            grad_out = grad_output[part] * rescale
            grad_weights = torch.bmm(grad_out, value[part].transpose(1, 2)).mul_(keep)
            grad_scores = grad_weights.sub_(row_dot[part]).mul_(weights)
            torch.bmm(weights.mul_(keep).transpose(1, 2), grad_out, out=grad_value[part])
            torch.bmm(grad_scores, key[part], out=grad_query[part]).mul_(scale)
            torch.bmm(grad_scores.transpose(1, 2), query[part], out=grad_key[part]).mul_(scale)
        return grad_query, grad_key, grad_value, None, None, None, None


def _weights(query, key, bias, scale, empty_rows: bool):
    """softmax(QK^T * scale + bias) of one chunk; rows whose keys are all masked are zeros (SDPA's convention)."""
    weights = torch.softmax(torch.baddbmm(bias, query, key.transpose(1, 2), alpha=scale), dim=-1)
    return weights.nan_to_num_(nan=0.0) if empty_rows else weights


def blockwise_dropout_attention(query, key, value, mask, dropout_p: float) -> torch.Tensor:
    """`attend` with dropout on the CPU: `BlockwiseDropoutAttention` over [B*h, N, d] views. The seed comes from
    torch's default generator, so `torch.manual_seed` (and activation checkpointing, which restores the RNG state)
    reproduces the masks."""
    batch, heads, queries, _ = query.shape
    keys = key.shape[-2]
    if mask is None:
        bias = query.new_zeros(1, 1, 1, keys)
    else:
        bias = torch.zeros(mask.shape, dtype=query.dtype, device=query.device).masked_fill_(~mask, float("-inf"))
        bias = bias if bias.dim() >= 2 else bias.view(1, keys)
    rows = queries if bias.shape[-2] == queries else 1
    bias = bias.expand(batch, heads, rows, keys).reshape(batch * heads, rows, keys)
    seed = int(torch.randint(0, 2 ** 62, (1,)).item())
    chunk = max(1, CHUNK_ELEMENTS // (queries * keys))
    flat = [t.reshape(batch * heads, t.shape[-2], t.shape[-1]) for t in (query, key, value)]
    output = BlockwiseDropoutAttention.apply(*flat, bias, float(dropout_p), seed, chunk)
    return output.view(batch, heads, queries, value.shape[-1])


__all__ = ["ATTENTION_IMPLEMENTATIONS", "BlockwiseDropoutAttention", "attend", "blockwise_dropout_attention",
           "keep_mask"]
