"""The matrix-based Rényi entropy against a direct NumPy computation, and the low-rank path against the full one."""

import numpy as np
import pytest
import torch

from hf_msa.modules import gaussian_gram, knn_bandwidth, renyi_entropy, renyi_mutual_information


def numpy_renyi(x: np.ndarray, divisor: float, alpha: float, rank: int | None = None) -> float:
    """Straight from the definitions: Gaussian kernel exp(-d^2 / s), unit trace, eigenvalues, (low-rank) Rényi sum."""
    diff = x[:, None, :] - x[None, :, :]
    gram = np.exp(-(diff**2).sum(-1) / divisor)
    gram = gram / np.trace(gram)
    eig = np.sort(np.linalg.eigvalsh(gram))[::-1].clip(min=1e-12)
    if rank is None:
        return float(np.log2((eig**alpha).sum()) / (1 - alpha))
    top = eig[:rank]
    residual = (1 - top.sum()) / (len(eig) - rank)
    return float(np.log2((top**alpha).sum() + (len(eig) - rank) * residual**alpha) / (1 - alpha))


@pytest.mark.parametrize("alpha", [1.9, 1.01, 0.5, 3.0])
@pytest.mark.parametrize("rank", [None, 3, 10])
def test_matches_direct_numpy_computation(alpha, rank):
    x = np.random.default_rng(1).normal(size=(24, 6))
    gram = gaussian_gram(torch.tensor(x, dtype=torch.float64), 2.5)
    ours = renyi_entropy(gram, alpha=alpha, rank=rank, solver="eigh")
    assert ours.item() == pytest.approx(numpy_renyi(x, 2.5, alpha, rank), abs=1e-9)


def test_low_rank_equals_full_when_rank_covers_the_spectrum():
    x = torch.randn(16, 4, dtype=torch.float64)
    gram = gaussian_gram(x, 1.5)
    full = renyi_entropy(gram, alpha=1.9)
    assert renyi_entropy(gram, alpha=1.9, rank=16).item() == pytest.approx(full.item(), abs=1e-10)  # LAPACK may differ
    assert renyi_entropy(gram, alpha=1.9, rank=15).item() == pytest.approx(full.item(), abs=1e-9)


def test_low_rank_equals_full_on_a_matrix_whose_tail_is_flat():
    # eigenvalues: 3 large, the remaining mass spread evenly -> the low-rank estimate is exact
    n, k = 12, 3
    values = torch.tensor([0.4, 0.25, 0.15] + [0.2 / (n - k)] * (n - k), dtype=torch.float64)
    basis = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64)).Q
    gram = basis @ torch.diag(values) @ basis.T
    assert renyi_entropy(gram, 1.9, rank=k).item() == pytest.approx(renyi_entropy(gram, 1.9).item(), abs=1e-10)


def test_low_rank_differs_from_full_when_the_tail_is_not_flat():
    x = torch.randn(64, 8, dtype=torch.float64)
    gram = gaussian_gram(x, knn_bandwidth(x) ** 2)
    assert abs(renyi_entropy(gram, 1.9, rank=3).item() - renyi_entropy(gram, 1.9).item()) > 1e-3


def test_shannon_limit_and_bounds():
    x = torch.randn(20, 5, dtype=torch.float64)
    gram = gaussian_gram(x, 2.0)
    shannon = renyi_entropy(gram, alpha=1.0)
    assert renyi_entropy(gram, alpha=1.0 + 1e-6).item() == pytest.approx(shannon.item(), abs=1e-4)
    identity = torch.eye(20, dtype=torch.float64) / 20
    assert renyi_entropy(identity, 1.9).item() == pytest.approx(np.log2(20), abs=1e-9)  # maximal
    ones = torch.full((20, 20), 1 / 20, dtype=torch.float64)
    assert renyi_entropy(ones, 1.9).item() == pytest.approx(0.0, abs=1e-6)  # a single direction


@pytest.mark.parametrize("solver", ["randomized", "block_krylov", "lanczos"])
def test_fast_solvers_agree_with_exact_eigh(solver):
    x = torch.randn(300, 16)
    gram = gaussian_gram(x, knn_bandwidth(x) ** 2)
    exact = renyi_entropy(gram, 1.9, rank=10, solver="eigh")
    assert renyi_entropy(gram, 1.9, rank=10, solver=solver).item() == pytest.approx(exact.item(), abs=1e-3)


