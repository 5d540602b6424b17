"""Causal temporal convolutional decoder: (f0, loudness) frames → one envelope logit per oscillator.

Five residual blocks, 128 channels, kernel 3, dilations 1, 2, 4, 8, 16, weight-normalised causal
convolutions, ReLU + dropout; a 1×1 projection on the residual path only where the channel count
changes (first and last block); the last block is linear. Receptive field 1 + 2·(k−1)·Σd = 125 frames.

A JavaScript copy: ddx7/web/ddx7_model.js (tests/test_web_live.py compares it).
A copy for streaming: ddx7/stream.py StreamingDDX7 (``_init_decoder``, ``decode_scaled``) runs this
network block by block as cached matrix products (~30× faster than conv1d on one frame);
tests/test_stream.py checks it against the offline model for every patch. Change both together.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class InputScaling(nn.Module):
    """The decoders' inputs: f0 (Hz) → MIDI pitch / 127, loudness (dB, floor −80) → dB / 80 + 1.

    Used by TCNDecoder, HpN and ddx7.stream.StreamingDDX7 (also under TorchScript). The constants
    are 0-dim float32 buffers, not saved: a Python number costs ~1 µs more per operation in a
    stream (see ddx7.synth.fm), and these are exact in float32, so any input dtype gets the values
    that Python numbers would give.
    """

    def __init__(self):
        super().__init__()
        for name, value in (("a4_hz", 440.0), ("a4_midi", 69.0), ("semitones", 12.0), ("midi_range", 127.0),
                            ("range_db", 80.0), ("one", 1.0)):
            self.register_buffer(name, torch.tensor(value), persistent=False)

    def f0(self, f0_hz: torch.Tensor) -> torch.Tensor:
        """f0 in Hz → MIDI pitch / 127."""
        return (self.a4_midi + self.semitones * torch.log2(f0_hz / self.a4_hz)) / self.midi_range

    def loudness(self, loudness_db: torch.Tensor) -> torch.Tensor:
        """Loudness in dB (floor −80) → dB / 80 + 1, about [0, 1]."""
        return loudness_db / self.range_db + self.one

    def stacked(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, dim: int) -> torch.Tensor:
        """Both, as the TCN's two input channels (f0 first) stacked at ``dim``: [B, T] each →
        [B, 2, T] (dim 1) or [B, T, 2] (dim 2)."""
        return torch.stack([self.f0(f0_hz), self.loudness(loudness_db)], dim)


class Dropout(nn.Module):
    """Inverted dropout whose mask costs one random byte per element: each random 32-bit word gives
    four elements a byte, kept when the byte ≥ round(256 p). p is thus rounded to a multiple of 1/256
    (the paper's 0.5 is exact) and kept elements are scaled by 256 / (256 − round(256 p)), the exact
    inverse of their keep probability. ~3× faster on CPU than a float mask from torch.rand (which took
    a tenth of a DDX7 training step) and ~8× than nn.Dropout's bernoulli_. Identity in eval mode."""

    def __init__(self, p: float):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout must be in [0, 1), got {p}")
        self.p = p
        self.drop_bytes = round(256 * p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_bytes == 0:
            return x
        n = x.numel()
        # randint's upper bound is exclusive: the word 2^31 − 1 is never drawn (1 in 2^32, negligible)
        words = torch.randint(-2 ** 31, 2 ** 31 - 1, ((n + 3) // 4,), dtype=torch.int32, device=x.device)
        keep = words.view(torch.uint8)[:n].view(x.shape) >= self.drop_bytes
        return x * keep * (256 / (256 - self.drop_bytes))


class CausalConv1d(nn.Module):
    """Weight-normalised dilated convolution padded on the left only (output n sees inputs ≤ n)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, dilation: int):
        super().__init__()
        self.left = (kernel - 1) * dilation
        self.conv = weight_norm(nn.Conv1d(in_ch, out_ch, kernel, dilation=dilation))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (self.left, 0)))


class TCNBlock(nn.Module):
    def __init__(self, in_ch: int, hidden: int, out_ch: int, kernel: int, dilation: int, dropout: float,
                 last: bool = False):
        super().__init__()
        self.conv1 = CausalConv1d(in_ch, hidden, kernel, dilation)
        self.conv2 = CausalConv1d(hidden, out_ch, kernel, dilation)
        self.residual = nn.Conv1d(in_ch, out_ch, 1) if in_ch != out_ch else None
        self.dropout = Dropout(dropout)
        self.last = last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout(torch.relu(self.conv1(x)))
        h = self.conv2(h)
        if not self.last:
            h = self.dropout(torch.relu(h))
        out = h + (x if self.residual is None else self.residual(x))
        return out if self.last else torch.relu(out)


class TCNDecoder(nn.Module):
    """[B, T] f0 (Hz) and loudness (dB) → [B, T, n_out] logits."""

    def __init__(self, n_out: int, hidden: int = 128, kernel: int = 3, dilations=(1, 2, 4, 8, 16),
                 dropout: float = 0.5, n_in: int = 2):
        super().__init__()
        blocks = []
        for i, d in enumerate(dilations):
            first, last = i == 0, i == len(dilations) - 1
            blocks.append(TCNBlock(n_in if first else hidden, hidden, n_out if last else hidden, kernel, d,
                                   dropout, last=last))
        self.blocks = nn.ModuleList(blocks)
        self.inputs = InputScaling()
        self.receptive_field = 1 + 2 * (kernel - 1) * sum(dilations)

    @torch.no_grad()
    def init_output(self, bias: torch.Tensor, gain: float = 1.0):
        """Start the logits near ``bias`` [n_out]: the last block's output convolutions get ``bias``
        (conv) and 0 (residual projection), their weights scaled by ``gain``."""
        last = self.blocks[-1]
        last.conv2.conv.parametrizations.weight.original0.mul_(gain)  # weight norm's magnitude g
        last.conv2.conv.bias.copy_(bias)
        if last.residual is not None:
            last.residual.weight.mul_(gain)
            last.residual.bias.zero_()

    def forward(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor) -> torch.Tensor:
        x = self.inputs.stacked(f0_hz, loudness_db, 1)  # [B, 2, T]
        for block in self.blocks:
            x = block(x)
        return x.transpose(1, 2)
