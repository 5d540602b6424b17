"""Energy between the harmonics: the 'haze' of a pitched rendering.

On voiced frames, with f0 from the input's features, the power of the STFT bins (Hann, 2048 points, hop 256) at
frequencies ≥ ``lo_hz`` that lie farther than f0/4 from every harmonic k·f0, over all the power at ≥ ``lo_hz``:

    haze = 10 log10( Σ_{frames, bins: |f/f0 − round(f/f0)| · f0 > f0/4} |X|² / Σ_{frames, bins} |X|² )

A clean harmonic tone scores far below the input (bow and breath noise fill the gaps a little); partials of FM
that pass Nyquist fold back between the harmonics and raise it (ddx7.synth.oversample), as does a reverb that
smears earlier notes into later ones.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import HOP, SAMPLE_RATE

N_FFT, STFT_HOP = 2048, 256


def between_harmonics_db(audio, f0_hz, voiced, lo_hz: float = 2000.0, sample_rate: int = SAMPLE_RATE,
                         hop: int = HOP) -> float:
    """``haze`` (module doc) of audio [N] or [B, N], with frame-rate f0 [T] or [B, T] (Hz) and voiced [T] or
    [B, T] (bool) at ``hop`` samples per frame; NaN when no frame is voiced."""
    x = torch.as_tensor(np.atleast_2d(np.asarray(audio, dtype=np.float32)))
    f0 = np.atleast_2d(np.asarray(f0_hz, dtype=np.float64))
    voiced = np.atleast_2d(np.asarray(voiced, dtype=bool))
    if x.shape[-1] < N_FFT:
        raise ValueError(f"audio of {x.shape[-1]} samples is shorter than the {N_FFT}-point analysis window")
    spec = torch.stft(x, N_FFT, STFT_HOP, window=torch.hann_window(N_FFT), center=False, return_complex=True)
    power = spec.abs().square().numpy().astype(np.float64)  # [B, bins, frames]
    freqs = np.fft.rfftfreq(N_FFT, 1 / sample_rate)
    centre = (np.arange(power.shape[-1]) * STFT_HOP + N_FFT // 2) // hop  # the feature frame at each window's centre
    centre = np.minimum(centre, f0.shape[-1] - 1)
    f0c, vc = f0[:, centre], voiced[:, centre] & (f0[:, centre] > 0)  # [B, frames]
    if not vc.any():
        return float("nan")
    band = freqs >= lo_hz
    k = freqs[None, :, None] / np.where(vc, f0c, 1.0)[:, None, :]  # harmonic number of every bin
    between = (np.abs(k - np.round(k)) > 0.25) & band[None, :, None] & vc[:, None, :]
    total = (power * (band[None, :, None] & vc[:, None, :])).sum()
    return float(10 * np.log10(max((power * between).sum(), 1e-30) / max(total, 1e-30)))
