"""Harmonic-plus-noise synthesis for the HpN baseline (the DDSP decoder's synth).

Harmonic bank:  x_h[n] = Σ_h A[n] c_h[n] sin(h φ[n]),  c_h = 0 where h·f0 ≥ fs/2, Σ_h c_h = 1.
Filtered noise: uniform noise, each hop filtered by a linear-phase FIR designed by frequency
sampling from 65 band magnitudes (inverse real FFT, Hann window), overlap-added.
The noise path is causal: its FIR delay (half the filter) is not compensated, so streaming needs
no look-ahead; it lags the harmonics by half the filter (64 samples, 4 ms, with 65 bands).
StreamingHpN (ddx7/stream.py) renders block by block with these same functions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from .. import HOP, SAMPLE_RATE
from .sampling import accumulate_phase, frame_ramp, upsample_frames

# Samples × harmonics per piece of harmonic_frames: ~4 MB float32 temporaries, which stay in the
# allocator's heap (a training batch's [B, N, H] at once is ~400 MB, page-faulted on every call).
HARMONIC_PIECE_ELEMENTS = 1 << 20


def scaled_sigmoid(x: torch.Tensor, exponent: float = 10.0, max_value: float = 2.0, threshold: float = 1e-7):
    """DDSP's exp-sigmoid: max_value · sigmoid(x)^ln(exponent) + threshold (positive, smooth near 0)."""
    return max_value * torch.sigmoid(x) ** torch.log(torch.tensor(exponent)) + threshold


