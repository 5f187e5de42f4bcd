import pytest
import torch

from hf_msa.modules import AttentionBottleneckFusion, SequenceEncoder, VariationalBottleneck, pool_sequence


def test_pooling_modes_respect_the_mask():
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).view(2, 4, 1)
    mask = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]])
    assert pool_sequence(hidden, mask, "last_valid")[:, 0].tolist() == [1.0, 0.0]  # missing row -> zeros
    assert pool_sequence(hidden, mask, "mean")[:, 0].tolist() == [0.5, 0.0]
    assert pool_sequence(hidden, mask, "cls")[:, 0].tolist() == [0.0, 0.0]
    assert pool_sequence(hidden, mask, "last")[:, 0].tolist() == [3.0, 0.0]  # MIB's raw last step
    with pytest.raises(ValueError, match="pooling must be one of"):
        pool_sequence(hidden, mask, "max")


def test_bottleneck_fusion_starts_as_identity_and_ignores_missing_modalities():
    torch.manual_seed(0)
    fusion = AttentionBottleneckFusion(hidden_size=8, num_modalities=3, num_latents=4, num_iterations=3)
    torch.nn.init.normal_(fusion.latents, std=0.5)
    streams = torch.randn(5, 3, 8)
    assert torch.equal(fusion(streams), streams)  # gates start at 0: each stream is its own representation
    with torch.no_grad():
        fusion.gates.fill_(1.0)
    mask = torch.tensor([[1, 1, 0]] * 5)
    changed = streams.clone()
    changed[:, 2] = torch.randn(5, 8) * 100  # a missing modality's content must not leak into the others
    out_a, out_b = fusion(streams, mask), fusion(changed, mask)
    assert torch.allclose(out_a[:, :2], out_b[:, :2])
    assert not torch.allclose(out_a[:, 0], streams[:, 0])


def test_variational_bottleneck_samples_in_training_and_uses_the_mean_in_eval():
    torch.manual_seed(0)
    vib = VariationalBottleneck(6, 4, hidden_size=16, sigma_shift=0.0)
    x = torch.randn(3, 6)
    z, mu, sigma = vib(x)
    assert not torch.allclose(z, mu) and (sigma > 0).all()
    vib.eval()
    z, mu, _ = vib(x)
    assert torch.equal(z, mu)
    vib.stochastic_eval = True
    assert not torch.equal(vib(x)[0], mu)


def test_sequence_encoder_ignores_padding_and_survives_fully_missing_rows():
    torch.manual_seed(0)
    encoder = SequenceEncoder(5, 10, num_layers=2, num_heads=2).eval()
    features = torch.randn(3, 7, 5)
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[1, 4:] = 0
    mask[2] = 0
    out = encoder(features, mask)
    assert out.shape == (3, 7, 10) and torch.isfinite(out).all()
    noisy = features.clone()
    noisy[1, 4:] = 1e3  # padded frames change: the valid frames' states must not
    assert torch.allclose(encoder(noisy, mask)[1, :4], out[1, :4], atol=1e-5)


def test_token_transformer_keep_first_computes_the_same_first_rows_and_gradients():
    from hf_msa.modules import TokenTransformer

    torch.manual_seed(0)
    encoder = TokenTransformer(30, dim=16, depth=2, heads=2, head_dim=8, mlp_dim=32, num_extra_tokens=4).eval()
    x = torch.randn(3, 30, 16, requires_grad=True)
    mask = torch.rand(3, 30) > 0.2
    full = encoder(x, mask)[:, :4]
    kept = encoder(x, mask, keep_first=4)
    torch.testing.assert_close(kept, full, atol=1e-6, rtol=1e-5)
    grad = torch.randn_like(kept)
    torch.testing.assert_close(torch.autograd.grad(kept, x, grad)[0], torch.autograd.grad(full, x, grad)[0],
                               atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="keep_first drops rows"):
        encoder(x, mask, return_hidden_states=True, keep_first=4)
