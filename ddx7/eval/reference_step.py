"""A straightforward DDX7 training step written from the paper, the baseline of ``ddx7 bench train``.

Plain PyTorch, none of the package's speed-ups: a causal TCN of weight-normalised ``nn.Conv1d``
with ``nn.Dropout``, the FM synth with float32 ``F.interpolate`` upsampling, a float32 cumsum
phase and the operators' sines in graph order, no reverb, and the multi-scale spectral loss
recomputing both STFTs (and the Hann windows) on every call. Same sizes as the model it stands
for (hidden, kernel, dilations, patch, Imax); its loss is the same kind of number as ours.
HpN's straightforward synth (:func:`naive_harmonics`) is the harmonic bank as DDSP writes it: every
harmonic's amplitude upsampled to the sample rate, ``sin(h φ)`` for all of them at once, a sum.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from .. import HOP, SAMPLE_RATE
from ..models import layers
from ..synth.oversample import decimation_kernel
from ..synth.patches import get_patch, parse_imax


class NaiveCausalConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, dilation: int):
        super().__init__()
        self.left = (kernel - 1) * dilation
        self.conv = weight_norm(nn.Conv1d(in_ch, out_ch, kernel, dilation=dilation))

    def forward(self, x):
        return self.conv(F.pad(x, (self.left, 0)))


class NaiveTCN(nn.Module):
    """f0 (Hz), loudness (dB) [B, T] → logits [B, T, n_out]: residual blocks of two causal convs."""

    def __init__(self, n_out: int, hidden: int = 128, kernel: int = 3, dilations=(1, 2, 4, 8, 16),
                 dropout: float = 0.5):
        super().__init__()
        self.convs1, self.convs2, self.residuals = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for i, d in enumerate(dilations):
            c_in = 2 if i == 0 else hidden
            c_out = n_out if i == len(dilations) - 1 else hidden
            self.convs1.append(NaiveCausalConv(c_in, hidden, kernel, d))
            self.convs2.append(NaiveCausalConv(hidden, c_out, kernel, d))
            self.residuals.append(nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity())
        self.dropout = nn.Dropout(dropout)

    def forward(self, f0_hz, loudness_db):
        pitch = (69 + 12 * torch.log2(f0_hz / 440)) / 127
        x = torch.stack([pitch, loudness_db / 80 + 1], 1)
        last = len(self.convs1) - 1
        for i, (conv1, conv2, residual) in enumerate(zip(self.convs1, self.convs2, self.residuals)):
            h = conv2(self.dropout(torch.relu(conv1(x))))
            if i < last:
                h = self.dropout(torch.relu(h))
            x = h + residual(x) if i == last else torch.relu(h + residual(x))
        return x.transpose(1, 2)


def naive_fm(f0_hz, envelopes, patch, max_ol: float, hop: int = HOP, sample_rate: int = SAMPLE_RATE):
    """f0 [B, T] (Hz), envelopes [B, T, K] → audio [B, T·hop]: y_k = a_k sin(φ_k + 2π Σ_modulators y_j)."""
    n = f0_hz.shape[1] * hop
    f0_s = F.interpolate(f0_hz[:, None], size=n, mode="linear")[:, 0]
    env_s = F.interpolate(envelopes.transpose(1, 2), size=n, mode="linear")  # [B, K, N]
    omega = torch.cumsum(2 * math.pi * f0_s / sample_rate, 1)
    outs = {}
    for k in patch.order:
        arg = omega * patch.ratios[k]
        for j in patch.modulators.get(k, []):
            arg = arg + 2 * math.pi * outs[j]
        outs[k] = env_s[:, k] * torch.sin(arg)
    return sum(outs[c] for c in patch.carriers) / max_ol


def naive_mss(prediction, target, fft_sizes=(2048, 1024, 512, 256, 128, 64), eps: float = 1e-7):
    """Σ_s mean| |X_s| − |Y_s| | + mean| log(|X_s| + ε) − log(|Y_s| + ε) |, both STFTs every call."""
    loss = 0.0
    for n in fft_sizes:
        window = torch.hann_window(n)
        p = torch.stft(prediction, n, n // 4, window=window, return_complex=True).abs()
        t = torch.stft(target, n, n // 4, window=window, return_complex=True).abs()
        loss = loss + (p - t).abs().mean() + (torch.log(p + eps) - torch.log(t + eps)).abs().mean()
    return loss


class NaiveDDX7(nn.Module):
    """The paper's DDX7 without reverb, written plainly; ``decode`` → envelopes, ``synthesize`` → audio."""

    def __init__(self, patch="violin-6osc", imax=2.0, hidden: int = 128, kernel: int = 3,
                 dilations=(1, 2, 4, 8, 16), dropout: float = 0.5, oversample: int = 1, decimation: dict | None = None,
                 **_ignored):
        super().__init__()
        self.patch = get_patch(patch)
        self.max_ol = parse_imax(imax) / (2 * math.pi)
        self.decoder = NaiveTCN(self.patch.n_ops, hidden, kernel, dilations, dropout)
        self.oversample, self.decimation = oversample, decimation

    def decode(self, f0_hz, loudness_db):
        return self.max_ol * torch.sigmoid(self.decoder(f0_hz, loudness_db))

    def synthesize(self, f0_hz, envelopes):
        m = self.oversample
        audio = naive_fm(f0_hz, envelopes, self.patch, self.max_ol, HOP * m, SAMPLE_RATE * m)
        if m == 1:
            return audio
        # the same low-pass filter as ddx7.synth.oversample, as a full-rate convolution, then every m-th sample
        h = decimation_kernel(m, self.decimation).float()
        return F.conv1d(F.pad(audio, (len(h) - 1, 0))[:, None], h.flip(0)[None, None])[:, 0, m - 1::m]

    def forward(self, f0_hz, loudness_db):
        return self.synthesize(f0_hz, self.decode(f0_hz, loudness_db))


def naive_harmonics(f0_hz, amplitudes, hop: int = HOP, sample_rate: int = SAMPLE_RATE):
    """f0 [B, T] (Hz), harmonic amplitudes [B, T, H] → Σ_h A_h sin(h φ) [B, T·hop], all at once."""
    n = f0_hz.shape[1] * hop
    f0_s = F.interpolate(f0_hz[:, None], size=n, mode="linear")[:, 0]
    amps = F.interpolate(amplitudes.transpose(1, 2), size=n, mode="linear")  # [B, H, N]
    phase = torch.cumsum(2 * math.pi * f0_s / sample_rate, 1)
    harmonics = torch.arange(1, amplitudes.shape[-1] + 1, dtype=phase.dtype)
    return (amps * torch.sin(harmonics[:, None] * phase[:, None, :])).sum(1)


def with_plain_layers(module: nn.Module) -> nn.Module:
    """``module`` with every ``models.layers`` Linear / GRU replaced by ``nn.Linear`` / ``nn.GRU``
    holding the same weights (in place; returned for chaining)."""
    for name, child in module.named_children():
        if isinstance(child, layers.GRU):
            plain = nn.GRU(child.input_size, child.hidden_size, batch_first=True)
        elif isinstance(child, layers.Linear):
            plain = nn.Linear(child.in_features, child.out_features, bias=child.bias is not None)
        else:
            with_plain_layers(child)
            continue
        plain.load_state_dict(child.state_dict())
        setattr(module, name, plain)
    return module
