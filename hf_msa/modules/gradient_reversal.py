"""Gradient reversal (Ganin & Lempitsky, 2015): identity forward, gradient times -lambda backward.

Adversarial objectives (LNLN's effectiveness discriminator) train a feature generator to fool a discriminator by
sitting this layer between them.
"""

import torch
from torch import nn


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs, scale):
        ctx.scale = scale
        return inputs.view_as(inputs)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.neg() * ctx.scale, None


def reverse_gradient(inputs: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    return _ReverseGradient.apply(inputs, scale)


class GradientReversal(nn.Module):
    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return reverse_gradient(inputs, self.scale)


__all__ = ["GradientReversal", "reverse_gradient"]
