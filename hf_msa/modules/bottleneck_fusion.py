"""Attention bottleneck fusion anchored on one modality (DIB's second bottleneck).

Adapted from MBT (Nagrani et al. 2021, "Attention Bottlenecks for Multimodal Fusion"): a few learnable latent
tokens gather information from every modality, and each modality reads back only through those latents, so
cross-modal exchange must pass a narrow channel. The read-back of each modality is scaled by a scalar gate that
starts at 0, so at initialisation every stream is its own unimodal representation. The anchor stream (text in DIB)
is the fused output.
"""

import math

import torch
from torch import nn


class AttentionBottleneckFusion(nn.Module):
    """Fuse M modality vectors [B, M, d] through `num_latents` latent tokens, `num_iterations` times.

    Parameter-free single-head scaled dot-product attention (as in the derived DIB code); the latents and the gates
    are shared across iterations. `modality_mask` [B, M] (1 = present) keeps missing modalities out of the latents.
    """

    def __init__(self, hidden_size: int, num_modalities: int, num_latents: int = 4, num_iterations: int = 3):
        super().__init__()
        self.latents = nn.Parameter(torch.empty(1, num_latents, hidden_size))
        self.gates = nn.Parameter(torch.zeros(num_modalities))
        self.num_iterations = num_iterations
        self.scale = 1.0 / math.sqrt(hidden_size)

    def forward(self, streams: torch.Tensor, modality_mask: torch.Tensor | None = None) -> torch.Tensor:
        batch_size, num_modalities, _ = streams.shape
        if modality_mask is None:
            modality_mask = torch.ones(batch_size, num_modalities, dtype=torch.bool, device=streams.device)
        present = modality_mask.bool()
        latents = self.latents.expand(batch_size, -1, -1)
        for _ in range(self.num_iterations):
            # latents gather: [B, N, d] x [B, M, d] -> [B, N, M]
            scores = torch.einsum("bnd,bmd->bnm", latents, streams) * self.scale
            scores = scores.masked_fill(~present[:, None, :], torch.finfo(scores.dtype).min)
            gathered = torch.softmax(scores, dim=-1) @ streams  # [B, N, d]
            # each modality reads back: [B, M, d] x [B, N, d] -> [B, M, N]
            read = torch.softmax(torch.einsum("bmd,bnd->bmn", streams, gathered) * self.scale, dim=-1) @ gathered
            update = self.gates.view(1, -1, 1) * read * present[..., None].to(read.dtype)
            streams = streams + update
        return streams


__all__ = ["AttentionBottleneckFusion"]
