"""Matrix-based Rényi α-entropy and mutual information, full and low-rank.

The estimator works on a mini-batch without any density model (Sanchez Giraldo, Rao & Principe 2014): build a
Gaussian Gram matrix of the batch, normalise it to unit trace, and read the entropy off its eigenvalue spectrum.
The low-rank variant (Dong et al., AAAI 2023, "Robust and Fast Measure of Information via Low-rank
Representation") keeps only the top-k eigenvalues and spreads the remaining mass uniformly over the other n-k
directions, which makes it insensitive to the small, noise-dominated eigenvalues and cheap for large batches.

Conventions (reference/methods_ib_missing.md §1.3): ``K_ij = exp(-||x_i - x_j||^2 / s)`` where s is the kernel
*divisor* (a variance, sigma^2, no factor 2), passed as is and never squared again: the derived DIB code's constants
(1, 1, 65, 1000) are divisors. A bandwidth sigma (e.g. the k-NN rule) is squared by the caller. Entropies in bits.
"""

import math

import torch

EIGEN_SOLVERS = ("auto", "eigh", "randomized", "block_krylov", "lanczos")
# Columns beyond `rank` in each block of the block Krylov solver (rank + 10 = 20 at DIB's rank 10: measured at
# n = 1024 over 10 Gram spectra, 5 blocks gave |entropy error| <= 3.6e-4 at ~10x the speed of the full eigh; wider
# blocks with fewer products were less accurate for the same time, `benchmarks/renyi.py`).
KRYLOV_EXTRA_COLUMNS = 10


def pairwise_squared_distances(x: torch.Tensor) -> torch.Tensor:
    """[n, d] -> [n, n] squared Euclidean distances, differentiable at duplicate rows (no square root)."""
    x = x.reshape(x.shape[0], -1)
    sq = (x * x).sum(-1)
    dist = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    return dist.clamp_min(0.0)


def knn_bandwidth(x: torch.Tensor, k: int = 5) -> torch.Tensor:
    """Mean distance of each sample to its k nearest neighbours, averaged over the batch (no gradient).

    A bandwidth sigma (a distance), not a divisor: the derived DIB code sets the kernel of the latent Z to
    ``exp(-d^2 / sigma^2)`` with this sigma, per batch, so pass ``knn_bandwidth(z) ** 2`` to `gaussian_gram`.
    """
    with torch.no_grad():
        dist = pairwise_squared_distances(x.detach().float()).sqrt()
        n = dist.shape[0]
        k = max(1, min(k, n - 1))
        nearest = dist.topk(k + 1, dim=-1, largest=False).values[:, 1:]  # drop the distance to itself
        sigma = nearest.mean()
        return torch.where(sigma > 0, sigma, torch.ones_like(sigma))


def gaussian_gram(x: torch.Tensor, divisor: float | torch.Tensor) -> torch.Tensor:
    """Unit-trace Gaussian Gram matrix A = K / tr(K), K_ij = exp(-||x_i - x_j||^2 / divisor), of a batch [n, ...].

    `divisor` is s = sigma^2 (a variance), used as given.
    """
    if isinstance(divisor, (int, float)) and not divisor > 0:  # tensors come from knn_bandwidth, positive by design
        raise ValueError(f"divisor (the kernel variance s = sigma^2) must be > 0, got {divisor}")
    dist = pairwise_squared_distances(x if x.dtype == torch.float64 else x.float())
    gram = torch.exp(-dist / torch.as_tensor(divisor, dtype=dist.dtype, device=dist.device))
    gram = 0.5 * (gram + gram.T)
    return gram / gram.diagonal().sum()


def hadamard_joint(*grams: torch.Tensor) -> torch.Tensor:
    """Joint Gram matrix (A_1 ∘ A_2 ∘ ...) / tr(...) of the multivariate extension (Yu et al., 2019)."""
    joint = grams[0]
    for gram in grams[1:]:
        joint = joint * gram
    return joint / joint.diagonal().sum()