def harmonic_amplitudes(f0_hz: torch.Tensor, amplitude: torch.Tensor, distribution: torch.Tensor,
                        sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Per-harmonic amplitudes [B, T, H] from overall amplitude [B, T, 1] and distribution [B, T, H].

    Partials at or above Nyquist are silenced before the distribution is normalised to sum 1.
    """
    n_harm = distribution.shape[-1]
    harmonics = torch.arange(1, n_harm + 1, dtype=f0_hz.dtype, device=f0_hz.device)
    audible = (f0_hz[..., None] * harmonics < sample_rate / 2).to(distribution)
    distribution = distribution * audible
    distribution = distribution / distribution.sum(-1, keepdim=True).clamp_min(1e-7)
    return amplitude * distribution


def render_harmonics(f0_samples: torch.Tensor, amps_samples: torch.Tensor, sample_rate: int = SAMPLE_RATE,
                     initial_phase: torch.Tensor | None = None, return_phase: bool = False):
    """Sum of harmonics: f0 [B, N] Hz, amplitudes [B, N, H] → audio [B, N]."""
    phase, last = accumulate_phase(f0_samples, [1.0], sample_rate, initial_phase)
    audio = harmonic_bank(phase, amps_samples)
    return (audio, last) if return_phase else audio


def harmonic_bank(phase: torch.Tensor, amps_samples: torch.Tensor) -> torch.Tensor:
    """Σ_h A_h sin(h φ): the fundamental's wrapped phase [B, N, 1], amplitudes [B, N, H] → [B, N]."""
    harmonics = torch.arange(1, amps_samples.shape[-1] + 1, dtype=phase.dtype, device=phase.device)
    return (amps_samples * torch.sin(phase * harmonics)).sum(-1)


def harmonic_frames(phase: torch.Tensor, amps: torch.Tensor, hop: int = HOP,
                    previous: torch.Tensor | None = None) -> torch.Tensor:
    """``harmonic_bank(phase, upsample_frames(amps, hop, previous))`` piece by piece, the same samples:
    phase [B, T·hop, 1] (no gradient), frame-rate amplitudes [B, T, H] → [B, T·hop].

    The gradient is written by hand: ∂L/∂A_i = Σ_j g[i·hop + j] sin(h φ[i·hop + j]) · (its ramp
    weight), the sines recomputed piece by piece, so no [B, T·hop, H] tensor is ever held (for a
    training batch the forward and backward are several times faster than autograd's).
    """
    if phase.requires_grad:
        raise ValueError("harmonic_frames: the phase carries no gradient (f0 is not learned)")
    return _HarmonicFrames.apply(phase, amps, previous, hop)


def _pieces(amps: torch.Tensor, hop: int):
    """Frame ranges [i0, i1) of ~HARMONIC_PIECE_ELEMENTS samples × harmonics."""
    b, t, h = amps.shape
    step = max(1, HARMONIC_PIECE_ELEMENTS // max(1, b * hop * h))
    return [(i0, min(t, i0 + step)) for i0 in range(0, t, step)]


class _HarmonicFrames(torch.autograd.Function):
    @staticmethod
    def forward(ctx, phase, amps, previous, hop):
        first = amps[:, :1] if previous is None else previous
        out = amps.new_empty(amps.shape[0], amps.shape[1] * hop)
        for i0, i1 in _pieces(amps, hop):
            before = first if i0 == 0 else amps[:, i0 - 1:i0]
            out[:, i0 * hop:i1 * hop] = harmonic_bank(phase[:, i0 * hop:i1 * hop],
                                                      upsample_frames(amps[:, i0:i1], hop, before))
        ctx.save_for_backward(phase)
        ctx.hop, ctx.amps_shape, ctx.has_previous = hop, amps.shape, previous is not None
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (phase,) = ctx.saved_tensors
        hop, (b, t, h) = ctx.hop, ctx.amps_shape
        harmonics = torch.arange(1, h + 1, dtype=phase.dtype, device=phase.device)
        ramp = frame_ramp(hop, grad.dtype, grad.device)
        weights = torch.stack([1 - ramp, ramp])  # [2, hop]: a sample's share of frame i − 1 and of frame i
        grad_amps = grad.new_zeros(b, t + 1, h)  # slot 0: the frame before the first (previous or frame 0)
        for i0, i1 in _pieces(grad_amps[:, 1:], hop):
            sines = torch.sin(phase[:, i0 * hop:i1 * hop] * harmonics).view(b, i1 - i0, hop, h)
            weighted = grad[:, i0 * hop:i1 * hop].reshape(b, i1 - i0, 1, hop) * weights  # [B, c, 2, hop]
            shares = torch.matmul(weighted, sines)  # [B, c, 2, H]
            grad_amps[:, i0 + 1:i1 + 1] += shares[:, :, 1]
            grad_amps[:, i0:i1] += shares[:, :, 0]
        grad_previous = grad_amps[:, :1] if ctx.has_previous else None
        if not ctx.has_previous:
            grad_amps[:, 1] += grad_amps[:, 0]
        return None, grad_amps[:, 1:], grad_previous, None


def uniform_noise(batch: int, frames: int, hop: int = HOP, generator: torch.Generator | None = None,
                  device=None) -> torch.Tensor:
    """The noise path's source: uniform in [−1, 1), [B, T, hop]."""
    return torch.rand(batch, frames, hop, generator=generator, device=device) * 2 - 1


def noise_filters(magnitudes: torch.Tensor, ir_size: int | None = None) -> torch.Tensor:
    """Linear-phase FIRs [B, T, ir_size] from band magnitudes [B, T, M] (frequency sampling)."""
    ir_size = ir_size or 2 * (magnitudes.shape[-1] - 1)
    ir = torch.fft.irfft(torch.complex(magnitudes, torch.zeros_like(magnitudes)), n=ir_size)
    ir = torch.roll(ir, ir_size // 2, dims=-1)  # zero-phase → causal, centred
    return ir * torch.hann_window(ir_size, periodic=False, dtype=ir.dtype, device=ir.device)


def filter_noise(noise_frames: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """Convolve each noise frame [B, T, hop] with its FIR [B, T, L]; returns the full overlap-added
    signal [B, T·hop + L − 1] (the tail past T·hop belongs to the following block)."""
    b, t, hop = noise_frames.shape
    length = hop + filters.shape[-1] - 1
    n_fft = 1 << (length - 1).bit_length()
    conv = torch.fft.irfft(torch.fft.rfft(noise_frames, n_fft) * torch.fft.rfft(filters, n_fft), n_fft)[..., :length]
    # overlap-add frame i at offset i·hop
    out = F.fold(conv.transpose(1, 2), output_size=(1, (t - 1) * hop + length), kernel_size=(1, length),
                 stride=(1, hop))
    return out.reshape(b, -1)


def render_hpn(f0_hz: torch.Tensor, harm_amps: torch.Tensor, noise_mags: torch.Tensor, hop: int = HOP,
               sample_rate: int = SAMPLE_RATE, noise: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Frame-rate controls → audio [B, T·hop]: harmonic bank + filtered noise.

    f0 [B, T], harmonic amplitudes [B, T, H], noise band magnitudes [B, T, M]; ``noise`` [B, T, hop]
    in [−1, 1) may be given for reproducibility, else drawn from ``generator``.
    """
    b, t = f0_hz.shape
    f0_s = upsample_frames(f0_hz[..., None], hop)[..., 0]
    phase, _ = accumulate_phase(f0_s, [1.0], sample_rate)
    harm = harmonic_frames(phase, harm_amps, hop)
    if noise is None:
        noise = uniform_noise(b, t, hop, generator, f0_hz.device)
    noisy = filter_noise(noise.to(noise_mags), noise_filters(noise_mags))[:, : t * hop]
    return harm + noisy
