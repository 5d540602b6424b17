"""Oversampled rendering for the FM synth: render at M · fs, then a causal low-pass FIR and keep every M-th sample.

FM has no band limit: the sidebands c ± k·m of a deep stack (the violin patch's ratio-14 operator) pass
Nyquist and fold back between the harmonics as inharmonic haze. Rendered at M · fs, everything between
fs/2 and M·fs − fs/2 is removed by the filter instead of folding. A deviation from the paper (which renders
at fs), off unless a run's ``model.oversample`` sets it.

Decimation, with h the filter's L taps (a Kaiser-windowed sinc, cutoff ``CUTOFF`` · fs/2):

    y[n] = Σ_{j=0}^{L−1} h[j] · x[M·n + M − 1 − j]

Sample M·n + M − 1 of the fast render has the phase of sample n at fs (the phase sums equal), so with
h = δ the decimated audio is the plain render's sample grid; the filter only delays it by (L − 1) / 2 fast
samples (1.5 ms for L = 48 · M). Causal, so a stream that keeps the last L − M fast samples gives the same output.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

# The default (issue 16's first oversampled runs): −6 dB at 0.9 · fs/2 (7.2 kHz at 16 kHz), −2.4 dB at 7 kHz and
# −72 dB at 8 kHz, so nothing folds back, but the top 1 kHz of the input is cut too; a run's ``model.decimation``
# can move the edge up (cutoff 0.97 with 96 taps per factor: flat to 7.5 kHz, −28 dB at 8 kHz, −75 dB at 8.25 kHz).
CUTOFF = 0.9
TAPS_PER_FACTOR = 48  # L = 48 · M taps: ~70 dB stop band at beta 7


def decimation_filter(factor: int, taps: int | None = None, cutoff: float = CUTOFF, beta: float = 7.0) -> Tensor:
    """The low-pass FIR h [L] (float64, Σ h = 1) that keeps 0 … cutoff · fs/2 of a signal at ``factor`` · fs."""
    if int(factor) != factor or factor < 2:
        raise ValueError(f"oversampling factor must be an integer >= 2, got {factor}")
    taps = taps or TAPS_PER_FACTOR * factor
    n = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
    fc = cutoff / factor  # cutoff as a fraction of the fast rate's Nyquist
    h = fc * torch.special.sinc(fc * n) * torch.kaiser_window(taps, periodic=False, beta=beta, dtype=torch.float64)
    return h / h.sum()


def decimate(fast: Tensor, factor: int, kernel: Tensor, history: Tensor | None = None) -> Tensor:
    """fast [B, M·N] (rendered at M · fs) → [B, N]: y[n] = Σ_j h[j] · x[M·n + M − 1 − j] (module doc).

    ``history`` [B, L − M]: the last fast samples of the previous block (zeros: silence before the start).
    """
    b, n_fast = fast.shape
    if n_fast % factor:
        raise ValueError(f"{n_fast} fast samples are not a multiple of the oversampling factor {factor}")
    taps = kernel.shape[-1]
    pad = taps - factor
    if history is None:
        fast = F.pad(fast, (pad, 0))
    else:
        fast = torch.cat([history.to(fast), fast], dim=1)
    weight = kernel.flip(-1).to(fast).view(1, 1, taps)
    return F.conv1d(fast.unsqueeze(1), weight, stride=factor).squeeze(1)


def group_delay_s(factor: int, sample_rate: int, taps: int | None = None) -> float:
    """The filter's delay in seconds ((L − 1) / 2 samples at ``factor`` · fs)."""
    taps = taps or TAPS_PER_FACTOR * factor
    return (taps - 1) / 2 / (factor * sample_rate)


def check_decimation(spec, factor: int) -> dict:
    """A run's ``model.decimation`` ({} for the defaults): ``cutoff`` (the pass band's edge as a fraction of fs/2,
    in (0.5, 1]) and ``taps_per_factor`` (L / M, an integer from 8 to 256). Refused with the way out when it is
    malformed, or set without oversampling."""
    if not spec:
        return {}
    if factor < 2:
        raise ValueError("model.decimation only applies with model.oversample >= 2: set both, or remove it")
    unknown = set(spec) - {"cutoff", "taps_per_factor"}
    if unknown:
        raise ValueError(f"model.decimation takes cutoff and taps_per_factor, got {sorted(unknown)}")
    cutoff, taps = spec.get("cutoff", CUTOFF), spec.get("taps_per_factor", TAPS_PER_FACTOR)
    if isinstance(cutoff, bool) or not (isinstance(cutoff, (int, float)) and 0.5 < cutoff <= 1.0):
        raise ValueError(f"model.decimation.cutoff must be in (0.5, 1] (a fraction of fs/2), got {cutoff!r}")
    if not (isinstance(taps, int) and not isinstance(taps, bool) and 8 <= taps <= 256):
        raise ValueError(f"model.decimation.taps_per_factor must be an integer from 8 to 256, got {taps!r}")
    return dict(spec)


def decimation_kernel(factor: int, spec: dict | None = None) -> Tensor:
    """The filter a model with ``model.oversample`` = factor and ``model.decimation`` = spec decimates with."""
    spec = spec or {}
    return decimation_filter(factor, taps=spec.get("taps_per_factor", TAPS_PER_FACTOR) * factor,
                             cutoff=spec.get("cutoff", CUTOFF))


def check_oversample(factor) -> int:
    """1 (no oversampling) or an integer >= 2; anything else is refused with the way out."""
    if factor is None:
        return 1
    ok = isinstance(factor, (int, float)) and not isinstance(factor, bool) and float(factor).is_integer()
    if not ok or not 1 <= factor <= 16:
        raise ValueError(f"model.oversample must be an integer from 1 to 16 (1 = no oversampling), got {factor!r}")
    return int(factor)