def _top_eigenvalues(gram: torch.Tensor, rank: int, solver: str, oversample: int, power_iters: int) -> torch.Tensor:
    """Top-`rank` eigenvalues of a symmetric PSD matrix, differentiable through `gram`."""
    n = gram.shape[0]
    if solver == "auto":
        solver = "eigh" if n <= 256 else "block_krylov"
    if solver == "eigh":
        return torch.linalg.eigvalsh(gram).flip(0)[:rank]
    if solver == "block_krylov":
        return _block_lanczos_top_eigenvalues(gram, rank, blocks=max(1, power_iters) + 1)
    if solver == "randomized":
        # Randomised range finder (Halko et al. 2011): the subspace is found without gradient, the eigenvalues are
        # the Ritz values of the projected matrix, so the gradient flows through `gram` with the basis held fixed.
        width = min(n, rank + oversample)
        with torch.no_grad():
            generator = torch.Generator(device="cpu").manual_seed(n)
            probe = torch.randn(n, width, generator=generator, dtype=gram.dtype).to(gram.device)
            basis = torch.linalg.qr(gram.detach() @ probe).Q
            for _ in range(power_iters):
                basis = torch.linalg.qr(gram.detach() @ basis).Q
        return torch.linalg.eigvalsh(basis.T @ gram @ basis).flip(0)[:rank]
    if solver == "lanczos":
        try:  # optional: the other solvers need torch alone (and a checkpoint's bundle must load without scipy)
            from scipy.sparse.linalg import eigsh
        except ImportError as error:
            raise ImportError("eigen solver 'lanczos' needs scipy (pip install scipy); 'auto', 'eigh' and "
                              "'randomized' need torch alone") from error

        # The derived DIB code: Lanczos on a detached copy for the eigenvectors, Ritz values in torch.
        matrix = gram.detach().double().cpu().numpy()
        _, vectors = eigsh(matrix, k=rank, which="LA", tol=1e-4, v0=torch.ones(n, dtype=torch.float64).numpy())
        basis = torch.as_tensor(vectors, dtype=gram.dtype, device=gram.device)
        return torch.linalg.eigvalsh(basis.T @ gram @ basis).flip(0)[:rank]
    raise ValueError(f"solver must be one of {EIGEN_SOLVERS}, got {solver!r}")


class _RitzValues(torch.autograd.Function):
    """Ritz values λ_k = u_kᵀ G u_k of a subspace found without gradient: dλ_k/dG = u_k u_kᵀ, the same gradient as
    `eigvalsh(Qᵀ G Q)` with the basis Q held fixed, without a second product of G with the basis in forward."""

    @staticmethod
    def forward(ctx, gram, vectors, values):
        ctx.save_for_backward(vectors)
        return values.clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_values):
        (vectors,) = ctx.saved_tensors
        return (vectors * grad_values) @ vectors.T, None, None


def _block_lanczos_top_eigenvalues(gram: torch.Tensor, rank: int, blocks: int) -> torch.Tensor:
    """Top-`rank` Ritz values of G on the block Krylov space span(Ω, GΩ, ..., G^(blocks-1) Ω), Ω of width rank + 10.

    Block Lanczos with full reorthogonalisation (Musco & Musco 2015 use this space): each block's image G q is kept,
    so the projected matrix Qᵀ G Q comes from products already made (`blocks` products with G in all) instead of a
    last [n, n] x [n, blocks x width] product; two Gram-Schmidt passes against the earlier blocks keep Q orthonormal
    to float precision. Where the space stops growing (G of low rank, duplicate samples) random directions fill the
    block, so the Ritz values always come from an orthonormal basis.
    """
    n = gram.shape[0]
    width = min(n, rank + KRYLOV_EXTRA_COLUMNS)
    total = min(n, blocks * width)
    with torch.no_grad():
        matrix = gram.detach()
        generator = torch.Generator(device="cpu").manual_seed(n)
        probe = torch.randn(n, width, generator=generator, dtype=gram.dtype).to(gram.device)
        # basis vectors and their images under G as rows: every slice below is contiguous; (G q)ᵀ = qᵀ G (G = Gᵀ)
        rows, images = matrix.new_empty(total, n), matrix.new_empty(total, n)
        rows[:width] = torch.linalg.qr(probe).Q.T
        start = 0
        while True:
            stop = min(start + width, total)
            torch.mm(rows[start:stop], matrix, out=images[start:stop])
            if stop == total:
                break
            following = min(stop + width, total)
            rows[stop:following] = _orthonormal_complement(images[start:start + following - stop], rows[:stop],
                                                                 generator)
            start = stop
        projected = rows @ images.T
        projected = 0.5 * (projected + projected.T)
        if not gram.requires_grad:
            return torch.linalg.eigvalsh(projected).flip(0)[:rank]
        values, vectors = torch.linalg.eigh(projected)
        values, ritz_vectors = values.flip(0)[:rank], rows.T @ vectors.flip(1)[:, :rank]
    return _RitzValues.apply(gram, ritz_vectors, values)


