"""The shared attention: the blockwise dropout path computes exactly softmax(QK^T/sqrt(d) + mask) * keep/(1-p) V,
its dropout masks are Bernoulli(1 - p), and its gradients are those of that function."""

import math

import pytest
import torch

from hf_msa.modules.attention import BlockwiseDropoutAttention, attend, blockwise_dropout_attention, keep_mask


def reference(query, key, value, bias, dropout_p, seed, chunk):
    """The written-out function with the same keep masks (same generator, same chunk order)."""
    generator = torch.Generator().manual_seed(seed)
    outputs = []
    for start in range(0, query.shape[0], chunk):
        part = slice(start, start + chunk)
        scores = query[part] @ key[part].transpose(1, 2) / math.sqrt(query.shape[-1]) + bias[part]
        empty = torch.isinf(bias[part]).all(dim=-1, keepdim=True)  # no key to attend to: zeros (and zero gradients)
        weights = torch.softmax(scores.masked_fill(empty, 0.0), dim=-1) * ~empty
        keep = keep_mask(weights.shape, dropout_p, generator, weights.dtype)
        outputs.append(weights * keep / (1 - dropout_p) @ value[part])
    return torch.cat(outputs)


def inputs(dtype=torch.float32, heads_batch=6, queries=7, keys=9, dim=4, value_dim=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    query, key = (torch.randn(heads_batch, n, dim, generator=generator, dtype=dtype) for n in (queries, keys))
    value = torch.randn(heads_batch, keys, value_dim, generator=generator, dtype=dtype)
    mask = torch.rand(heads_batch, 1, keys, generator=generator) > 0.3
    mask[1] = False  # every query of this row attends to nothing: zeros, as SDPA
    bias = torch.zeros(mask.shape, dtype=dtype).masked_fill_(~mask, float("-inf"))
    return [t.requires_grad_() for t in (query, key, value)], bias


@pytest.mark.parametrize("dropout_p", [0.5, 0.1, 1 / 3])
@pytest.mark.parametrize("chunk", [1, 4, 6])
def test_blockwise_output_and_gradients_equal_the_written_out_function(dropout_p, chunk):
    (query, key, value), bias = inputs()
    ours = BlockwiseDropoutAttention.apply(query, key, value, bias, dropout_p, 123, chunk)
    grad = torch.randn_like(ours)
    ours_grads = torch.autograd.grad(ours, (query, key, value), grad)
    expected = reference(query, key, value, bias, dropout_p, 123, chunk)
    expected_grads = torch.autograd.grad(expected, (query, key, value), grad)
    torch.testing.assert_close(ours, expected, atol=1e-6, rtol=1e-5)
    assert ours[1].abs().max() == 0  # the fully masked row
    for got, want in zip(ours_grads, expected_grads):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)


def test_blockwise_gradients_pass_gradcheck():
    (query, key, value), bias = inputs(dtype=torch.float64, heads_batch=3, queries=4, keys=5, dim=3, value_dim=2)
    assert torch.autograd.gradcheck(lambda q, k, v: BlockwiseDropoutAttention.apply(q, k, v, bias, 0.3, 7, 2),
                                     (query, key, value))


@pytest.mark.parametrize("dropout_p, bits", [(0.5, 8), (0.25, 8), (0.1, 16 if (0.9 * 2 ** 16).is_integer() else 32),
                                             (1 / 3, 32), (0.75, 8)])
def test_keep_masks_are_bernoulli_with_the_right_rate(dropout_p, bits):
    draws = 4_000_000
    keep = keep_mask((draws // 1000, 1000), dropout_p, torch.Generator().manual_seed(5))
    assert set(keep.unique().tolist()) <= {0.0, 1.0}
    rate = keep.mean().item()
    sigma = math.sqrt(dropout_p * (1 - dropout_p) / draws)
    assert abs(rate - (1 - dropout_p)) < 5 * sigma, (rate, 1 - dropout_p, sigma)
    # neighbours are independent: the correlation of adjacent draws is within 5 sigma of 0
    flat = keep.flatten() - keep.mean()
    correlation = (flat[1:] * flat[:-1]).mean().item() / flat.var().item()
    assert abs(correlation) < 5 / math.sqrt(draws)


def test_dropout_keeps_the_expectation_of_the_undropped_attention():
    torch.manual_seed(0)
    query, key, value = (torch.randn(2, 3, 6, 4) for _ in range(3))
    mask = torch.ones(2, 1, 1, 6, dtype=torch.bool)
    clean = attend(query, key, value, mask)
    draws = torch.stack([attend(query, key, value, mask, 0.5) for _ in range(4000)])
    standard_error = draws.std(0) / math.sqrt(len(draws))
    assert ((draws.mean(0) - clean).abs() < 5 * standard_error + 1e-6).all()


def test_attend_dispatches_and_reproduces_under_a_seed():
    torch.manual_seed(1)
    query, key, value = (torch.randn(2, 3, 5, 4) for _ in range(3))
    mask = torch.rand(2, 1, 1, 5) > 0.3
    mask[0] = False
    sdpa, eager = attend(query, key, value, mask), attend(query, key, value, mask, implementation="eager")
    torch.testing.assert_close(sdpa, eager, atol=1e-6, rtol=1e-5)
    assert eager[0].abs().max() == 0  # no NaN where a query has no key: zeros, as SDPA gives
    torch.manual_seed(3)
    first = attend(query, key, value, mask, 0.5)
    torch.manual_seed(3)
    second = blockwise_dropout_attention(query, key, value, mask, 0.5)
    assert torch.equal(first, second) and not torch.equal(first, sdpa)
    with pytest.raises(ValueError, match="attn_implementation must be one of"):
        attend(query, key, value, mask, implementation="flash")
