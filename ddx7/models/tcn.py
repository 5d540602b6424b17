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

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from .layers import causal_conv, linear


class InputScaling(nn.Module):
    """The decoders' inputs: f0 (Hz) → MIDI pitch / 127, loudness (dB, floor −80) → dB / 80 + 1.

    Used by TCNDecoder, HpN and ddx7.stream.StreamingDDX7 (also under TorchScript). The constants
    are 0-dim float32 buffers, not saved: a Python number costs ~1 µs more per operation in a
    stream (see ddx7.synth.sampling), and these are exact in float32, so any input dtype gets the values
    that Python numbers would give.
    """

    def __init__(self):
        super().__init__()
        c = {"a4_hz": 440.0, "a4_midi": 69.0, "semitones": 12.0, "midi_range": 127.0, "range_db": 80.0, "one": 1.0}
        for name, value in c.items():
            self.register_buffer(name, torch.tensor(value), persistent=False)
        # the same two maps as one affine map of (log2 f0, loudness), for stacked_last; made in float64
        scale = [c["semitones"] / c["midi_range"], c["one"] / c["range_db"]]
        offset = [(c["a4_midi"] - c["semitones"] * math.log2(c["a4_hz"])) / c["midi_range"], c["one"]]
        self.register_buffer("affine_scale", torch.tensor(scale), persistent=False)
        self.register_buffer("affine_offset", torch.tensor(offset), persistent=False)

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

    def stacked_last(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor) -> torch.Tensor:
        """``stacked(f0_hz, loudness_db, 2)`` in three operations instead of eight (a stream's 4 ms block pays
        per operation), as log2 f0 · 12/127 + (69 − 12 log2 440)/127: equal to float32 rounding, not bit for bit."""
        return torch.addcmul(self.affine_offset, torch.stack([torch.log2(f0_hz), loudness_db], 2), self.affine_scale)


_BIT_SHIFTS = torch.arange(8, dtype=torch.uint8)


def _random_words(n: int, device=None) -> torch.Tensor:
    """n uniformly random 32-bit words (int32). randint's upper bound is exclusive: the word 2^31 − 1 is never
    drawn (1 in 2^32, negligible)."""
    return torch.randint(-2 ** 31, 2 ** 31 - 1, (n,), dtype=torch.int32, device=device)


class Dropout(nn.Module):
    """Inverted dropout whose mask costs one random byte per element (one bit at the paper's p = 1/2): each
    random 32-bit word gives four elements a byte, kept when the byte ≥ round(256 p). p is thus rounded to a
    multiple of 1/256 (the paper's 0.5 is exact) and kept elements are scaled by 256 / (256 − round(256 p)),
    the exact inverse of their keep probability. ~3× faster on CPU than a float mask from torch.rand (which
    took a tenth of a DDX7 training step) and ~8× than nn.Dropout's bernoulli_ (~30× at p = 1/2). Identity in
    eval mode. The TCN applies it inside ``models.layers.causal_conv`` (``keep_mask``, ``scale``)."""

    def __init__(self, p: float):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout must be in [0, 1), got {p}")
        self.p = p
        self.drop_bytes = round(256 * p)

    @property
    def scale(self) -> float:
        """The kept elements' factor: 256 / (256 − round(256 p)), the inverse of their keep probability."""
        return 256 / (256 - self.drop_bytes)

    def keep_mask(self, shape, device=None) -> torch.Tensor | None:
        """A fresh mask, uint8 ``shape``, 1 where kept (× uint8 is ~10× faster than × bool or masked_fill_ on
        Zen 5); None in eval mode or at p = 0. At p = 1/2 every random bit makes an element (bit j of byte i
        → element j · n/8 + i), ~10× faster than a byte each."""
        if not self.training or self.drop_bytes == 0:
            return None
        n = math.prod(shape)
        if self.drop_bytes == 128:
            per_bit = -(-n // 8)
            words = _random_words(-(-per_bit // 4), device)
            shifts = _BIT_SHIFTS.to(words.device).unsqueeze(1)
            bits = (words.view(torch.uint8)[:per_bit].unsqueeze(0) >> shifts) & 1  # [8, n/8]
            return bits.view(-1)[:n].view(shape)
        bytes_ = _random_words((n + 3) // 4, device).view(torch.uint8)[:n].view(shape)
        return (bytes_ >= self.drop_bytes).view(torch.uint8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = self.keep_mask(x.shape, x.device)
        return x if keep is None else x * keep * self.scale


class CausalConv1d(nn.Module):
    """Weight-normalised dilated convolution padded on the left only (output n sees inputs ≤ n), on
    channels-last frames [B, T, C_in] → [B, T, C_out] (``models.layers.causal_conv``); the parameters
    live in an ``nn.Conv1d`` (its state_dict keys and weight layout [C_out, C_in, K])."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, dilation: int):
        super().__init__()
        self.dilation = dilation
        self.conv = weight_norm(nn.Conv1d(in_ch, out_ch, kernel, dilation=dilation))

    def forward(self, x: torch.Tensor, relu: bool = False, dropout: Dropout | None = None) -> torch.Tensor:
        """The convolution, then (``relu``) a ReLU and ``dropout``, fused into one autograd node."""
        keep = None if dropout is None else dropout.keep_mask((*x.shape[:2], self.conv.out_channels), x.device)
        scale = 1.0 if keep is None else dropout.scale
        return causal_conv(x, self.conv.weight, self.conv.bias, self.dilation, relu, keep, scale)


class TCNBlock(nn.Module):
    """Two causal convolutions with ReLU + dropout and a residual path, on [B, T, C] frames."""

    def __init__(self, in_ch: int, hidden: int, out_ch: int, kernel: int, dilation: int, dropout: float,
                 last: bool = False):
        super().__init__()
        self.conv1 = CausalConv1d(in_ch, hidden, kernel, dilation)
        self.conv2 = CausalConv1d(hidden, out_ch, kernel, dilation)
        self.residual = nn.Conv1d(in_ch, out_ch, 1) if in_ch != out_ch else None
        self.dropout = Dropout(dropout)
        self.last = last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x, relu=True, dropout=self.dropout)
        h = self.conv2(h) if self.last else self.conv2(h, relu=True, dropout=self.dropout)
        skip = x if self.residual is None else linear(x, self.residual.weight[:, :, 0], self.residual.bias)
        out = h + skip
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
        x = self.inputs.stacked(f0_hz, loudness_db, 2)  # [B, T, 2]
        for block in self.blocks:
            x = block(x)
        return x
