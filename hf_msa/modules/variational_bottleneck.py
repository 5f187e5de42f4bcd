"""Variational information bottleneck: a Gaussian latent with the reparameterisation trick.

Shared by the IB methods (DIB's unimodal and multimodal bottlenecks; CyIN and HME use the same block). The
structure follows MIB (Mai et al., TMM 2022): x -> ReLU(Linear) -> (mu, sigma), sigma = softplus(s - 5) so the
initial noise is small, z = mu + sigma * eps during training.
"""

import torch
from torch import nn


class VariationalBottleneck(nn.Module):
    """[..., input_size] -> z, mu, sigma, each [..., latent_size].

    `stochastic_eval` keeps sampling in eval mode (MIB's test path does; DIB's derived code uses mu).
    """

    def __init__(self, input_size: int, latent_size: int, hidden_size: int = 1024, sigma_shift: float = 5.0,
                 stochastic_eval: bool = False):
        super().__init__()
        self.hidden = nn.Linear(input_size, hidden_size)
        self.mean = nn.Linear(hidden_size, latent_size)
        self.scale = nn.Linear(hidden_size, latent_size)
        self.sigma_shift = sigma_shift
        self.stochastic_eval = stochastic_eval

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden = torch.relu(self.hidden(x))
        mu = self.mean(hidden)
        sigma = nn.functional.softplus(self.scale(hidden) - self.sigma_shift)
        if self.training or self.stochastic_eval:
            z = mu + sigma * torch.randn_like(sigma)
        else:
            z = mu
        return z, mu, sigma


__all__ = ["VariationalBottleneck"]
