"""Losses.

Multi-scale spectral loss (DDSP): for each FFT size s, with |X_s| the STFT magnitude (Hann window,
hop s/4, i.e. 75 % overlap),

    L = Σ_s  mean|  |X_s| − |Y_s|  |  +  mean| log(|X_s| + ε) − log(|Y_s| + ε) |
"""

from __future__ import annotations

import torch
from torch import nn


class MultiScaleSpectralLoss(nn.Module):
    def __init__(self, fft_sizes=(2048, 1024, 512, 256, 128, 64), overlap: float = 0.75, log_weight: float = 1.0,
                 eps: float = 1e-7):
        super().__init__()
        self.fft_sizes = tuple(fft_sizes)
        self.overlap = overlap
        self.log_weight = log_weight
        self.eps = eps
        for n in self.fft_sizes:
            self.register_buffer(f"window_{n}", torch.hann_window(n), persistent=False)

    def magnitude(self, audio: torch.Tensor, n_fft: int) -> torch.Tensor:
        hop = max(1, int(n_fft * (1 - self.overlap)))
        return torch.stft(audio, n_fft, hop, window=getattr(self, f"window_{n_fft}"), center=True,
                          return_complex=True).abs()

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if prediction.shape != target.shape:
            raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ")
        loss = prediction.new_zeros(())
        for n in self.fft_sizes:
            p, t = self.magnitude(prediction, n), self.magnitude(target, n)
            loss = loss + (p - t).abs().mean()
            loss = loss + self.log_weight * (torch.log(p + self.eps) - torch.log(t + self.eps)).abs().mean()
        return loss
