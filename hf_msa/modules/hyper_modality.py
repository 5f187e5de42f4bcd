"""Adaptive hyper-modality learning (ALMT, Zhang et al. 2023; reused by LNLN): a hyper-modality representation that
the language stream updates from audio and vision.

One layer: LayerNorm the language tokens, audio, vision and the hyper tokens; the language queries attend separately
to audio and to vision; the sum of both read-outs, projected, is added to the *normalised* hyper tokens (the reference
adds the residual after the norm and has no feed-forward).
"""

import torch
from torch import nn

from .attention import attend


class HyperModalityLayer(nn.Module):
    def __init__(self, dim: int, heads: int = 8, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.heads, self.head_dim, self.dropout = heads, dim // heads, dropout
        self.attn_implementation = "sdpa"  # set by the model from config._attn_implementation
        self.norm_language, self.norm_audio, self.norm_vision, self.norm_hyper = (nn.LayerNorm(dim) for _ in range(4))
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.audio_k_proj = nn.Linear(dim, dim, bias=False)
        self.audio_v_proj = nn.Linear(dim, dim, bias=False)
        self.vision_k_proj = nn.Linear(dim, dim, bias=False)
        self.vision_v_proj = nn.Linear(dim, dim, bias=False)
        self.out_proj = nn.Linear(dim, dim)

    def _split(self, x):  # [B, N, d] -> [B, h, N, d/h]
        return x.view(x.shape[0], x.shape[1], self.heads, self.head_dim).transpose(1, 2)

    def forward(self, language: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor,
                hyper: torch.Tensor) -> torch.Tensor:
        language, audio = self.norm_language(language), self.norm_audio(audio)
        vision, hyper = self.norm_vision(vision), self.norm_hyper(hyper)
        q = self._split(self.q_proj(language))
        dropout = self.dropout if self.training else 0.0
        how = self.attn_implementation
        read = attend(q, self._split(self.audio_k_proj(audio)), self._split(self.audio_v_proj(audio)), None, dropout, how)
        read = read + attend(q, self._split(self.vision_k_proj(vision)), self._split(self.vision_v_proj(vision)), None,
                             dropout, how)
        read = read.transpose(1, 2).reshape(language.shape[0], language.shape[1], -1)
        return hyper + self.out_proj(read)


__all__ = ["HyperModalityLayer"]
