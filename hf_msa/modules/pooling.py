"""Masked pooling of [B, T, d] sequences to [B, d]; rows with no valid step pool to zeros."""

import torch

POOLING_MODES = ("cls", "mean", "last_valid", "last")


def pool_sequence(hidden: torch.Tensor, mask: torch.Tensor | None, mode: str) -> torch.Tensor:
    """Pool a sequence. `mask` [B, T] marks valid steps (1); "last" is MIB's raw last step, padding or not."""
    if mode not in POOLING_MODES:
        raise ValueError(f"pooling must be one of {POOLING_MODES}, got {mode!r}")
    if mask is None:
        mask = torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device)
    valid = mask.bool()
    present = valid.any(dim=1, keepdim=True).to(hidden.dtype)
    if mode == "cls":
        pooled = hidden[:, 0]
    elif mode == "last":
        pooled = hidden[:, -1]
    elif mode == "mean":
        weights = valid.to(hidden.dtype).unsqueeze(-1)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)
    else:
        steps = torch.arange(hidden.shape[1], device=hidden.device)
        last = torch.where(valid, steps, -1).max(dim=1).values.clamp_min(0)
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    return pooled * present


__all__ = ["POOLING_MODES", "pool_sequence"]