@pytest.mark.parametrize("solver", ["eigh", "randomized", "block_krylov"])
def test_finite_gradients_with_duplicate_samples(solver):
    base = torch.randn(10, 4)
    x = torch.cat([base, base, base[:4]]).requires_grad_()  # many exactly repeated rows
    z = torch.tanh(x @ torch.randn(4, 3))
    mi = renyi_mutual_information(x, z, 1.0, knn_bandwidth(z) ** 2, alpha=1.9, rank=10, solver=solver)
    entropy = renyi_entropy(gaussian_gram(x, 1.0), alpha=0.5, rank=5, solver=solver)
    (mi + entropy).backward()
    assert torch.isfinite(mi) and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_mutual_information_of_independent_noise_is_smaller_than_of_a_function():
    torch.manual_seed(0)
    x = torch.randn(128, 3, dtype=torch.float64)
    dependent = renyi_mutual_information(x, 2 * x, 1.0, 4.0)
    independent = renyi_mutual_information(x, torch.randn(128, 3, dtype=torch.float64), 1.0, 1.0)
    assert dependent > independent + 0.5


def test_divisor_is_used_as_given_not_squared():
    # the derived DIB code's exp(-||xi - xj||^2 / 65): 65 is the divisor, not a sigma to square
    x = torch.tensor([[0.0], [8.0]], dtype=torch.float64)
    gram = gaussian_gram(x, 65.0)
    assert gram[0, 1].item() == pytest.approx(np.exp(-64.0 / 65.0) / 2, rel=1e-12)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="divisor"):
        gaussian_gram(torch.randn(4, 2), 0.0)
    with pytest.raises(ValueError, match="square"):
        renyi_entropy(torch.ones(3, 4))
    with pytest.raises(ValueError, match="alpha"):
        renyi_entropy(torch.eye(3) / 3, alpha=0)
    with pytest.raises(ValueError, match="solver"):
        renyi_entropy(torch.eye(30) / 30, rank=3, solver="power")
    with pytest.raises(ValueError, match="same batch size"):
        renyi_mutual_information(torch.randn(4, 2), torch.randn(5, 2), 1.0, 1.0)


def test_block_krylov_is_within_1e_3_bits_on_flat_and_steep_spectra():
    """The solver `auto` uses above n = 256, on the spectra the benchmark checks (feature dims x kernel widths)."""
    generator = torch.Generator().manual_seed(1)
    for dim, scale in ((5, 0.5), (50, 0.5), (50, 1.0), (200, 2.0)):
        x = torch.randn(600, dim, generator=generator)
        gram = gaussian_gram(x, (knn_bandwidth(x) * scale) ** 2)
        exact = renyi_entropy(gram, 1.9, rank=10, solver="eigh").item()
        assert renyi_entropy(gram, 1.9, rank=10, solver="auto").item() == pytest.approx(exact, abs=1e-3), (dim, scale)


def test_block_krylov_on_a_gram_of_low_rank_matches_eigh():
    """30 distinct samples repeated 10 times: the Krylov space stops growing after a few blocks and the solver must
    refill the basis with directions orthogonal to it, not with copies of it (which would inflate the Ritz values)."""
    base = torch.randn(30, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    gram = gaussian_gram(base.repeat(10, 1), 2.0)
    exact = renyi_entropy(gram, 1.9, rank=10, solver="eigh").item()
    assert renyi_entropy(gram, 1.9, rank=10, solver="block_krylov").item() == pytest.approx(exact, abs=1e-6)


def test_block_krylov_gradient_is_the_ritz_value_gradient():
    """d(sum_k w_k λ_k)/dG = sum_k w_k u_k u_kᵀ: where the Krylov space holds the top eigenvectors (float64, a
    steep spectrum) it equals autograd through the exact eigvalsh."""
    x = torch.randn(400, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    gram = gaussian_gram(x, 4.0).requires_grad_()
    weights = torch.linspace(1.0, 2.0, 10, dtype=torch.float64)
    exact = torch.linalg.eigvalsh(gram).flip(0)[:10]
    (exact_grad,) = torch.autograd.grad((exact * weights).sum(), gram)
    from hf_msa.modules.renyi_entropy import _top_eigenvalues

    fast = _top_eigenvalues(gram, 10, "block_krylov", oversample=20, power_iters=4)
    (fast_grad,) = torch.autograd.grad((fast * weights).sum(), gram)
    assert torch.allclose(fast, exact, atol=1e-9)
    assert torch.allclose(fast_grad, exact_grad, atol=1e-6 * exact_grad.abs().max().item())
