"""Learnable reverb: y = x * h with h = δ + wet · tail, tail[t] = noise[t] · exp(−decay · t), tail[0] = 0.

The impulse response lasts 1 s; the direct path h[0] = 1 is fixed. decay starts at 5 (1/s) and the
wet gain at 0, so a new model is exactly dry: y = x + 0 · (x * tail) = x.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import SAMPLE_RATE


def _inverse_softplus(y: float) -> float:
    return y + math.log(-math.expm1(-y))


def fft_convolve(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Linear convolution of x [B, N] with h [L] via FFT, cut to N samples (causal)."""
    n = x.shape[-1]
    n_fft = 1 << (n + h.shape[-1] - 2).bit_length()
    return torch.fft.irfft(torch.fft.rfft(x, n_fft) * torch.fft.rfft(h, n_fft), n_fft)[..., :n]


class Reverb(nn.Module):
    def __init__(self, length: int = SAMPLE_RATE, sample_rate: int = SAMPLE_RATE, initial_decay: float = 5.0,
                 initial_wet: float = 0.0, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.noise = nn.Parameter(torch.rand(length, generator=g) * 2 - 1)
        self.decay_raw = nn.Parameter(torch.tensor(_inverse_softplus(initial_decay)))
        self.wet = nn.Parameter(torch.tensor(float(initial_wet)))
        self.register_buffer("t", torch.arange(length) / sample_rate, persistent=False)

    @property
    def decay(self) -> torch.Tensor:
        return F.softplus(self.decay_raw)

    def tail(self) -> torch.Tensor:
        """The reverberant part of the impulse response (h without the direct path), with the wet gain."""
        tail = self.noise * torch.exp(-self.decay * self.t)
        return self.wet * F.pad(tail[1:], (1, 0))

    def impulse_response(self) -> torch.Tensor:
        h = self.tail().clone()
        h[0] = h[0] + 1.0
        return h

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return audio + fft_convolve(audio, self.tail())