def _orthonormal_complement(candidates: torch.Tensor, previous: torch.Tensor, generator: torch.Generator
                            ) -> torch.Tensor:
    """Orthonormal rows spanning `candidates` [w, n] minus its part in the row space of `previous` [m, n]
    (orthonormal rows). A candidate that adds no new direction (the Krylov space stopped growing: G of low rank,
    duplicate samples) is replaced by a random vector, so the block still adds w orthonormal directions."""
    candidates = _project_out(candidates, previous)
    q, r = torch.linalg.qr(candidates.T)
    diagonal = r.diagonal().abs()
    spent = diagonal <= 1e-4 * diagonal.max().clamp_min(torch.finfo(r.dtype).tiny)
    if spent.any():
        fresh = torch.randn(int(spent.sum()), candidates.shape[1], generator=generator, dtype=candidates.dtype)
        candidates[spent] = _project_out(fresh.to(candidates.device), previous)
        q = torch.linalg.qr(candidates.T).Q
    return q.T


def _project_out(rows: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """`rows` minus their projection on the row space of `previous`, twice ("twice is enough" for orthogonality)."""
    for _ in range(2):
        rows = rows - (rows @ previous.T) @ previous
    return rows


def renyi_entropy(
    gram: torch.Tensor,
    alpha: float = 1.9,
    rank: int | None = None,
    solver: str = "auto",
    oversample: int = 20,
    power_iters: int = 4,
    eps: float = 1e-12,
) -> torch.Tensor:
    """Matrix-based Rényi α-entropy (bits) of a unit-trace Gram matrix.

    rank=None gives the full estimator S = log2(Σ λ_i^α) / (1 - α); rank=k the low-rank estimator
    S = log2(Σ_{i<=k} λ_i^α + (n - k) λ_r^α) / (1 - α) with λ_r = (1 - Σ_{i<=k} λ_i) / (n - k).
    alpha=1 is the von Neumann (Shannon) limit. Eigenvalues are computed in fp32 or better, clamped at `eps`.
    """
    if gram.ndim != 2 or gram.shape[0] != gram.shape[1]:
        raise ValueError(f"gram must be a square [n, n] matrix, got shape {tuple(gram.shape)}")
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    n = gram.shape[0]
    gram = gram if gram.dtype in (torch.float32, torch.float64) else gram.float()
    if rank is None or rank >= n:
        eigenvalues = torch.linalg.eigvalsh(gram).clamp_min(eps)
        residual_count, residual = 0, None
    else:
        if rank < 1:
            raise ValueError(f"rank must be >= 1, got {rank}")
        eigenvalues = _top_eigenvalues(gram, rank, solver, oversample, power_iters).clamp_min(eps)
        residual_count = n - rank
        residual = ((1.0 - eigenvalues.sum()) / residual_count).clamp_min(eps)
    if math.isclose(alpha, 1.0):
        total = -(eigenvalues * torch.log2(eigenvalues)).sum()
        if residual is not None:
            total = total - residual_count * residual * torch.log2(residual)
        return total
    power_sum = eigenvalues.pow(alpha).sum()
    if residual is not None:
        power_sum = power_sum + residual_count * residual.pow(alpha)
    return torch.log2(power_sum) / (1.0 - alpha)


def renyi_mutual_information(
    x: torch.Tensor,
    z: torch.Tensor,
    divisor_x: float | torch.Tensor,
    divisor_z: float | torch.Tensor,
    alpha: float = 1.9,
    rank: int | None = None,
    solver: str = "auto",
) -> torch.Tensor:
    """I_α(X; Z) = S(A_X) + S(A_Z) - S(A_XZ) on a batch of paired rows x [n, ...], z [n, ...].

    `divisor_x` / `divisor_z` are the kernel divisors s = sigma^2 of each Gram matrix (see `gaussian_gram`).
    """
    if x.shape[0] != z.shape[0]:
        raise ValueError(f"x and z must have the same batch size, got {x.shape[0]} and {z.shape[0]}")
    gram_x, gram_z = gaussian_gram(x, divisor_x), gaussian_gram(z, divisor_z)
    entropy = lambda gram: renyi_entropy(gram, alpha=alpha, rank=rank, solver=solver)  # noqa: E731
    return entropy(gram_x) + entropy(gram_z) - entropy(hadamard_joint(gram_x, gram_z))


__all__ = [
    "EIGEN_SOLVERS",
    "gaussian_gram",
    "hadamard_joint",
    "knn_bandwidth",
    "pairwise_squared_distances",
    "renyi_entropy",
    "renyi_mutual_information",
]
