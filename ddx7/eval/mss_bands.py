"""Where in frequency a multi-scale spectral distance lies: ddx7.losses.MultiScaleSpectralLoss split by band.

With |X_s|, |Y_s| the STFT magnitudes at FFT size s (the loss's own framing) and B a band of bins,

    L_B = Σ_s  Σ_{bins in B} |  |X_s| − |Y_s|  | / n_s  +  w · Σ_{bins in B} | log((|X_s| + ε) / (|Y_s| + ε)) | / n_s

where n_s counts all bins × frames of scale s, so that Σ_B L_B = L (the loss value). The linear and the log term
are kept apart: the log term weighs every bin alike, so quiet bands (a trumpet's 4–8 kHz) can hold most of it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .. import HOP, SAMPLE_RATE
from ..losses import MultiScaleSpectralLoss

BAND_EDGES_HZ = (0.0, 500.0, 1000.0, 2000.0, 4000.0)  # the last band runs to Nyquist


def _signal_pair(reference, rendered, caller: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Both signals as float32 tensors [N], refused unless 1-D and of one length."""
    a = torch.as_tensor(np.asarray(reference, dtype=np.float32))
    b = torch.as_tensor(np.asarray(rendered, dtype=np.float32))
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"{caller} needs two 1-D signals of one length, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}: trim them to a common length first")
    return a, b


def mss_by_band(reference, rendered, edges_hz=BAND_EDGES_HZ, loss: MultiScaleSpectralLoss | None = None,
                sample_rate: int = SAMPLE_RATE) -> pd.DataFrame:
    """One row per band (``band``, ``linear``, ``log``, ``total``) of the MSS between two signals [N] of the same
    length (module doc); the ``total`` column sums to ``loss(rendered, reference)``. ``edges_hz``: increasing band
    starts from 0; the last band ends at Nyquist."""
    loss = loss or MultiScaleSpectralLoss()
    a, b = _signal_pair(reference, rendered, "mss_by_band")
    edges = np.asarray(edges_hz, dtype=np.float64)
    if edges[0] != 0 or np.any(np.diff(edges) <= 0) or edges[-1] >= sample_rate / 2:
        raise ValueError(f"band edges must start at 0 and increase below Nyquist ({sample_rate / 2:g} Hz), "
                         f"got {list(edges_hz)}")
    linear, log = np.zeros(len(edges)), np.zeros(len(edges))
    with torch.no_grad():
        for n_fft in loss.fft_sizes:
            mag_a, mag_b = loss.magnitude(a, n_fft).double(), loss.magnitude(b, n_fft).double()  # [bins, frames]
            band = np.searchsorted(edges, np.fft.rfftfreq(n_fft, 1 / sample_rate), side="right") - 1
            lin = (mag_b - mag_a).abs().sum(1).numpy()  # per bin, over frames
            lg = ((mag_b + loss.eps) / (mag_a + loss.eps)).log().abs().sum(1).numpy()
            linear += np.bincount(band, weights=lin, minlength=len(edges)) / mag_a.numel()
            log += np.bincount(band, weights=lg, minlength=len(edges)) / mag_a.numel()
    log *= loss.log_weight
    names = [f"{lo / 1000:g}–{hi / 1000:g} kHz" for lo, hi in zip(edges, [*edges[1:], sample_rate / 2])]
    return pd.DataFrame({"band": names, "linear": linear, "log": log, "total": linear + log})


def top_band_log_by_pitch(reference, rendered, f0_hz, voiced, lo_hz: float = 4000.0, n_fft: int = 256,
                          f0_edges_hz=(0.0, 400.0, 600.0), hop: int = HOP,
                          loss: MultiScaleSpectralLoss | None = None, sample_rate: int = SAMPLE_RATE) -> pd.DataFrame:
    """The log term of one scale's MSS above ``lo_hz``, by the reference's pitch: for the voiced STFT frames (the
    loss's framing at ``n_fft``) whose f0 lies in each range of ``f0_edges_hz`` (the last open above), the mean over
    those frames and bins of |log((|Y| + ε) / (|X| + ε))|. One row per range: ``f0``, ``frames``, ``log term``.
    f0_hz and voiced: the reference's controls [T] at ``hop`` samples per frame (ddx7.resynth.features); an STFT
    frame takes those of the control frame at its centre. Why: an FM patch's partials above the k-th harmonic fade
    as J_k(I) (e.g. J_12(2π) is 53 dB below the strongest), so a band of fixed frequency asks for higher harmonics,
    which it may not have, the lower the note."""
    loss = loss or MultiScaleSpectralLoss()
    a, b = _signal_pair(reference, rendered, "top_band_log_by_pitch")
    if n_fft not in loss.fft_sizes:
        raise ValueError(f"n_fft {n_fft} is not one of the loss's FFT sizes {list(loss.fft_sizes)}")
    f0_hz, voiced = np.asarray(f0_hz, dtype=np.float64), np.asarray(voiced, dtype=bool)
    with torch.no_grad():
        mag_a, mag_b = loss.magnitude(a, n_fft).double(), loss.magnitude(b, n_fft).double()  # [bins, frames]
    top = torch.from_numpy(np.fft.rfftfreq(n_fft, 1 / sample_rate) >= lo_hz)
    per_frame = ((mag_b[top] + loss.eps) / (mag_a[top] + loss.eps)).log().abs().mean(0).numpy()
    control = np.minimum(np.arange(len(per_frame)) * loss.hop(n_fft) // hop, len(f0_hz) - 1)  # centre's frame
    f0, on = f0_hz[control], voiced[control]
    edges = [*f0_edges_hz, np.inf]
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        pick = on & (f0 >= lo) & (f0 < hi)
        rows.append({"f0": f"{lo:g}–{hi:g} Hz" if np.isfinite(hi) else f"≥ {lo:g} Hz", "frames": int(pick.sum()),
                     "log term": float(per_frame[pick].mean()) if pick.any() else float("nan")})
    return pd.DataFrame(rows)
