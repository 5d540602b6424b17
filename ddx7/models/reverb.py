"""Learnable reverb: y = x * h with h = δ + wet · tail, tail[t] = noise[t] · exp(−decay · t), tail[0] = 0.

The impulse response lasts 1 s; the direct path h[0] = 1 is fixed. decay starts at 5 (1/s) and the
wet gain at 0, so a new model is exactly dry: y = x + 0 · (x * tail) = x.

A JavaScript copy (partitioned, streaming): ddx7/web/ddx7_model.js, compared by tests/test_web_live.py.
"""

from __future__ import annotations

import math
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import HOP, SAMPLE_RATE


def _inverse_softplus(y: float) -> float:
    return y + math.log(-math.expm1(-y))


def fft_size(n: int) -> int:
    """The smallest 2^a · 3^b ≥ n: an FFT length the FFT libraries run fast (for a 4 s excerpt and a 1 s response,
    82,944 instead of the power of two 131,072: ~2× faster). Not 5-smooth: MKL's radix-5 passes left the
    reverb's gradient ~3× further from float64 than a power of two (3-smooth: as close)."""
    best, power3 = 1 << max(0, n - 1).bit_length(), 1
    while power3 < best:
        best = min(best, power3 << max(0, -(-n // power3) - 1).bit_length())  # × the least power of 2 reaching n
        power3 *= 3
    return best


def fft_convolve(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Linear convolution of x [..., N] with h [L] via FFT, cut to N samples (causal):
    y[..., n] = Σ_{l ≤ n} h[l] x[..., n − l]. The same samples as autograd through ``rfft``/``irfft``; the
    gradients as two correlations in the frequency domain (:class:`_FFTConvolve`), ~2× faster than autograd's."""
    if h.dim() != 1:
        raise ValueError(f"fft_convolve expects one impulse response h [length], got {list(h.shape)}")
    # y[..., :N] never reads h beyond N: a short excerpt (Table 5's 4 ms) needs an FFT of 2N, not N + L
    return _FFTConvolve.apply(x, h[:x.shape[-1]])


class _FFTConvolve(torch.autograd.Function):
    """y = (x ⊛ h)[:N] with n_fft ≥ N + L − 1 (no wrap-around). Backward, with G = rfft(∂L/∂y, n_fft):
    ∂L/∂x = irfft(G · conj(H))[:N] and ∂L/∂h = irfft(Σ_b G_b · conj(X_b))[:L] (correlations; n_fft ≥ N + L − 1
    keeps them free of wrap-around too), one batched inverse FFT for x and one for h, where autograd takes a
    complex FFT per input and the batch sum after its inverse."""

    @staticmethod
    def forward(ctx, x, h):
        n, length = x.shape[-1], h.shape[-1]
        n_fft = fft_size(n + length - 1)
        spec_x, spec_h = torch.fft.rfft(x, n_fft), torch.fft.rfft(h, n_fft)
        ctx.sizes = n, length, n_fft
        ctx.save_for_backward(spec_x if ctx.needs_input_grad[1] else None,
                              spec_h if ctx.needs_input_grad[0] else None)
        return torch.fft.irfft(spec_x * spec_h, n_fft)[..., :n]

    @staticmethod
    def backward(ctx, grad_y):
        spec_x, spec_h = ctx.saved_tensors
        n, length, n_fft = ctx.sizes
        spec_g = torch.fft.rfft(grad_y, n_fft)
        grad_x = grad_h = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.fft.irfft(spec_g * spec_h.conj(), n_fft)[..., :n]
        if ctx.needs_input_grad[1]:
            cross = (spec_g * spec_x.conj()).reshape(-1, spec_g.shape[-1]).sum(0)
            grad_h = torch.fft.irfft(cross, n_fft)[:length]
        return grad_x, grad_h


class Reverb(nn.Module):
    def __init__(self, length: int = SAMPLE_RATE, sample_rate: int = SAMPLE_RATE, initial_decay: float = 5.0,
                 initial_wet: float = 0.0, seed: int = 0, max_energy: float | None = None):
        """``max_energy`` (a deviation from the paper, off by default): bound the tail's energy Σ tail²
        smoothly below this multiple of the direct path's (1): tail · (1 + E / max_energy)^(−1/2)."""
        super().__init__()
        if max_energy is not None and not max_energy > 0:
            raise ValueError(f"reverb max_energy must be positive, got {max_energy}")
        self.max_energy = max_energy
        g = torch.Generator().manual_seed(seed)
        self.noise = nn.Parameter(torch.rand(length, generator=g) * 2 - 1)
        self.decay_raw = nn.Parameter(torch.tensor(_inverse_softplus(initial_decay)))
        self.wet = nn.Parameter(torch.tensor(float(initial_wet)))
        self.register_buffer("t", torch.arange(length) / sample_rate, persistent=False)

    @property
    def decay(self) -> torch.Tensor:
        return F.softplus(self.decay_raw)

    def tail(self, samples: int | None = None) -> torch.Tensor:
        """The reverberant part of the impulse response (h without the direct path), with the wet gain; with
        ``samples``, its first ``samples`` only (all that an excerpt that long reads; the same values)."""
        n = self.t.shape[0] if samples is None or self.max_energy is not None else min(samples, self.t.shape[0])
        tail = self.wet * F.pad((self.noise[:n] * torch.exp(-self.decay * self.t[:n]))[1:], (1, 0))
        if self.max_energy is not None:  # the bound reads the whole tail's energy
            tail = tail * torch.rsqrt(1 + tail.square().sum() / self.max_energy)
        return tail if samples is None else tail[:samples]

    def impulse_response(self) -> torch.Tensor:
        h = self.tail().clone()
        h[0] = h[0] + 1.0
        return h

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return audio + fft_convolve(audio, self.tail(audio.shape[-1]))


def real_dft(n: int) -> Tensor:
    """D [n, 2 (n/2 + 1)] float64 with x @ D = view_as_real(rfft(x)) flattened (re, im pairs)."""
    k = torch.arange(n // 2 + 1, dtype=torch.float64)
    angle = (2 * math.pi / n) * torch.outer(torch.arange(n, dtype=torch.float64), k).remainder_(n)
    sine = -torch.sin(angle)
    sine[:, 0] = sine[:, -1] = 0.0  # DC and Nyquist are real (sin π·m is 1e-16, not 0)
    return torch.stack([torch.cos(angle), sine], 2).reshape(n, n + 2)


def inverse_real_dft(n: int) -> Tensor:
    """E [2 (n/2 + 1), n] float64 with view_as_real(X) flattened @ E = irfft(X, n): the bins
    between DC and Nyquist count twice, and the imaginary parts of those two count zero, as in irfft."""
    k = torch.arange(n // 2 + 1, dtype=torch.float64)
    angle = (2 * math.pi / n) * torch.outer(k, torch.arange(n, dtype=torch.float64)).remainder_(n)
    weight = torch.full((n // 2 + 1, 1), 2.0, dtype=torch.float64)
    weight[0] = weight[-1] = 1.0
    sine = -weight * torch.sin(angle)
    sine[0] = sine[-1] = 0.0
    pairs = torch.stack([weight * torch.cos(angle), sine], 1) / n  # [n/2 + 1, 2, n]
    return pairs.reshape(n + 2, n)


class StreamingReverb(nn.Module):
    """y = x + x * tail, block by block: uniformly partitioned overlap-save FFT convolution.

    The tail is cut into ``n`` partitions of ``partition`` samples (default one hop); each input
    sub-block m gives the spectrum X_m of the 2·partition window [x_{m−1}, x_m], kept in a ring
    (frequency-domain delay line), and the output is the last half of
    irfft(Σ_p X_{m−p} · H_p). Blocks must be a whole number of partitions.

    The two small transforms of a block are float64 matrix products with DFT matrices: at one hop (2 × 64
    points) the FFT library's per-call overhead was ~3× the arithmetic, and the inverse only needs the
    window's last half. In float32 the products' rounding doubled the distance from the offline render
    (1.3e-5 against 6.2e-6 at a peak of 20, tests/test_stream.py); in float64 it stays as before.

    A copy of :class:`Reverb` (``y = x + fft_convolve(x, wet · tail)``) kept for block-by-block
    speed; tests/test_stream.py checks that the two give the same samples.
    """

    def __init__(self, tail: Optional[Tensor], partition: int = HOP):
        super().__init__()
        self.partition = int(partition)
        p = self.partition
        if tail is None:
            tail = torch.zeros(p)
        tail = tail.detach().float()
        self.active = bool(torch.count_nonzero(tail) > 0)  # an all-zero tail adds exact zeros offline
        n = max(1, -(-tail.shape[-1] // p))
        tail = F.pad(tail, (0, n * p - tail.shape[-1])).reshape(n, p)
        spectra = torch.fft.rfft(F.pad(tail, (0, p)), dim=-1)  # H_p: [n, p + 1]
        # ring slot s (newest at ``pos``) holds X_{m − ((pos − s) mod n)}, which pairs with
        # H_{(pos − s) mod n} = G[(s − pos) mod n], G[i] = H_{(−i) mod n}; GG = [G, G] makes every
        # rotation one slice: GG[n − pos : 2n − pos].
        g = torch.cat([spectra[:1], spectra[1:].flip(0)], 0)
        self.register_buffer("rotations", torch.cat([g, g], 0).contiguous())
        self.register_buffer("forward_dft", real_dft(2 * p))  # window [2p] → spectrum as (re, im) pairs
        self.register_buffer("inverse_dft", inverse_real_dft(2 * p)[:, p:].contiguous())  # → last half only
        self.n = n
        self.pos = 0
        self.register_buffer("ring", torch.zeros(1, n, p + 1, dtype=spectra.dtype), persistent=False)
        self.register_buffer("previous", torch.zeros(1, p), persistent=False)

    @torch.jit.export
    def reset(self, batch: int):
        p = self.partition
        self.ring = torch.zeros(batch, self.n, p + 1, dtype=self.rotations.dtype, device=self.rotations.device)
        self.previous = torch.zeros(batch, p, device=self.rotations.device)
        self.pos = 0

    def forward(self, x: Tensor) -> Tensor:
        if not self.active:
            return x
        p = self.partition
        n = self.n
        b, length = x.shape
        k = length // p
        if k * p != length:
            raise ValueError("reverb blocks must be a whole number of partitions")
        sig = torch.cat([self.previous, x], 1)  # [B, (k + 1) p]
        self.previous = sig[:, length:]
        if k == 1:
            self.pos = (self.pos + 1) % n
            self.ring[:, self.pos] = torch.view_as_complex(torch.mm(sig.double(), self.forward_dft).view(b, p + 1, 2))
            acc = (self.ring * self.rotations[n - self.pos: 2 * n - self.pos]).sum(1)  # [B, p + 1]
            return x + torch.mm(torch.view_as_real(acc).view(b, 2 * p + 2).double(), self.inverse_dft).float()
        windows = torch.matmul(sig.unfold(1, 2 * p, p).double(), self.forward_dft)  # [B, k, 2 (p + 1)]
        spec = torch.view_as_complex(windows.float().view(b, k, p + 1, 2))  # [B, k, p + 1], complex64 as the ring
        if k <= 4:  # a few sub-blocks: one ring step each
            accs: List[Tensor] = []
            for m in range(k):
                self.pos = (self.pos + 1) % n
                self.ring[:, self.pos] = spec[:, m]
                accs.append((self.ring * self.rotations[n - self.pos: 2 * n - self.pos]).sum(1))
            acc = torch.stack(accs, 1)  # [B, k, p + 1]
        else:
            # all at once: the n − 1 newest spectra oldest first (slot pos + 1 is the oldest and
            # drops out), then the k new ones; window j of n pairs with H_{n−1−j} = GG[j + 1]
            older = torch.roll(self.ring, n - 1 - self.pos, 1)[:, 1:]
            full = torch.cat([older, spec], 1)  # [B, n − 1 + k, p + 1]
            acc = (full.unfold(1, n, 1) * self.rotations[1:n + 1].t()).sum(-1)  # [B, k, p + 1]
            self.ring = full[:, k - 1:]  # the n newest, oldest first: the newest sits in slot n − 1
            self.pos = n - 1
        wet = torch.matmul(torch.view_as_real(acc).reshape(b, k, 2 * p + 2).double(), self.inverse_dft).float()
        return x + wet.reshape(b, length)
