"""Variational information bottleneck: a Gaussian latent with the reparameterisation trick.

Shared by the IB methods (DIB's unimodal and multimodal bottlenecks; CyIN and HME use the same block). The
structure follows MIB (Mai et al., TMM 2022): x -> ReLU(Linear) -> (mu, sigma), sigma = softplus(s - 5) so the
initial noise is small, z = mu + sigma * eps during training. HME's bottleneck is the same block with a second hidden
layer (`num_hidden_layers=2`; its fused output Linear is our `mean` and `scale` rows stacked).
"""

import torch
from torch import nn


class VariationalBottleneck(nn.Module):
    """[..., input_size] -> z, mu, sigma, each [..., latent_size].

    `stochastic_eval` keeps sampling in eval mode (MIB's and HME's test paths do; DIB's derived code uses mu).
    `num_hidden_layers` ReLU layers of width `hidden_size` precede the two output heads.
    """

    def __init__(self, input_size: int, latent_size: int, hidden_size: int = 1024, sigma_shift: float = 5.0,
                 stochastic_eval: bool = False, num_hidden_layers: int = 1):
        super().__init__()
        if num_hidden_layers < 1:
            raise ValueError(f"num_hidden_layers must be >= 1, got {num_hidden_layers}")
        self.hidden = nn.Linear(input_size, hidden_size)
        self.extra_hidden = nn.ModuleList(nn.Linear(hidden_size, hidden_size) for _ in range(num_hidden_layers - 1))
        self.mean = nn.Linear(hidden_size, latent_size)
        self.scale = nn.Linear(hidden_size, latent_size)
        self.sigma_shift = sigma_shift
        self.stochastic_eval = stochastic_eval

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`noise` (same shape as z) replaces the standard-normal draw, e.g. to replay a reference run."""
        hidden = torch.relu(self.hidden(x))
        for layer in self.extra_hidden:
            hidden = torch.relu(layer(hidden))
        mu = self.mean(hidden)
        sigma = nn.functional.softplus(self.scale(hidden) - self.sigma_shift)
        if self.training or self.stochastic_eval:
            if noise is not None and noise.shape != sigma.shape:
                raise ValueError(f"noise must have the latent's shape {tuple(sigma.shape)}, got {tuple(noise.shape)}")
            z = mu + sigma * (torch.randn_like(sigma) if noise is None else noise.to(sigma.dtype))
        else:
            z = mu
        return z, mu, sigma


__all__ = ["VariationalBottleneck"]
